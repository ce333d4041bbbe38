"""The terminal API (API.md): scans, products and purchases, authenticated by terminal token."""

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from canteen.meal_serving import meal_serve
from canteen.selectors import product_list_for_institution
from canteen.services import LineRequest, purchase_create
from cards.models import Card
from cards.selectors import card_get_by_uid
from cardsystem.api import error_responses, validated
from cardsystem.errors import DomainError, InvalidRequest
from cardsystem.money import cents_to_str, currency
from payments.idempotency import IDEMPOTENCY_HEADER, idempotency_key, idempotent_run, request_fingerprint
from terminals import serializers as s
from terminals.authentication import IsTerminal, TerminalTokenAuthentication
from terminals.models import Terminal
from terminals.presenters import meal_served_body, purchase_body, scan_body
from terminals.services import scan_record


class InvalidUidError(DomainError):
    code = "invalid_uid"
    status = 400
    default_message = _("The UID must be 4, 7 or 10 bytes of hex digits.")


class TerminalApiView(APIView):
    authentication_classes = [TerminalTokenAuthentication]
    permission_classes = [IsTerminal]

    def terminal(self, request: Request) -> Terminal:
        assert isinstance(request.auth, Terminal)
        return request.auth


class ScanApi(TerminalApiView):
    @extend_schema(
        operation_id="terminal_scan",
        request=s.ScanInput,
        responses={200: s.ScanOutput, **error_responses(400, 401, 404, 409)},
        summary="Report a card read; the terminal's staff screen shows the cardholder.",
    )
    def post(self, request: Request) -> Response:
        serializer = s.ScanInput(data=request.data)
        if not serializer.is_valid():
            if set(serializer.errors) == {"uid"}:
                raise InvalidUidError(fields={"uid": [str(e) for e in serializer.errors["uid"]]})
            serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = scan_record(
            terminal=self.terminal(request), uid=data["uid"], sequence=data.get("sequence"), read_at=data.get("read_at")
        )
        return Response(scan_body(result))


class ProductListApi(TerminalApiView):
    @extend_schema(operation_id="terminal_products", responses={200: s.ProductListOutput, **error_responses(401)})
    def get(self, request: Request) -> Response:
        products = product_list_for_institution(institution=self.terminal(request).institution)
        return Response(
            {
                "currency": currency(),
                "products": [
                    {"id": p.pk, "name": p.name, "category": p.category.code, "price": cents_to_str(p.price_cents)}
                    for p in products
                ],
            }
        )


class PurchaseApi(TerminalApiView):
    @extend_schema(
        operation_id="terminal_purchase",
        request=s.PurchaseInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.PurchaseOutput, **error_responses(400, 401, 404, 409, 422)},
        summary="Sell at the buffet: from the card's extra balance, or record a cash sale.",
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(s.PurchaseInput, request.data)
        terminal = self.terminal(request)

        def run() -> tuple[int, dict[str, Any]]:
            card = card_get_by_uid(uid=data["uid"]) if data.get("uid") else None
            cashier_card = _cashier_card(data.get("cashier_uid"))
            sale = purchase_create(
                institution=terminal.institution,
                card=card,
                lines=[LineRequest(product_id=line["product"], quantity=line["quantity"]) for line in data["lines"]],
                payment=data["payment"],
                place=terminal.name,
                terminal_id=terminal.pk,
                sold_by=cashier_card.staff_user if cashier_card else None,
                cashier_card=cashier_card,
            )
            return 201, purchase_body(sale)

        fingerprint = request_fingerprint(method="POST", path=request.path, body=request.data)
        status, body = idempotent_run(caller=f"terminal:{terminal.pk}", key=key, fingerprint=fingerprint, run=run)
        return Response(body, status=status)


class MealServeApi(TerminalApiView):
    @extend_schema(
        operation_id="terminal_meal_serve",
        request=s.MealServeInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.MealServeOutput, **error_responses(400, 401, 404, 409, 422)},
        summary="The lunch line: serve today's meal to the card once, paying it if the deadline did not.",
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(s.MealServeInput, request.data)
        terminal = self.terminal(request)

        def run() -> tuple[int, dict[str, Any]]:
            served = meal_serve(
                institution=terminal.institution,
                card=card_get_by_uid(uid=data["uid"]),
                now=served_as_of(data.get("read_at")),
            )
            return 201, meal_served_body(served)

        fingerprint = request_fingerprint(method="POST", path=request.path, body=request.data)
        status, body = idempotent_run(caller=f"terminal:{terminal.pk}", key=key, fingerprint=fingerprint, run=run)
        return Response(body, status=status)


# How old a queued lunch-line read may be and still be served as of when it was read.
QUEUED_READ_MAX_AGE = dt.timedelta(hours=12)


def served_as_of(read_at: dt.datetime | None) -> dt.datetime | None:
    """The moment a meal counts as served: when the card was read, for a plausible queued read (a
    reader that lost the network at 12:00 and delivers at 14:00 served the meal at 12:00); else now."""
    now = timezone.now()
    if read_at is None or read_at > now or now - read_at > QUEUED_READ_MAX_AGE:
        return None
    return read_at


def _cashier_card(uid: str | None) -> Card | None:
    if uid is None:
        return None
    card = card_get_by_uid(uid=uid)
    if card.kind != Card.Kind.CASHIER or card.status != Card.Status.ACTIVE:
        raise InvalidRequest(fields={"cashier_uid": [str(_("Not an active cashier card."))]})
    return card
