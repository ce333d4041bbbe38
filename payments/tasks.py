import logging

from celery import shared_task

from payments import payment_tasks  # noqa: F401  (registers the provider tasks with Celery)
from payments.alerts import low_balance_alerts_send, low_balance_sweep
from payments.auto_topups import auto_topups_trigger
from payments.selectors import ledger_mismatches

logger = logging.getLogger(__name__)


@shared_task(name="payments.ledger_check")
def ledger_check_task() -> int:
    """The nightly reconciliation: logs every mismatch loudly; returns how many there were."""
    mismatches = ledger_mismatches()
    for mismatch in mismatches:
        logger.error("ledger mismatch: %s", mismatch)
    if not mismatches:
        logger.info("ledger is consistent")
    return len(mismatches)


@shared_task(name="payments.balances_fell")
def balances_fell_task(account_ids: list[int]) -> int:
    """Queued by the ledger after a commit in which these cardholder balances fell below a watched level:
    starts the automatic top-ups due, then sends the low-balance e-mails; returns how many were mailed.

    Top-ups first, so that a failing mail server cannot hold back the money.
    """
    auto_topups_trigger(account_ids=account_ids)
    return low_balance_alerts_send(account_ids=account_ids)


@shared_task(name="payments.low_balance_sweep")
def low_balance_sweep_task() -> int:
    """Every 10 minutes (beat): the low-balance e-mails the ledger's hook missed; returns how many were sent."""
    _rearmed, mailed = low_balance_sweep()
    return mailed
