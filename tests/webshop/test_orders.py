"""The webshop's rules: buying a place, paying for it, the cap, the deadline, refunds, the ledger."""

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.db.models import Sum
from django.utils import timezone

from cards.models import Card
from cards.services import guardianship_create, holder_leave
from cardsystem.errors import InvalidRequest, NotFound
from payments.errors import DebtLimitReached, InsufficientFunds
from payments.ledger import holder_accounts_get, system_account
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.selectors import ledger_mismatches
from tests.factories import CardFactory, UserFactory, holder_with_balances, staff_user
from tests.webshop.factories import family, item_for_groups
from webshop.errors import AlreadyBought, BalanceNotAllowed, NotOnSale, NotRefundable, OrderDeadlinePassed, SoldOut
from webshop.mails import order_receipt_mail
from webshop.models import ShopOrder
from webshop.orders import order_create, order_refund, places_taken

pytestmark = pytest.mark.django_db
Kind = LedgerAccount.Kind


def revenue(item) -> int:  # type: ignore[no-untyped-def]
    account = system_account(kind=Kind.REVENUE, institution=item.institution)
    return int(LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount_cents"))["total"] or 0)


def pay(order: ShopOrder, outcome: str = "succeeded") -> ShopOrder:
    assert order.payment is not None
    simulated_callback_deliver(simulated_event(payment=order.payment, outcome=outcome, save_card=False))  # type: ignore[arg-type]
    order.refresh_from_db()
    return order


def test_paying_from_the_extra_balance_moves_the_price_to_the_institutions_revenue() -> None:
    item = item_for_groups("5B", balance_allowed=True, price_cents=15000)
    guardian, holder = family(item=item, extra=20000)
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    assert order.status == ShopOrder.Status.PAID
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 5000
    assert revenue(item) == 15000
    assert order.sale_transaction is not None and order.sale_transaction.kind == LedgerTransaction.Kind.WEBSHOP
    assert ledger_mismatches() == []


def test_a_provider_purchase_waits_for_the_callback_and_then_credits_revenue_once() -> None:
    item = item_for_groups("5B")
    guardian, holder = family(item=item)
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider")
    assert order.status == ShopOrder.Status.PENDING and revenue(item) == 0
    assert order.payment is not None and order.payment.purpose == Payment.Purpose.WEBSHOP
    pay(order)
    simulated_callback_deliver(simulated_event(payment=order.payment, outcome="succeeded", save_card=False))
    order.refresh_from_db()
    assert order.status == ShopOrder.Status.PAID
    assert revenue(item) == item.price_cents
    assert ledger_mismatches() == []


def test_a_failed_provider_payment_sells_nothing_and_frees_the_place() -> None:
    item = item_for_groups("5B", capacity=1)
    guardian, holder = family(item=item)
    order = pay(order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider"), "failed")
    assert order.status == ShopOrder.Status.PENDING and revenue(item) == 0
    assert places_taken(item=item) == 0


def test_the_last_place_is_not_sold_twice() -> None:
    item = item_for_groups("5B", capacity=1, balance_allowed=True)
    first_guardian, first = family(item=item, extra=20000)
    second_guardian, second = family(item=item, extra=20000)
    order_create(guardian=first_guardian, item_id=item.pk, holder_id=first.pk, paid_with="balance")
    with pytest.raises(SoldOut):
        order_create(guardian=second_guardian, item_id=item.pk, holder_id=second.pk, paid_with="balance")
    assert holder_accounts_get(holder_id=second.pk).extra.balance_cents == 20000


def test_an_open_provider_payment_holds_its_place_until_it_expires() -> None:
    item = item_for_groups("5B", capacity=1, balance_allowed=True)
    first_guardian, first = family(item=item)
    second_guardian, second = family(item=item, extra=20000)
    order_create(guardian=first_guardian, item_id=item.pk, holder_id=first.pk, paid_with="provider")
    with pytest.raises(SoldOut):
        order_create(guardian=second_guardian, item_id=item.pk, holder_id=second.pk, paid_with="balance")
    Payment.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    order = order_create(guardian=second_guardian, item_id=item.pk, holder_id=second.pk, paid_with="balance")
    assert order.status == ShopOrder.Status.PAID


def test_a_payment_that_arrives_after_its_place_was_sold_is_paid_back_through_the_provider(
    django_capture_on_commit_callbacks: Any,
) -> None:
    item = item_for_groups("5B", capacity=1, balance_allowed=True)
    late_guardian, late = family(item=item)
    other_guardian, other = family(item=item, extra=20000)
    late_order = order_create(guardian=late_guardian, item_id=item.pk, holder_id=late.pk, paid_with="provider")
    Payment.objects.filter(pk=late_order.payment_id).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    order_create(guardian=other_guardian, item_id=item.pk, holder_id=other.pk, paid_with="balance")
    with django_capture_on_commit_callbacks(execute=True):
        late_order = pay(late_order)
    late_order.refresh_from_db()
    assert late_order.status == ShopOrder.Status.REFUNDED
    assert late_order.refund_to == ShopOrder.RefundTo.PROVIDER
    assert late_order.refund_reference.startswith("re_test_")
    assert revenue(item) == item.price_cents  # only the place that was sold
    assert ShopOrder.objects.filter(item=item, status=ShopOrder.Status.PAID).count() == 1
    assert ledger_mismatches() == []


def test_a_purchase_after_the_deadline_is_refused() -> None:
    item = item_for_groups("5B", balance_allowed=True, deadline=timezone.now() - dt.timedelta(minutes=1))
    guardian, holder = family(item=item, extra=20000)
    with pytest.raises(OrderDeadlinePassed):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    assert not ShopOrder.objects.exists()


def test_an_item_taken_off_sale_cannot_be_bought() -> None:
    item = item_for_groups("5B", active=False)
    guardian, holder = family(item=item)
    with pytest.raises(NotFound):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider")
    assert NotOnSale.code == "not_on_sale"


def test_a_cardholder_gets_one_place_per_item() -> None:
    item = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=item, extra=40000)
    order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    with pytest.raises(AlreadyBought):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 25000


def test_the_balance_is_refused_where_the_item_does_not_allow_it() -> None:
    item = item_for_groups("5B", balance_allowed=False)
    guardian, holder = family(item=item, extra=20000)
    with pytest.raises(BalanceNotAllowed):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 20000


def test_an_extra_balance_short_of_the_price_buys_nothing() -> None:
    item = item_for_groups("5B", balance_allowed=True, price_cents=15000)
    guardian, holder = family(item=item, extra=14999)
    with pytest.raises(InsufficientFunds):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    assert not ShopOrder.objects.exists() and revenue(item) == 0


def test_an_item_with_options_needs_one_of_its_own() -> None:
    item = item_for_groups("5B", options=("S", "M", "L"))
    other = item_for_groups("5B", options=("XL",), institution=item.institution)
    guardian, holder = family(item=item)
    with pytest.raises(InvalidRequest) as missing:
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider")
    with pytest.raises(InvalidRequest):
        order_create(
            guardian=guardian,
            item_id=item.pk,
            holder_id=holder.pk,
            option_id=other.options.get().pk,
            paid_with="provider",
        )
    assert missing.value.fields is not None and set(missing.value.fields) == {"option"}
    chosen = item.options.get(label="M")
    order = order_create(
        guardian=guardian, item_id=item.pk, holder_id=holder.pk, option_id=chosen.pk, paid_with="provider"
    )
    assert order.option == chosen


def test_a_guardian_cannot_buy_an_item_for_a_group_their_cardholder_is_not_in() -> None:
    item = item_for_groups("5B")
    guardian, holder = family(item=item, group="2A")
    with pytest.raises(NotFound):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider")


def test_a_guardian_cannot_buy_for_another_familys_cardholder() -> None:
    item = item_for_groups("5B")
    _guardian, holder = family(item=item)
    with pytest.raises(NotFound):
        order_create(guardian=UserFactory(), item_id=item.pk, holder_id=holder.pk, paid_with="provider")


def test_an_item_without_groups_is_offered_to_every_cardholder_of_its_institution() -> None:
    item = item_for_groups(balance_allowed=True)
    guardian, holder = family(item=item, group="9C", extra=20000)
    assert order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance").pk


def test_a_refund_to_the_balance_moves_the_price_back_from_revenue() -> None:
    item = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=item, extra=20000)
    office = staff_user(institution=item.institution, role="office")
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    refunded = order_refund(order=order, refund_to="balance", reason="Ill on the day", by=office)
    assert refunded.status == ShopOrder.Status.REFUNDED and refunded.refunded_by == office
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 20000
    assert revenue(item) == 0
    assert ledger_mismatches() == []


