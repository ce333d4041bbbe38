"""Buffet sales. The extra balance pays, only when it covers the whole total [SK][PZ]."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Institution, User
from canteen.errors import CardBlocked, CategoryBlocked, DailyLimitExceeded
from canteen.models import Product, Sale
from canteen.selectors import card_spent_today_fact, category_blocked_fact, products_on_sale
from cards.models import Card
from cardsystem.errors import InvalidRequest
from cardsystem.rawsql import adapt_datetime
from payments.errors import DebtLimitReached, InsufficientFunds, LedgerInvariantBroken
from payments.ledger import Leg, holder_accounts_lock, movement_post, system_account
from payments.models import LedgerAccount, LedgerTransaction


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


def card_refusal(*, card: Card) -> CardBlocked | DebtLimitReached | None:
    """Why this card may not pay at all, judged by its status alone."""
    if card.status == Card.Status.DEBT_BLOCKED:
        return DebtLimitReached()
    if card.status != Card.Status.ACTIVE:
        return CardBlocked(_("The card is %(status)s.") % {"status": card.get_status_display().lower()})
    # A loaner card is lent for one day [SL]: after that (or once handed back) it buys nothing.
    if card.kind == Card.Kind.LOANER and (card.expires_at is None or card.expires_at <= timezone.now()):
        return CardBlocked(_("The loaner card has expired: it was lent for one day."))
    if card.holder_id is None:
        return CardBlocked(_("A staff card has no balance to pay with."))
    return None


def _priced_lines(*, institution: Institution, lines: Sequence[LineRequest]) -> list[tuple[Product, int]]:
    wanted = {line.product_id for line in lines}
    products = products_on_sale(institution=institution, product_ids=wanted)
    missing = sorted(wanted - products.keys())
    if missing:
        raise InvalidRequest(fields={"lines": [_("No product %(id)s is on sale here.") % {"id": pk} for pk in missing]})
    return [(products[line.product_id], line.quantity) for line in lines]


def purchase_create(
    *,
    institution: Institution,
    card: Card | None,
    lines: Sequence[LineRequest],
    payment: str = Sale.Payment.CARD,
    place: str = "",
    terminal_id: int | None = None,
    sold_by: User | None = None,
    cashier_card: Card | None = None,
) -> Sale:
    """Sell the lines at the institution's buffet, paid from the card's extra balance or in cash.

    Runs inside the caller's transaction (`transaction.atomic(durable=True)`; the API's
    idempotency record commits with it). Every refusal is raised before the first write, so a
    refused sale leaves that transaction untouched; not opening a savepoint of its own saves two
    round trips on the till's hot path.
    """
    if not connection.in_atomic_block:
        raise LedgerInvariantBroken("purchase_create must run inside transaction.atomic(durable=True)")
    if not lines:
        raise InvalidRequest(fields={"lines": [_("At least one line is needed.")]})
    if any(line.quantity < 1 for line in lines):
        raise InvalidRequest(fields={"lines": [_("Every quantity must be at least 1.")]})
    priced = _priced_lines(institution=institution, lines=lines)
    total = sum(product.price_cents * quantity for product, quantity in priced)
    sale = Sale(
        institution=institution,
        place=place,
        terminal_id=terminal_id,
        card=card,
        holder_id=card.holder_id if card else None,
        payment=payment,
        total_cents=total,
        sold_by=sold_by,
        cashier_card=cashier_card,
    )
    if payment == Sale.Payment.CASH:
        sale.ledger_transaction = movement_post(
            kind=LedgerTransaction.Kind.CASH_SALE,
            legs=[
                Leg(system_account(kind=LedgerAccount.Kind.CASH, institution=institution), -total),
                Leg(system_account(kind=LedgerAccount.Kind.REVENUE, institution=institution), total),
            ],
            institution=institution,
            created_by=sold_by,
        )
    else:
        if card is None:
            raise InvalidRequest(fields={"uid": [_("A card payment needs a card.")]})
        _card_payment_post(sale=sale, card=card, codes={product.category.code for product, _qty in priced})
    _sale_insert(sale=sale, priced=priced)
    return sale


def _card_payment_post(*, sale: Sale, card: Card, codes: set[str]) -> None:
    """Take the sale's total from the card's extra balance, checking every rule under the lock."""
    refusal = card_refusal(card=card)
    if refusal is not None:
        raise refusal
    holder = card.holder
    assert holder is not None  # card_refusal refuses staff cards
    facts = {"blocked": category_blocked_fact(holder_id=holder.pk, codes=codes)}
    if card.daily_limit_cents is not None:
        facts["spent_today"] = card_spent_today_fact(card=card, zone=holder.institution.zone)
    # One round trip: the lock, the balances, the category blocks and today's spending.
    accounts = holder_accounts_lock(holder_id=holder.pk, facts=facts)
    total = sale.total_cents
    if accounts.facts["blocked"]:
        raise CategoryBlocked()
    if accounts.main.floor_cents < 0 and accounts.main.balance_cents <= accounts.main.floor_cents:
        raise DebtLimitReached()
    if card.daily_limit_cents is not None and accounts.facts["spent_today"] + total > card.daily_limit_cents:
        raise DailyLimitExceeded()
    if accounts.extra.balance_cents < total:
        raise InsufficientFunds()
    sale.ledger_transaction = movement_post(
        kind=LedgerTransaction.Kind.SALE,
        legs=[
            Leg(accounts.extra, -total),
            Leg(system_account(kind=LedgerAccount.Kind.REVENUE, institution=sale.institution), total),
        ],
        institution=sale.institution,
        created_by=sale.sold_by,
        accounts_locked=True,
    )
    sale.extra_after_cents = accounts.extra.balance_cents
    sale.main_after_cents = accounts.main.balance_cents


def _sale_insert(*, sale: Sale, priced: Sequence[tuple[Product, int]]) -> None:
    """Write the sale and its lines: two fixed statements, as this runs on every sale (cardsystem.rawsql)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO canteen_sale (institution_id, place, terminal_id, card_id, holder_id, payment, total_cents, "
            "extra_after_cents, main_after_cents, sold_by_id, cashier_card_id, ledger_transaction_id, receipt_token, "
            "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                sale.institution_id,
                sale.place,
                sale.terminal_id,
                sale.card_id,
                sale.holder_id,
                sale.payment,
                sale.total_cents,
                sale.extra_after_cents,
                sale.main_after_cents,
                sale.sold_by_id,
                sale.cashier_card_id,
                sale.ledger_transaction_id,
                sale.receipt_token,
                adapt_datetime(sale.created_at),
            ],
        )
        sale.pk = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO canteen_saleline (sale_id, product_id, name, unit_price_cents, quantity) VALUES "  # noqa: S608 - placeholders only
            + ", ".join(["(%s, %s, %s, %s, %s)"] * len(priced)),
            [
                value
                for product, qty in priced
                for value in (sale.pk, product.pk, product.name, product.price_cents, qty)
            ],
        )
    sale._state.adding = False
    sale._state.db = connection.alias
