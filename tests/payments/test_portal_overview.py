"""The guardian portal's overview at /portal/: balances, cards, today's spending and warnings."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from canteen.models import Product, Sale
from canteen.selectors import card_spent_today
from canteen.services import LineRequest, purchase_create
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from payments.models import LedgerTransaction
from payments.selectors import holder_overview_list, holder_spent_today, holders_spent_today
from tests.factories import CardFactory, InstitutionFactory, ProductFactory, UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db


class Guardian:
    """A signed-in guardian with a client; `ward` makes a cardholder of theirs."""

    def __init__(self, **client_headers: Any) -> None:
        self.user = UserFactory()
        self.client = Client(**client_headers)
        self.client.force_login(self.user)

    def ward(self, **kwargs: Any) -> Cardholder:
        holder = holder_with_balances(**kwargs)
        guardianship_create(guardian=self.user, holder=holder)
        return holder

    def page(self, path: str, **params: Any) -> str:
        response = self.client.get(path, params)
        assert response.status_code == 200, response.status_code
        return response.content.decode()


@pytest.fixture
def guardian() -> Guardian:
    return Guardian()


@contextmanager
def ledger_time(when: dt.datetime) -> Iterator[None]:
    """Movements posted inside are dated `when`: ledger rows are append-only, so an old movement is
    written with an old time rather than moved."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LedgerTransaction._meta.get_field("created_at"), "_get_default", lambda: when)
        yield


def sell(card: Card, product: Product, *, quantity: int = 1, payment: str = Sale.Payment.CARD, place: str = "") -> Sale:
    with transaction.atomic():
        return purchase_create(
            institution=product.institution,
            card=card,
            lines=[LineRequest(product_id=product.pk, quantity=quantity)],
            payment=payment,
            place=place,
        )


def warnings_of(page: str) -> str:
    start = page.find('class="warnings"')
    return "" if start < 0 else page[start : page.index("</ul>", start)]


def test_anonymous_visitors_are_asked_to_sign_in() -> None:
    assert Client().get("/portal/")["Location"].startswith("/accounts/login/")


def test_the_overview_shows_the_guardians_own_holders_with_institution_group_and_cards(guardian: Guardian) -> None:
    mine = guardian.ward(name="Anna Own", group="3A")
    card = CardFactory(holder=mine, number="700001", status=Card.Status.LOST)
    holder_with_balances(name="Bent Other", main=500)

    page = guardian.page("/portal/")

    assert "Anna Own" in page
    assert mine.institution.name in page
    assert "3A" in page
    assert card.number in page
    assert str(card.get_status_display()) in page
    assert "Bent Other" not in page


def test_balances_are_shown_in_danish_format_by_default(guardian: Guardian) -> None:
    guardian.ward(main=123450, extra=5005)

    page = guardian.page("/portal/")

    assert 'data-field="main">1.234,50\u00a0DKK' in page
    assert 'data-field="extra">50,05\u00a0DKK' in page


def test_each_holder_links_to_its_history_and_the_link_button_stays(guardian: Guardian) -> None:
    first, second = guardian.ward(), guardian.ward()

    page = guardian.page("/portal/")

    assert f'href="/portal/holders/{first.pk}/history/"' in page
    assert f'href="/portal/holders/{second.pk}/history/"' in page
    assert 'href="/portal/link/"' in page


def test_spent_today_is_shown_against_the_daily_limit(guardian: Guardian) -> None:
    holder = guardian.ward(extra=10000)
    card = CardFactory(holder=holder, daily_limit_cents=4000)
    sell(card, ProductFactory(institution=holder.institution, price_cents=1250), quantity=2)

    page = guardian.page("/portal/")

    spent = page[page.index('data-field="spent-today"') : page.index("</dd>", page.index('data-field="spent-today"'))]
    assert "25,00\u00a0DKK" in spent
    assert "40,00\u00a0DKK" in spent


def test_spent_today_counts_card_sales_as_the_till_does_and_not_cash(guardian: Guardian) -> None:
    holder = guardian.ward(extra=10000)
    card = CardFactory(holder=holder, daily_limit_cents=9000)
    product = ProductFactory(institution=holder.institution, price_cents=700)
    sell(card, product, quantity=2)
    sell(card, product, payment=Sale.Payment.CASH)

    spent = holder_spent_today(holder=holder)

    assert spent == 1400
    assert spent == card_spent_today(card=card, zone=holder.institution.zone)


def test_spent_today_leaves_out_earlier_days(guardian: Guardian) -> None:
    holder = guardian.ward(extra=10000)
    card = CardFactory(holder=holder)
    product = ProductFactory(institution=holder.institution, price_cents=700)
    with ledger_time(timezone.now() - dt.timedelta(days=2)):
        sell(card, product)
    sell(card, product, quantity=3)

    assert holder_spent_today(holder=holder) == 2100
    assert holder_spent_today(holder=holder, at=timezone.now() + dt.timedelta(days=1)) == 0


