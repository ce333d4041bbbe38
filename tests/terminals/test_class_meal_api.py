"""`POST /api/v1/terminal/class-meals` per API.md: the body, the error codes, and Idempotency-Key."""

import json
from typing import Any

import pytest
import time_machine
from django.test import Client

from accounts.models import Institution
from canteen.models import ClassMeal, MealOrder
from cards.models import Card, Cardholder
from payments.ledger import holder_accounts_get
from payments.models import LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.canteen.test_class_meals import (
    MONDAY,
    NOON,
    SATURDAY,
    YOUNG,
    at,
    class_meal_school,
    old_category,
    order_for,
    pupil,
)
from tests.factories import CardFactory, InstitutionFactory, terminal_with_token
from tests.meal_factories import teacher_card_for

pytestmark = pytest.mark.django_db

PATH = "/api/v1/terminal/class-meals"


class InfoTerminal:
    def __init__(self, token: str) -> None:
        self.token = token

    def confirm(self, body: dict[str, Any], *, key: str | None = None, token: str | None = None) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}"}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        with time_machine.travel(NOON, tick=False):
            return Client().post(PATH, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def school() -> Institution:
    return class_meal_school()


@pytest.fixture
def teacher(school: Institution) -> Card:
    return teacher_card_for(institution=school, number="900001")


@pytest.fixture
def terminal(school: Institution) -> InfoTerminal:
    _terminal, token = terminal_with_token(institution=school, name="Info 5B")
    return InfoTerminal(token)


def body(teacher: Card, pupils: list[Cardholder], group: str = "5B") -> dict[str, Any]:
    return {"teacher_uid": teacher.uid, "group": group, "served": [p.pk for p in pupils]}


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def main_of(holder: Cardholder) -> int:
    return holder_accounts_get(holder_id=holder.pk).main.balance_cents


def test_a_confirmation_answers_201_with_each_pupils_charges_per_the_contract(
    terminal: InfoTerminal,
    school: Institution,
    teacher: Card,
) -> None:
    anna = pupil(school, main=1000, extra=500, name="Anna")
    bo = pupil(school, main=10000, name="Bo", category=old_category())

    response = terminal.confirm(body(teacher, [anna, bo]), key="k1")

    assert response.status_code == 201
    answer = response.json()
    class_meal = ClassMeal.objects.get()
    assert answer["id"] == class_meal.pk
    assert answer["currency"] == "DKK"
    assert answer["receipt_url"] == f"/class-meals/receipt/{class_meal.receipt_token}/"
    assert (answer["group"], answer["date"]) == ("5B", MONDAY.isoformat())
    assert answer["pupils"] == [
        {
            "holder": anna.pk,
            "name": "Anna",
            "outcome": "charged",
            "served": True,
            "price": "25.00",
            "charged_main": "20.00",
            "charged_extra": "5.00",
            "debt": "10.00",
            "blocked": False,
        },
        {
            "holder": bo.pk,
            "name": "Bo",
            "outcome": "charged",
            "served": True,
            "price": "28.00",
            "charged_main": "28.00",
            "charged_extra": "0.00",
            "debt": "0.00",
            "blocked": False,
        },
    ]
    assert class_meal.place == "Info 5B"
    assert ledger_mismatches() == []


def test_the_receipt_url_serves_the_receipt(terminal: InfoTerminal, school: Institution, teacher: Card) -> None:
    answer = terminal.confirm(body(teacher, [pupil(school, main=10000, name="Anna")])).json()

    page = Client().get(answer["receipt_url"])
    pdf = Client().get(answer["receipt_pdf_url"])

    assert page.status_code == 200
    assert "Anna" in page.content.decode()
    assert pdf["Content-Type"] == "application/pdf"


def test_the_same_key_answers_the_same_and_charges_once(
    terminal: InfoTerminal,
    school: Institution,
    teacher: Card,
) -> None:
    anna = pupil(school, main=10000)

    first = terminal.confirm(body(teacher, [anna]), key="class-5b-monday")
    again = terminal.confirm(body(teacher, [anna]), key="class-5b-monday")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert main_of(anna) == 10000 - YOUNG
    assert ClassMeal.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MEAL).count() == 1
    assert ledger_mismatches() == []


def test_the_same_key_with_another_body_is_422(terminal: InfoTerminal, school: Institution, teacher: Card) -> None:
    anna, bo = pupil(school, main=10000), pupil(school, main=10000)
    terminal.confirm(body(teacher, [anna]), key="k")

    response = terminal.confirm(body(teacher, [anna, bo]), key="k")

    assert (response.status_code, code(response)) == (422, "idempotency_key_reused")
    assert main_of(bo) == 10000


