"""The guardian portal's meal calendar: a month of school days, ordering and cancelling until the
deadline [SL], read-only closed days, and the subscription to option 1."""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from accounts.models import Institution, User
from canteen.models import MealOrder, MealSubscription, SchoolDay
from cards.models import Cardholder
from tests.factories import holder_with_balances
from tests.meal_factories import guardian_of, meal_school, weekday_school_days

pytestmark = pytest.mark.django_db

CPH = ZoneInfo("Europe/Copenhagen")
FRIDAY, MONDAY, TUESDAY, WEDNESDAY, THURSDAY = (dt.date(2026, 12, d) for d in (4, 7, 8, 9, 10))


def at(date: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(hour, minute, second), tzinfo=CPH)


FRIDAY_MORNING = at(FRIDAY, 9)  # orders for the coming week are open


@pytest.fixture
def school() -> Institution:
    institution = meal_school(name="North School")
    weekday_school_days(institution, dt.date(2026, 11, 30), dt.date(2026, 12, 18), holidays=(WEDNESDAY,))
    return institution


@pytest.fixture
def pupil(school: Institution) -> Cardholder:
    return holder_with_balances(institution=school, name="Anna Berg", main=10000)


@pytest.fixture
def guardian(pupil: Cardholder) -> User:
    return guardian_of(pupil)


@pytest.fixture
def client(guardian: User) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(guardian)
    return client


def page_url(holder: Cardholder) -> str:
    return f"/portal/holders/{holder.pk}/meals/"


def show(
    client: Client, holder: Cardholder, month: str | None = "2026-12", *, when: dt.datetime = FRIDAY_MORNING
) -> Any:
    with time_machine.travel(when, tick=False):
        return client.get(page_url(holder), {} if month is None else {"month": month})


def choose(
    client: Client, holder: Cardholder, date: dt.date, choice: str, *, when: dt.datetime = FRIDAY_MORNING
) -> Any:
    with time_machine.travel(when, tick=False):
        return client.post(page_url(holder), {"date": date.isoformat(), "choice": choice, "month": "2026-12"})


def day_html(response: Any, date: dt.date) -> str:
    """The part of the page about one day: from its list item to the next day's."""
    html = response.content.decode()
    start = html.index(f'<li id="day-{date.isoformat()}"')
    following = html.find('<li id="day-', start + 1)
    end = following if following != -1 else html.index("</ol>", start)
    return html[start:end]


def placed(holder: Cardholder, date: dt.date, option: int = 1, **fields: Any) -> MealOrder:
    return MealOrder.objects.create(
        holder=holder,
        school_day=SchoolDay.objects.get(institution=holder.institution, date=date),
        option=option,
        source=MealOrder.Source.GUARDIAN,
        **fields,
    )


# --- the month ---------------------------------------------------------------------------------


def test_each_school_day_shows_both_options_with_allergens(client: Client, pupil: Cardholder) -> None:
    tuesday = day_html(show(client, pupil), TUESDAY)

    assert "Meatballs with potatoes" in tuesday
    assert "Allergens: gluten, egg" in tuesday
    assert "Vegetable lasagne" in tuesday
    assert "Allergens: gluten, milk" in tuesday


def test_an_open_day_shows_its_deadline_and_a_form_named_by_its_date(client: Client, pupil: Cardholder) -> None:
    tuesday = day_html(show(client, pupil), TUESDAY)

    assert "Order or cancel by Mon 7 Dec, 14:00" in tuesday
    assert 'aria-label="Meal on Tuesday 8 December"' in tuesday
    assert 'name="choice" value="1"' in tuesday
    assert 'name="choice" value="2"' in tuesday


def test_a_holiday_shows_no_meals_and_no_form(client: Client, pupil: Cardholder) -> None:
    holiday = day_html(show(client, pupil), WEDNESDAY)

    assert "No meals" in holiday
    assert "<form" not in holiday


def test_weekends_are_not_on_the_calendar(client: Client, pupil: Cardholder) -> None:
    html = show(client, pupil).content.decode()

    assert 'id="day-2026-12-05"' not in html
    assert 'id="day-2026-12-04"' in html


def test_a_day_without_option_2_offers_only_option_1(client: Client, pupil: Cardholder, school: Institution) -> None:
    SchoolDay.objects.filter(institution=school, date=TUESDAY).update(option2="")

    tuesday = day_html(show(client, pupil), TUESDAY)

    assert 'value="1"' in tuesday
    assert 'value="2"' not in tuesday


def test_option_2_not_cooked_is_shown_and_cannot_be_chosen(
    client: Client, pupil: Cardholder, school: Institution
) -> None:
    SchoolDay.objects.filter(institution=school, date=TUESDAY).update(option2_dropped=True)

    tuesday = day_html(show(client, pupil), TUESDAY)

    assert "Not cooked: too few orders." in tuesday
    assert 'value="2"' not in tuesday