def test_today_is_the_day_in_each_institutions_time_zone() -> None:
    sale_at = dt.datetime(2026, 5, 4, 23, 30, tzinfo=dt.UTC)
    asked_at = dt.datetime(2026, 5, 5, 0, 30, tzinfo=dt.UTC)
    holders = []
    # Asked at 02:30 on 5 May in Copenhagen, where the sale (01:30) was today; in UTC it was yesterday.
    for zone in ("Europe/Copenhagen", "UTC"):
        school = InstitutionFactory(time_zone=zone)
        holder = holder_with_balances(extra=5000, institution=school)
        with ledger_time(sale_at):
            sell(CardFactory(holder=holder), ProductFactory(institution=school, price_cents=300))
        holders.append(holder)

    spent = holders_spent_today(holders=holders, at=asked_at)

    assert spent == {holders[0].pk: 300, holders[1].pk: 0}


def test_a_holder_needing_nothing_shows_no_warnings(guardian: Guardian) -> None:
    holder = guardian.ward(main=5000, extra=5000, low_balance_alert_cents=2000)
    CardFactory(holder=holder)

    assert warnings_of(guardian.page("/portal/")) == ""


@pytest.mark.parametrize("status", [Card.Status.BLOCKED, Card.Status.DEBT_BLOCKED])
def test_a_blocked_card_is_a_warning(guardian: Guardian, status: str) -> None:
    holder = guardian.ward(main=5000, extra=5000)
    card = CardFactory(holder=holder, status=status)

    warnings = warnings_of(guardian.page("/portal/"))

    assert 'data-warning="card-blocked"' in warnings
    assert card.number in warnings


def test_debt_on_the_main_balance_is_a_warning(guardian: Guardian) -> None:
    guardian.ward(main=-2000)

    warnings = warnings_of(guardian.page("/portal/"))

    assert 'data-warning="debt"' in warnings
    assert "-20,00\u00a0DKK" in warnings
    assert "debt-limit" not in warnings


def test_a_main_balance_at_the_debt_limit_says_so(guardian: Guardian) -> None:
    school = InstitutionFactory(debt_limit_cents=15000)
    guardian.ward(main=-15000, institution=school)

    warnings = warnings_of(guardian.page("/portal/"))

    assert 'data-warning="debt-limit"' in warnings
    assert "150,00\u00a0DKK" in warnings
    assert 'data-warning="debt"' not in warnings


@pytest.mark.parametrize(("main", "extra", "low"), [(1500, 9000, "low-main"), (9000, 1999, "low-extra")])
def test_a_balance_below_the_alert_level_is_a_warning(guardian: Guardian, main: int, extra: int, low: str) -> None:
    guardian.ward(main=main, extra=extra, low_balance_alert_cents=2000)

    warnings = warnings_of(guardian.page("/portal/"))

    assert f'data-warning="{low}"' in warnings
    assert "20,00\u00a0DKK" in warnings
    assert warnings.count("data-warning=") == 1


def test_the_overview_selector_flags_what_needs_attention(guardian: Guardian) -> None:
    holder = guardian.ward(main=-500, extra=100, low_balance_alert_cents=1000)
    CardFactory(holder=holder, status=Card.Status.BLOCKED, daily_limit_cents=3000)

    (overview,) = holder_overview_list(user=guardian.user)

    assert (overview.main_cents, overview.extra_cents) == (-500, 100)
    assert overview.daily_limit_cents == 3000
    assert [card.holder_id for card in overview.blocked_cards] == [holder.pk]
    assert (overview.in_debt, overview.at_debt_limit, overview.main_low, overview.extra_low) == (
        True,
        False,
        True,
        True,
    )


def _queries_for_overview(django_assert_max_num_queries: Any, count: int) -> int:
    guardian = Guardian()
    for _ in range(count):
        holder = guardian.ward(main=100, extra=5000)
        card = CardFactory(holder=holder, daily_limit_cents=3000)
        CardFactory(holder=holder, status=Card.Status.BLOCKED)
        sell(card, ProductFactory(institution=holder.institution, price_cents=100))
    with django_assert_max_num_queries(100) as captured:
        assert guardian.client.get("/portal/").status_code == 200
    return len(captured.captured_queries)


def test_the_overview_takes_as_many_queries_for_five_holders_as_for_one(django_assert_max_num_queries: Any) -> None:
    one = _queries_for_overview(django_assert_max_num_queries, 1)
    five = _queries_for_overview(django_assert_max_num_queries, 5)
    assert one == five
