"""Bank return files applied to the payouts: received, completed (paid), rejected (back to the office)."""

import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.models import User
from payments.ledger import system_account
from payments.models import LedgerAccount
from payouts.batches.common import (
    CHUNK,
    OPEN_PAYOUT_STATUSES,
    batch_settle,
    finance_check,
    ledger_movements,
    payouts_update,
)
from payouts.models import Payout, PayoutBatch, RefundRequest, ReturnFileImport
from payouts.return_file import ReturnLine, return_file_parse


@dataclass
class _Outcome:
    """What one return file did."""

    received: int = 0
    completed: int = 0
    rejected: int = 0
    already: int = 0  # an answer for a payout already at or past it: nothing done
    not_exported: int = 0  # an answer for a payout that was never sent (pending, stopped)
    unknown: int = 0

    def as_summary(self, *, unknown_references: list[str], lines: int, settled: list[int]) -> dict[str, object]:
        return {
            "lines": lines,
            "received": self.received,
            "completed": self.completed,
            "rejected": self.rejected,
            "already_done": self.already,
            "not_exported": self.not_exported,
            "unknown": self.unknown,
            "unknown_references": unknown_references[:50],
            "batches_settled": settled,
        }


def return_file_import(*, content: bytes, filename: str, imported_by: User | None) -> ReturnFileImport:
    """Read a bank return file (`payouts.return_file`) and apply each answer.

    Idempotent: the same file again (by its SHA-256) returns the first import and changes nothing;
    an answer already applied (a payout already completed) is not applied again. Completed: the
    money moves from payouts sent to the bank and the refund is paid. Rejected (code 7: no NemKonto,
    9: bank error): the money goes back to payout clearing and the refund back to the office as
    returned. A batch whose payouts are all final is settled.
    """
    if imported_by is not None:
        finance_check(imported_by)
    digest = hashlib.sha256(content).hexdigest()
    existing = ReturnFileImport.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    lines = return_file_parse(content)
    try:
        return _return_file_apply(lines=lines, digest=digest, filename=filename[:200], imported_by=imported_by)
    except IntegrityError:
        # The same file imported at the same moment by somebody else: theirs counts.
        existing = ReturnFileImport.objects.filter(sha256=digest).first()
        if existing is None:
            raise
        return existing


def _return_file_apply(
    *, lines: list[ReturnLine], digest: str, filename: str, imported_by: User | None
) -> ReturnFileImport:
    references = sorted({line.reference for line in lines})
    outcome = _Outcome()
    unknown: list[str] = []
    with transaction.atomic(durable=True):
        record = ReturnFileImport.objects.create(sha256=digest, filename=filename, imported_by=imported_by)
        batch_ids: set[int] = set()
        for start in range(0, len(references), CHUNK):
            batch_ids.update(
                Payout.objects.filter(reference__in=references[start : start + CHUNK]).values_list(
                    "batch_id", flat=True
                )
            )
        # Batches first, then payouts: the order the export and a stop lock them in.
        batches = {b.pk: b for b in PayoutBatch.objects.select_for_update().filter(pk__in=batch_ids).order_by("pk")}
        payouts: dict[str, tuple[int, int, int, str, int]] = {}  # reference: (id, batch, refund, status, amount)
        for start in range(0, len(references), CHUNK):
            for pk, reference, batch_id, refund_id, status, amount in (
                Payout.objects.select_for_update()
                .filter(reference__in=references[start : start + CHUNK])
                .order_by("pk")
                .values_list("pk", "reference", "batch_id", "refund_id", "status", "amount_cents")
            ):
                payouts[reference] = (pk, batch_id, refund_id, status, amount)

        changed: dict[int, tuple[str, str, str]] = {}  # payout id: (status, code, text)
        completed: list[tuple[int, int]] = []
        rejected: list[tuple[int, int]] = []
        paid_refunds: list[int] = []
        returned_refunds: list[int] = []
        for line in lines:
            found = payouts.get(line.reference)
            if found is None:
                outcome.unknown += 1
                unknown.append(line.reference)
                continue
            pk, batch_id, refund_id, status, amount = found
            if status in (Payout.Status.PENDING, Payout.Status.STOPPED):
                outcome.not_exported += 1
                continue
            if status in (Payout.Status.COMPLETED, Payout.Status.REJECTED) or (
                line.status == Payout.Status.RECEIVED and status == Payout.Status.RECEIVED
            ):
                outcome.already += 1
                continue
            if line.status == Payout.Status.RECEIVED:
                new = (Payout.Status.RECEIVED, "", "")
                outcome.received += 1
            elif line.status == Payout.Status.COMPLETED:
                new = (Payout.Status.COMPLETED, "", "")
                completed.append((pk, amount))
                paid_refunds.append(refund_id)
                outcome.completed += 1
            else:
                new = (Payout.Status.REJECTED, line.code, line.text)
                rejected.append((pk, amount))
                returned_refunds.append(refund_id)
                outcome.rejected += 1
            changed[pk] = new
            payouts[line.reference] = (pk, batch_id, refund_id, new[0], amount)

        sent = system_account(kind=LedgerAccount.Kind.PAYOUT_SENT)
        reason = f"Return file {filename}"
        txns: dict[int, int] = {}
        if completed:
            bank = system_account(kind=LedgerAccount.Kind.BANK)
            ids = ledger_movements(pairs=completed, debit=sent, credit=bank, created_by=imported_by, reason=reason)
            txns.update(zip((pk for pk, _a in completed), ids, strict=True))
        if rejected:
            clearing = system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING)
            ledger_movements(pairs=rejected, debit=sent, credit=clearing, created_by=imported_by, reason=reason)
        payouts_update(
            columns=("status", "return_code", "return_text"),
            rows=[(pk, str(status), code, note[:200]) for pk, (status, code, note) in sorted(changed.items())],
        )
        for refund_ids, status in (
            (paid_refunds, RefundRequest.Status.PAID),
            (returned_refunds, RefundRequest.Status.RETURNED),
        ):
            for start in range(0, len(refund_ids), CHUNK):
                RefundRequest.objects.filter(
                    pk__in=refund_ids[start : start + CHUNK], status=RefundRequest.Status.IN_BATCH
                ).update(status=status)

        settled: list[int] = []
        for batch in batches.values():
            open_left = Payout.objects.filter(batch=batch, status__in=OPEN_PAYOUT_STATUSES).exists()
            if batch.status in (PayoutBatch.Status.EXPORTED, PayoutBatch.Status.SENT) and not open_left:
                batch_settle(batch, actor=imported_by, why=f"return file {filename}")
                settled.append(batch.pk)
        record.summary = outcome.as_summary(unknown_references=unknown, lines=len(lines), settled=settled)
        record.save(update_fields=["summary"])
        audit_record(actor=imported_by, action="payout_return.import", target=record, details=record.summary)
    return record
