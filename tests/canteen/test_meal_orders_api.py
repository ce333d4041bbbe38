"""The guardian meal API (API.md): ordering and cancelling until the deadline [SL], and a month's days."""

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from accounts.models import Institution, User
from accounts.services import personal_token_create
from canteen.models import MealOrder, MealSubscription, SchoolDay
from cards.models import Cardholder
from tests.factories import holder_with_balances
from tests.meal_factories import guardian_of, meal_school, weekday_school_days

pytestmark = pytest.mark.django_db

CPH = ZoneInfo("Europe/Copenhagen")
# December 2026: Wednesday the 9th is a holiday.
FRIDAY, SATURDAY, SUNDAY = dt.date(2026, 12, 4), dt.date(2026, 12, 5), dt.date(2026, 12, 6)
MONDAY, TUESDAY, WEDNESDAY, THURSDAY = (dt.date(2026, 12, d) for d in (7, 8, 9, 10))
ORDERS = "/api/v1/me/meal-orders"
MINE = object()  # stands for the guardian's own holder's id in bodies of bad shape


def at(date: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A Copenhagen wall-clock moment."""
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
    client = Client()
    client.force_login(guardian)
    return client


def order(client: Client, body: Any, *, when: dt.datetime = FRIDAY_MORNING) -> Any:
    with time_machine.travel(when, tick=False):
        return client.post(ORDERS, data=json.dumps(body), content_type="application/json")


def cancel(client: Client, order_id: int, *, when: dt.datetime = FRIDAY_MORNING) -> Any:
    with time_machine.travel(when, tick=False):
        return client.delete(f"{ORDERS}/{order_id}")


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def placed(holder: Cardholder, date: dt.date, option: int = 1) -> MealOrder:
    return MealOrder.objects.create(
        holder=holder,
        school_day=SchoolDay.objects.get(institution=holder.institution, date=date),
        option=option,
        source=MealOrder.Source.GUARDIAN,
        status=MealOrder.Status.ORDERED,
    )


# --- ordering ----------------------------------------------------------------------------------


def test_an_order_before_the_deadline_is_created_with_its_deadline(client: Client, pupil: Cardholder) -> None:
    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 1})

    assert response.status_code == 201
    saved = MealOrder.objects.get(holder=pupil)
    assert response.json() == {
        "id": saved.pk,
        "holder": pupil.pk,
        "date": "2026-12-08",
        "option": 1,
        "status": "ordered",
        "deadline": "2026-12-07T14:00:00+01:00",
        "open": True,
        "source": "guardian",
        "served": False,
        "moved_from_option2": False,
        "price": None,
    }


def test_an_order_at_13_59_59_the_school_day_before_is_accepted(client: Client, pupil: Cardholder) -> None:
    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 1}, when=at(MONDAY, 13, 59, 59))

    assert response.status_code == 201
    assert MealOrder.objects.filter(holder=pupil, school_day__date=TUESDAY).exists()


def test_an_order_at_14_00_00_the_school_day_before_is_refused(client: Client, pupil: Cardholder) -> None:
    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 1}, when=at(MONDAY, 14))

    assert (response.status_code, error_code(response)) == (409, "order_deadline_passed")
    assert not MealOrder.objects.filter(holder=pupil).exists()


def test_the_deadline_is_the_institutions_wall_clock_not_utc(client: Client, pupil: Cardholder) -> None:
    # 13:30 UTC is 14:30 in Copenhagen in December: too late.
    late = dt.datetime(2026, 12, 7, 13, 30, tzinfo=dt.UTC)

    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 1}, when=late)

    assert error_code(response) == "order_deadline_passed"


@pytest.mark.parametrize(
    ("when", "status"),
    [(at(FRIDAY, 13, 59, 59), 201), (at(FRIDAY, 14), 409), (at(SUNDAY, 10), 409)],
    ids=["friday-13:59:59", "friday-14:00", "sunday"],
)
def test_a_mondays_meal_closes_on_friday_at_14(
    client: Client, pupil: Cardholder, when: dt.datetime, status: int
) -> None:
    response = order(client, {"holder": pupil.pk, "date": "2026-12-07", "option": 1}, when=when)

    assert response.status_code == status


def test_the_day_after_a_holiday_closes_on_the_school_day_before_the_holiday(client: Client, pupil: Cardholder) -> None:
    on_time = order(client, {"holder": pupil.pk, "date": "2026-12-10", "option": 1}, when=at(TUESDAY, 13, 59, 59))
    cancel_late = cancel(client, on_time.json()["id"], when=at(WEDNESDAY, 9))

    assert on_time.status_code == 201
    assert (cancel_late.status_code, error_code(cancel_late)) == (409, "order_deadline_passed")


@pytest.mark.parametrize("date", ["2026-12-09", "2026-12-05"], ids=["holiday", "saturday"])
def test_a_day_without_school_is_refused(client: Client, pupil: Cardholder, date: str) -> None:
    response = order(client, {"holder": pupil.pk, "date": date, "option": 1})

    assert (response.status_code, error_code(response)) == (409, "not_a_school_day")
    assert not MealOrder.objects.exists()


def test_option_2_is_ordered_when_on_the_menu(client: Client, pupil: Cardholder) -> None:
    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 2})

    assert response.status_code == 201
    assert MealOrder.objects.get(holder=pupil).option == 2


def test_option_2_is_refused_on_a_day_with_one_option(client: Client, pupil: Cardholder, school: Institution) -> None:
    SchoolDay.objects.filter(institution=school, date=TUESDAY).update(option2="")

    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 2})

    assert (response.status_code, error_code(response)) == (409, "option_not_offered")
    assert not MealOrder.objects.exists()


def test_option_2_is_refused_once_it_is_not_cooked(client: Client, pupil: Cardholder, school: Institution) -> None:
    SchoolDay.objects.filter(institution=school, date=TUESDAY).update(option2_dropped=True)

    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 2})

    assert error_code(response) == "option_not_offered"


def test_ordering_again_changes_the_option_of_the_same_order(client: Client, pupil: Cardholder) -> None:
    first = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 1})
    second = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 2})

    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert MealOrder.objects.get(holder=pupil).option == 2


def test_another_familys_holder_is_404_and_nothing_is_ordered(client: Client, school: Institution) -> None:
    other = holder_with_balances(institution=school, name="Carl")
    guardian_of(other)

    response = order(client, {"holder": other.pk, "date": "2026-12-08", "option": 1})

    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert not MealOrder.objects.exists()


def test_a_holder_that_does_not_exist_is_404(client: Client) -> None:
    response = order(client, {"holder": 987654, "date": "2026-12-08", "option": 1})

    assert (response.status_code, error_code(response)) == (404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"holder": "abc", "date": "2026-12-08", "option": 1},
        {"holder": "1", "date": "2026-12-08", "option": 1},
        {"holder": -1, "date": "2026-12-08", "option": 1},
        {"holder": 1.5, "date": "2026-12-08", "option": 1},
        {"holder": 10**30, "date": "2026-12-08", "option": 1},
        {"holder": True, "date": "2026-12-08", "option": 1},
        {"date": "2026-12-08", "option": 1},
        {"holder": MINE, "date": "08-12-2026", "option": 1},
        {"holder": MINE, "date": "2026-13-01", "option": 1},
        {"holder": MINE, "date": 20261208, "option": 1},
        {"holder": MINE, "date": "2026-12-08", "option": 3},
        {"holder": MINE, "date": "2026-12-08", "option": "two"},
        {"holder": MINE, "date": "2026-12-08", "option": True},
        {"holder": MINE, "date": "2026-12-08", "option": 1, "price": "0.00"},
        ["holder", 1],
    ],
    ids=[
        "holder-text",
        "holder-as-string",
        "holder-negative",
        "holder-fraction",
        "holder-huge",
        "holder-bool",
        "holder-missing",
        "date-day-first",
        "date-month-13",
        "date-number",
        "option-3",
        "option-text",
        "option-bool",
        "unknown-field",
        "not-an-object",
    ],
)
def test_a_body_of_bad_shape_is_400_invalid_request(client: Client, pupil: Cardholder, body: Any) -> None:
    if isinstance(body, dict) and body.get("holder") is MINE:
        body = {**body, "holder": pupil.pk}

    response = order(client, body)

    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert not MealOrder.objects.exists()


def test_a_body_that_is_not_json_is_400_invalid_request(client: Client) -> None:
    response = client.post(ORDERS, data="{holder: 1", content_type="application/json")

    assert (response.status_code, error_code(response)) == (400, "invalid_request")


def test_without_sign_in_it_is_401(pupil: Cardholder) -> None:
    response = order(Client(), {"holder": pupil.pk, "date": "2026-12-08", "option": 1})

    assert (response.status_code, error_code(response)) == (401, "unauthorized")


def test_a_personal_token_orders_too(guardian: User, pupil: Cardholder) -> None:
    _token, secret = personal_token_create(user=guardian, name="phone")

    with time_machine.travel(at(FRIDAY, 9), tick=False):
        response = Client().post(
            ORDERS,
            data=json.dumps({"holder": pupil.pk, "date": "2026-12-08", "option": 1}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )

    assert response.status_code == 201


# --- cancelling --------------------------------------------------------------------------------


def test_cancelling_before_the_deadline_is_204_and_costs_nothing(client: Client, pupil: Cardholder) -> None:
    mine = placed(pupil, TUESDAY)

    response = cancel(client, mine.pk, when=at(MONDAY, 13, 59, 59))

    assert response.status_code == 204
    mine.refresh_from_db()
    assert (mine.status, mine.price_cents) == (MealOrder.Status.CANCELLED, None)


def test_cancelling_at_14_00_00_is_refused_and_the_order_stays(client: Client, pupil: Cardholder) -> None:
    mine = placed(pupil, TUESDAY)

    response = cancel(client, mine.pk, when=at(MONDAY, 14))

    assert (response.status_code, error_code(response)) == (409, "order_deadline_passed")
    mine.refresh_from_db()
    assert mine.status == MealOrder.Status.ORDERED


def test_cancelling_a_mondays_meal_on_friday_afternoon_is_refused(client: Client, pupil: Cardholder) -> None:
    mine = placed(pupil, MONDAY)

    response = cancel(client, mine.pk, when=at(FRIDAY, 14, 0, 1))

    assert error_code(response) == "order_deadline_passed"


def test_cancelling_another_familys_order_is_404_and_it_stays(client: Client, school: Institution) -> None:
    other = holder_with_balances(institution=school, name="Carl")
    guardian_of(other)
    theirs = placed(other, TUESDAY)

    response = cancel(client, theirs.pk)

    assert (response.status_code, error_code(response)) == (404, "not_found")
    theirs.refresh_from_db()
    assert theirs.status == MealOrder.Status.ORDERED


@pytest.mark.parametrize("order_id", [987654, 10**30], ids=["unknown", "huge"])
def test_cancelling_an_order_that_does_not_exist_is_404(client: Client, order_id: int) -> None:
    response = cancel(client, order_id)

    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_a_cancelled_meal_can_be_ordered_again(client: Client, pupil: Cardholder) -> None:
    mine = placed(pupil, TUESDAY)
    cancel(client, mine.pk)

    response = order(client, {"holder": pupil.pk, "date": "2026-12-08", "option": 2})

    assert response.json()["id"] == mine.pk
    mine.refresh_from_db()
    assert (mine.status, mine.option) == (MealOrder.Status.ORDERED, 2)


# --- a month of days ---------------------------------------------------------------------------


def month(
    client: Client, holder: Cardholder, value: str | None = "2026-12", *, when: dt.datetime = FRIDAY_MORNING
) -> Any:
    params = {} if value is None else {"month": value}
    with time_machine.travel(when, tick=False):
        return client.get(f"/api/v1/me/holders/{holder.pk}/meals", params)


def test_the_month_lists_its_school_days_only(client: Client, pupil: Cardholder) -> None:
    body = month(client, pupil).json()

    dates = [day["date"] for day in body["days"]]
    assert dates[0] == "2026-12-01"
    assert dates[-1] == "2026-12-18"
    assert "2026-12-09" not in dates  # the holiday
    assert "2026-12-05" not in dates  # a Saturday
    assert len(dates) == 13


def test_each_day_has_its_menu_deadline_and_whether_it_is_open(client: Client, pupil: Cardholder) -> None:
    days = {day["date"]: day for day in month(client, pupil, when=at(FRIDAY, 14)).json()["days"]}

    monday = days["2026-12-07"]
    assert monday["menu"] == {
        "option1": {"name": "Meatballs with potatoes", "allergens": "gluten, egg"},
        "option2": {"name": "Vegetable lasagne", "allergens": "gluten, milk"},
    }
    assert monday["deadline"] == "2026-12-04T14:00:00+01:00"
    assert monday["open"] is False
    assert days["2026-12-08"]["open"] is True


def test_each_day_shows_the_holders_own_order(client: Client, pupil: Cardholder) -> None:
    mine = placed(pupil, TUESDAY, option=2)

    days = {day["date"]: day for day in month(client, pupil).json()["days"]}

    assert days["2026-12-08"]["order"]["id"] == mine.pk
    assert (days["2026-12-08"]["option"], days["2026-12-08"]["state"]) == (2, "ordered")
    assert (days["2026-12-10"]["order"], days["2026-12-10"]["option"]) == (None, None)
    assert days["2026-12-10"]["state"] == "not_ordered"


def test_a_subscriber_without_an_order_gets_option_1(client: Client, pupil: Cardholder) -> None:
    MealSubscription.objects.create(holder=pupil)
    placed(pupil, TUESDAY, option=2)

    body = month(client, pupil).json()
    days = {day["date"]: day for day in body["days"]}

    assert body["subscribed"] is True
    assert (days["2026-12-10"]["option"], days["2026-12-10"]["state"]) == (1, "subscription")
    assert days["2026-12-08"]["option"] == 2


def test_the_month_names_the_price_and_the_option_2_minimum(client: Client, pupil: Cardholder) -> None:
    body = month(client, pupil).json()

    assert (body["currency"], body["price"], body["option2_minimum"]) == ("DKK", "25.00", 20)


def test_without_a_month_it_is_the_current_month_at_the_institution(client: Client, pupil: Cardholder) -> None:
    # 23:30 UTC on 30 November is already December in Copenhagen.
    body = month(client, pupil, None, when=dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)).json()

    assert body["month"] == "2026-12"


def test_another_familys_month_is_404(client: Client, school: Institution) -> None:
    other = holder_with_balances(institution=school, name="Carl")

    response = month(client, other)

    assert (response.status_code, error_code(response)) == (404, "not_found")


@pytest.mark.parametrize("value", ["2026-13", "2026-1", "december", "0999-01", "2026-12-01", "2026-12-x"])
def test_a_month_of_bad_shape_is_400(client: Client, pupil: Cardholder, value: str) -> None:
    response = month(client, pupil, value)

    assert (response.status_code, error_code(response)) == (400, "invalid_request")


def test_the_month_takes_the_same_few_queries_however_many_days(
    client: Client, pupil: Cardholder, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(10):
        response = month(client, pupil)

    assert len(response.json()["days"]) == 13
