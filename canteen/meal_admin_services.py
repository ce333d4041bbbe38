"""Back-office writes about the meal calendar that are more than saving one row."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Institution
from canteen.models import SchoolDay
from cardsystem.errors import InvalidRequest

# A school year and a little more: a longer range is a typing mistake, not a plan.
MAX_RANGE_DAYS = 400


@dataclass
class SchoolDaysAdded:
    """What `school_days_add` did with each date of the range."""

    created: list[dt.date] = field(default_factory=list)
    weekends: int = 0
    holidays: int = 0
    existing: list[dt.date] = field(default_factory=list)


def school_days_add(
    *,
    institution: Institution,
    first: dt.date,
    last: dt.date,
    holidays: Iterable[dt.date],
    option1: str,
    option2: str = "",
    option1_allergens: str = "",
    option2_allergens: str = "",
) -> SchoolDaysAdded:
    """Make every Monday to Friday from `first` to `last` (both included) a school day with this
    menu, except the holidays and the days already in the calendar, whose menus are kept.

    Safe to run again with the same range: it adds only what is missing. Raises InvalidRequest for
    a range that ends before it starts or spans more than MAX_RANGE_DAYS.
    """
    if last < first:
        raise InvalidRequest(fields={"last": [_("The last day is before the first.")]})
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRequest(fields={"last": [_("Add at most %(days)s days at a time.") % {"days": MAX_RANGE_DAYS}]})
    off = set(holidays)
    result = SchoolDaysAdded()
    weekdays: list[dt.date] = []
    date = first
    while date <= last:
        if date.weekday() >= 5:  # Saturday, Sunday
            result.weekends += 1
        elif date in off:
            result.holidays += 1
        else:
            weekdays.append(date)
        date += dt.timedelta(days=1)
    with transaction.atomic():
        result.existing = sorted(
            SchoolDay.objects.filter(institution=institution, date__in=weekdays).values_list("date", flat=True)
        )
        known = set(result.existing)
        result.created = [d for d in weekdays if d not in known]
        SchoolDay.objects.bulk_create(
            [
                SchoolDay(
                    institution=institution,
                    date=d,
                    option1=option1,
                    option1_allergens=option1_allergens,
                    option2=option2,
                    option2_allergens=option2_allergens,
                )
                for d in result.created
            ],
            batch_size=500,
            ignore_conflicts=True,  # a day added meanwhile by someone else keeps its menu
        )
    return result
