"""Reads for ordering meals: a cardholder's month of school days, and the next days still open.

Both answer in a fixed handful of queries however many days they show: the rules (1), the
school days (1), their deadlines (`order_deadlines`, 1), the holder's orders (1), the subscription
(1) and the meal price (1).
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import timezone

from canteen.meal_calendar import MealPriceMissing, local_today, meal_policy_get, meal_price_cents, order_deadlines
from canteen.models import MealOrder, MealPolicy, MealSubscription, SchoolDay
from cards.models import Cardholder

# How far ahead the self-service terminal looks for open days: two weeks cover the next five
# school days however the holidays fall, without reading the whole term.
OPEN_DAYS_HORIZON = dt.timedelta(days=21)


class MealState:
    """What a day means for the holder, one word each, as the pages and the API name it."""

    NOT_ORDERED = "not_ordered"
    SUBSCRIPTION = "subscription"  # no order of their own: option 1 by the subscription
    ORDERED = "ordered"
    CANCELLED = "cancelled"
    PAID = "paid"
    UNPAID = "unpaid"
    SERVED = "served"


@dataclass(frozen=True)
class MealDay:
    """One school day as the holder sees it: the menu, the deadline and their meal."""

    school_day: SchoolDay
    deadline: dt.datetime
    is_open: bool
    order: MealOrder | None
    subscribed: bool

    @property
    def date(self) -> dt.date:
        return self.school_day.date

    @property
    def by_subscription(self) -> bool:
        """The subscription orders option 1 at the deadline; once the day is settled it made a row."""
        return self.order is None and self.subscribed and self.school_day.orders_closed_at is None

    @property
    def option(self) -> int | None:
        """The option the holder gets (or got) that day; None: no meal."""
        if self.order is not None:
            return None if self.order.status == MealOrder.Status.CANCELLED else self.order.option
        return 1 if self.by_subscription else None

    @property
    def state(self) -> str:
        if self.order is None:
            return MealState.SUBSCRIPTION if self.by_subscription else MealState.NOT_ORDERED
        if self.order.served_at is not None:
            return MealState.SERVED
        return {
            MealOrder.Status.ORDERED: MealState.ORDERED,
            MealOrder.Status.CANCELLED: MealState.CANCELLED,
            MealOrder.Status.PAID: MealState.PAID,
            MealOrder.Status.UNPAID: MealState.UNPAID,
        }[MealOrder.Status(self.order.status)]

    @property
    def can_cancel(self) -> bool:
        return self.is_open and self.option is not None


@dataclass(frozen=True)
class MealMonth:
    holder: Cardholder
    first: dt.date
    today: dt.date
    days: list[MealDay]
    subscribed: bool
    price_cents: int | None
    policy: MealPolicy

    @property
    def previous(self) -> dt.date:
        return (self.first - dt.timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> dt.date:
        return (self.first + dt.timedelta(days=31)).replace(day=1)

    @property
    def last(self) -> dt.date:
        return self.next - dt.timedelta(days=1)


def _meal_days(
    *, holder: Cardholder, school_days: Sequence[SchoolDay], policy: MealPolicy, subscribed: bool, now: dt.datetime
) -> list[MealDay]:
    deadlines = order_deadlines(institution=holder.institution, dates=[d.date for d in school_days], policy=policy)
    orders = {
        order.school_day_id: order
        for order in MealOrder.objects.filter(holder=holder, school_day__in=[d.pk for d in school_days])
    }
    return [
        MealDay(
            school_day=day,
            deadline=deadlines[day.date],
            is_open=now < deadlines[day.date],
            order=orders.get(day.pk),
            subscribed=subscribed,
        )
        for day in school_days
    ]


def _price_cents(holder: Cardholder) -> int | None:
    try:
        return meal_price_cents(holder=holder)
    except MealPriceMissing:
        return None


def holder_meal_month(*, holder: Cardholder, year: int, month: int, now: dt.datetime | None = None) -> MealMonth:
    """The holder's school days of a month at their institution, with menus, deadlines and orders.

    Raises ValueError for a month that does not exist.
    """
    moment = now or timezone.now()
    first = dt.date(year, month, 1)
    following = (first + dt.timedelta(days=31)).replace(day=1)
    policy = meal_policy_get(institution=holder.institution)
    school_days = list(
        SchoolDay.objects.filter(institution_id=holder.institution_id, date__gte=first, date__lt=following).order_by(
            "date"
        )
    )
    subscribed = MealSubscription.objects.filter(holder=holder).exists()
    return MealMonth(
        holder=holder,
        first=first,
        today=local_today(institution=holder.institution, now=moment),
        days=_meal_days(holder=holder, school_days=school_days, policy=policy, subscribed=subscribed, now=moment),
        subscribed=subscribed,
        price_cents=_price_cents(holder),
        policy=policy,
    )


def holder_meal_days_open(*, holder: Cardholder, count: int = 5, now: dt.datetime | None = None) -> list[MealDay]:
    """The next `count` school days whose meal the holder can still order or cancel, soonest first."""
    moment = now or timezone.now()
    today = local_today(institution=holder.institution, now=moment)
    policy = meal_policy_get(institution=holder.institution)
    # Today's deadline has always passed (it is on an earlier day); tomorrow's may still be open.
    school_days = list(
        SchoolDay.objects.filter(
            institution_id=holder.institution_id, date__gt=today, date__lte=today + OPEN_DAYS_HORIZON
        ).order_by("date")[: count + 1]
    )
    subscribed = MealSubscription.objects.filter(holder=holder).exists()
    days = _meal_days(holder=holder, school_days=school_days, policy=policy, subscribed=subscribed, now=moment)
    return [day for day in days if day.is_open][:count]