def test_a_day_closes_at_14_00_00_the_school_day_before(client: Client, pupil: Cardholder) -> None:
    before = day_html(show(client, pupil, when=at(MONDAY, 13, 59, 59)), TUESDAY)
    after = day_html(show(client, pupil, when=at(MONDAY, 14)), TUESDAY)

    assert "<form" in before
    assert "<form" not in after
    assert "Closed" in after


def test_a_mondays_meal_is_closed_on_friday_afternoon(client: Client, pupil: Cardholder) -> None:
    monday = day_html(show(client, pupil, when=at(FRIDAY, 14)), MONDAY)

    assert "<form" not in monday


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"status": MealOrder.Status.PAID, "price_cents": 2500}, "Option 2: paid"),
        ({"status": MealOrder.Status.PAID, "price_cents": 2500, "served_at": at(FRIDAY, 12)}, "Option 2: served"),
        ({"status": MealOrder.Status.UNPAID}, "Option 2: not paid (debt limit)"),
        ({"status": MealOrder.Status.CANCELLED}, "Cancelled: no meal"),
    ],
    ids=["paid", "served", "unpaid", "cancelled"],
)
def test_a_closed_day_is_read_only_with_its_status(
    client: Client, pupil: Cardholder, fields: dict[str, Any], text: str
) -> None:
    placed(pupil, FRIDAY, option=2, **fields)

    friday = day_html(show(client, pupil, when=at(FRIDAY, 9)), FRIDAY)

    assert text in friday
    assert "<form" not in friday


def test_a_subscriber_sees_option_1_on_days_without_an_order(client: Client, pupil: Cardholder) -> None:
    MealSubscription.objects.create(holder=pupil)

    assert "Option 1 (subscription)" in day_html(show(client, pupil), THURSDAY)


def test_the_month_links_to_the_previous_and_next_month(client: Client, pupil: Cardholder) -> None:
    html = show(client, pupil).content.decode()

    assert 'href="?month=2026-11" rel="prev"' in html
    assert 'href="?month=2027-01" rel="next"' in html


def test_without_a_month_the_page_shows_the_current_month(client: Client, pupil: Cardholder) -> None:
    response = show(client, pupil, None, when=at(TUESDAY, 9))

    assert 'id="day-2026-12-08"' in response.content.decode()


@pytest.mark.parametrize("month", ["2026-13", "december", "0999-12"])
def test_a_month_of_bad_shape_is_400(client: Client, pupil: Cardholder, month: str) -> None:
    response = show(client, pupil, month)

    assert response.status_code == 400
    assert "Choose a month as YYYY-MM" in response.content.decode()


def test_the_month_takes_a_few_queries_however_many_days(
    client: Client, pupil: Cardholder, django_assert_max_num_queries: Any
) -> None:
    placed(pupil, TUESDAY)
    with django_assert_max_num_queries(12):
        show(client, pupil)


# --- ordering and cancelling -------------------------------------------------------------------


def test_ordering_option_2_redirects_back_to_the_day(client: Client, pupil: Cardholder) -> None:
    response = choose(client, pupil, TUESDAY, "2")

    assert response.status_code == 302
    assert response["Location"] == f"{page_url(pupil)}?month=2026-12#day-2026-12-08"
    assert MealOrder.objects.get(holder=pupil).option == 2


def test_after_ordering_the_page_says_so_and_marks_the_choice(client: Client, pupil: Cardholder) -> None:
    choose(client, pupil, TUESDAY, "2")

    response = show(client, pupil)

    assert "Option 2 ordered for Anna Berg on Tuesday 8 December 2026." in response.content.decode()
    tuesday = day_html(response, TUESDAY)
    assert "Option 2 ordered" in tuesday
    assert 'value="2" class="chosen"' in tuesday


def test_ordering_at_14_00_00_shows_the_error_beside_the_day(client: Client, pupil: Cardholder) -> None:
    response = choose(client, pupil, TUESDAY, "1", when=at(MONDAY, 14))

    assert response.status_code == 409
    tuesday = day_html(response, TUESDAY)
    assert "has-error" in tuesday
    assert "The deadline for ordering or cancelling this meal has passed." in tuesday
    assert not MealOrder.objects.exists()


def test_ordering_at_13_59_59_is_accepted(client: Client, pupil: Cardholder) -> None:
    response = choose(client, pupil, TUESDAY, "1", when=at(MONDAY, 13, 59, 59))

    assert response.status_code == 302
    assert MealOrder.objects.filter(holder=pupil, school_day__date=TUESDAY, option=1).exists()


