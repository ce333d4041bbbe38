"""JSON bodies of the terminal API, built as plain dicts: the till's hot path skips serializers."""

from typing import Any

from django.urls import reverse

from canteen.models import Sale
from cardsystem.money import cents_to_str, currency
from payments.ledger import HolderAccounts
from terminals.services import ScanResult


def balances_body(balances: HolderAccounts | None) -> dict[str, str] | None:
    if balances is None:
        return None
    return {"main": cents_to_str(balances.main.balance_cents), "extra": cents_to_str(balances.extra.balance_cents)}


def scan_body(result: ScanResult) -> dict[str, Any]:
    card = result.card
    holder = card.holder
    return {
        "scan_id": result.scan.pk,
        "card": {"number": card.number, "status": card.status, "kind": card.kind},
        "holder": None
        if holder is None
        else {
            "id": holder.pk,
            "name": holder.name,
            "group": holder.group,
            "institution": holder.institution.name,
            "photo_url": reverse("terminals:photo", args=[holder.pk]) if holder.photo else None,
            "allergies": holder.allergy_note,
        },
        "balances": balances_body(result.balances),
        "currency": currency(),
        "daily_limit": None if card.daily_limit_cents is None else cents_to_str(card.daily_limit_cents),
        "spent_today": cents_to_str(result.spent_today_cents),
        "can_buy": result.can_buy,
        "reason": result.reason,
        "meal_today": None,
    }


def purchase_body(sale: Sale) -> dict[str, Any]:
    balances = None
    if sale.extra_after_cents is not None and sale.main_after_cents is not None:
        balances = {"main": cents_to_str(sale.main_after_cents), "extra": cents_to_str(sale.extra_after_cents)}
    return {
        "id": sale.pk,
        "receipt_number": sale.receipt_number,
        "total": cents_to_str(sale.total_cents),
        "currency": currency(),
        "payment": sale.payment,
        "balances": balances,
        "receipt_url": reverse("canteen:receipt", args=[sale.receipt_token]),
    }
