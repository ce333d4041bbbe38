"""Celery tasks of the payouts: the payout batch built at the cut-off.

Beat runs `payouts.payout_batch_build` every day at PAYOUT_CUTOFF (default 05:30, before NemKonto's
06:00 deadline [NK]). Running it twice builds nothing more: the second run finds no approved refund
left outside a batch.
"""

from celery import shared_task

from payouts.batches import payout_batch_build


@shared_task(name="payouts.payout_batch_build")
def payout_batch_build_task() -> list[int]:
    """Build the day's batches (no builder: a finance user approves); returns their ids."""
    return [batch.pk for batch in payout_batch_build(built_by=None)]
