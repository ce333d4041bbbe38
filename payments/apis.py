"""The guardian API (API.md): a guardian's cardholders, their history, limits and cards.

Session or `Authorization: Bearer <personal token>`. Every query starts from
`holder_list_for_guardian`, so another family's holder or card is a 404.
"""

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import PersonalTokenAuthentication
from accounts.models import User
from accounts.reauth import reauth_check
from cards.models import Card, Cardholder, ReplacementOrder
from cards.services import UNCHANGED, card_block, card_unblock
from cardsystem.api import error_responses, validated
from cardsystem.errors import NotFound
from cardsystem.money import cents_to_str, currency
from payments import serializers as s
from payments.balance_watch import holder_settings_save
from payments.idempotency import IDEMPOTENCY_HEADER, idempotency_key, idempotent_run, request_fingerprint
from payments.models import LedgerAccount, LedgerEntry
from payments.providers import provider_get
from payments.replacements import card_replacement_order, replacement_fee_payment
from payments.selectors import (
    GUARDIAN_CARD_KINDS,
    LIMIT_CARD_STATUSES,
    HolderHistory,
    guardian_card_get,
    holder_list_with_balances_for_guardian,
)

PAGE_SIZE = 50


class GuardianApiView(APIView):
    authentication_classes = [SessionAuthentication, PersonalTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def guardian(self, request: Request) -> User:
        assert isinstance(request.user, User)
        return request.user

    def holders(self, request: Request) -> QuerySet[Cardholder]:
        return holder_list_with_balances_for_guardian(user=self.guardian(request))

    def holder(self, request: Request, holder_id: int) -> Cardholder:
        holder = self.holders(request).filter(pk=holder_id).first()
        if holder is None:
            raise NotFound()
        return holder

    def card(self, request: Request, number: str) -> Card:
        card = guardian_card_get(user=self.guardian(request), number=number)
        if card is None:
            raise NotFound()
        return card

    def reauthenticate(self, request: Request, serializer: type[s.PasswordInput] = s.PasswordInput) -> dict[str, Any]:
        """The guardian's password again (403 reauth_failed; 429 too_many_attempts after five wrong);
        returns the validated body."""
        data = validated(serializer, request.data)
        reauth_check(user=self.guardian(request), password=data["password"])
        return data


def _optional_money(cents: int | None) -> str | None:
    return None if cents is None else cents_to_str(cents)


def holder_body(holder: Cardholder) -> dict[str, Any]:
    """A cardholder as the guardian API shows it (from `GuardianApiView.holders`)."""
    accounts = {account.kind: account.balance_cents for account in holder.holder_accounts}  # type: ignore[attr-defined]
    cards: list[Card] = holder.card_list  # type: ignore[attr-defined]
    limits = [c.daily_limit_cents for c in cards if c.kind in GUARDIAN_CARD_KINDS and c.status in LIMIT_CARD_STATUSES]
    return {
        "id": holder.pk,
        "name": holder.name,
        "institution": holder.institution.name,
        "group": holder.group,
        "balances": {
            "main": cents_to_str(accounts.get(LedgerAccount.Kind.MAIN, 0)),
            "extra": cents_to_str(accounts.get(LedgerAccount.Kind.EXTRA, 0)),
        },
        "daily_limit": _optional_money(limits[0] if limits else None),
        "low_balance_alert": _optional_money(holder.low_balance_alert_cents),
        "cards": [{"number": card.number, "status": card.status} for card in cards],
    }


class HolderListApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_holders",
        responses={200: s.HolderListOutput, **error_responses(401)},
        summary="The guardian's cardholders with their balances, limits and cards.",
    )
    def get(self, request: Request) -> Response:
        return Response({"currency": currency(), "holders": [holder_body(h) for h in self.holders(request)]})


class HolderApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_holder",
        responses={200: s.GuardianHolderOutput, **error_responses(401, 404)},
        summary="One of the guardian's cardholders, as in the list.",
    )
    def get(self, request: Request, holder_id: int) -> Response:
        return Response(holder_body(self.holder(request, holder_id)))

    @extend_schema(
        operation_id="guardian_holder_limits",
        request=s.HolderLimitsInput,
        responses={200: s.GuardianHolderOutput, **error_responses(400, 401, 404)},
        summary="Set the daily limit (on all the holder's cards) and the low-balance alert; null removes one.",
    )
    def patch(self, request: Request, holder_id: int) -> Response:
        holder = self.holder(request, holder_id)
        data = validated(s.HolderLimitsInput, request.data)
        holder_settings_save(
            holder=holder,
            daily_limit_cents=data.get("daily_limit", UNCHANGED),
            low_balance_alert_cents=data.get("low_balance_alert", UNCHANGED),
        )
        return Response(holder_body(self.holder(request, holder_id)))


