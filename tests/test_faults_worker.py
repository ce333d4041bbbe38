"""A worker killed in the middle of the payout batch or the meal deadline job (issue 7, "Faults").

The job runs in a real child process against the test database (a Python process calling the
Celery task, or a real Celery worker on Redis). Another connection holds a lock the job needs part
of the way through, so the job is known to be mid-work; then the process is killed with SIGKILL.
The payout batch is built in one transaction: killed anywhere, nothing of it remains, and the next
run batches every refund once. The deadline job pays its orders a chunk per transaction: killed,
the paid chunks stay paid and the next run pays the rest, none twice. With a real worker, the pool
process running the task is killed: its message goes back to the queue (acknowledged late,
rejected when the worker is lost) and the job runs again by itself.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEntry, Institution
from canteen.meal_deadline import CHUNK as MEAL_CHUNK
from canteen.models import MealOrder, SchoolDay
from canteen.tasks import meal_deadlines_task
from cards.models import Cardholder
from cardsystem.celery import app
from payments.ledger import Leg, holders_accounts_lock, movements_post_batch, system_account
from payments.models import LedgerAccount, LedgerTransaction
from payments.selectors import ledger_mismatches
from payouts.batches import CHUNK as PAYOUT_CHUNK
from payouts.batches import payout_batch_approve, payout_batch_export
from payouts.crypto import cpr_encrypt
from payouts.models import PayeeKind, Payout, PayoutBatch, RefundRequest
from payouts.tasks import payout_batch_build_task
from tests.factories import InstitutionFactory, PriceCategoryFactory, UserFactory
from tests.meal_factories import MealPolicyFactory, MealPriceFactory
from tests.payouts.batch_factories import CPR, IBAN, approved_refund, finance_user, system_total
from tests.test_faults_database import (
    WAIT_S,
    backend_blocked_by,
    backend_gone,
    database_url,
    lock_held,
    raw_connect,
    tables_written,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
MEAL_PRICE = 2500
MAIN = 10000


# --- data in bulk --------------------------------------------------------------------------------


def holders_bulk(institution: Institution, mains: list[int]) -> list[Cardholder]:
    """One cardholder per amount, its main balance opened with that amount through the ledger: a
    few statements for thousands of them."""
    category = PriceCategoryFactory()
    holders = Cardholder.objects.bulk_create(
        [
            Cardholder(name=f"Pupil {n:05d}", institution=institution, group="5B", price_category=category)
            for n in range(len(mains))
        ]
    )
    LedgerAccount.objects.bulk_create(
        [
            account
            for holder in holders
            for account in (
                LedgerAccount(holder=holder, kind=LedgerAccount.Kind.MAIN, floor_cents=-institution.debt_limit_cents),
                LedgerAccount(holder=holder, kind=LedgerAccount.Kind.EXTRA),
            )
        ]
    )
    with transaction.atomic(durable=True):
        accounts = holders_accounts_lock(holder_ids=[holder.pk for holder in holders])
        corrections = system_account(kind=LedgerAccount.Kind.CORRECTIONS)
        movements_post_batch(
            kind=LedgerTransaction.Kind.OPENING,
            movements=[
                [Leg(accounts[holder.pk].main, amount), Leg(corrections, -amount)]
                for holder, amount in zip(holders, mains, strict=True)
            ],
            reason="Opening balance",
        )
    return holders


def approved_refunds_bulk(*, cpr: int, iban: int) -> list[RefundRequest]:
    """Approved refunds as `payouts.refunds.refund_approve` leaves them (see batch_factories), in bulk:
    `cpr` to NemKonto payees, then `iban` to IBAN payees, of different amounts."""
    school = InstitutionFactory()
    amounts = [100 + (n * 7919) % 50000 for n in range(cpr + iban)]
    holders = holders_bulk(school, amounts)
    token = cpr_encrypt(CPR)
    requested_by = UserFactory()
    refunds = RefundRequest.objects.bulk_create(
        [
            RefundRequest(
                holder=holder,
                institution=school,
                requested_by=requested_by,
                status=RefundRequest.Status.APPROVED,
                payee_name="Jens Hansen",
                payee_kind=PayeeKind.CPR if n < cpr else PayeeKind.IBAN,
                payee_cpr_token=token if n < cpr else "",
                payee_iban="" if n < cpr else IBAN,
                balance_cents=amount,
                cost_cents=0,
                amount_cents=amount,
                decided_at=timezone.now(),
            )
            for n, (holder, amount) in enumerate(zip(holders, amounts, strict=True))
        ]
    )
    with transaction.atomic(durable=True):
        accounts = holders_accounts_lock(holder_ids=[holder.pk for holder in holders])
        clearing = system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING)
        txns = movements_post_batch(
            kind=LedgerTransaction.Kind.REFUND,
            movements=[
                [
                    Leg(accounts[refund.holder_id].main, -(refund.amount_cents or 0)),
                    Leg(clearing, refund.amount_cents or 0),
                ]
                for refund in refunds
            ],
            reason="Refund approved",
        )
    for refund, txn in zip(refunds, txns, strict=True):
        refund.ledger_transaction = txn
    RefundRequest.objects.bulk_update(refunds, ["ledger_transaction"], batch_size=1000)
    return refunds


def meal_day_with_orders(count: int) -> SchoolDay:
    """A school day whose order deadline has passed (two days ago), with `count` open orders of
    cardholders who can each pay one meal from main."""
    institution = InstitutionFactory(time_zone="Europe/Copenhagen")
    MealPolicyFactory(institution=institution)
    MealPriceFactory(institution=institution, price_category=PriceCategoryFactory(), price_cents=MEAL_PRICE)
    day = SchoolDay.objects.create(
        institution=institution, date=timezone.localdate() - dt.timedelta(days=2), option1="Soup", option2="Pasta"
    )
    holders = holders_bulk(institution, [MAIN] * count)
    MealOrder.objects.bulk_create(
        [MealOrder(holder=holder, school_day=day, option=1, source=MealOrder.Source.GUARDIAN) for holder in holders]
    )
    return day


def main_balances(holder_ids: list[int]) -> dict[int, int]:
    return dict(
        LedgerAccount.objects.filter(holder_id__in=holder_ids, kind=LedgerAccount.Kind.MAIN).values_list(
            "holder_id", "balance_cents"
        )
    )


# --- child processes -----------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this test's database, nothing queued to a broker."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "TEST_DATABASE_NAME")}
    env.update(DJANGO_SETTINGS_MODULE="cardsystem.settings", DATABASE_URL=database_url(), **extra)
    return env


@contextmanager
def process_running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process (its own process group, output to `log`); always killed and waited for."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=WAIT_S)


def task_in_child(task: str, log: Path) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """A Python process that sets Django up and runs the task, as a worker would."""
    module, name = task.rsplit(".", 1)
    code = f"import django; django.setup(); from {module} import {name}; print({name}())"
    return process_running([sys.executable, "-c", code], child_env(), log)


def alive(process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the child ended ({process.returncode}) before it was killed:\n{log.read_text()}")
    return True


def killed(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=WAIT_S)
    assert process.returncode == -signal.SIGKILL


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- the payout batch ----------------------------------------------------------------------------


def assert_every_refund_batched_once(refunds: list[RefundRequest]) -> None:
    payouts = list(Payout.objects.values_list("refund_id", "amount_cents", "batch__kind"))
    assert sorted(refund_id for refund_id, _a, _k in payouts) == sorted(refund.pk for refund in refunds)
    for kind, payee_kind in ((PayoutBatch.Kind.NEMKONTO, PayeeKind.CPR), (PayoutBatch.Kind.SEPA, PayeeKind.IBAN)):
        batched = sum(amount for _r, amount, k in payouts if k == kind)
        assert batched == sum(r.amount_cents or 0 for r in refunds if r.payee_kind == payee_kind)
    assert PayoutBatch.objects.count() == 2
    assert set(RefundRequest.objects.values_list("status", flat=True)) == {RefundRequest.Status.IN_BATCH}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payout_batch_build_killed_mid_work_leaves_nothing_and_the_next_run_batches_every_refund_once(
    tmp_path: Path,
) -> None:
    refunds = approved_refunds_bulk(cpr=2 * PAYOUT_CHUNK + 500, iban=300)
    total = sum(refund.amount_cents or 0 for refund in refunds)
    log = tmp_path / "build.log"

    with raw_connect() as observer:
        # The build writes the NemKonto batch (payouts in chunks, refunds marked) and then its audit
        # entry: a lock on the audit table stops it there, its transaction full of work.
        with (
            lock_held("LOCK TABLE accounts_auditentry IN SHARE MODE") as blocker,
            task_in_child("payouts.tasks.payout_batch_build_task", log) as child,
        ):
            backend = backend_blocked_by(observer, blocker, alive=lambda: alive(child, log))
            assert {"payouts_payoutbatch", "payouts_payout", "payouts_refundrequest"} <= tables_written(
                observer, backend
            )
            killed(child)
        backend_gone(observer, backend)

    assert PayoutBatch.objects.count() == Payout.objects.count() == 0
    assert set(RefundRequest.objects.values_list("status", flat=True)) == {RefundRequest.Status.APPROVED}
    assert not AuditEntry.objects.filter(action="payout_batch.build").exists()
    assert system_total(LedgerAccount.Kind.PAYOUT_CLEARING) == total
    assert ledger_mismatches() == []

    assert len(payout_batch_build_task()) == 2
    assert payout_batch_build_task() == []

    assert_every_refund_batched_once(refunds)
    approver = finance_user()
    for batch in PayoutBatch.objects.all():
        payout_batch_export(batch=payout_batch_approve(batch=batch, approved_by=approver), exported_by=approver)
    assert system_total(LedgerAccount.Kind.PAYOUT_SENT) == total
    assert system_total(LedgerAccount.Kind.PAYOUT_CLEARING) == 0
    assert Payout.objects.filter(ledger_transaction__isnull=False).values("ledger_transaction").distinct().count() == (
        len(refunds)
    )
    assert ledger_mismatches() == []
    call_command("ledger_check")


# --- the meal deadline job -----------------------------------------------------------------------


def assert_every_order_charged_once(day: SchoolDay, holder_ids: list[int]) -> None:
    orders = list(MealOrder.objects.filter(school_day=day).values_list("status", "ledger_transaction_id"))
    assert {status for status, _txn in orders} == {MealOrder.Status.PAID}
    assert len({txn for _status, txn in orders}) == len(orders) == len(holder_ids)
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MEAL).count() == len(holder_ids)
    assert set(main_balances(holder_ids).values()) == {MAIN - MEAL_PRICE}
    day.refresh_from_db()
    assert day.orders_closed_at is not None
    assert ledger_mismatches() == []


def holder_of_order(day: SchoolDay, position: int) -> int:
    return int(MealOrder.objects.filter(school_day=day).order_by("pk").values_list("holder_id", flat=True)[position])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_meal_deadline_job_killed_mid_work_keeps_the_paid_chunks_and_the_next_run_charges_the_rest_once(
    tmp_path: Path,
) -> None:
    day = meal_day_with_orders(4 * MEAL_CHUNK)
    holder_ids = list(MealOrder.objects.filter(school_day=day).values_list("holder_id", flat=True))
    # A cardholder of the third chunk is busy (a sale at the till holds the accounts): two chunks
    # are paid and committed, the third waits.
    busy = holder_of_order(day, 2 * MEAL_CHUNK + 10)
    log = tmp_path / "deadline.log"

    with raw_connect() as observer:
        with (
            lock_held(
                "SELECT 1 FROM payments_ledgeraccount WHERE holder_id = %(holder)s FOR UPDATE", {"holder": busy}
            ) as blocker,
            task_in_child("canteen.tasks.meal_deadlines_task", log) as child,
        ):
            backend = backend_blocked_by(observer, blocker, alive=lambda: alive(child, log))
            assert MealOrder.objects.filter(school_day=day, status=MealOrder.Status.PAID).count() == 2 * MEAL_CHUNK
            killed(child)
        backend_gone(observer, backend)

    paid = MealOrder.objects.filter(school_day=day, status=MealOrder.Status.PAID)
    assert paid.count() == 2 * MEAL_CHUNK
    assert MealOrder.objects.filter(school_day=day, status=MealOrder.Status.ORDERED).count() == 2 * MEAL_CHUNK
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.MEAL).count() == 2 * MEAL_CHUNK
    paid_holders = set(paid.values_list("holder_id", flat=True))
    balances = main_balances(holder_ids)
    assert {balances[holder] for holder in paid_holders} == {MAIN - MEAL_PRICE}
    assert {balance for holder, balance in balances.items() if holder not in paid_holders} == {MAIN}
    day.refresh_from_db()
    assert day.orders_closed_at is None
    assert ledger_mismatches() == []

    assert meal_deadlines_task() == 1

    assert_every_order_charged_once(day, holder_ids)
    call_command("ledger_check")


# --- a real worker: the killed task's message comes back -----------------------------------------


@contextmanager
def celery_worker(queue: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker (prefork, one pool process) on the test database, reading `queue` on
    Redis. Tasks it queues itself run in place, so nothing is left on the broker."""
    command = [
        *(sys.executable, "-m", "celery", "-A", "cardsystem", "worker"),
        *("--pool=prefork", "--concurrency=1", "-Q", queue, "-n", f"{queue}@%h", "--loglevel=INFO"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    env = child_env(REDIS_URL=settings.REDIS_URL, CELERY_TASK_ALWAYS_EAGER="true")
    with process_running(command, env, log) as worker:
        try:
            yield worker
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)  # a warm shutdown: the broker gets back what it lent
                try:
                    worker.wait(timeout=WAIT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)


def pool_process(worker: subprocess.Popen[bytes]) -> int:
    """The worker's one pool process: the one that runs the task."""
    (child,) = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return int(child)


@pytest.fixture
def broker() -> Iterator[None]:
    """Tasks sent from this process go to Redis, not run in place (tests/conftest.py)."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


def task_on_worker_killed_once(
    *, task: str, lock: str, params: dict[str, Any], between: Callable[[], None], done: Callable[[], bool], log: Path
) -> None:
    """Send `task` to a real worker; once it waits for the lock `lock` takes, SIGKILL the pool
    process running it. The message must come back and the task run again: that run waits for the
    dead process's locks (its backend lives until the lock is released); `between` checks the
    database then. Returns once `done` holds."""
    queue = f"faults-{uuid.uuid4().hex[:12]}"
    try:
        with raw_connect() as observer, celery_worker(queue, log) as worker:
            with lock_held(lock, params) as blocker:
                app.send_task(task, queue=queue)
                first = backend_blocked_by(observer, blocker, alive=lambda: alive(worker, log))
                os.kill(pool_process(worker), signal.SIGKILL)
                backend_blocked_by(observer, first, alive=lambda: alive(worker, log), what="the task run again")
                between()
            backend_gone(observer, first)
            wait_until(done, f"{task} to finish")
    finally:
        # The queue was this test's alone: leave nothing of it on the broker.
        with redis.Redis.from_url(settings.REDIS_URL) as broker_client:
            broker_client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_in_the_payout_batch_build_gets_its_message_back_and_batches_every_refund_once(
    tmp_path: Path, broker: None
) -> None:
    refunds = approved_refunds_bulk(cpr=2 * PAYOUT_CHUNK + 100, iban=50)

    def nothing_built() -> None:
        assert PayoutBatch.objects.count() == Payout.objects.count() == 0

    task_on_worker_killed_once(
        task="payouts.payout_batch_build",
        lock="LOCK TABLE accounts_auditentry IN SHARE MODE",
        params={},
        between=nothing_built,
        done=lambda: not RefundRequest.objects.filter(status=RefundRequest.Status.APPROVED).exists(),
        log=tmp_path / "worker.log",
    )

    assert_every_refund_batched_once(refunds)
    assert ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_in_the_deadline_job_gets_its_message_back_and_the_job_finishes_once(
    tmp_path: Path, broker: None
) -> None:
    day = meal_day_with_orders(4 * MEAL_CHUNK)
    holder_ids = list(MealOrder.objects.filter(school_day=day).values_list("holder_id", flat=True))

    def two_chunks_paid() -> None:
        assert MealOrder.objects.filter(school_day=day, status=MealOrder.Status.PAID).count() == 2 * MEAL_CHUNK

    task_on_worker_killed_once(
        task="canteen.meal_deadlines",
        lock="SELECT 1 FROM payments_ledgeraccount WHERE holder_id = %(holder)s FOR UPDATE",
        params={"holder": holder_of_order(day, 2 * MEAL_CHUNK + 10)},
        between=two_chunks_paid,
        done=lambda: SchoolDay.objects.filter(pk=day.pk, orders_closed_at__isnull=False).exists(),
        log=tmp_path / "worker.log",
    )

    assert_every_order_charged_once(day, holder_ids)
    call_command("ledger_check")


# --- settings, and the tasks run twice -----------------------------------------------------------


def test_tasks_are_acknowledged_after_they_run_and_go_back_to_the_queue_when_their_worker_dies() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    for task in (payout_batch_build_task, meal_deadlines_task):
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True


@pytest.mark.django_db
def test_the_payout_batch_task_run_twice_in_a_row_builds_once() -> None:
    refunds = [approved_refund(amount_cents=1000 + n) for n in range(3)] + [approved_refund(iban=IBAN, cpr=None)]

    first = payout_batch_build_task()
    assert payout_batch_build_task() == []

    assert len(first) == 2
    assert_every_refund_batched_once(refunds)
    assert AuditEntry.objects.filter(action="payout_batch.build").count() == 2
    assert ledger_mismatches() == []


@pytest.mark.django_db
def test_the_meal_deadline_task_run_twice_in_a_row_charges_once() -> None:
    day = meal_day_with_orders(3)
    holder_ids = list(MealOrder.objects.filter(school_day=day).values_list("holder_id", flat=True))

    assert meal_deadlines_task() == 1
    assert meal_deadlines_task() == 0

    assert_every_order_charged_once(day, holder_ids)
