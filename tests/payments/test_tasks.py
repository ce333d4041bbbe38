import pytest
from celery.contrib.testing.worker import start_worker

from cardsystem.celery import app
from payments.ledger import holder_accounts_get
from payments.models import LedgerAccount
from payments.tasks import ledger_check_task
from tests.factories import holder_with_balances


@pytest.mark.django_db
def test_nightly_ledger_check_task_counts_mismatches() -> None:
    holder = holder_with_balances(extra=500)
    assert ledger_check_task() == 0
    LedgerAccount.objects.filter(pk=holder_accounts_get(holder_id=holder.pk).extra.pk).update(balance_cents=1)
    assert ledger_check_task() == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_ledger_check_task_runs_on_a_real_worker_through_redis(settings) -> None:  # type: ignore[no-untyped-def]
    holder_with_balances(extra=500)
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            assert ledger_check_task.delay().get(timeout=20) == 0
    finally:
        app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
