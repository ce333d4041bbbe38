"""The lunch line racing itself on PostgreSQL: one meal per card per day, charged once."""

from collections import Counter
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from canteen.meal_deadline import meal_day_close
from canteen.meal_orders import meal_order_place
from canteen.models import MealOrder
from payments.models import LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.canteen.test_meal_rules import FRIDAY, MONDAY, PRICE, at, balances, closed_monday, pupil, school
from tests.factories import CardFactory, terminal_with_token
from tests.payments.test_ledger_postgres import race
from tests.terminals.test_meal_serve_api import post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def serve_many(token: str, uid: str, count: int) -> list[Any]:
    with time_machine.travel(at(MONDAY, 12), tick=True):
        return race(count, lambda i: post(token, "/api/v1/terminal/meals/serve", {"uid": uid}).status_code)


def test_eight_readers_serving_one_ordered_card_at_once_serve_and_charge_it_once() -> None:
    institution = school()
    closed_monday(institution)
    holder = pupil(institution, main=10000)
    card = CardFactory(holder=holder)
    meal_order_place(holder=holder, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))
    _terminal, token = terminal_with_token(institution=institution)

    statuses = serve_many(token, card.uid, 8)

    assert Counter(statuses) == {201: 1, 409: 7}, statuses
    assert balances(holder) == (10000 - PRICE, 0)
    assert MealOrder.objects.get().served_at is not None
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MEAL).count() == 1
    assert ledger_mismatches() == []
    call_command("ledger_check")


def test_eight_readers_serving_one_walk_in_at_once_create_one_order_and_charge_once() -> None:
    institution = school(walk_ins=True)
    closed_monday(institution)
    holder = pupil(institution, main=10000)
    card = CardFactory(holder=holder)
    _terminal, token = terminal_with_token(institution=institution)

    statuses = serve_many(token, card.uid, 8)

    assert Counter(statuses) == {201: 1, 409: 7}, statuses
    assert MealOrder.objects.count() == 1
    assert balances(holder) == (10000 - PRICE, 0)
    assert ledger_mismatches() == []


def test_two_deadline_workers_closing_one_day_at_once_charge_each_order_once() -> None:
    institution = school()
    monday = closed_monday(institution)
    holders = [pupil(institution, main=10000) for _ in range(30)]
    for holder in holders:
        meal_order_place(holder=holder, date=MONDAY, option=1, source="guardian", now=at(FRIDAY, 9))

    results = race(3, lambda i: meal_day_close(school_day=monday, now=at(FRIDAY, 14)))

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(r.paid for r in results) == 30
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MEAL).count() == 30
    assert {balances(h) for h in holders} == {(10000 - PRICE, 0)}
    assert ledger_mismatches() == []
