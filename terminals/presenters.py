"""JSON bodies of the terminal API, built as plain dicts: the till's hot path skips serializers."""

from typing import Any

from django.urls import reverse

from canteen.meal_serving import MealServed
from canteen.models import MealOrder, Sale
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
        "meal_today": meal_today_body(result.meal_today),
    }


def meal_today_body(order: MealOrder | None) -> dict[str, Any] | None:
    """Today's ordered meal, for the staff screen and the lunch line's display."""
    if order is None:
        return None
    day = order.school_day
    return {
        "id": order.pk,
        "option": order.option,
        "description": day.option2 if order.option == 2 else day.option1,
        "status": order.status,
        "served": order.served_at is not None,
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


def meal_served_body(served: MealServed) -> dict[str, Any]:
    order = served.order
    day = order.school_day
    option2 = order.option == 2
    return {
        "meal": {
            "id": order.pk,
            "date": day.date.isoformat(),
            "description": day.option2 if option2 else day.option1,
            "allergens": day.option2_allergens if option2 else day.option1_allergens,
            "holder": order.holder_id,
            "name": order.holder.name,
        },
        "option": order.option,
        "charged": cents_to_str(served.charged_cents),
        "currency": currency(),
        "balances": {"main": cents_to_str(served.main_after), "extra": cents_to_str(served.extra_after)},
    }
