"""Races and database-enforced invariants, on PostgreSQL with real row locks.

Threads wait behind a barrier, then hit the same card at once; each thread has its own
connection, as each gunicorn worker would.
"""

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, InternalError, connection, connections, transaction
from django.db.utils import DatabaseError
from django.test import Client

from payments.ledger import holder_accounts_get, system_account
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from terminals.models import Scan
from tests.factories import InstitutionFactory, ProductFactory, card_with_balances, terminal_with_token

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in `count` threads released together; return their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def runner(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as error:
            results[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def purchase(token: str, uid: str, product_id: int, key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    body = {"uid": uid, "lines": [{"product": product_id, "quantity": 1}]}
    response = Client().post(
        "/api/v1/terminal/purchases", data=json.dumps(body), content_type="application/json", **headers
    )
    return response.status_code, response.json()


def entries_sum(account: LedgerAccount) -> int:
    return sum(LedgerEntry.objects.filter(account=account).values_list("amount_cents", flat=True))


def test_twenty_purchases_racing_on_one_card_succeed_exactly_as_often_as_the_balance_covers() -> None:
    school = InstitutionFactory()
    card = card_with_balances(extra=7 * 2500 + 1000, institution=school)  # covers seven sandwiches
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)

    results = race(THREADS, lambda i: purchase(token, card.uid, sandwich.pk, key=f"k{i}"))

    statuses = Counter(status for status, _body in results)
    assert statuses == {201: 7, 409: THREADS - 7}
    assert {body["error"]["code"] for status, body in results if status == 409} == {"insufficient_funds"}
    extra = holder_accounts_get(holder_id=card.holder_id).extra
    assert extra.balance_cents == 1000 == entries_sum(extra)
    assert ledger_mismatches() == []
    call_command("ledger_check")


def test_replayed_keys_racing_each_other_debit_once_and_all_get_the_same_answer() -> None:
    school = InstitutionFactory()
    card = card_with_balances(extra=100000, institution=school)
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)

    results = race(THREADS, lambda i: purchase(token, card.uid, sandwich.pk, key="one-key"))

    assert {status for status, _body in results} == {201}
    assert len({json.dumps(body, sort_keys=True) for _status, body in results}) == 1
    extra = holder_accounts_get(holder_id=card.holder_id).extra
    assert extra.balance_cents == 100000 - 2500 == entries_sum(extra)
    assert ledger_mismatches() == []


def test_purchases_on_distinct_cards_all_succeed_in_parallel() -> None:
    school = InstitutionFactory()
    cards = [card_with_balances(extra=2500, institution=school) for _ in range(THREADS)]
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)

    results = race(THREADS, lambda i: purchase(token, cards[i].uid, sandwich.pk, key=f"d{i}"))

    assert [status for status, _body in results] == [201] * THREADS
    assert ledger_mismatches() == []


def test_the_database_refuses_to_commit_an_unbalanced_transaction() -> None:
    account = LedgerAccount.objects.create(kind=LedgerAccount.Kind.CORRECTIONS)

    def post_one_sided_entry() -> None:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(kind="correction")
            LedgerEntry.objects.create(transaction=txn, account=account, amount_cents=5)

    with pytest.raises(IntegrityError, match="does not balance"):
        post_one_sided_entry()
    assert not LedgerTransaction.objects.exists()


def test_the_database_refuses_to_update_or_delete_ledger_entries() -> None:
    card = card_with_balances(extra=500)
    entry = LedgerEntry.objects.filter(account__holder=card.holder).get()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_cents=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises((DatabaseError, InternalError), match="append-only"), transaction.atomic():
        LedgerTransaction.objects.filter(pk=entry.transaction_id).update(reason="changed")
    assert connection.vendor == "postgresql"


def test_a_system_account_created_in_a_rolled_back_transaction_is_not_remembered() -> None:
    school = InstitutionFactory()

    def create_then_roll_back() -> None:
        with transaction.atomic():
            system_account(kind=LedgerAccount.Kind.REVENUE, institution=school)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        create_then_roll_back()
    account = system_account(kind=LedgerAccount.Kind.REVENUE, institution=school)
    assert LedgerAccount.objects.filter(pk=account.pk).exists()


def test_the_same_read_sent_by_ten_threads_at_once_is_recorded_once() -> None:
    school = InstitutionFactory()
    card = card_with_balances(institution=school)
    _terminal, token = terminal_with_token(institution=school)
    body = json.dumps({"uid": card.uid, "sequence": 42})

    def scan(_i: int) -> int:
        response = Client().post(
            "/api/v1/terminal/scans", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        return response.status_code

    assert race(10, scan) == [200] * 10
    assert Scan.objects.filter(sequence=42).count() == 1
