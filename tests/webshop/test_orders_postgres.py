"""The webshop's money paths racing on PostgreSQL: the cap, a cardholder's one place, refunds."""

import datetime as dt

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Role
from payments.ledger import holder_accounts_get, system_account
from payments.models import LedgerAccount, LedgerEntry, Payment
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.selectors import ledger_mismatches
from tests.factories import staff_user
from tests.payments.test_ledger_postgres import race
from tests.webshop.factories import family, item_for_groups
from webshop.errors import AlreadyBought, NotRefundable, SoldOut
from webshop.models import ShopItem, ShopOrder
from webshop.orders import order_create, order_refund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def revenue(item: ShopItem) -> int:
    account = system_account(kind=LedgerAccount.Kind.REVENUE, institution=item.institution)
    return int(LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount_cents"))["total"] or 0)


def test_twenty_guardians_racing_for_three_places_buy_exactly_three() -> None:
    item = item_for_groups("5B", capacity=3, balance_allowed=True, price_cents=10000)
    families = [family(item=item, extra=10000) for _ in range(20)]

    def buy(i: int) -> ShopOrder:
        guardian, holder = families[i]
        return order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")

    results = race(20, buy)
    assert sum(isinstance(r, ShopOrder) for r in results) == 3
    assert sum(isinstance(r, SoldOut) for r in results) == 17
    assert ShopOrder.objects.filter(item=item, status=ShopOrder.Status.PAID).count() == 3
    assert revenue(item) == 30000
    assert sum(holder_accounts_get(holder_id=h.pk).extra.balance_cents for _g, h in families) == 17 * 10000
    assert ledger_mismatches() == []


def test_callbacks_racing_for_the_last_place_sell_it_once_and_pay_the_others_back() -> None:
    item = item_for_groups("5B", capacity=1)
    families = [family(item=item) for _ in range(6)]
    orders = []
    for guardian, holder in families:
        orders.append(order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider"))
        # Each payment expires on the provider's page (freeing the place for the next guardian), but
        # the guardians pay anyway: all six payments arrive.
        Payment.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    def settle(i: int) -> None:
        payment = orders[i].payment
        assert payment is not None
        simulated_callback_deliver(simulated_event(payment=payment, outcome="succeeded", save_card=False))

    race(6, settle)
    statuses = sorted(ShopOrder.objects.filter(item=item).values_list("status", flat=True))
    assert statuses == ["paid"] + ["refunded"] * 5
    assert revenue(item) == item.price_cents
    assert ledger_mismatches() == []


def test_one_cardholder_bought_from_two_browsers_gets_one_place() -> None:
    item = item_for_groups("5B", balance_allowed=True, price_cents=10000)
    guardian, holder = family(item=item, extra=50000)

    def buy(_i: int) -> ShopOrder:
        return order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")

    results = race(8, buy)
    assert sum(isinstance(r, ShopOrder) for r in results) == 1
    assert sum(isinstance(r, AlreadyBought) for r in results) == 7
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 40000
    assert ledger_mismatches() == []


def test_refunds_racing_on_one_order_pay_back_once() -> None:
    item = item_for_groups("5B", balance_allowed=True, price_cents=10000)
    guardian, holder = family(item=item, extra=10000)
    office = staff_user(institution=item.institution, role=Role.OFFICE)
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")

    def refund(_i: int) -> ShopOrder:
        return order_refund(order=ShopOrder.objects.get(pk=order.pk), refund_to="balance", reason="Ill", by=office)

    results = race(8, refund)
    assert sum(isinstance(r, ShopOrder) for r in results) == 1
    assert all(isinstance(r, (ShopOrder, NotRefundable)) for r in results)
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 10000
    assert revenue(item) == 0
    assert ledger_mismatches() == []
