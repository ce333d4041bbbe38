"""Top-ups in the guardian API: start one (balances change only on the provider's callback), read it."""

from typing import Any

from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from cardsystem.api import error_responses, validated
from cardsystem.money import cents_to_str, currency
from payments import topup_serializers as s
from payments.apis import GuardianApiView
from payments.idempotency import IDEMPOTENCY_HEADER, idempotency_key, idempotent_run, request_fingerprint
from payments.models import Payment
from payments.providers import provider_get
from payments.topups import AllocationRequest, guardian_payment_get, topup_create


def payment_url(payment: Payment, request: HttpRequest) -> str | None:
    """The provider's page for a payment still open there."""
    if payment.status != Payment.Status.PENDING:
        return None
    return provider_get(payment.provider).payment_page_url(payment=payment, base_url=request.build_absolute_uri("/"))


def topup_body(payment: Payment, request: HttpRequest) -> dict[str, Any]:
    return {
        "id": payment.pk,
        "status": payment.status,
        "total": cents_to_str(payment.amount_cents),
        "currency": currency(),
        "allocations": [
            {"holder": a.holder_id, "balance": a.balance, "amount": cents_to_str(a.amount_cents)}
            for a in payment.allocations.all()
        ],
        "created_at": payment.created_at.isoformat(),
        "payment_url": payment_url(payment, request),
    }


class TopUpCreateApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_topup_create",
        request=s.TopUpInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.TopUpCreatedOutput, **error_responses(400, 401, 404, 422)},
        summary="Start a top-up of one or more balances (at least the minimum in total); pay at payment_url.",
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(s.TopUpInput, request.data)
        guardian = self.guardian(request)

        def run() -> tuple[int, dict[str, Any]]:
            payment = topup_create(
                guardian=guardian,
                allocations=[
                    AllocationRequest(holder_id=a["holder"], balance=a["balance"], amount_cents=a["amount"])
                    for a in data["allocations"]
                ],
                save_mandate=data["save_card"],
            )
            body = {
                "id": payment.pk,
                "status": payment.status,
                "total": cents_to_str(payment.amount_cents),
                "currency": currency(),
                "payment_url": payment_url(payment, request),
            }
            return 201, body

        fingerprint = request_fingerprint(method="POST", path=request.path, body=request.data)
        status, body = idempotent_run(caller=f"user:{guardian.pk}", key=key, fingerprint=fingerprint, run=run)
        return Response(body, status=status)


class TopUpApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_topup",
        responses={200: s.TopUpOutput, **error_responses(401, 404)},
        summary="One of the guardian's top-ups with its status and allocations.",
    )
    def get(self, request: Request, payment_id: int) -> Response:
        payment = guardian_payment_get(guardian=self.guardian(request), payment_id=payment_id)
        return Response(topup_body(payment, request))