def test_a_refund_through_the_provider_credits_the_provider_clearing_account() -> None:
    item = item_for_groups("5B")
    guardian, holder = family(item=item)
    office = staff_user(institution=item.institution, role="office")
    order = pay(order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider"))
    refunded = order_refund(order=order, refund_to="provider", reason="Trip cancelled", by=office)
    clearing = system_account(kind=Kind.PROVIDER_CLEARING)
    assert refunded.refund_reference == f"re_test_shop-order-{order.pk}"
    assert LedgerEntry.objects.filter(account=clearing).aggregate(total=Sum("amount_cents"))["total"] == 0
    assert revenue(item) == 0


def test_a_refund_frees_the_place() -> None:
    item = item_for_groups("5B", balance_allowed=True, capacity=1)
    guardian, holder = family(item=item, extra=20000)
    office = staff_user(institution=item.institution, role="office")
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    order_refund(order=order, refund_to="balance", reason="Changed plans", by=office)
    assert places_taken(item=item) == 0


def test_an_order_is_refunded_once() -> None:
    item = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=item, extra=20000)
    office = staff_user(institution=item.institution, role="office")
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    order_refund(order=order, refund_to="balance", reason="Ill", by=office)
    with pytest.raises(NotRefundable):
        order_refund(order=order, refund_to="balance", reason="Ill", by=office)
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 20000


