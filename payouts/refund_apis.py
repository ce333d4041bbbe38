"""Refunds in the guardian API: ask for a cardholder's remaining balance to be paid out.

The request moves no money (the office approves it later), so it takes no Idempotency-Key: a
repeated request is refused with 409 refund_already_requested while the first is open.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from cardsystem.api import error_responses, validated
from payments.apis import GuardianApiView
from payouts import refund_serializers as s
from payouts.refunds import refund_request_create


class RefundCreateApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_refunds",
        request=s.RefundInput,
        responses={201: s.RefundCreatedOutput, **error_responses(400, 401, 404, 409)},
        summary=(
            "Ask for a cardholder's remaining balance to be paid out to the payee's NemKonto (CPR number) "
            "or an IBAN. 400 invalid_cpr, 409 debt_outstanding, 409 refund_already_requested."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(s.RefundInput, request.data)
        holder = self.holder(request, data["holder"])
        result = refund_request_create(
            holder=holder,
            requested_by=self.guardian(request),
            payee_name=data["payee_name"],
            payee_cpr=data.get("payee_cpr") or None,
            payee_iban=data.get("payee_iban") or None,
            payee_bic=data.get("payee_bic", ""),
        )
        body: dict[str, Any] = {"id": result.refund.pk, "status": result.refund.status}
        if result.warning:
            body["warning"] = result.warning
        return Response(body, status=201)
