"""When meals can be ordered and served: an institution's rules, its school days and their deadlines.

Every time here is the institution's wall-clock time: 14:00 in Copenhagen is 14:00 in winter
and in summer, so deadlines are built with `datetime.combine(..., tzinfo=zone)`, never by adding
hours to UTC.
"""

import datetime as dt
from collections.abc import Sequence

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution
from canteen.errors import NotASchoolDay
from canteen.models import MealOrder, MealPolicy, MealPrice, SchoolDay
from cards.models import Cardholder
from cardsystem.errors import DomainError

# How far back the previous school day is looked for. After a longer break (the summer holidays)
# the deadline is 14:00 on the weekday before the day instead of a day weeks ago.
PREVIOUS_SCHOOL_DAY_HORIZON = dt.timedelta(days=7)


class MealPriceMissing(DomainError):
    code = "no_meal_price"
    default_message = _("The cardholder has no meal price: ask the office to set the price category.")


def meal_policy_get(*, institution: Institution) -> MealPolicy:
    """The institution's meal rules; the defaults (unsaved) when it has none of its own."""
    policy = MealPolicy.objects.filter(institution=institution).first()
    return policy or MealPolicy(institution=institution)


def school_day_get(*, institution: Institution, date: dt.date) -> SchoolDay:
    """The school day at this date, or NotASchoolDay (a weekend, a holiday, a day with no menu)."""
    day = SchoolDay.objects.filter(institution=institution, date=date).first()
    if day is None:
        raise NotASchoolDay()
    return day


def _deadline_base(day: dt.date, previous: dt.date | None) -> dt.date:
    if previous is not None and day - previous <= PREVIOUS_SCHOOL_DAY_HORIZON:
        return previous
    base = day - dt.timedelta(days=1)
    while base.weekday() >= 5:  # Saturday, Sunday
        base -= dt.timedelta(days=1)
    return base


def order_deadlines(
    *, institution: Institution, dates: Sequence[dt.date], policy: MealPolicy | None = None
) -> dict[dt.date, dt.datetime]:
    """The order deadline of each of these school days: the policy's time (14:00) on the previous
    school day, in the institution's time zone. One query for all of them."""
    if not dates:
        return {}
    policy = policy or meal_policy_get(institution=institution)
    known = sorted(
        SchoolDay.objects.filter(
            institution=institution,
            date__gte=min(dates) - PREVIOUS_SCHOOL_DAY_HORIZON,
            date__lte=max(dates),
        ).values_list("date", flat=True)
    )
    zone = institution.zone
    deadlines = {}
    for date in dates:
        earlier = [d for d in known if d < date]
        base = _deadline_base(date, earlier[-1] if earlier else None)
        deadlines[date] = dt.datetime.combine(base, policy.order_deadline, tzinfo=zone)
    return deadlines


def order_deadline(*, school_day: SchoolDay, policy: MealPolicy | None = None) -> dt.datetime:
    return order_deadlines(institution=school_day.institution, dates=[school_day.date], policy=policy)[school_day.date]


def orders_open(*, school_day: SchoolDay, now: dt.datetime | None = None, policy: MealPolicy | None = None) -> bool:
    """Whether an order for this day can still be placed or cancelled: before the deadline, to the second."""
    return (now or timezone.now()) < order_deadline(school_day=school_day, policy=policy)


def local_today(*, institution: Institution, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(institution.zone).date()


def serving_now(*, policy: MealPolicy, institution: Institution, now: dt.datetime | None = None) -> bool:
    """Whether `now` is in the serving window (11:15–13:45 by default, start included, end not)."""
    local = (now or timezone.now()).astimezone(institution.zone).time()
    return policy.serving_start <= local < policy.serving_end


def meal_today(*, holder: Cardholder, now: dt.datetime | None = None) -> MealOrder | None:
    """The holder's meal order for today at their institution (not a cancelled one), with its day."""
    today = local_today(institution=holder.institution, now=now)
    return (
        MealOrder.objects.select_related("school_day")
        .filter(holder=holder, school_day__institution_id=holder.institution_id, school_day__date=today)
        .exclude(status=MealOrder.Status.CANCELLED)
        .first()
    )


def meal_price_cents(*, holder: Cardholder) -> int:
    """What one organised meal costs this cardholder: the price of their category at their institution."""
    price = (
        MealPrice.objects.filter(institution_id=holder.institution_id, price_category_id=holder.price_category_id)
        .values_list("price_cents", flat=True)
        .first()
        if holder.price_category_id is not None
        else None
    )
    if price is None:
        raise MealPriceMissing()
    return int(price)