def _entry_body(entry: LedgerEntry, zone: dt.tzinfo) -> dict[str, Any]:
    sale = getattr(entry.transaction, "sale", None)
    lines = (
        [
            {"name": line.name, "quantity": line.quantity, "price": cents_to_str(line.unit_price_cents)}
            for line in sale.lines.all()
        ]
        if sale is not None
        else []
    )
    return {
        "id": entry.pk,
        "at": entry.transaction.created_at.astimezone(zone).isoformat(),
        "kind": entry.transaction.kind,
        "amount": cents_to_str(entry.amount_cents),
        "balance": _optional_money(entry.balance_after_cents),
        "place": sale.place if sale is not None else "",
        "lines": lines,
    }


class HolderTransactionsApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_holder_transactions",
        parameters=[s.TransactionQuery],
        responses={200: s.TransactionPageOutput, **error_responses(400, 401, 404)},
        summary="The holder's ledger entries on the main and extra balances, newest first, 50 a page.",
    )
    def get(self, request: Request, holder_id: int) -> Response:
        query = validated(s.TransactionQuery, request.query_params)
        holder = self.holder(request, holder_id)
        entries = HolderHistory(holder=holder, first_day=query.get("from"), last_day=query.get("to"))
        page = query["page"]
        start = (page - 1) * PAGE_SIZE
        rows = list(entries[start : start + PAGE_SIZE + 1])
        next_url = None
        if len(rows) > PAGE_SIZE:
            params = request.query_params.copy()
            params["page"] = str(page + 1)
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        zone = holder.institution.zone
        return Response({"results": [_entry_body(entry, zone) for entry in rows[:PAGE_SIZE]], "next": next_url})


class CardBlockApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_card_block",
        request=s.PasswordInput,
        responses={200: s.CardStatusOutput, **error_responses(400, 401, 403, 404, 429)},
        summary="Block a card of the guardian's cardholder, confirmed with the guardian's password.",
    )
    def post(self, request: Request, number: str) -> Response:
        card = self.card(request, number)
        self.reauthenticate(request)
        card = card_block(card=card, reason=str(_("Blocked by a guardian.")))
        return Response({"number": card.number, "status": card.status})


class CardUnblockApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_card_unblock",
        request=s.PasswordInput,
        responses={200: s.CardStatusOutput, **error_responses(400, 401, 403, 404, 409, 429)},
        summary="Reopen a card the guardian blocked; a replaced card stays blocked (409 card_replaced).",
    )
    def post(self, request: Request, number: str) -> Response:
        card = self.card(request, number)
        self.reauthenticate(request)
        card = card_unblock(card=card)
        return Response({"number": card.number, "status": card.status})


class CardReplaceApi(GuardianApiView):
    @extend_schema(
        operation_id="guardian_card_replace",
        request=s.ReplaceInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.ReplacementOrderOutput, **error_responses(400, 401, 403, 404, 409, 422, 429)},
        summary=(
            "Order a replacement card; the old card is blocked for good. The fee is paid from the extra "
            "balance (409 insufficient_funds) or at payment_url (409 card_replaced when ordered already)."
        ),
    )
    def post(self, request: Request, number: str) -> Response:
        key = idempotency_key(request)
        card = self.card(request, number)
        data = self.reauthenticate(request, s.ReplaceInput)
        guardian = self.guardian(request)

        def run() -> tuple[int, dict[str, Any]]:
            order = card_replacement_order(guardian=guardian, card=card, paid_with=data["paid_with"])
            body = {
                "order": order.pk,
                "fee": cents_to_str(order.fee_cents),
                "currency": currency(),
                "status": order.status,
                "paid_with": order.paid_with,
            }
            if order.status == ReplacementOrder.Status.AWAITING_PAYMENT:
                payment = replacement_fee_payment(guardian=guardian, order=order)
                body["payment_url"] = provider_get(payment.provider).payment_page_url(
                    payment=payment, base_url=request.build_absolute_uri("/")
                )
            return 201, body

        # The path names the card; the body is left out of the fingerprint because it is the
        # password, whose plain hash must not be stored.
        fingerprint = request_fingerprint(method="POST", path=request.path, body={})
        status, body = idempotent_run(caller=f"user:{guardian.pk}", key=key, fingerprint=fingerprint, run=run)
        return Response(body, status=status)
