"""Class meals racing on PostgreSQL with real row locks: two teachers confirming one class, a class
racing the lunch line for the same pupils, and replayed keys. Each pupil pays once.

Threads wait behind a barrier, then call the terminal API at once, each on its own connection as
each gunicorn worker would.
"""

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from accounts.models import Institution
from canteen import class_meals
from canteen.models import ClassMeal, MealOrder
from cards.models import Card, Cardholder
from payments.ledger import HolderAccounts, holder_accounts_get
from payments.models import LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.canteen.test_class_meals import NOON, YOUNG, class_meal_school, order_for, pupil
from tests.factories import CardFactory, terminal_with_token
from tests.meal_factories import teacher_card_for
from tests.payments.test_ledger_postgres import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

PUPILS = 10
HOLD_S = 0.3


@pytest.fixture(autouse=True)
def monday_noon() -> Iterator[None]:
    # Ticking: the threads' transactions must see time pass, as in a real lunch break.
    with time_machine.travel(NOON, tick=True):
        yield


@pytest.fixture
def school() -> Institution:
    return class_meal_school()


@pytest.fixture
def token(school: Institution) -> str:
    return terminal_with_token(institution=school, name="Info 1")[1]


@pytest.fixture
def pupils(school: Institution) -> list[Cardholder]:
    """A class whose pupils all ordered in time, and whose orders the deadline has not paid yet."""
    holders = [pupil(school, main=10000, name=f"Pupil {n:02d}") for n in range(PUPILS)]
    for holder in holders:
        order_for(holder, status=MealOrder.Status.ORDERED)
    return holders


def post(token: str, path: str, body: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    response = Client().post(path, data=json.dumps(body), content_type="application/json", **headers)
    return response.status_code, response.json()


def class_meal(token: str, teacher: Card, holders: list[Cardholder], key: str | None) -> tuple[int, dict[str, Any]]:
    body = {"teacher_uid": teacher.uid, "group": "5B", "served": [h.pk for h in holders]}
    return post(token, "/api/v1/terminal/class-meals", body, key)


def mains(holders: list[Cardholder]) -> list[int]:
    return [holder_accounts_get(holder_id=h.pk).main.balance_cents for h in holders]


def meal_charges(holder: Cardholder) -> int:
    return LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MEAL, entries__account__holder=holder).count()


def test_two_teachers_confirming_one_class_at_once_one_wins_and_each_pupil_pays_once(
    school: Institution, token: str, pupils: list[Cardholder]
) -> None:
    teachers = [teacher_card_for(institution=school) for _ in range(6)]

    results = race(len(teachers), lambda i: class_meal(token, teachers[i], pupils, key=f"teacher-{i}"))

    assert Counter(status for status, _body in results) == {201: 1, 409: len(teachers) - 1}
    assert {body["error"]["code"] for status, body in results if status == 409} == {"already_confirmed"}
    assert ClassMeal.objects.count() == 1
    assert mains(pupils) == [10000 - YOUNG] * PUPILS
    assert [meal_charges(p) for p in pupils] == [1] * PUPILS
    assert ledger_mismatches() == []
    call_command("ledger_check")


def test_when_both_pass_the_check_the_unique_class_and_day_decides(
    school: Institution, token: str, pupils: list[Cardholder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every confirmation skips the early look-up, so all of them reach the insert: the second waits
    on the unique index until the first commits, and is refused without charging anyone."""
    real_filter = ClassMeal.objects.filter

    class NothingYet:
        def exists(self) -> bool:
            return False

    def check_finds_nothing(**lookups: object) -> object:
        return NothingYet() if set(lookups) == {"school_day", "group"} else real_filter(**lookups)

    monkeypatch.setattr(ClassMeal.objects, "filter", check_finds_nothing)
    teachers = [teacher_card_for(institution=school) for _ in range(4)]

    results = race(len(teachers), lambda i: class_meal(token, teachers[i], pupils, key=f"t{i}"))

    assert Counter(status for status, _body in results) == {201: 1, 409: 3}
    assert {body["error"]["code"] for status, body in results if status == 409} == {"already_confirmed"}
    assert mains(pupils) == [10000 - YOUNG] * PUPILS
    assert ledger_mismatches() == []


def test_a_class_racing_the_lunch_line_for_the_same_pupils_charges_each_once(
    school: Institution, token: str, pupils: list[Cardholder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the pupils reach the lunch line at the moment the class is confirmed; the other half while the
    class holds their balances' locks, so their lunch line waits for the class and then refuses."""
    teacher = teacher_card_for(institution=school)
    cards = [CardFactory(holder=p) for p in pupils]
    line_token = terminal_with_token(institution=school, name="Lunch line")[1]
    # Warm up (URL resolvers, translations, DRF) so the race is between the requests' own work.
    assert class_meal(token, teacher, [], key=None)[0] == 400
    assert post(line_token, "/api/v1/terminal/meals/serve", {"uid": "04FFFFFFFFFFFF"})[0] == 404
    class_holds_the_locks = threading.Event()
    real_lock = class_meals.holders_accounts_lock

    def lock_and_hold(*, holder_ids: Iterable[int]) -> dict[int, HolderAccounts]:
        accounts = real_lock(holder_ids=holder_ids)
        class_holds_the_locks.set()
        time.sleep(HOLD_S)  # long enough for the late half of the lunch line to queue on the locks
        return accounts

    monkeypatch.setattr(class_meals, "holders_accounts_lock", lock_and_hold)

    def work(i: int) -> tuple[int, dict[str, Any]]:
        if i == PUPILS:
            return class_meal(token, teacher, pupils, key="class")
        if i % 2:
            assert class_holds_the_locks.wait(30)
        return post(line_token, "/api/v1/terminal/meals/serve", {"uid": cards[i].uid}, key=f"line-{i}")

    results = race(PUPILS + 1, work)

    class_status, class_body = results[PUPILS]
    assert class_status == 201, class_body
    outcomes = {line["holder"]: line["outcome"] for line in class_body["pupils"]}
    for n, holder in enumerate(pupils):
        line_status, line_body = results[n]
        if line_status == 201:  # the lunch line was first: the class reports the pupil as served already
            assert outcomes[holder.pk] == "already_served"
        else:  # the class was first: the lunch line refuses a second meal
            assert (line_status, line_body["error"]["code"]) == (409, "already_served_today")
            assert outcomes[holder.pk] == "charged"
    late = [pupils[n].pk for n in range(1, PUPILS, 2)]
    assert [outcomes[pk] for pk in late] == ["charged"] * len(late)
    assert mains(pupils) == [10000 - YOUNG] * PUPILS
    assert [meal_charges(p) for p in pupils] == [1] * PUPILS
    assert MealOrder.objects.filter(served_at__isnull=False).count() == PUPILS
    assert ledger_mismatches() == []
    call_command("ledger_check")


def test_replays_of_one_key_racing_each_other_confirm_once_and_answer_alike(
    school: Institution, token: str, pupils: list[Cardholder]
) -> None:
    teacher = teacher_card_for(institution=school)

    results = race(6, lambda _i: class_meal(token, teacher, pupils, key="one-key"))

    assert {status for status, _body in results} == {201}
    assert len({json.dumps(body, sort_keys=True) for _status, body in results}) == 1
    assert ClassMeal.objects.count() == 1
    assert mains(pupils) == [10000 - YOUNG] * PUPILS
    assert ledger_mismatches() == []
