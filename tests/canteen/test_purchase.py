"""Buffet sales through the service: extra balance only, whole total, limits, blocks, cash."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from canteen.errors import CardBlocked, CategoryBlocked, DailyLimitExceeded
from canteen.models import HolderCategoryBlock, Sale
from canteen.selectors import card_spent_today, day_start
from canteen.services import LineRequest, purchase_create
from cards.models import Card
from cardsystem.errors import InvalidRequest
from payments.errors import DebtLimitReached, InsufficientFunds, LedgerInvariantBroken
from payments.ledger import holder_accounts_get
from payments.models import LedgerAccount, LedgerEntry
from payments.selectors import ledger_mismatches
from tests.factories import (
    InstitutionFactory,
    ProductCategoryFactory,
    ProductFactory,
    UserFactory,
    card_with_balances,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def school():  # type: ignore[no-untyped-def]
    return InstitutionFactory(time_zone="Europe/Copenhagen")


def sell(card: Card | None, product, quantity: int = 1, **kwargs) -> Sale:  # type: ignore[no-untyped-def]
    return purchase_create(
        institution=product.institution,
        card=card,
        lines=[LineRequest(product_id=product.pk, quantity=quantity)],
        **kwargs,
    )


def balances(card: Card) -> tuple[int, int]:
    accounts = holder_accounts_get(holder_id=card.holder_id)
    return accounts.main.balance_cents, accounts.extra.balance_cents


def test_card_sale_takes_the_total_from_the_extra_balance_only(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(main=10000, extra=5000, institution=school)
    sale = sell(card, ProductFactory(institution=school, price_cents=2500))
    assert balances(card) == (10000, 2500)
    assert sale.total_cents == 2500 and sale.extra_after_cents == 2500
    assert ledger_mismatches() == []


def test_sale_is_refused_when_extra_does_not_cover_the_whole_total_even_with_main_money(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(main=10000, extra=2400, institution=school)
    with pytest.raises(InsufficientFunds):
        sell(card, ProductFactory(institution=school, price_cents=2500))
    assert balances(card) == (10000, 2400)
    assert not Sale.objects.exists()


def test_sale_of_exactly_the_extra_balance_leaves_zero(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=2500, institution=school)
    sell(card, ProductFactory(institution=school, price_cents=2500))
    assert balances(card) == (0, 0)


def test_sale_credits_the_selling_institution_revenue(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    sale = sell(card, ProductFactory(institution=school, price_cents=500), quantity=3)
    revenue = LedgerEntry.objects.get(transaction=sale.ledger_transaction, account__kind=LedgerAccount.Kind.REVENUE)
    assert revenue.amount_cents == 1500 and revenue.account.institution == school


def test_a_card_works_at_another_institution_of_the_municipality(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    other = InstitutionFactory()
    sale = sell(card, ProductFactory(institution=other, price_cents=500))
    assert sale.institution == other and balances(card) == (0, 4500)


@pytest.mark.parametrize("status", [Card.Status.BLOCKED, Card.Status.REPLACED, Card.Status.LOST, Card.Status.RETURNED])
def test_a_card_that_is_not_active_buys_nothing(school, status: str) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school, status=status)
    with pytest.raises(CardBlocked):
        sell(card, ProductFactory(institution=school, price_cents=500))
    assert balances(card) == (0, 5000)


def test_a_debt_blocked_card_is_refused_with_debt_limit_reached(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school, status=Card.Status.DEBT_BLOCKED)
    with pytest.raises(DebtLimitReached):
        sell(card, ProductFactory(institution=school, price_cents=500))


def test_a_cardholder_at_the_debt_limit_cannot_buy_even_with_extra_money(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    main = holder_accounts_get(holder_id=card.holder_id).main
    LedgerAccount.objects.filter(pk=main.pk).update(balance_cents=main.floor_cents)
    with pytest.raises(DebtLimitReached):
        sell(card, ProductFactory(institution=school, price_cents=500))


def test_daily_limit_counts_todays_card_purchases(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school, daily_limit_cents=3000)
    product = ProductFactory(institution=school, price_cents=1000)
    sell(card, product, quantity=2)
    with pytest.raises(DailyLimitExceeded):
        sell(card, product, quantity=2)
    sell(card, product, quantity=1)
    assert balances(card) == (0, 7000)


def test_daily_limit_ignores_yesterdays_purchases_in_the_institution_time_zone(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school, daily_limit_cents=1000)
    product = ProductFactory(institution=school, price_cents=1000)
    sale = sell(card, product)
    # Move it to one second before local midnight: it then belongs to yesterday.
    Sale.objects.filter(pk=sale.pk).update(created_at=day_start(zone=school.zone) - dt.timedelta(seconds=1))
    assert card_spent_today(card=card, zone=school.zone) == 0
    sell(card, product)


def test_day_start_is_local_midnight_not_utc_midnight(school) -> None:  # type: ignore[no-untyped-def]
    at = dt.datetime(2026, 6, 1, 22, 30, tzinfo=dt.UTC)  # 00:30 on 2 June in Copenhagen (summer time)
    start = day_start(zone=school.zone, at=at)
    assert start == dt.datetime(2026, 6, 1, 22, 0, tzinfo=dt.UTC)


def test_cash_sales_do_not_count_towards_the_daily_limit(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school, daily_limit_cents=1000)
    product = ProductFactory(institution=school, price_cents=1000)
    sell(card, product, payment=Sale.Payment.CASH)
    sell(card, product)
    assert balances(card) == (0, 9000)


def test_cash_sale_records_the_staff_member_and_moves_no_card_money(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=0, institution=school)
    staff = UserFactory()
    sale = sell(card, ProductFactory(institution=school, price_cents=700), payment=Sale.Payment.CASH, sold_by=staff)
    assert sale.sold_by == staff and sale.payment == Sale.Payment.CASH
    assert balances(card) == (0, 0)
    kinds = set(sale.ledger_transaction.entries.values_list("account__kind", flat=True))
    assert kinds == {LedgerAccount.Kind.CASH, LedgerAccount.Kind.REVENUE}
    assert ledger_mismatches() == []


def test_cash_sale_needs_no_card(school) -> None:  # type: ignore[no-untyped-def]
    sale = sell(None, ProductFactory(institution=school, price_cents=700), payment=Sale.Payment.CASH)
    assert sale.card is None and sale.total_cents == 700


def test_a_blocked_category_is_refused_for_card_payments(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    sweets = ProductCategoryFactory(institution=school, code="sweets", name="Sweets")
    HolderCategoryBlock.objects.create(holder=card.holder, category_code="sweets")
    with pytest.raises(CategoryBlocked):
        sell(card, ProductFactory(institution=school, category=sweets, price_cents=1200))
    assert balances(card) == (0, 5000)


def test_a_product_of_another_institution_is_an_invalid_request(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    foreign = ProductFactory(institution=InstitutionFactory(), price_cents=100)
    with pytest.raises(InvalidRequest) as error:
        purchase_create(institution=school, card=card, lines=[LineRequest(product_id=foreign.pk, quantity=1)])
    assert "lines" in (error.value.fields or {})
    assert balances(card) == (0, 5000)


def test_an_inactive_product_cannot_be_sold(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    product = ProductFactory(institution=school, price_cents=100, is_active=False)
    with pytest.raises(InvalidRequest):
        sell(card, product)


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_quantity_below_one_is_an_invalid_request(school, quantity: int) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    with pytest.raises(InvalidRequest):
        sell(card, ProductFactory(institution=school, price_cents=100), quantity=quantity)
    assert balances(card) == (0, 5000)


def test_a_staff_card_cannot_pay(school) -> None:  # type: ignore[no-untyped-def]
    teacher_card = Card.objects.create(
        uid="04AAAAAAAAAAAA", number="900100", kind=Card.Kind.TEACHER, staff_user=UserFactory()
    )
    with pytest.raises(CardBlocked):
        sell(teacher_card, ProductFactory(institution=school, price_cents=100))


def test_receipt_numbers_are_unique_per_institution_and_carry_the_school_number(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    product = ProductFactory(institution=school, price_cents=100)
    numbers = {sell(card, product).receipt_number for _ in range(5)}
    assert len(numbers) == 5
    assert all(number.startswith(f"{school.school_number}-") for number in numbers)


def test_sale_lines_keep_the_name_and_price_at_the_time_of_sale(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    product = ProductFactory(institution=school, price_cents=400, name="Apple")
    sale = sell(card, product, quantity=2)
    product.price_cents = 900
    product.save()
    line = sale.lines.get()
    assert (line.name, line.unit_price_cents, line.quantity, line.line_total_cents) == ("Apple", 400, 2, 800)
    assert sale.created_at <= timezone.now()


def test_purchase_outside_a_transaction_is_refused_before_anything_is_written(school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school)
    product = ProductFactory(institution=school, price_cents=100)
    connection = transaction.get_connection()
    connection.in_atomic_block = False  # step out of the test's own transaction to see the guard
    try:
        with pytest.raises(LedgerInvariantBroken):
            sell(card, product)
    finally:
        connection.in_atomic_block = True
    assert not Sale.objects.exists()
