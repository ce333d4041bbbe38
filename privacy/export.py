"""Everything the system holds about a guardian and their cardholders, as one JSON document.

Everything starts from the guardian: their own account, and the cardholders reached through
`holder_list_for_guardian`, so no other family's data can enter the export. Left out on purpose:
secrets and what works like one (password and token digests, token prefixes, activation codes,
chip UIDs, which open the till like a key, payment and receipt references that open pages,
two-factor secrets) and other people's identities (staff, other guardians). CPR numbers appear
masked; IBANs too.
"""

import base64
import datetime as dt
import logging
import mimetypes
from collections import defaultdict
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditEntry, PersonalToken, StaffMembership, User
from canteen.models import HolderCategoryBlock, MealOrder, MealSubscription, Sale
from cards.models import Card, Cardholder, ReplacementOrder
from cards.selectors import holder_list_for_guardian
from cardsystem.money import cents_to_str, currency
from payments.models import AutoTopUp, Correction, LedgerAccount, LedgerEntry, Payment, PaymentMandate
from payouts.crypto import cpr_decrypt, cpr_masked
from payouts.models import RefundRequest
from webshop.models import ShopOrder

logger = logging.getLogger(__name__)

FORMAT = "cardsystem-family-export"
VERSION = 1
Json = dict[str, Any]


def _money(cents: int | None) -> str | None:
    return None if cents is None else cents_to_str(cents)


def _iban_masked(iban: str) -> str:
    compact = iban.replace(" ", "")
    return f"{compact[:4]} **** {compact[-4:]}" if len(compact) > 8 else "****"


def _cpr_masked(token: str) -> str | None:
    if not token:
        return None
    try:
        return cpr_masked(cpr_decrypt(token))
    except Exception:  # a token under a key no longer held: still masked, never in clear
        logger.warning("A refund's CPR number could not be decrypted for the privacy export")
        return "******-****"


def family_data_export(*, guardian: User, now: dt.datetime | None = None) -> Json:
    """The guardian's data and their cardholders' data, ready for `json.dumps` with DjangoJSONEncoder.

    The download is recorded in the audit trail (who asked, when): a copy of a family's data left
    the system.
    """
    moment = now or timezone.now()
    holders = list(
        holder_list_for_guardian(user=guardian)
        .select_related("institution", "price_category")
        .order_by("name", "pk")
        .distinct()
    )
    holder_ids = [holder.pk for holder in holders]
    cards = list(Card.objects.filter(holder_id__in=holder_ids).order_by("number"))
    payments = list(Payment.objects.filter(guardian=guardian).prefetch_related("allocations").order_by("created_at"))
    refunds = list(RefundRequest.objects.filter(holder_id__in=holder_ids).order_by("created_at", "pk"))
    corrections = list(Correction.objects.filter(holder_id__in=holder_ids).order_by("requested_at", "pk"))
    replacements = list(
        ReplacementOrder.objects.filter(holder_id__in=holder_ids)
        .select_related("old_card", "new_card")
        .order_by("created_at", "pk")
    )
    data: Json = {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": moment,
        "currency": currency(),
        "account": _account(guardian),
        "personal_tokens": [
            {
                "name": token.name,
                "created_at": token.created_at,
                "last_used_at": token.last_used_at,
                "revoked_at": token.revoked_at,
            }
            for token in PersonalToken.objects.filter(user=guardian).order_by("created_at", "pk")
        ],
        "payment_cards": [
            {
                "label": mandate.label,
                "provider": mandate.provider,
                "created_at": mandate.created_at,
                "revoked_at": mandate.revoked_at,
            }
            for mandate in PaymentMandate.objects.filter(guardian=guardian).order_by("created_at", "pk")
        ],
        "payments": [_payment(payment) for payment in payments],
        "cardholders": _holders(
            guardian=guardian,
            holders=holders,
            cards=cards,
            refunds=refunds,
            corrections=corrections,
            replacements=replacements,
        ),
        "audit_entries": _audit_entries(
            guardian=guardian,
            targets={
                "accounts.user": [guardian.pk],
                "cards.cardholder": holder_ids,
                "cards.card": [card.pk for card in cards],
                "cards.replacementorder": [order.pk for order in replacements],
                "payments.payment": [payment.pk for payment in payments],
                "payments.correction": [correction.pk for correction in corrections],
                "payouts.refundrequest": [refund.pk for refund in refunds],
            },
        ),
    }
    audit_record(
        actor=guardian,
        action="privacy.export",
        target=guardian,
        details={"cardholders": holder_ids},
    )
    return data


