"""Meal rules [SL][PZ]: deadlines, ordering, paying main → extra → debt, the deadline job, the lunch line."""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import transaction
from hypothesis import given
from hypothesis import strategies as st

from accounts.models import Institution
from canteen.errors import (
    AlreadyServedToday,
    CardBlocked,
    NoMealOrdered,
    NotASchoolDay,
    OptionNotOffered,
    OrderDeadlinePassed,
    OutsideServingHours,
)
from canteen.meal_calendar import order_deadline, serving_now
from canteen.meal_deadline import kitchen_mails_due, meal_day_close, meal_deadlines_run
from canteen.meal_orders import meal_order_cancel, meal_order_place, meal_subscription_set
from canteen.meal_payments import meal_charge, meal_split
from canteen.meal_serving import meal_serve
from canteen.models import MealOrder, MealPolicy, MealPrice, SchoolDay
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from payments.errors import DebtLimitReached
from payments.ledger import holder_accounts_get
from payments.models import LedgerTransaction
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.selectors import ledger_mismatches
from payments.topups import AllocationRequest, topup_create
from tests.factories import CardFactory, InstitutionFactory, PriceCategoryFactory, UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db

CPH = ZoneInfo("Europe/Copenhagen")
FRIDAY, MONDAY, TUESDAY = dt.date(2026, 12, 4), dt.date(2026, 12, 7), dt.date(2026, 12, 8)
PRICE = 2500


