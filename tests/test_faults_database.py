"""The database connection dropped in the middle of a purchase, on PostgreSQL (issue 7, "Faults").

Another connection holds a lock the purchase needs, so the purchase stops inside its transaction
at a known point; then a third connection ends the purchase's backend (`pg_terminate_backend`), as
a restarted or failed-over database would. The till must get the API's error body and a 5xx at
once, nothing of the purchase may remain, and a retry with the same Idempotency-Key sells once.

The helpers here (raw connections, waiting for a blocked backend) serve the worker faults too
(tests/test_faults_worker.py).
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client

from canteen.models import Sale, SaleLine
from payments.ledger import holder_accounts_get
from payments.models import IdempotencyRecord, LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.factories import InstitutionFactory, ProductFactory, card_with_balances, terminal_with_token

WAIT_S = 20.0


# --- raw connections to the test database ----------------------------------------------------------


def raw_connect(*, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection of its own to the test database, outside Django (a blocker, an observer)."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=autocommit,
    )


def database_url() -> str:
    """The test database as a DATABASE_URL, for child processes."""
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"


@contextmanager
def lock_held(sql: str, params: dict[str, Any] | None = None) -> Iterator[int]:
    """Run `sql` in an open transaction of another connection and keep its locks until the block
    ends (then roll back); yields that connection's backend pid."""
    with raw_connect(autocommit=False) as blocker:
        blocker.execute(sql, params or {})
        try:
            yield blocker.info.backend_pid
        finally:
            blocker.rollback()


def backend_blocked_by(
    observer: psycopg.Connection[Any], blocker_pid: int, *, alive: Callable[[], bool], what: str = "a backend"
) -> int:
    """Wait until a backend (`what`) waits for a lock `blocker_pid` holds; return its pid. `alive`
    says whether the party expected to block is still running (no use waiting once it has ended)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        row = observer.execute(
            "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [blocker_pid]
        ).fetchone()
        if row is not None:
            return int(row[0])
        if not alive():
            raise AssertionError(f"{what} ended without waiting for the lock")
        time.sleep(0.02)
    raise AssertionError(f"{what} never waited for the locks of backend {blocker_pid}")


def backend_gone(observer: psycopg.Connection[Any], pid: int) -> None:
    """Wait until a backend has ended (its transaction rolled back, its locks released)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if observer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() is None:
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} is still there")


def tables_written(observer: psycopg.Connection[Any], pid: int) -> set[str]:
    """The tables a backend's open transaction has written to (it holds ROW EXCLUSIVE on them)."""
    rows = observer.execute(
        "SELECT l.relation::regclass::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE l.pid = %s AND l.granted AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'",
        [pid],
    ).fetchall()
    return {row[0] for row in rows}


# --- the purchase --------------------------------------------------------------------------------


def purchase(token: str, uid: str, product_id: int, key: str) -> tuple[int, str, Any]:
    """POST a purchase as a till would: an answer whatever happens (no exception re-raised)."""
    body = {"uid": uid, "lines": [{"product": product_id, "quantity": 1}]}
    response = Client(raise_request_exception=False).post(
        "/api/v1/terminal/purchases",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    content_type = response.get("Content-Type", "")
    parsed = response.json() if content_type.startswith("application/json") else response.content.decode()
    return response.status_code, content_type, parsed


class PurchaseThread(threading.Thread):
    """A purchase in a thread of its own, so with a database connection of its own."""

    def __init__(self, *args: Any) -> None:
        super().__init__(daemon=True)
        self.args = args
        self.answer: tuple[int, str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.answer = purchase(*self.args)
        except BaseException as error:
            self.error = error
        finally:
            connections.close_all()


def state(holder_id: int) -> dict[str, Any]:
    accounts = holder_accounts_get(holder_id=holder_id)
    return {
        "balances": (accounts.main.balance_cents, accounts.extra.balance_cents),
        "ledger transactions": LedgerTransaction.objects.count(),
        "ledger entries": LedgerEntry.objects.count(),
        "sales": Sale.objects.count(),
        "sale lines": SaleLine.objects.count(),
        "idempotency records": IdempotencyRecord.objects.count(),
    }


# Where the purchase is stopped: the lock another connection holds, and the tables the purchase has
# written by then (it is terminated there, so all of them must roll back).
STOPS = {
    "before_any_write": ("SELECT 1 FROM payments_ledgeraccount WHERE holder_id = %(holder)s FOR UPDATE", set()),
    "after_the_ledger_movement": (
        "LOCK TABLE canteen_sale IN SHARE MODE",
        {"payments_ledgertransaction", "payments_ledgerentry", "payments_ledgeraccount"},
    ),
    "at_the_idempotency_record": (
        "LOCK TABLE payments_idempotencyrecord IN SHARE MODE",
        {"payments_ledgertransaction", "payments_ledgerentry", "payments_ledgeraccount", "canteen_sale"},
    ),
}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stop", list(STOPS))
def test_a_purchase_whose_connection_drops_answers_an_error_leaves_nothing_and_a_retry_sells_once(stop: str) -> None:
    school = InstitutionFactory()
    card = card_with_balances(extra=10000, institution=school)
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)
    before = state(card.holder_id)
    sql, written = STOPS[stop]

    thread = PurchaseThread(token, card.uid, sandwich.pk, "till-1-sale-1")
    with raw_connect() as observer:
        try:
            with lock_held(sql, {"holder": card.holder_id}) as blocker_pid:
                thread.start()
                victim = backend_blocked_by(observer, blocker_pid, alive=thread.is_alive)
                written_then = tables_written(observer, victim)
                observer.execute("SELECT pg_terminate_backend(%s)", [victim])
                thread.join(WAIT_S)
        finally:
            if thread.ident is not None:
                thread.join(WAIT_S)  # the blocker's rollback frees a purchase that was not ended
        backend_gone(observer, victim)

    assert written <= written_then, written_then
    assert not thread.is_alive(), "the till is still waiting for an answer"
    assert thread.error is None, thread.error
    assert thread.answer is not None
    status, content_type, body = thread.answer
    assert status >= 500, thread.answer
    assert content_type.startswith("application/json"), thread.answer
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert state(card.holder_id) == before
    assert ledger_mismatches() == []

    retried = purchase(token, card.uid, sandwich.pk, "till-1-sale-1")
    again = purchase(token, card.uid, sandwich.pk, "till-1-sale-1")

    assert retried[0] == 201, retried
    assert again == retried
    assert Sale.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.SALE).count() == 1
    assert holder_accounts_get(holder_id=card.holder_id).extra.balance_cents == 10000 - 2500
    assert ledger_mismatches() == []
    call_command("ledger_check")