def _account(guardian: User) -> Json:
    return {
        "email": guardian.email,
        "full_name": guardian.full_name,
        "language": guardian.language,
        "date_joined": guardian.date_joined,
        "last_login": guardian.last_login,
        "email_addresses": [
            {"email": address.email, "verified": address.verified, "primary": address.primary}
            for address in EmailAddress.objects.filter(user=guardian).order_by("pk")
        ],
        # Which kinds of second factor are set up; never their secrets.
        "two_factor": sorted(Authenticator.objects.filter(user=guardian).values_list("type", flat=True)),
        "staff_roles": [
            {"institution": membership.institution.name, "role": membership.role}
            for membership in StaffMembership.objects.filter(user=guardian).select_related("institution")
        ],
    }


def _payment(payment: Payment) -> Json:
    return {
        "id": payment.pk,
        "purpose": payment.purpose,
        "status": payment.status,
        "amount": _money(payment.amount_cents),
        "provider": payment.provider,
        "created_at": payment.created_at,
        "completed_at": payment.completed_at,
        "allocations": [
            {
                "cardholder": allocation.holder_id,
                "balance": allocation.balance,
                "amount": _money(allocation.amount_cents),
            }
            for allocation in payment.allocations.all()
        ],
    }


def _photo(holder: Cardholder) -> Json | None:
    if not holder.photo:
        return None
    try:
        with holder.photo.open("rb") as handle:
            content = handle.read()
    except OSError:
        logger.warning("Cardholder %s's photo file is missing", holder.pk)
        return None
    content_type = mimetypes.guess_type(holder.photo.name or "")[0] or "application/octet-stream"
    return {"content_type": content_type, "base64": base64.b64encode(content).decode("ascii")}


def _holders(
    *,
    guardian: User,
    holders: list[Cardholder],
    cards: list[Card],
    refunds: list[RefundRequest],
    corrections: list[Correction],
    replacements: list[ReplacementOrder],
) -> list[Json]:
    holder_ids = [holder.pk for holder in holders]
    by_holder: dict[str, dict[int, list[Json]]] = defaultdict(lambda: defaultdict(list))

    for card in cards:
        assert card.holder_id is not None
        by_holder["cards"][card.holder_id].append(
            {
                "number": card.number,
                "kind": card.kind,
                "status": card.status,
                "status_reason": card.status_reason,
                "daily_limit": _money(card.daily_limit_cents),
                "issued_at": card.issued_at,
                "expires_at": card.expires_at,
            }
        )
    balances: dict[int, dict[str, str | None]] = defaultdict(dict)
    for account in LedgerAccount.objects.filter(holder_id__in=holder_ids):
        assert account.holder_id is not None
        balances[account.holder_id][account.kind] = _money(account.balance_cents)
    entries = (
        LedgerEntry.objects.filter(account__holder_id__in=holder_ids)
        .select_related("transaction", "account")
        .order_by("transaction__created_at", "pk")
    )
    for entry in entries.iterator(chunk_size=2000):
        assert entry.account.holder_id is not None
        by_holder["ledger_entries"][entry.account.holder_id].append(
            {
                "transaction": entry.transaction_id,
                "at": entry.transaction.created_at,
                "kind": entry.transaction.kind,
                "balance": entry.account.kind,
                "amount": _money(entry.amount_cents),
                "balance_after": _money(entry.balance_after_cents),
                "reason": entry.transaction.reason,
            }
        )
    sales = (
        Sale.objects.filter(holder_id__in=holder_ids)
        .select_related("institution", "card")
        .prefetch_related("lines")
        .order_by("created_at", "pk")
    )
    for sale in sales.iterator(chunk_size=500):
        assert sale.holder_id is not None
        by_holder["sales"][sale.holder_id].append(
            {
                "receipt_number": sale.receipt_number,
                "at": sale.created_at,
                "institution": sale.institution.name,
                "place": sale.place,
                "card": sale.card.number if sale.card else None,
                "payment": sale.payment,
                "total": _money(sale.total_cents),
                "lines": [
                    {
                        "name": line.name,
                        "unit_price": _money(line.unit_price_cents),
                        "quantity": line.quantity,
                        "total": _money(line.line_total_cents),
                    }
                    for line in sale.lines.all()
                ],
            }
        )
    orders = (
        MealOrder.objects.filter(holder_id__in=holder_ids)
        .select_related("school_day__institution")
        .order_by("school_day__date", "pk")
    )
    for order in orders.iterator(chunk_size=2000):
        by_holder["meal_orders"][order.holder_id].append(
            {
                "date": order.school_day.date,
                "institution": order.school_day.institution.name,
                "option": order.option,
                "status": order.status,
                "ordered_by": order.source,
                "price": _money(order.price_cents),
                "served_at": order.served_at,
                "created_at": order.created_at,
            }
        )
    for auto in AutoTopUp.objects.filter(holder_id__in=holder_ids).select_related("mandate").order_by("pk"):
        yours = auto.guardian_id == guardian.pk
        by_holder["auto_topups"][auto.holder_id].append(
            {
                "balance": auto.balance,
                "below": _money(auto.threshold_cents),
                "amount": _money(auto.amount_cents),
                "active": auto.active,
                "paused_reason": auto.paused_reason,
                "created_at": auto.created_at,
                "set_up_by_you": yours,
                # Another guardian's payment card is theirs, not the family's.
                "payment_card": auto.mandate.label if yours else None,
            }
        )
    for refund in refunds:
        by_holder["refund_requests"][refund.holder_id].append(
            {
                "id": refund.pk,
                "status": refund.status,
                "payee_name": refund.payee_name,
                "paid_by": refund.payee_kind,
                "payee_cpr": _cpr_masked(refund.payee_cpr_token),
                "payee_iban": _iban_masked(refund.payee_iban) if refund.payee_iban else None,
                "balance": _money(refund.balance_cents),
                "cost": _money(refund.cost_cents),
                "amount": _money(refund.amount_cents),
                "requested_at": refund.created_at,
                "decided_at": refund.decided_at,
                "note": refund.decision_note,
            }
        )
    for correction in corrections:
        by_holder["corrections"][correction.holder_id].append(
            {
                "balance": correction.balance,
                "amount": _money(correction.amount_cents),
                "reason": correction.reason,
                "status": correction.status,
                "requested_at": correction.requested_at,
                "decided_at": correction.decided_at,
                "note": correction.decision_note,
            }
        )
    for replacement in replacements:
        by_holder["replacement_orders"][replacement.holder_id].append(
            {
                "old_card": replacement.old_card.number,
                "new_card": replacement.new_card.number if replacement.new_card else None,
                "status": replacement.status,
                "fee": _money(replacement.fee_cents),
                "paid_with": replacement.paid_with,
                "ordered_at": replacement.created_at,
                "issued_at": replacement.issued_at,
            }
        )
    blocks: dict[int, list[str]] = defaultdict(list)
    for holder_id, code in HolderCategoryBlock.objects.filter(holder_id__in=holder_ids).values_list(
        "holder_id", "category_code"
    ):
        blocks[holder_id].append(code)
    subscribed = dict(MealSubscription.objects.filter(holder_id__in=holder_ids).values_list("holder_id", "created_at"))

    shop_orders = _shop_orders(holder_ids=holder_ids)
    result = []
    for holder in holders:
        result.append(
            {
                "id": holder.pk,
                "name": holder.name,
                "institution": holder.institution.name,
                "group": holder.group,
                "price_category": holder.price_category.name if holder.price_category else None,
                "allergy_note": holder.allergy_note,
                "photo": _photo(holder),
                "low_balance_alert": _money(holder.low_balance_alert_cents),
                "left_at": holder.left_at,
                "created_at": holder.created_at,
                "balances": balances.get(holder.pk, {}),
                "cards": by_holder["cards"][holder.pk],
                "blocked_product_categories": sorted(blocks.get(holder.pk, [])),
                "meal_subscription_since": subscribed.get(holder.pk),
                "ledger_entries": by_holder["ledger_entries"][holder.pk],
                "sales": by_holder["sales"][holder.pk],
                "meal_orders": by_holder["meal_orders"][holder.pk],
                "auto_topups": by_holder["auto_topups"][holder.pk],
                "refund_requests": by_holder["refund_requests"][holder.pk],
                "corrections": by_holder["corrections"][holder.pk],
                "replacement_orders": by_holder["replacement_orders"][holder.pk],
                "webshop_orders": shop_orders.get(holder.pk, []),
            }
        )
    return result