def test_a_second_confirmation_of_the_class_is_409_already_confirmed(
    terminal: InfoTerminal,
    school: Institution,
    teacher: Card,
) -> None:
    anna, bo = pupil(school, main=10000), pupil(school, main=10000)
    terminal.confirm(body(teacher, [anna]), key="first")

    response = terminal.confirm(body(teacher_card_for(institution=school), [anna, bo]), key="second")

    assert (response.status_code, code(response)) == (409, "already_confirmed")
    assert (main_of(anna), main_of(bo)) == (10000 - YOUNG, 10000)


@pytest.mark.parametrize("kind", ["pupil", "other_school"])
def test_a_card_that_is_not_a_teacher_card_of_the_school_is_403_not_a_teacher_card(
    terminal: InfoTerminal,
    school: Institution,
    kind: str,
) -> None:
    anna = pupil(school, main=10000)
    card = CardFactory(holder=anna) if kind == "pupil" else teacher_card_for(institution=InstitutionFactory())

    response = terminal.confirm(body(card, [anna]), key="k")

    assert (response.status_code, code(response)) == (403, "not_a_teacher_card")
    assert main_of(anna) == 10000
    assert not ClassMeal.objects.exists()


def test_a_teacher_card_from_another_schools_terminal_is_403(school: Institution, teacher: Card) -> None:
    other = InstitutionFactory()
    other_pupil = pupil(other, main=10000)
    _terminal, token = terminal_with_token(institution=other)

    response = InfoTerminal(token).confirm(body(teacher, [other_pupil]))

    assert (response.status_code, code(response)) == (403, "not_a_teacher_card")


def test_an_unknown_teacher_uid_is_404_card_unknown(terminal: InfoTerminal, school: Institution) -> None:
    response = terminal.confirm({"teacher_uid": "04FFFFFFFFFFFF", "group": "5B", "served": [pupil(school).pk]})

    assert (response.status_code, code(response)) == (404, "card_unknown")


def test_on_a_day_without_school_it_is_409_not_a_school_day(
    terminal: InfoTerminal,
    school: Institution,
    teacher: Card,
) -> None:
    anna = pupil(school, main=10000)
    with time_machine.travel(at(SATURDAY, 12), tick=False):
        response = Client().post(
            PATH,
            data=json.dumps(body(teacher, [anna])),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {terminal.token}",
        )

    assert (response.status_code, code(response)) == (409, "not_a_school_day")


def test_a_pupil_not_of_the_class_is_400_naming_the_id(
    terminal: InfoTerminal,
    school: Institution,
    teacher: Card,
) -> None:
    anna, eve = pupil(school, main=10000), pupil(school, main=10000, group="2A")

    response = terminal.confirm(body(teacher, [anna, eve]))

    assert (response.status_code, code(response)) == (400, "invalid_request")
    assert str(eve.pk) in response.json()["error"]["fields"]["served"][0]
    assert main_of(anna) == 10000


@pytest.mark.parametrize(
    "bad",
    [
        {"group": "5B", "served": [1]},
        {"teacher_uid": "not hex", "group": "5B", "served": [1]},
        {"teacher_uid": "04AAAAAAAAAAAA", "group": "5B", "served": []},
        {"teacher_uid": "04AAAAAAAAAAAA", "group": "5B", "served": ["x"]},
        {"teacher_uid": "04AAAAAAAAAAAA", "group": "5B", "served": [1], "extra": True},
    ],
)
def test_malformed_input_is_400_invalid_request(terminal: InfoTerminal, bad: dict[str, Any]) -> None:
    response = terminal.confirm(bad)

    assert (response.status_code, code(response)) == (400, "invalid_request")


def test_without_a_terminal_token_it_is_401(school: Institution, teacher: Card) -> None:
    response = Client().post(PATH, data=json.dumps(body(teacher, [pupil(school)])), content_type="application/json")

    assert response.status_code == 401


def test_a_pupil_at_the_debt_limit_is_reported_blocked_and_not_served(
    terminal: InfoTerminal,
    school: Institution,
    teacher: Card,
) -> None:
    broke = pupil(school, main=-15000)

    response = terminal.confirm(body(teacher, [broke]))

    assert response.status_code == 201
    [line] = response.json()["pupils"]
    assert (line["outcome"], line["served"], line["blocked"], line["charged_main"]) == (
        "debt_limit_reached",
        False,
        True,
        "0.00",
    )


def test_a_prepaid_pupil_is_served_at_no_charge(terminal: InfoTerminal, school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)
    order = order_for(anna, status=MealOrder.Status.PAID)

    [line] = terminal.confirm(body(teacher, [anna])).json()["pupils"]

    assert (line["outcome"], line["charged_main"], line["charged_extra"]) == ("paid_before", "0.00", "0.00")
    order.refresh_from_db()
    assert order.served_at == NOON
    assert main_of(anna) == 10000
