"""factory_boy factories for meals: rules, prices, school days and orders (see tests/factories.py for the rest)."""

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from canteen.models import MealOrder, MealPolicy, MealPrice, SchoolDay
from tests.factories import CardholderFactory, InstitutionFactory, PriceCategoryFactory


class MealPolicyFactory(DjangoModelFactory[MealPolicy]):
    class Meta:
        model = MealPolicy
        django_get_or_create = ("institution",)

    institution = factory.SubFactory(InstitutionFactory)


class MealPriceFactory(DjangoModelFactory[MealPrice]):
    class Meta:
        model = MealPrice
        django_get_or_create = ("institution", "price_category")

    institution = factory.SubFactory(InstitutionFactory)
    price_category = factory.SubFactory(PriceCategoryFactory)
    price_cents = 2500


class SchoolDayFactory(DjangoModelFactory[SchoolDay]):
    class Meta:
        model = SchoolDay
        django_get_or_create = ("institution", "date")

    institution = factory.SubFactory(InstitutionFactory)
    date = factory.Sequence(lambda n: dt.date(2026, 12, 7) + dt.timedelta(days=n))
    option1 = "Meatballs with potatoes"
    option2 = "Vegetable lasagne"


class MealOrderFactory(DjangoModelFactory[MealOrder]):
    class Meta:
        model = MealOrder

    school_day = factory.SubFactory(SchoolDayFactory)
    holder = factory.LazyAttribute(lambda o: CardholderFactory(institution=o.school_day.institution))
    option = 1
    status = MealOrder.Status.PAID
    source = MealOrder.Source.GUARDIAN


# --- Ordering meals: the guardian calendar, the guardian API and the self-service screen ---------
# (imported here, with the functions that use them, so the shared part above stays as it is)

from typing import Any  # noqa: E402

from accounts.models import Institution, User  # noqa: E402
from cards.models import Cardholder  # noqa: E402
from cards.services import guardianship_create  # noqa: E402
from tests.factories import UserFactory  # noqa: E402

MENU = {
    "option1": "Meatballs with potatoes",
    "option1_allergens": "gluten, egg",
    "option2": "Vegetable lasagne",
    "option2_allergens": "gluten, milk",
}


def meal_school(*, name: str | None = None, option2_minimum: int = 20, price_cents: int = 2500) -> Institution:
    """A school in Copenhagen's time zone with meal rules and a price for the default price category."""
    extra = {"name": name} if name else {}
    institution = InstitutionFactory(time_zone="Europe/Copenhagen", **extra)
    MealPolicyFactory(institution=institution, option2_minimum=option2_minimum)
    MealPriceFactory(institution=institution, price_category=PriceCategoryFactory(), price_cents=price_cents)
    return institution


def weekday_school_days(
    institution: Institution, first: dt.date, last: dt.date, *, holidays: tuple[dt.date, ...] = (), **menu: Any
) -> list[SchoolDay]:
    """A school day with a menu on every Monday to Friday from `first` to `last`, except the holidays."""
    days = []
    date = first
    while date <= last:
        if date.weekday() < 5 and date not in holidays:
            days.append(SchoolDay.objects.create(institution=institution, date=date, **{**MENU, **menu}))
        date += dt.timedelta(days=1)
    return days


def guardian_of(holder: Cardholder, **user_kwargs: Any) -> User:
    """A new guardian user of this cardholder."""
    guardian = UserFactory(**user_kwargs)
    guardianship_create(guardian=guardian, holder=holder)
    return guardian


# For teacher_card_for (class meals).
from typing import Any  # noqa: E402

from accounts.models import Institution, Role  # noqa: E402
from cards.models import Card  # noqa: E402
from tests.factories import CardFactory, staff_user  # noqa: E402


def teacher_card_for(*, institution: Institution, role: str = Role.TEACHER, **kwargs: Any) -> Card:
    """An active teacher card of a new member of staff who teaches at the institution."""
    teacher = staff_user(institution=institution, role=role)
    return CardFactory(holder=None, staff_user=teacher, kind=Card.Kind.TEACHER, **kwargs)
