"""Payout batches [NK]: build, approve (four eyes), stop, export, send, settle by return files, trace.

A batch holds payouts of one kind: NemKonto for CPR payees, SEPA for IBAN payees. Its states:

    draft ──approve──▶ approved ──export──▶ exported ──mark sent──▶ sent ──(all payouts final)──▶ settled

and a payout's: pending (─stop─▶ stopped) ──export──▶ exported ─▶ received ─▶ completed | rejected.
Stopped, completed and rejected are final; a batch whose payouts are all final is settled (also a
batch whose every payout was stopped before the export, or one answered by the bank before anybody
marked it sent).

Who: the schedule (Celery beat at PAYOUT_CUTOFF, `payouts.tasks`) or a finance user builds; another
finance user approves (four eyes: never the builder; the database's check constraint is the
backstop); finance stops, exports, marks sent and imports return files. Every service that a person
calls checks the person holds the finance or administrator role, and writes an audit entry.

The ledger (credit-positive, see `payments.models`): approving a refund moved its amount from the
cardholder's balance to PAYOUT_CLEARING (`payouts.refunds`). Here, one movement per payout:
export moves PAYOUT_CLEARING → PAYOUT_SENT; a completed payout PAYOUT_SENT → BANK (the refund is
paid); a rejected one PAYOUT_SENT → PAYOUT_CLEARING (the refund goes back to the office as returned,
to correct the payee or pay another way, and a corrected refund is paid in a later batch).

Files: `payouts.batch_files` (not stored, written again identically; their digests are in the
export's audit entry). Return files: `payouts.return_file`.
"""

from payouts.batches.common import (
    CHUNK,
    FINAL_PAYOUT_STATUSES,
    FINANCE_ROLES,
    OPEN_PAYOUT_STATUSES,
    BatchStatusConflict,
    NotFinanceStaff,
    PayoutNotPending,
    SameUser,
    finance_user_is,
)
from payouts.batches.lifecycle import (
    payment_date_next,
    payout_batch_approve,
    payout_batch_build,
    payout_batch_export,
    payout_batch_mark_sent,
    payout_stop,
)
from payouts.batches.returns import return_file_import
from payouts.batches.trace import (
    PayoutTraceRow,
    iban_masked,
    payee_masked,
    payout_cpr_matches,
    payout_cpr_search,
    payout_status_counts,
    payout_trace,
)

__all__ = [
    "CHUNK",
    "FINAL_PAYOUT_STATUSES",
    "FINANCE_ROLES",
    "OPEN_PAYOUT_STATUSES",
    "BatchStatusConflict",
    "NotFinanceStaff",
    "PayoutNotPending",
    "PayoutTraceRow",
    "SameUser",
    "finance_user_is",
    "iban_masked",
    "payee_masked",
    "payment_date_next",
    "payout_batch_approve",
    "payout_batch_build",
    "payout_batch_export",
    "payout_batch_mark_sent",
    "payout_cpr_matches",
    "payout_cpr_search",
    "payout_status_counts",
    "payout_stop",
    "payout_trace",
    "return_file_import",
]
