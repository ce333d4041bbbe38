"""A closed account ends the cardholder's meal plans: after a refund or on leaving, the subscription
stops and unpaid orders are cancelled, so no deadline charges a closed account."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts.models import Role
from canteen.meal_deadline import meal_day_close
from canteen.meal_orders import meal_order_place, meal_subscription_set
from canteen.models import MealOrder, MealSubscription
from cards.services import guardianship_create, holder_leave
from payments.ledger import holder_accounts_get
from payouts.refunds import refund_approve, refund_request_create
from tests.factories import CardFactory, InstitutionFactory, UserFactory, holder_with_balances, staff_user
from tests.meal_factories import MealPolicyFactory, MealPriceFactory, SchoolDayFactory

pytestmark = pytest.mark.django_db

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
MONDAY = dt.date(2026, 12, 7)
FRIDAY = MONDAY - dt.timedelta(days=3)  # Monday's deadline: 14:00 on Friday
VALID_CPR = "0707614285"


@pytest.fixture
def school():  # type: ignore[no-untyped-def]
    school = InstitutionFactory(time_zone="Europe/Copenhagen")
    MealPolicyFactory(institution=school)
    return school


def pupil(school, *, main: int = 5000):  # type: ignore[no-untyped-def]
    holder = holder_with_balances(institution=school, main=main)
    MealPriceFactory(institution=school, price_category=holder.price_category, price_cents=2500)
    guardian = UserFactory()
    guardianship_create(guardian=guardian, holder=holder)
    CardFactory(holder=holder)
    return holder, guardian


def refund(holder, guardian, school) -> None:  # type: ignore[no-untyped-def]
    requested = refund_request_create(
        holder=holder, requested_by=guardian, payee_name="Jens Hansen", payee_cpr=VALID_CPR
    )
    refund_approve(refund=requested.refund, approved_by=staff_user(institution=school, role=Role.OFFICE))


@pytest.mark.parametrize("meal", ["order", "subscription"])
def test_after_a_refund_the_next_meal_deadline_charges_nothing(school, meal: str) -> None:  # type: ignore[no-untyped-def]
    holder, guardian = pupil(school)
    monday = SchoolDayFactory(institution=school, date=MONDAY)
    with time_machine.travel(dt.datetime.combine(FRIDAY, dt.time(9), tzinfo=COPENHAGEN), tick=False):
        if meal == "order":
            meal_order_place(holder=holder, date=MONDAY, option=1, source=MealOrder.Source.GUARDIAN)
        else:
            meal_subscription_set(holder=holder, subscribed=True)
        refund(holder, guardian, school)

    meal_day_close(school_day=monday, now=dt.datetime.combine(FRIDAY, dt.time(14), tzinfo=COPENHAGEN))

    accounts = holder_accounts_get(holder_id=holder.pk)
    assert (accounts.main.balance_cents, accounts.extra.balance_cents) == (0, 0)
    assert not MealSubscription.objects.filter(holder=holder).exists()


def test_a_binding_order_the_late_deadline_job_has_not_charged_is_cancelled_by_a_refund(school) -> None:  # type: ignore[no-untyped-def]
    holder, guardian = pupil(school)
    monday = SchoolDayFactory(institution=school, date=MONDAY)
    with time_machine.travel(dt.datetime.combine(FRIDAY, dt.time(9), tzinfo=COPENHAGEN), tick=False):
        order = meal_order_place(holder=holder, date=MONDAY, option=1, source=MealOrder.Source.GUARDIAN)
    # Past the deadline, the job not run yet: the refund closes the account first.
    with time_machine.travel(dt.datetime.combine(FRIDAY, dt.time(15), tzinfo=COPENHAGEN), tick=False):
        refund(holder, guardian, school)
        meal_day_close(school_day=monday)

    order.refresh_from_db()
    assert order.status == MealOrder.Status.CANCELLED
    assert holder_accounts_get(holder_id=holder.pk).main.balance_cents == 0


def test_leaving_ends_the_subscription_and_cancels_unpaid_orders_but_keeps_paid_ones(school) -> None:  # type: ignore[no-untyped-def]
    holder, _guardian = pupil(school, main=10000)
    friday, _monday = (
        SchoolDayFactory(institution=school, date=FRIDAY),
        SchoolDayFactory(institution=school, date=MONDAY),
    )
    with time_machine.travel(
        dt.datetime.combine(FRIDAY - dt.timedelta(days=1), dt.time(9), tzinfo=COPENHAGEN), tick=False
    ):
        paid = meal_order_place(holder=holder, date=FRIDAY, option=1, source=MealOrder.Source.GUARDIAN)
        wanted = meal_order_place(holder=holder, date=MONDAY, option=1, source=MealOrder.Source.GUARDIAN)
        meal_subscription_set(holder=holder, subscribed=True)
    meal_day_close(
        school_day=friday, now=dt.datetime.combine(FRIDAY - dt.timedelta(days=1), dt.time(14), tzinfo=COPENHAGEN)
    )
    with time_machine.travel(dt.datetime.combine(FRIDAY, dt.time(10), tzinfo=COPENHAGEN), tick=False):
        holder_leave(holder=holder, left_by=staff_user(institution=school, role=Role.OFFICE), reason="Moved away")

    paid.refresh_from_db()
    wanted.refresh_from_db()
    assert (paid.status, wanted.status) == (MealOrder.Status.PAID, MealOrder.Status.CANCELLED)
    assert not MealSubscription.objects.filter(holder=holder).exists()
