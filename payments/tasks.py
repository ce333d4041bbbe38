import logging

from celery import shared_task

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
