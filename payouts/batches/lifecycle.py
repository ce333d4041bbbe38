"""A batch's life: build, approve (four eyes), stop a payment, export, mark sent."""

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from cardsystem.errors import InvalidRequest
from payments.ledger import system_account
from payments.models import LedgerAccount
from payouts.batch_files import EXPORT_ACTION, BatchFile, batch_file_validate, batch_files_render
from payouts.batches.common import (
    OPEN_PAYOUT_STATUSES,
    REFERENCE_PREFIX,
    BatchStatusConflict,
    PayoutNotPending,
    SameUser,
    batch_copy,
    batch_lock,
    batch_settle,
    chunks,
    finance_check,
    ledger_movements,
    payouts_update,
)
from payouts.models import PayeeKind, Payout, PayoutBatch, RefundRequest


def payment_date_next(*, now: dt.datetime | None = None) -> dt.date:
    """The next weekday after today (the deployment's time zone): a batch sent by 06:00 is on the
    payees' accounts the next day [NK]. Bank holidays are the bank's to move."""
    day = timezone.localtime(now or timezone.now()).date() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def payout_batch_build(*, built_by: User | None = None, payment_date: dt.date | None = None) -> list[PayoutBatch]:
    """Put every approved refund that has no payout on its way into a new batch: one NemKonto batch
    for the CPR payees, one SEPA batch for the IBAN payees (either left out when there is none).

    `built_by` is None when the schedule builds. Returns the new batches (none: nothing to pay).
    Two builds at once never take the same refund: the refunds are locked, and the second build
    finds them in a batch once the first commits.
    """
    if built_by is not None:
        finance_check(built_by)
    payment_date = payment_date or payment_date_next()
    batches: list[PayoutBatch] = []
    with transaction.atomic(durable=True):
        due = list(
            RefundRequest.objects.select_for_update()
            .filter(status=RefundRequest.Status.APPROVED, amount_cents__gt=0)
            .exclude(payouts__status__in=OPEN_PAYOUT_STATUSES)
            .order_by("pk")
            .values_list("pk", "payee_kind", "amount_cents")
        )
        for payee_kind, batch_kind in (
            (PayeeKind.CPR, PayoutBatch.Kind.NEMKONTO),
            (PayeeKind.IBAN, PayoutBatch.Kind.SEPA),
        ):
            # amount_cents__gt=0 above: never None here.
            refunds = [(pk, amount or 0) for pk, kind, amount in due if kind == payee_kind]
            if refunds:
                batches.append(
                    _batch_create(kind=batch_kind, refunds=refunds, built_by=built_by, payment_date=payment_date)
                )
    return batches


def _batch_create(
    *, kind: str, refunds: Sequence[tuple[int, int]], built_by: User | None, payment_date: dt.date
) -> PayoutBatch:
    batch = PayoutBatch.objects.create(kind=kind, built_by=built_by, payment_date=payment_date)
    prefix = f"{REFERENCE_PREFIX[kind]}{batch.pk}-"
    sequence = 0
    for chunk in chunks(refunds):
        payouts = []
        for refund_id, amount in chunk:
            sequence += 1
            payouts.append(
                Payout(batch=batch, refund_id=refund_id, amount_cents=amount, reference=f"{prefix}{sequence}")
            )
        Payout.objects.bulk_create(payouts)
        RefundRequest.objects.filter(pk__in=[refund_id for refund_id, _amount in chunk]).update(
            status=RefundRequest.Status.IN_BATCH
        )
    total = sum(amount for _pk, amount in refunds)
    audit_record(
        actor=built_by,
        action="payout_batch.build",
        target=batch,
        details={
            "kind": kind,
            "payment_date": payment_date.isoformat(),
            "payouts": len(refunds),
            "total_cents": total,
            "by_schedule": built_by is None,
        },
    )
    return batch


def payout_batch_approve(*, batch: PayoutBatch, approved_by: User) -> PayoutBatch:
    """Approve a draft batch, by another finance user than its builder (four eyes).

    Two approvals at once: one wins, the other finds the batch approved and gets
    BatchStatusConflict (the same user approving again gets the batch back, unchanged).
    """
    finance_check(approved_by)
    with transaction.atomic(durable=True):
        locked = batch_lock(batch)
        if locked.status == PayoutBatch.Status.APPROVED and locked.approved_by_id == approved_by.pk:
            return batch_copy(locked, batch)
        if locked.status != PayoutBatch.Status.DRAFT:
            raise BatchStatusConflict(
                _("This batch is %(status)s: only a draft is approved.") % {"status": locked.get_status_display()}
            )
        if locked.built_by_id == approved_by.pk:
            raise SameUser()
        pending = Payout.objects.filter(batch=locked, status=Payout.Status.PENDING).aggregate(
            count=Count("pk"), total=Coalesce(Sum("amount_cents"), 0)
        )
        count, total = pending["count"], pending["total"]
        locked.status = PayoutBatch.Status.APPROVED
        locked.approved_by = approved_by
        locked.approved_at = timezone.now()
        locked.save(update_fields=["status", "approved_by", "approved_at"])
        audit_record(
            actor=approved_by,
            action="payout_batch.approve",
            target=locked,
            details={"payouts": count, "total_cents": total, "built_by": locked.built_by_id},
        )
    return batch_copy(locked, batch)


