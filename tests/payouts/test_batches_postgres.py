"""Payout batches under real row locks (PostgreSQL): two approvals racing, one wins; two builds
racing, no refund in two batches; a stop racing the export, never both."""

from typing import Any

import pytest

from payments.models import LedgerAccount
from payments.selectors import ledger_mismatches
from payouts.batches import (
    BatchStatusConflict,
    PayoutNotPending,
    payout_batch_approve,
    payout_batch_build,
    payout_batch_export,
    payout_stop,
)
from payouts.models import Payout, PayoutBatch, RefundRequest
from tests.payments.test_ledger_postgres import race
from tests.payouts.batch_factories import approved_refund, finance_user, system_total

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_approvals_racing_one_wins() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user())
    approvers = [finance_user(), finance_user()]

    def approve(i: int) -> Any:
        return payout_batch_approve(batch=PayoutBatch.objects.get(pk=batch.pk), approved_by=approvers[i])

    results = race(2, approve)
    won = [result for result in results if isinstance(result, PayoutBatch)]
    lost = [result for result in results if isinstance(result, BatchStatusConflict)]
    assert (len(won), len(lost)) == (1, 1), results
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.APPROVED
    assert batch.approved_by_id == won[0].approved_by_id


def test_two_builds_racing_put_no_refund_in_two_batches() -> None:
    refunds = [approved_refund() for _ in range(20)]
    builders = [finance_user(), finance_user()]

    def build(i: int) -> Any:
        return payout_batch_build(built_by=builders[i])

    results = race(2, build)
    assert not [result for result in results if isinstance(result, Exception)], results
    assert sorted(len(result) for result in results) == [0, 1]
    assert Payout.objects.count() == len(refunds)
    assert Payout.objects.values("refund_id").distinct().count() == len(refunds)


def test_a_stop_racing_the_export_either_stops_or_is_refused() -> None:
    approved_refund(amount_cents=1000)
    raced = approved_refund(amount_cents=3000)
    (batch,) = payout_batch_build(built_by=finance_user())
    payout_batch_approve(batch=batch, approved_by=finance_user())
    payout = batch.payouts.get(refund=raced)
    users = [finance_user(), finance_user()]

    def act(i: int) -> Any:
        if i == 0:
            return payout_batch_export(batch=PayoutBatch.objects.get(pk=batch.pk), exported_by=users[0])
        return payout_stop(payout=Payout.objects.get(pk=payout.pk), stopped_by=users[1], reason="Race")

    export_result, stop_result = race(2, act)
    assert not isinstance(export_result, Exception), export_result
    payout.refresh_from_db()
    raced.refresh_from_db()
    if isinstance(stop_result, PayoutNotPending):
        assert payout.status == Payout.Status.EXPORTED
        assert system_total(LedgerAccount.Kind.PAYOUT_SENT) == 4000
    else:
        assert payout.status == Payout.Status.STOPPED
        assert raced.status == RefundRequest.Status.APPROVED
        assert system_total(LedgerAccount.Kind.PAYOUT_SENT) == 1000
    assert ledger_mismatches() == []
