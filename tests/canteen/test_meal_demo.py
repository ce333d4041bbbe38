"""The meal demo data of API.md: weekdays from 30 days ago to 60 days ahead with two options, the
prices of grades 1–4 and 5–9, the 14:00 deadline and the 11:15–13:45 serving window."""

import datetime as dt

import pytest

from accounts.models import Institution
from canteen.meal_calendar import order_deadline
from canteen.meal_demo import meals_demo_seed
from canteen.meal_orders import meal_order_place
from canteen.models import MealOrder, MealPolicy, MealPrice, SchoolDay
from cards.models import PriceCategory
from tests.factories import CardholderFactory, InstitutionFactory, PriceCategoryFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 12, 2)  # a Wednesday


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(name="Demo School", time_zone="Europe/Copenhagen")


@pytest.fixture
def categories() -> dict[str, PriceCategory]:
    return {
        "grades-1-4": PriceCategoryFactory(code="grades-1-4", name="Grades 1–4"),
        "grades-5-9": PriceCategoryFactory(code="grades-5-9", name="Grades 5–9"),
    }


def seed(school: Institution, categories: dict[str, PriceCategory], today: dt.date = TODAY) -> list[SchoolDay]:
    return meals_demo_seed(institution=school, price_categories=categories, today=today)


def test_every_weekday_from_30_days_ago_to_60_days_ahead_is_a_school_day(
    school: Institution, categories: dict[str, PriceCategory]
) -> None:
    seed(school, categories)
    days = list(SchoolDay.objects.filter(institution=school).values_list("date", flat=True))
    span = [TODAY + dt.timedelta(days=n) for n in range(-30, 61)]
    assert days == [d for d in span if d.weekday() < 5]
    assert days[0] == dt.date(2026, 11, 2) and days[-1] == dt.date(2027, 1, 29)  # Monday, Friday


def test_every_demo_day_has_two_options(school: Institution, categories: dict[str, PriceCategory]) -> None:
    seed(school, categories)
    assert not SchoolDay.objects.filter(option1="").exists()
    assert not SchoolDay.objects.filter(option2="").exists()


def test_the_demo_prices_are_25_and_28(school: Institution, categories: dict[str, PriceCategory]) -> None:
    seed(school, categories)
    prices = dict(MealPrice.objects.filter(institution=school).values_list("price_category__code", "price_cents"))
    assert prices == {"grades-1-4": 2500, "grades-5-9": 2800}


def test_the_demo_rules_are_the_deadline_and_the_serving_window(
    school: Institution, categories: dict[str, PriceCategory]
) -> None:
    seed(school, categories)
    policy = MealPolicy.objects.get(institution=school)
    assert policy.order_deadline == dt.time(14, 0)
    assert (policy.serving_start, policy.serving_end) == (dt.time(11, 15), dt.time(13, 45))


def test_a_second_run_adds_nothing_and_keeps_the_menus(
    school: Institution, categories: dict[str, PriceCategory]
) -> None:
    seed(school, categories)
    SchoolDay.objects.filter(date=TODAY).update(option1="Christmas lunch")
    assert seed(school, categories) == []
    assert SchoolDay.objects.count() == 65
    assert SchoolDay.objects.get(date=TODAY).option1 == "Christmas lunch"
    assert MealPrice.objects.count() == 2 and MealPolicy.objects.count() == 1


def test_a_later_run_extends_the_calendar(school: Institution, categories: dict[str, PriceCategory]) -> None:
    seed(school, categories)
    added = seed(school, categories, today=TODAY + dt.timedelta(days=7))
    assert [d.date for d in added] == [dt.date(2027, 2, d) for d in (1, 2, 3, 4, 5)]


def test_a_demo_pupil_can_order_tomorrows_meal_before_14_00(
    school: Institution, categories: dict[str, PriceCategory]
) -> None:
    seed(school, categories)
    pupil = CardholderFactory(institution=school, price_category=categories["grades-1-4"])
    tomorrow = SchoolDay.objects.get(date=TODAY + dt.timedelta(days=1))
    deadline = order_deadline(school_day=tomorrow)
    assert deadline == dt.datetime.combine(TODAY, dt.time(14), tzinfo=school.zone)

    order = meal_order_place(
        holder=pupil,
        date=tomorrow.date,
        option=2,
        source=MealOrder.Source.GUARDIAN,
        now=deadline - dt.timedelta(hours=1),
    )

    assert (order.school_day, order.option, order.status) == (tomorrow, 2, MealOrder.Status.ORDERED)