def _shop_orders(*, holder_ids: list[int]) -> dict[int, list[Json]]:
    found: dict[int, list[Json]] = defaultdict(list)
    orders = (
        ShopOrder.objects.filter(holder_id__in=holder_ids)
        .select_related("item__institution", "option")
        .order_by("created_at", "pk")
    )
    for order in orders:
        found[order.holder_id].append(
            {
                "receipt_number": order.receipt_number,
                "item": order.item.name,
                "institution": order.item.institution.name,
                "choice": order.option.label if order.option else None,
                "price": _money(order.price_cents),
                "paid_with": order.paid_with,
                "status": order.status,
                "ordered_at": order.created_at,
                "paid_at": order.paid_at,
                "refunded_at": order.refunded_at,
                "refunded_to": order.refund_to or None,
            }
        )
    return found


def _audit_entries(*, guardian: User, targets: dict[str, list[int]]) -> list[Json]:
    about = Q(pk__in=[])
    for target_type, ids in targets.items():
        if ids:
            about |= Q(target_type=target_type, target_id__in=[str(pk) for pk in ids])
    entries = AuditEntry.objects.filter(about).order_by("at", "pk")
    return [
        {
            "at": entry.at,
            "action": entry.action,
            # Staff are not named: "you", "staff" or "system".
            "by": "you" if entry.actor_id == guardian.pk else ("staff" if entry.actor_id else "system"),
            "object": f"{entry.target_type} #{entry.target_id}",
            "reason": entry.reason,
            "details": entry.details,
        }
        for entry in entries.iterator(chunk_size=2000)
    ]