def test_a_refund_needs_a_reason() -> None:
    item = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=item, extra=20000)
    office = staff_user(institution=item.institution, role="office")
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    with pytest.raises(InvalidRequest):
        order_refund(order=order, refund_to="balance", reason="  ", by=office)
    order.refresh_from_db()
    assert order.status == ShopOrder.Status.PAID


def test_a_balance_payment_cannot_be_refunded_to_a_payment_card() -> None:
    item = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=item, extra=20000)
    office = staff_user(institution=item.institution, role="office")
    order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    with pytest.raises(InvalidRequest):
        order_refund(order=order, refund_to="provider", reason="Ill", by=office)
    assert revenue(item) == item.price_cents


def test_a_paid_order_mails_the_receipt_with_its_pdf_once(django_capture_on_commit_callbacks: Any) -> None:
    item = item_for_groups("5B", balance_allowed=True, name="Zoo trip")
    guardian, holder = family(item=item, extra=20000)
    with django_capture_on_commit_callbacks(execute=True):
        order = order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")

    assert order_receipt_mail(order_id=order.pk) is False  # sent once already, when the sale committed
    [message] = mail.outbox
    assert message.to == [guardian.email]
    assert "Zoo trip" in message.subject and order.receipt_number in message.subject
    assert message.attachments[0][2] == "application/pdf"


def test_nothing_is_offered_to_a_cardholder_who_has_left() -> None:
    item = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=item, extra=20000)
    holder_leave(holder=holder, left_by=staff_user(institution=item.institution, role="office"), reason="Moved")
    with pytest.raises(NotFound):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")


def test_a_cardholder_at_the_debt_limit_cannot_pay_from_the_balance_but_can_by_card() -> None:
    item = item_for_groups("5B", balance_allowed=True, price_cents=1500)
    guardian = UserFactory()
    holder = holder_with_balances(institution=item.institution, main=-15000, extra=5000, group="5B")
    guardianship_create(guardian=guardian, holder=holder)
    with pytest.raises(DebtLimitReached):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 5000
    assert order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="provider").pk


def test_a_cardholder_blocked_for_debt_cannot_pay_from_the_balance() -> None:
    item = item_for_groups("5B", balance_allowed=True, price_cents=1500)
    guardian = UserFactory()
    holder = holder_with_balances(institution=item.institution, main=-5000, extra=5000, group="5B")
    guardianship_create(guardian=guardian, holder=holder)
    CardFactory(holder=holder, status=Card.Status.DEBT_BLOCKED)
    with pytest.raises(DebtLimitReached):
        order_create(guardian=guardian, item_id=item.pk, holder_id=holder.pk, paid_with="balance")