def at(date: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A Copenhagen wall-clock moment."""
    return dt.datetime.combine(date, dt.time(hour, minute, second), tzinfo=CPH)


def school(*, option2_minimum: int = 20, walk_ins: bool = False) -> Institution:
    institution = InstitutionFactory(time_zone="Europe/Copenhagen", debt_limit_cents=15000)
    MealPolicy.objects.create(institution=institution, option2_minimum=option2_minimum, walk_ins_allowed=walk_ins)
    MealPrice.objects.create(institution=institution, price_category=PriceCategoryFactory(), price_cents=PRICE)
    return institution


def school_day(institution: Institution, date: dt.date, *, option2: str = "Pasta") -> SchoolDay:
    return SchoolDay.objects.create(institution=institution, date=date, option1="Soup", option2=option2)


def pupil(institution: Institution, *, main: int = 0, extra: int = 0) -> Cardholder:
    return holder_with_balances(institution=institution, main=main, extra=extra)


def balances(holder: Cardholder) -> tuple[int, int]:
    accounts = holder_accounts_get(holder_id=holder.pk)
    return accounts.main.balance_cents, accounts.extra.balance_cents


# --- deadlines ----------------------------------------------------------------------------------


def test_the_deadline_is_14_00_on_the_previous_school_day() -> None:
    institution = school()
    school_day(institution, dt.date(2026, 12, 8))
    wednesday = school_day(institution, dt.date(2026, 12, 9))

    assert order_deadline(school_day=wednesday) == at(dt.date(2026, 12, 8), 14)


def test_a_mondays_deadline_is_on_friday() -> None:
    institution = school()
    school_day(institution, FRIDAY)
    monday = school_day(institution, MONDAY)

    assert order_deadline(school_day=monday) == at(FRIDAY, 14)


def test_after_a_holiday_the_deadline_is_on_the_last_school_day_before_it() -> None:
    institution = school()
    school_day(institution, dt.date(2026, 12, 8))  # Tuesday; Wednesday the 9th is a holiday
    thursday = school_day(institution, dt.date(2026, 12, 10))

    assert order_deadline(school_day=thursday) == at(dt.date(2026, 12, 8), 14)


def test_after_the_long_holidays_the_deadline_is_the_weekday_before() -> None:
    institution = school()
    school_day(institution, dt.date(2026, 6, 26))
    first_day = school_day(institution, dt.date(2026, 8, 10))  # a Monday after the summer

    assert order_deadline(school_day=first_day) == at(dt.date(2026, 8, 7), 14)


def test_the_deadline_keeps_14_00_local_time_across_the_change_to_winter_time() -> None:
    institution = school()
    school_day(institution, dt.date(2026, 10, 23))  # Friday, summer time (UTC+2)
    monday = school_day(institution, dt.date(2026, 10, 26))  # after the clocks went back on Sunday

    deadline = order_deadline(school_day=monday)

    assert deadline.astimezone(dt.UTC) == dt.datetime(2026, 10, 23, 12, 0, tzinfo=dt.UTC)


def test_the_deadline_on_the_day_the_clocks_change_is_still_14_00_there() -> None:
    institution = school()
    school_day(institution, dt.date(2026, 3, 27))
    monday = school_day(institution, dt.date(2026, 3, 30))  # Sunday the 29th: summer time begins

    assert order_deadline(school_day=monday).astimezone(dt.UTC) == dt.datetime(2026, 3, 27, 13, 0, tzinfo=dt.UTC)


# --- ordering -----------------------------------------------------------------------------------


def test_an_order_at_13_59_59_is_taken() -> None:
    institution = school()
    school_day(institution, FRIDAY)
    school_day(institution, MONDAY)
    holder = pupil(institution)

    order = meal_order_place(holder=holder, date=MONDAY, option=2, source="guardian", now=at(FRIDAY, 13, 59, 59))

    assert (order.option, order.status) == (2, MealOrder.Status.ORDERED)


def test_an_order_at_14_00_is_refused_and_nothing_is_written() -> None:
    institution = school()
    school_day(institution, FRIDAY)
    school_day(institution, MONDAY)
    holder = pupil(institution)

    with pytest.raises(OrderDeadlinePassed):
        meal_order_place(holder=holder, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 14))

    assert not MealOrder.objects.exists()


def test_ordering_for_a_weekend_or_holiday_is_not_a_school_day() -> None:
    institution = school()
    holder = pupil(institution)

    with pytest.raises(NotASchoolDay):
        meal_order_place(holder=holder, date=dt.date(2026, 12, 5), option=1, source="guardian", now=at(FRIDAY, 9))


def test_option_2_cannot_be_ordered_on_a_day_without_it() -> None:
    institution = school()
    school_day(institution, FRIDAY)
    school_day(institution, MONDAY, option2="")

    with pytest.raises(OptionNotOffered):
        meal_order_place(holder=pupil(institution), date=MONDAY, option=2, source="guardian", now=at(FRIDAY, 9))


def test_ordering_again_changes_the_one_order_of_the_day() -> None:
    institution = school()
    school_day(institution, FRIDAY)
    school_day(institution, MONDAY)
    holder = pupil(institution)
    meal_order_place(holder=holder, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))

    meal_order_place(holder=holder, date=MONDAY, option=2, source="guardian", now=at(FRIDAY, 10))

    assert list(MealOrder.objects.values_list("option", flat=True)) == [2]


def test_cancelling_after_the_deadline_is_refused() -> None:
    institution = school()
    school_day(institution, FRIDAY)
    school_day(institution, MONDAY)
    holder = pupil(institution)
    meal_order_place(holder=holder, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))

    with pytest.raises(OrderDeadlinePassed):
        meal_order_cancel(holder=holder, date=MONDAY, now=at(FRIDAY, 14, 0, 1))

    assert MealOrder.objects.get().status == MealOrder.Status.ORDERED


# --- paying: main, extra, debt --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("main", "extra", "split"),
    [
        (5000, 5000, (2500, 0, 0)),
        (1000, 5000, (1000, 1500, 0)),
        (0, 1000, (0, 1000, 1500)),
        (-2000, 0, (0, 0, 2500)),
    ],
)
def test_a_meal_takes_main_first_then_extra_then_debt(main: int, extra: int, split: tuple[int, int, int]) -> None:
    assert meal_split(price_cents=2500, main_cents=main, extra_cents=extra) == split


def test_the_whole_debt_sequence_blocks_at_the_limit_and_a_top_up_repays_and_unblocks() -> None:
    institution = school()
    holder = pupil(institution, main=2500, extra=2500)
    card = CardFactory(holder=holder)
    guardian = UserFactory()
    guardianship_create(guardian=guardian, holder=holder)

    def charge() -> None:
        with transaction.atomic():
            meal_charge(holder_id=holder.pk, institution=institution, price_cents=PRICE, reason="meal")

    charge()  # main 25.00 → 0
    assert balances(holder) == (0, 2500)
    charge()  # extra 25.00 → 0
    assert balances(holder) == (0, 0)
    for _ in range(6):  # six meals of debt: 150.00, the limit
        charge()
    assert balances(holder) == (-15000, 0)
    card.refresh_from_db()
    assert card.status == Card.Status.DEBT_BLOCKED
    with pytest.raises(DebtLimitReached):
        charge()

    payment = topup_create(
        guardian=guardian, allocations=[AllocationRequest(holder_id=holder.pk, balance="extra", amount_cents=20000)]
    )
    simulated_callback_deliver(simulated_event(payment=payment, outcome="succeeded", save_card=False))

    assert balances(holder) == (0, 5000)  # the debt was paid first
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    assert ledger_mismatches() == []


def test_a_meal_that_would_pass_the_debt_limit_is_refused_and_changes_nothing() -> None:
    institution = school()
    holder = pupil(institution)
    with transaction.atomic():
        for _ in range(5):
            meal_charge(holder_id=holder.pk, institution=institution, price_cents=PRICE, reason="meal")

    with pytest.raises(DebtLimitReached), transaction.atomic():
        meal_charge(holder_id=holder.pk, institution=institution, price_cents=3000, reason="meal")

    assert balances(holder) == (-12500, 0)


# --- the deadline job ---------------------------------------------------------------------------


def closed_monday(institution: Institution) -> SchoolDay:
    school_day(institution, FRIDAY)
    return school_day(institution, MONDAY)


def test_at_the_deadline_an_order_is_paid_and_a_cancelled_one_costs_nothing() -> None:
    institution = school()
    monday = closed_monday(institution)
    eats, cancels = pupil(institution, main=10000), pupil(institution, main=10000)
    meal_order_place(holder=eats, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))
    meal_order_place(holder=cancels, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))
    meal_order_cancel(holder=cancels, date=MONDAY, now=at(FRIDAY, 10))

    meal_day_close(school_day=monday, now=at(FRIDAY, 14))

    assert balances(eats) == (7500, 0)
    assert balances(cancels) == (10000, 0)
    assert MealOrder.objects.get(holder=eats).status == MealOrder.Status.PAID
    assert ledger_mismatches() == []


def test_the_job_closes_only_days_whose_deadline_has_passed() -> None:
    institution = school()
    monday = closed_monday(institution)
    tuesday = school_day(institution, TUESDAY)

    friday = SchoolDay.objects.get(date=FRIDAY)

    closed = meal_deadlines_run(now=at(FRIDAY, 14, 0, 1))

    assert [c.school_day_id for c in closed] == [friday.pk, monday.pk]  # Friday's closed on Thursday
    tuesday.refresh_from_db()
    assert tuesday.orders_closed_at is None


def test_running_the_job_twice_charges_once() -> None:
    institution = school()
    monday = closed_monday(institution)
    holder = pupil(institution, main=10000)
    meal_order_place(holder=holder, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))

    meal_day_close(school_day=monday, now=at(FRIDAY, 14))
    meal_deadlines_run(now=at(FRIDAY, 15))
    meal_day_close(school_day=monday, now=at(FRIDAY, 16))

    assert balances(holder) == (7500, 0)
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MEAL).count() == 1


def test_subscribers_get_option_1_unless_they_cancelled_the_day() -> None:
    institution = school()
    monday = closed_monday(institution)
    subscriber, cancelled = pupil(institution, main=5000), pupil(institution, main=5000)
    for holder in (subscriber, cancelled):
        meal_subscription_set(holder=holder, subscribed=True)
    meal_order_cancel(holder=cancelled, date=MONDAY, now=at(FRIDAY, 9))

    meal_day_close(school_day=monday, now=at(FRIDAY, 14))

    order = MealOrder.objects.get(holder=subscriber)
    assert (order.option, order.source, order.status) == (1, "subscription", "paid")
    assert MealOrder.objects.get(holder=cancelled).status == MealOrder.Status.CANCELLED
    assert balances(cancelled) == (5000, 0)


def test_fewer_than_the_minimum_on_option_2_move_to_option_1_and_guardians_are_told(
    django_capture_on_commit_callbacks: Any,
) -> None:
    institution = school(option2_minimum=3)
    monday = closed_monday(institution)
    holders = [pupil(institution, main=5000) for _ in range(2)]
    for holder in holders:
        guardianship_create(guardian=UserFactory(), holder=holder)
        meal_order_place(holder=holder, date=MONDAY, option=2, source="guardian", now=at(FRIDAY, 9))

    with django_capture_on_commit_callbacks(execute=True):
        meal_day_close(school_day=monday, now=at(FRIDAY, 14))

    orders = MealOrder.objects.filter(holder__in=holders)
    assert {(o.option, o.moved_from_option2, o.status) for o in orders} == {(1, True, "paid")}
    monday.refresh_from_db()
    assert monday.option2_dropped
    assert len([m for m in mail.outbox if "Soup" in m.body]) == 2


def test_the_minimum_reached_keeps_option_2() -> None:
    institution = school(option2_minimum=2)
    monday = closed_monday(institution)
    for _ in range(2):
        meal_order_place(
            holder=pupil(institution, main=5000), date=MONDAY, option=2, source="guardian", now=at(FRIDAY, 9)
        )

    meal_day_close(school_day=monday, now=at(FRIDAY, 14))

    assert set(MealOrder.objects.values_list("option", flat=True)) == {2}
    monday.refresh_from_db()
    assert not monday.option2_dropped


def test_an_order_past_the_debt_limit_is_left_unpaid_at_the_deadline() -> None:
    institution = school()
    monday = closed_monday(institution)
    holder = pupil(institution)
    with transaction.atomic():
        for _ in range(6):
            meal_charge(holder_id=holder.pk, institution=institution, price_cents=PRICE, reason="earlier meals")
    meal_order_place(holder=holder, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))

    meal_day_close(school_day=monday, now=at(FRIDAY, 14))

    assert MealOrder.objects.get().status == MealOrder.Status.UNPAID
    assert balances(holder) == (-15000, 0)


# --- the lunch line -----------------------------------------------------------------------------


def lunch_line(institution: Institution, *, main: int = 10000, order: bool = True) -> tuple[Card, SchoolDay]:
    monday = closed_monday(institution)
    holder = pupil(institution, main=main)
    card = CardFactory(holder=holder)
    if order:
        meal_order_place(holder=holder, date=MONDAY, option=2, source="guardian", now=at(FRIDAY, 9))
    return card, monday


def test_a_paid_order_is_served_once_and_charged_nothing_more() -> None:
    institution = school(option2_minimum=1)
    card, monday = lunch_line(institution)
    meal_day_close(school_day=monday, now=at(FRIDAY, 14))

    served = meal_serve(institution=institution, card=card, now=at(MONDAY, 12))

    assert (served.order.option, served.charged_cents) == (2, 0)
    assert balances(card.holder) == (7500, 0)  # type: ignore[arg-type]
    with pytest.raises(AlreadyServedToday):
        meal_serve(institution=institution, card=card, now=at(MONDAY, 12, 5))


def test_an_order_the_deadline_did_not_pay_is_paid_when_served() -> None:
    institution = school(option2_minimum=1)
    card, _monday = lunch_line(institution)

    served = meal_serve(institution=institution, card=card, now=at(MONDAY, 12))

    assert served.charged_cents == PRICE
    assert balances(card.holder) == (7500, 0)  # type: ignore[arg-type]


def test_no_order_and_no_walk_ins_is_refused() -> None:
    institution = school()
    card, _monday = lunch_line(institution, order=False)

    with pytest.raises(NoMealOrdered):
        meal_serve(institution=institution, card=card, now=at(MONDAY, 12))


def test_a_walk_in_is_charged_the_category_price_where_allowed() -> None:
    institution = school(walk_ins=True)
    card, _monday = lunch_line(institution, order=False)

    served = meal_serve(institution=institution, card=card, now=at(MONDAY, 12))

    assert (served.order.source, served.order.option, served.charged_cents) == ("walk_in", 1, PRICE)
    assert balances(card.holder) == (7500, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hour", "minute", "open_"), [(11, 14, False), (11, 15, True), (13, 44, True), (13, 45, False)]
)
def test_the_serving_window_is_11_15_to_13_45(hour: int, minute: int, open_: bool) -> None:
    institution = school()
    policy = MealPolicy.objects.get(institution=institution)

    assert serving_now(policy=policy, institution=institution, now=at(MONDAY, hour, minute)) is open_


def test_outside_the_window_nothing_is_served() -> None:
    institution = school()
    card, _monday = lunch_line(institution)

    with pytest.raises(OutsideServingHours):
        meal_serve(institution=institution, card=card, now=at(MONDAY, 14))

    assert MealOrder.objects.get().served_at is None


def test_on_a_day_without_school_nothing_is_served() -> None:
    institution = school()
    card, _monday = lunch_line(institution)

    with pytest.raises(NotASchoolDay):
        meal_serve(institution=institution, card=card, now=at(TUESDAY, 12))


def test_a_blocked_card_is_not_served() -> None:
    institution = school()
    card, _monday = lunch_line(institution)
    Card.objects.filter(pk=card.pk).update(status=Card.Status.BLOCKED)
    card.refresh_from_db()

    with pytest.raises(CardBlocked):
        meal_serve(institution=institution, card=card, now=at(MONDAY, 12))


@given(
    price=st.integers(min_value=0, max_value=10**6),
    main=st.integers(min_value=-(10**6), max_value=10**6),
    extra=st.integers(min_value=0, max_value=10**6),
)
def test_the_split_always_adds_up_to_the_price_and_takes_debt_only_when_both_are_short(
    price: int, main: int, extra: int
) -> None:
    from_main, from_extra, debt = meal_split(price_cents=price, main_cents=main, extra_cents=extra)

    assert from_main + from_extra + debt == price
    assert min(from_main, from_extra, debt) >= 0
    assert from_main <= max(main, 0) and from_extra <= extra
    if debt:
        assert from_main == max(main, 0) and from_extra == extra


def test_a_kitchen_mail_that_did_not_go_out_is_due_again_and_one_sent_is_not() -> None:
    institution = school()
    MealPolicy.objects.filter(institution=institution).update(kitchen_email="kitchen@example.com")
    monday = closed_monday(institution)
    meal_day_close(school_day=monday, now=at(FRIDAY, 14))

    due_before = kitchen_mails_due(now=at(FRIDAY, 15))
    SchoolDay.objects.filter(pk=monday.pk).update(kitchen_notified_at=at(FRIDAY, 15))
    due_after = kitchen_mails_due(now=at(FRIDAY, 16))

    assert monday.pk in due_before and monday.pk not in due_after
