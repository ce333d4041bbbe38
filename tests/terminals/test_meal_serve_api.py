"""`POST /api/v1/terminal/meals/serve` and the scan's `meal_today`, per API.md."""

import json
from typing import Any

import pytest
import time_machine
from django.test import Client

from canteen.meal_deadline import meal_day_close
from canteen.meal_orders import meal_order_place
from canteen.models import MealOrder
from payments.selectors import ledger_mismatches
from tests.canteen.test_meal_rules import FRIDAY, MONDAY, at, closed_monday, pupil, school
from tests.factories import CardFactory, terminal_with_token

pytestmark = pytest.mark.django_db


def post(token: str, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return Client().post(path, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def line() -> tuple[str, Any]:
    institution = school(option2_minimum=1)
    monday = closed_monday(institution)
    holder = pupil(institution, main=10000)
    card = CardFactory(holder=holder)
    meal_order_place(holder=holder, date=MONDAY, option=2, source="guardian", now=at(FRIDAY, 9))
    meal_day_close(school_day=monday, now=at(FRIDAY, 14))
    _terminal, token = terminal_with_token(institution=institution)
    return token, card


def test_serving_answers_the_option_for_the_kitchen_and_what_was_charged(line: tuple[str, Any]) -> None:
    token, card = line

    with time_machine.travel(at(MONDAY, 12), tick=False):
        response = post(token, "/api/v1/terminal/meals/serve", {"uid": card.uid})

    assert response.status_code == 201
    body = response.json()
    assert (body["option"], body["charged"], body["currency"]) == (2, "0.00", "DKK")
    assert body["meal"]["description"] == "Pasta"
    assert body["balances"] == {"main": "75.00", "extra": "0.00"}


def test_a_second_serve_the_same_day_is_409_already_served_today(line: tuple[str, Any]) -> None:
    token, card = line

    with time_machine.travel(at(MONDAY, 12), tick=False):
        post(token, "/api/v1/terminal/meals/serve", {"uid": card.uid})
        again = post(token, "/api/v1/terminal/meals/serve", {"uid": card.uid})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_served_today"


def test_a_replayed_serve_with_the_same_key_answers_the_first_time_again(line: tuple[str, Any]) -> None:
    token, card = line

    with time_machine.travel(at(MONDAY, 12), tick=False):
        first = post(token, "/api/v1/terminal/meals/serve", {"uid": card.uid}, key="serve-1")
        replay = post(token, "/api/v1/terminal/meals/serve", {"uid": card.uid}, key="serve-1")

    assert (first.status_code, replay.status_code) == (201, 201)
    assert first.json() == replay.json()


@pytest.mark.parametrize(
    ("moment", "code"),
    [(at(MONDAY, 14), "outside_serving_hours"), (at(FRIDAY.replace(day=5), 12), "not_a_school_day")],
)
def test_outside_hours_or_school_days_the_answer_says_why(line: tuple[str, Any], moment: Any, code: str) -> None:
    token, card = line

    with time_machine.travel(moment, tick=False):
        response = post(token, "/api/v1/terminal/meals/serve", {"uid": card.uid})

    assert (response.status_code, response.json()["error"]["code"]) == (409, code)
    assert MealOrder.objects.get().served_at is None


def test_a_card_of_another_institution_is_unknown_here(line: tuple[str, Any]) -> None:
    _token, card = line
    _other_terminal, other_token = terminal_with_token()

    with time_machine.travel(at(MONDAY, 12), tick=False):
        response = post(other_token, "/api/v1/terminal/meals/serve", {"uid": card.uid})

    assert response.status_code == 404


def test_an_unknown_card_is_404_card_unknown(line: tuple[str, Any]) -> None:
    token, _card = line

    response = post(token, "/api/v1/terminal/meals/serve", {"uid": "04FFFFFFFFFFFF"})

    assert (response.status_code, response.json()["error"]["code"]) == (404, "card_unknown")


def test_the_scan_shows_todays_meal(line: tuple[str, Any]) -> None:
    token, card = line

    with time_machine.travel(at(MONDAY, 11), tick=False):
        body = post(token, "/api/v1/terminal/scans", {"uid": card.uid}).json()

    assert body["meal_today"] == {
        "id": MealOrder.objects.get().pk,
        "option": 2,
        "description": "Pasta",
        "status": "paid",
        "served": False,
    }
    assert ledger_mismatches() == []


def test_a_read_queued_at_noon_and_delivered_after_the_window_is_served_as_of_noon(line: tuple[str, Any]) -> None:
    token, card = line

    with time_machine.travel(at(MONDAY, 14, 30), tick=False):
        body = {"uid": card.uid, "sequence": 7, "read_at": at(MONDAY, 12).isoformat()}
        response = post(token, "/api/v1/terminal/meals/serve", body)

    assert response.status_code == 201
    assert MealOrder.objects.get().served_at == at(MONDAY, 12)


def test_a_read_time_in_the_future_is_not_believed(line: tuple[str, Any]) -> None:
    token, card = line

    with time_machine.travel(at(MONDAY, 14, 30), tick=False):
        body = {"uid": card.uid, "read_at": at(MONDAY, 15).isoformat()}
        response = post(token, "/api/v1/terminal/meals/serve", body)

    assert (response.status_code, response.json()["error"]["code"]) == (409, "outside_serving_hours")