def payout_stop(*, payout: Payout, stopped_by: User, reason: str) -> Payout:
    """Stop a pending payment before its batch is exported [NK]: the refund is approved again and
    goes into the next batch. A batch left with no pending payment is settled (nothing to pay)."""
    finance_check(stopped_by)
    reason = reason.strip()
    if not reason:
        raise InvalidRequest(fields={"reason": [_("Say why the payment is stopped.")]})
    with transaction.atomic(durable=True):
        # The batch first, as the export locks it: a stop and an export never cross.
        batch = PayoutBatch.objects.select_for_update().get(pk=payout.batch_id)
        locked = Payout.objects.select_for_update().get(pk=payout.pk)
        if locked.status == Payout.Status.STOPPED:
            return locked
        if locked.status != Payout.Status.PENDING or batch.status not in (
            PayoutBatch.Status.DRAFT,
            PayoutBatch.Status.APPROVED,
        ):
            raise PayoutNotPending()
        locked.status = Payout.Status.STOPPED
        locked.save(update_fields=["status", "updated_at"])
        RefundRequest.objects.filter(pk=locked.refund_id, status=RefundRequest.Status.IN_BATCH).update(
            status=RefundRequest.Status.APPROVED
        )
        audit_record(
            actor=stopped_by,
            action="payout.stop",
            target=locked,
            reason=reason,
            details={"reference": locked.reference, "batch": batch.pk, "amount_cents": locked.amount_cents},
        )
        if not Payout.objects.filter(batch=batch, status=Payout.Status.PENDING).exists():
            batch_settle(batch, actor=stopped_by, why="every payment stopped")
    payout.status = locked.status
    return locked


def payout_batch_export(*, batch: PayoutBatch, exported_by: User | None = None) -> list[BatchFile]:
    """Export an approved batch: its pending payouts are written to the bank's files (checked
    against their schemas) and their money moves from payout clearing to payouts sent.

    Returns the files. Exporting again returns the same files and moves nothing.
    """
    if exported_by is not None:
        finance_check(exported_by)
    with transaction.atomic(durable=True):
        locked = batch_lock(batch)
        if locked.status in (PayoutBatch.Status.EXPORTED, PayoutBatch.Status.SENT, PayoutBatch.Status.SETTLED):
            batch_copy(locked, batch)
            return batch_files_render(batch=locked)
        if locked.status != PayoutBatch.Status.APPROVED:
            raise BatchStatusConflict(_("Only an approved batch is exported: approve it first."))
        pending = list(
            Payout.objects.filter(batch=locked, status=Payout.Status.PENDING)
            .order_by("pk")
            .values_list("pk", "amount_cents")
        )
        txn_ids = ledger_movements(
            pairs=pending,
            debit=system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING),
            credit=system_account(kind=LedgerAccount.Kind.PAYOUT_SENT),
            created_by=exported_by,
            reason=f"Payout batch #{locked.pk} exported",
        )
        payouts_update(
            columns=("status", "ledger_transaction_id"),
            rows=[(pk, Payout.Status.EXPORTED.value, txn) for (pk, _amount), txn in zip(pending, txn_ids, strict=True)],
        )
        locked.status = PayoutBatch.Status.EXPORTED
        locked.exported_at = timezone.now()
        locked.save(update_fields=["status", "exported_at"])
        files = batch_files_render(batch=locked)
        for file in files:
            # A file the bank would refuse is never exported: this raises, and everything rolls back.
            batch_file_validate(batch=locked, file=file)
        audit_record(
            actor=exported_by,
            action=EXPORT_ACTION,
            target=locked,
            details={
                "payouts": len(pending),
                "total_cents": sum(amount for _pk, amount in pending),
                "files": [file.as_record() for file in files],
            },
        )
    batch_copy(locked, batch)
    return files


def payout_batch_mark_sent(*, batch: PayoutBatch, sent_by: User) -> PayoutBatch:
    """Record that the exported files went to the bank."""
    finance_check(sent_by)
    with transaction.atomic(durable=True):
        locked = batch_lock(batch)
        if locked.status in (PayoutBatch.Status.SENT, PayoutBatch.Status.SETTLED):
            return batch_copy(locked, batch)
        if locked.status != PayoutBatch.Status.EXPORTED:
            raise BatchStatusConflict(_("Only an exported batch is sent: export it first."))
        locked.status = PayoutBatch.Status.SENT
        locked.sent_at = timezone.now()
        locked.save(update_fields=["status", "sent_at"])
        audit_record(actor=sent_by, action="payout_batch.send", target=locked)
    return batch_copy(locked, batch)
