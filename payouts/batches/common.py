"""What the payout batch services share: who may act, the errors, the locks, the bulk writes.

Internal to `payouts.batches`: import the services from the package.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.audit import audit_record
from accounts.models import Role, StaffMembership, User
from cardsystem.errors import DomainError
from payments.ledger import Leg, movements_post_batch
from payments.models import LedgerAccount, LedgerTransaction
from payouts.models import Payout, PayoutBatch

# Who works on payout batches [NK]: finance staff, and administrators.
FINANCE_ROLES = (Role.FINANCE, Role.ADMIN)
# A refund with a payout in one of these is on its way: it is not put in another batch.
OPEN_PAYOUT_STATUSES = (Payout.Status.PENDING, Payout.Status.EXPORTED, Payout.Status.RECEIVED)
FINAL_PAYOUT_STATUSES = (Payout.Status.STOPPED, Payout.Status.COMPLETED, Payout.Status.REJECTED)
# Rows per statement and per ledger batch: keeps memory flat for batches of any size.
CHUNK = 1000
# A CPR number is searched for by decrypting candidates; beyond this many, narrow the search.
TRACE_CPR_CANDIDATES_MAX = 20_000
TRACE_LIMIT = 200
REFERENCE_PREFIX: dict[str, str] = {PayoutBatch.Kind.NEMKONTO: "NK", PayoutBatch.Kind.SEPA: "SE"}


class NotFinanceStaff(DomainError):
    code = "not_finance_staff"
    status = 403
    default_message = gettext_lazy("Only finance staff work on payout batches.")


class SameUser(DomainError):
    code = "same_user"
    status = 409
    default_message = gettext_lazy(
        "A payout batch is approved by another finance user than the one who built it (four eyes)."
    )


class BatchStatusConflict(DomainError):
    code = "batch_status_conflict"
    status = 409
    default_message = gettext_lazy("The payout batch is not in a state that allows this.")


class PayoutNotPending(DomainError):
    code = "payout_not_pending"
    status = 409
    default_message = gettext_lazy("Only a pending payment can be stopped, before its batch is exported.")


# --- who -----------------------------------------------------------------------------------------


def finance_user_is(*, user: User) -> bool:
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    return StaffMembership.objects.filter(user=user, role__in=FINANCE_ROLES).exists()


def finance_check(user: User) -> None:
    if not finance_user_is(user=user):
        raise NotFinanceStaff()


# --- shared steps --------------------------------------------------------------------------------


def chunks(items: Sequence[tuple[int, int]], size: int = CHUNK) -> Iterable[Sequence[tuple[int, int]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_lock(batch: PayoutBatch) -> PayoutBatch:
    return PayoutBatch.objects.select_for_update().get(pk=batch.pk)


def batch_copy(source: PayoutBatch, target: PayoutBatch) -> PayoutBatch:
    """Bring the caller's object up to date with the row as locked and changed."""
    for field in PayoutBatch._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def payouts_update(*, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Set `columns` of many payouts, one statement per chunk: each row is (payout id, *values)."""
    table = Payout._meta.db_table
    names = ", ".join(["id", *columns])
    assignments = ", ".join([f"{column} = v.{column}" for column in columns] + ["updated_at = %s"])
    now = timezone.now()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"] * len(chunk))
            # A named VALUES list in a WITH clause: the one form PostgreSQL and SQLite both take.
            # Only column names of ours and placeholders go into the text.
            sql = f"WITH v({names}) AS (VALUES {placeholders}) UPDATE {table} SET {assignments} "  # noqa: S608
            sql += f"FROM v WHERE {table}.id = v.id"
            cursor.execute(sql, [*(value for row in chunk for value in row), now])


def ledger_movements(
    *,
    pairs: Sequence[tuple[int, int]],
    debit: LedgerAccount,
    credit: LedgerAccount,
    created_by: User | None,
    reason: str,
) -> list[int]:
    """One ledger movement per (payout id, amount): `debit` gives, `credit` gets. Returns the
    transaction ids in the order of `pairs`."""
    txn_ids: list[int] = []
    for chunk in chunks(pairs):
        txns = movements_post_batch(
            kind=LedgerTransaction.Kind.REFUND,
            movements=[[Leg(debit, -amount), Leg(credit, amount)] for _pk, amount in chunk],
            created_by=created_by,
            reason=reason[:300],
        )
        txn_ids += [txn.pk for txn in txns]
    return txn_ids


def batch_settle(batch: PayoutBatch, *, actor: User | None, why: str) -> None:
    """Settle a locked batch whose payouts are all final."""
    now = timezone.now()
    batch.status = PayoutBatch.Status.SETTLED
    batch.settled_at = now
    fields = ["status", "settled_at"]
    if batch.exported_at is not None and batch.sent_at is None:
        # The bank answered for it, so it was sent, whether or not somebody said so.
        batch.sent_at = now
        fields.append("sent_at")
    batch.save(update_fields=fields)
    audit_record(actor=actor, action="payout_batch.settle", target=batch, details={"why": why})