def test_ordering_a_holiday_shows_not_a_school_day(client: Client, pupil: Cardholder) -> None:
    response = choose(client, pupil, WEDNESDAY, "1")

    assert response.status_code == 409
    assert "No meals are served on this day." in day_html(response, WEDNESDAY)


def test_ordering_option_2_on_a_day_without_it_is_refused(
    client: Client, pupil: Cardholder, school: Institution
) -> None:
    SchoolDay.objects.filter(institution=school, date=TUESDAY).update(option2="")

    response = choose(client, pupil, TUESDAY, "2")

    assert response.status_code == 409
    assert "This option is not on the menu that day." in day_html(response, TUESDAY)
    assert not MealOrder.objects.exists()


def test_cancelling_an_order_before_the_deadline(client: Client, pupil: Cardholder) -> None:
    mine = placed(pupil, TUESDAY)

    response = choose(client, pupil, TUESDAY, "cancel")

    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.status == MealOrder.Status.CANCELLED


def test_a_subscriber_cancels_a_day_without_an_order_of_their_own(client: Client, pupil: Cardholder) -> None:
    MealSubscription.objects.create(holder=pupil)

    choose(client, pupil, THURSDAY, "cancel")

    assert "Cancelled: no meal" in day_html(show(client, pupil), THURSDAY)


def test_cancelling_after_the_deadline_is_refused_and_the_order_stays(client: Client, pupil: Cardholder) -> None:
    mine = placed(pupil, MONDAY)

    response = choose(client, pupil, MONDAY, "cancel", when=at(FRIDAY, 14))

    assert response.status_code == 409
    mine.refresh_from_db()
    assert mine.status == MealOrder.Status.ORDERED


@pytest.mark.parametrize(
    "data",
    [
        {"date": "2026-12-08", "choice": "3"},
        {"date": "2026-12-08"},
        {"date": "8.12.2026", "choice": "1"},
        {"date": "9999-12-31", "choice": "1"},
        {"choice": "1"},
    ],
    ids=["choice-3", "no-choice", "date-shape", "date-far", "no-date"],
)
def test_a_form_of_bad_shape_is_400_and_orders_nothing(client: Client, pupil: Cardholder, data: dict[str, str]) -> None:
    with time_machine.travel(at(FRIDAY, 9), tick=False):
        response = client.post(page_url(pupil), data)

    assert response.status_code == 400
    assert "The choice could not be read." in response.content.decode()
    assert not MealOrder.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(guardian: User, pupil: Cardholder) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(guardian)

    response = choose(client, pupil, TUESDAY, "1")

    assert response.status_code == 403
    assert not MealOrder.objects.exists()


# --- the subscription --------------------------------------------------------------------------


def test_subscribing_and_stopping(client: Client, pupil: Cardholder) -> None:
    on = client.post(f"{page_url(pupil)}subscription/", {"subscribed": "1", "month": "2026-12"})
    subscribed = MealSubscription.objects.filter(holder=pupil).exists()
    off = client.post(f"{page_url(pupil)}subscription/", {"subscribed": "0", "month": "2026-12"})

    assert on.status_code == off.status_code == 302
    assert on["Location"] == f"{page_url(pupil)}?month=2026-12#subscription"
    assert subscribed
    assert not MealSubscription.objects.filter(holder=pupil).exists()


def test_the_page_says_whether_the_holder_is_subscribed(client: Client, pupil: Cardholder) -> None:
    before = show(client, pupil).content.decode()
    MealSubscription.objects.create(holder=pupil)
    after = show(client, pupil).content.decode()

    assert 'data-subscribed="no"' in before
    assert 'data-subscribed="yes"' in after


# --- access ------------------------------------------------------------------------------------


def test_the_page_needs_sign_in(pupil: Cardholder) -> None:
    response = Client().get(page_url(pupil))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_another_familys_holder_is_404_and_nothing_changes(client: Client, school: Institution) -> None:
    other = holder_with_balances(institution=school, name="Carl")
    guardian_of(other)

    shown = show(client, other)
    ordered = choose(client, other, TUESDAY, "1")
    subscribed = client.post(f"{page_url(other)}subscription/", {"subscribed": "1"})

    assert shown.status_code == ordered.status_code == subscribed.status_code == 404
    assert not MealOrder.objects.exists()
    assert not MealSubscription.objects.exists()


def test_a_huge_holder_id_is_404(client: Client) -> None:
    assert client.get(f"/portal/holders/{10**30}/meals/").status_code == 404


def test_ordering_a_saturday_shows_the_error_at_the_top(client: Client, pupil: Cardholder) -> None:
    response = choose(client, pupil, dt.date(2026, 12, 5), "1")

    assert response.status_code == 409
    assert '<p class="page-error" role="alert">No meals are served on this day.</p>' in response.content.decode()
