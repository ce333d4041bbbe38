"""The only module that writes ledger rows or balances.

A movement is one `LedgerTransaction` with entries that sum to zero. Cardholder accounts are
locked (SELECT ... FOR UPDATE, in primary-key order so two movements never deadlock), their
balances re-read under the lock, checked against their floors, and updated with F() expressions.
System accounts are never locked or updated: their balance is the sum of their entries.
"""

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from accounts.models import Institution, User
from cards.models import Cardholder
from cardsystem.rawsql import adapt_datetime, column_count, instance, select_columns
from outbox.services import task_send
from payments.errors import DebtLimitReached, InsufficientFunds, LedgerInvariantBroken
from payments.models import LedgerAccount, LedgerTransaction

Kind = LedgerAccount.Kind
# One line per committed movement (or batch): ids, kind and amount, never a name or personal number,
# so operations can follow the money in the logs without personal data (route or mute this logger).
money_log = logging.getLogger("cardsystem.money")
# What a movement re-reads under the lock: the balance and floor it checks, and the levels it watches.
_LOCKED_STATE = ("balance_cents", "floor_cents", "low_balance_alerted", "alert_below_cents", "watch_below_cents")


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    amount_cents: int


@dataclass(frozen=True)
class SqlFact:
    """A scalar SQL expression (with its parameters) read in the same statement as the accounts."""

    sql: str
    params: tuple[Any, ...] = ()


@dataclass
class HolderAccounts:
    main: LedgerAccount
    extra: LedgerAccount
    # Values the caller asked to read in the same query (see `holder_accounts_lock`).
    facts: dict[str, Any] = field(default_factory=dict)


def _holder_accounts(*, holder_id: int, facts: Mapping[str, SqlFact] | None, lock: bool) -> HolderAccounts:
    facts = facts or {}
    columns = select_columns(LedgerAccount, "a")
    extra_sql = "".join(f", ({fact.sql})" for fact in facts.values())
    params: list[Any] = [p for fact in facts.values() for p in fact.params]
    sql = f"SELECT {columns}{extra_sql} FROM payments_ledgeraccount a WHERE a.holder_id = %s ORDER BY a.id"  # noqa: S608
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, holder_id])
        rows = cursor.fetchall()
    width = column_count(LedgerAccount)
    accounts = {account.kind: account for account in (instance(LedgerAccount, row[:width]) for row in rows)}
    values = dict(zip(facts, rows[0][width:], strict=True)) if rows else {}
    return HolderAccounts(main=accounts[Kind.MAIN], extra=accounts[Kind.EXTRA], facts=values)


def holder_accounts_open(*, holder: Cardholder) -> HolderAccounts:
    """Open a new cardholder's main and extra accounts (idempotent)."""
    floor = -holder.institution.debt_limit_cents
    main, _ = LedgerAccount.objects.get_or_create(holder=holder, kind=Kind.MAIN, defaults={"floor_cents": floor})
    extra, _ = LedgerAccount.objects.get_or_create(holder=holder, kind=Kind.EXTRA)
    return HolderAccounts(main=main, extra=extra)


def holder_accounts_lock(*, holder_id: int, facts: Mapping[str, SqlFact] | None = None) -> HolderAccounts:
    """Lock a cardholder's accounts for the rest of the transaction and read their balances.

    `facts` (e.g. what the card spent today) are read in the same statement, after the lock is
    granted, so they cannot change under the caller's feet. One round trip: it is on the till's path.
    """
    if not connection.in_atomic_block:
        raise LedgerInvariantBroken("Accounts can only be locked inside a transaction")
    return _holder_accounts(holder_id=holder_id, facts=facts, lock=True)


def holders_accounts_lock(*, holder_ids: Iterable[int]) -> dict[int, HolderAccounts]:
    """Lock many cardholders' accounts at once, in primary-key order like every movement (one query),
    for batch work such as binding a day's meal orders."""
    if not connection.in_atomic_block:
        raise LedgerInvariantBroken("Accounts can only be locked inside a transaction")
    ids = sorted(set(holder_ids))
    locked: dict[int, dict[str, LedgerAccount]] = {}
    for account in LedgerAccount.objects.select_for_update().filter(holder_id__in=ids).order_by("pk"):
        assert account.holder_id is not None
        locked.setdefault(account.holder_id, {})[account.kind] = account
    return {
        holder_id: HolderAccounts(main=kinds[Kind.MAIN], extra=kinds[Kind.EXTRA]) for holder_id, kinds in locked.items()
    }


def holder_accounts_get(*, holder_id: int, facts: Mapping[str, SqlFact] | None = None) -> HolderAccounts:
    """Read a cardholder's balances without locking (for display), with `facts` in the same statement."""
    return _holder_accounts(holder_id=holder_id, facts=facts, lock=False)


_system_accounts: dict[tuple[str, int | None], LedgerAccount] = {}


def system_account(*, kind: str, institution: Institution | None = None) -> LedgerAccount:
    """A system account, created on first use; remembered per process since it never changes."""
    cache_key = (kind, institution.pk if institution else None)
    account = _system_accounts.get(cache_key)
    if account is None:
        found, _ = LedgerAccount.objects.get_or_create(kind=kind, institution=institution, holder=None)
        # Remembered only once committed: a row of a transaction that rolls back never existed.
        transaction.on_commit(lambda: _system_accounts.setdefault(cache_key, found))
        account = found
    return account


def system_account_cache_clear() -> None:
    _system_accounts.clear()


_UPDATE = "UPDATE payments_ledgeraccount SET balance_cents = balance_cents + %s WHERE id = %s"
_UPDATE_REARM = (
    "UPDATE payments_ledgeraccount SET balance_cents = balance_cents + %s, low_balance_alerted = FALSE WHERE id = %s"
)


def _legs_check(legs: Sequence[Leg]) -> None:
    if len(legs) < 2 or sum(leg.amount_cents for leg in legs) != 0:
        raise LedgerInvariantBroken(f"Legs must be two or more and sum to zero: {legs!r}")
    if any(leg.amount_cents == 0 for leg in legs):
        raise LedgerInvariantBroken("A leg of zero moves nothing")


def _floors_check(holder_legs: Sequence[Leg]) -> None:
    """Refuse, before any write, a movement taking a balance below its floor (debt limit, or zero)."""
    for leg in holder_legs:
        account = leg.account
        if account.balance_cents + leg.amount_cents < account.floor_cents:
            if account.kind == Kind.MAIN and account.floor_cents < 0:
                raise DebtLimitReached()
            raise InsufficientFunds()


def _balances_apply(holder_legs: Sequence[Leg], fell: list[int], rearmed: set[int]) -> None:
    """Move the locked rows' balances in memory, noting level crossings (`fell`) and re-armed alerts."""
    for leg in holder_legs:
        account = leg.account
        before = account.balance_cents
        account.balance_cents = after = before + leg.amount_cents
        if leg.amount_cents < 0:
            # Both levels: below an automatic top-up's higher threshold, falling below the alert is a crossing too.
            watch, alert = account.watch_below_cents, account.alert_below_cents
            crossed = (watch is not None and before >= watch > after) or (alert is not None and before >= alert > after)
            if crossed and account.pk not in fell:
                fell.append(account.pk)
        elif account.low_balance_alerted and (account.alert_below_cents is None or after >= account.alert_below_cents):
            # Back at or above the alert level: the next fall below it sends an e-mail again.
            account.low_balance_alerted = False
            rearmed.add(account.pk)


def movement_post(
    *,
    kind: str,
    legs: Sequence[Leg],
    institution: Institution | None = None,
    created_by: User | None = None,
    reason: str = "",
    accounts_locked: bool = False,
) -> LedgerTransaction:
    """Record one balanced movement and update the cardholder balances it touches.

    With `accounts_locked` the caller promises it locked every cardholder account of the legs
    with `holder_accounts_lock` in this transaction (and checked what it needed under the lock);
    otherwise they are locked here. Raises InsufficientFunds or DebtLimitReached, before any write,
    if a balance would fall below its floor; the database's check constraint is the backstop.

    Levels (`payments.balance_watch`): a debit taking a balance from at or above a watched level to
    below it queues the task `payments.balances_fell` once the transaction commits (one for the whole
    movement); a credit bringing an alerted balance back to its alert level re-arms the e-mail in
    the same UPDATE. Both are judged from the locked rows, with no statement of their own.
    """
    if not connection.in_atomic_block:
        raise LedgerInvariantBroken("A movement must run inside a transaction")
    _legs_check(legs)

    holder_legs = [leg for leg in legs if leg.account.holder_id is not None]
    if holder_legs and not accounts_locked:
        ids = sorted({leg.account.pk for leg in holder_legs})
        fresh = {a.pk: a for a in LedgerAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        for leg in holder_legs:
            for name in _LOCKED_STATE:
                setattr(leg.account, name, getattr(fresh[leg.account.pk], name))
    _floors_check(holder_legs)

    txn = LedgerTransaction(kind=kind, institution=institution, created_by=created_by, reason=reason)
    fell: list[int] = []
    rearmed: set[int] = set()
    _balances_apply(holder_legs, fell, rearmed)
    # Fixed statements rather than ORM calls: this runs on every sale (cardsystem.rawsql).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_ledgertransaction (kind, created_at, institution_id, created_by_id, reason) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            [kind, adapt_datetime(txn.created_at), txn.institution_id, txn.created_by_id, reason],
        )
        txn.pk = cursor.fetchone()[0]
        rows = [
            (txn.pk, leg.account.pk, leg.amount_cents, leg.account.balance_cents if leg.account.holder_id else None)
            for leg in legs
        ]
        cursor.execute(
            "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents) VALUES "  # noqa: S608 - placeholders only
            + ", ".join(["(%s, %s, %s, %s)"] * len(rows)),
            [value for row in rows for value in row],
        )
        for leg in holder_legs:
            cursor.execute(
                _UPDATE_REARM if leg.account.pk in rearmed else _UPDATE,
                [leg.amount_cents, leg.account.pk],
            )
    if fell:
        # Only when a level was crossed: a sale that crosses nothing costs nothing more.
        transaction.on_commit(_balances_fell_queue(account_ids=fell), robust=True)
    _moved_log_on_commit(kind=kind, transaction_ids=[txn.pk], movements=[legs], institution=institution)
    txn._state.adding = False
    txn._state.db = connection.alias
    return txn


# Rows per multi-row statement of a batch (PostgreSQL takes up to 65,535 parameters).
_BATCH_ROWS = 1000


def movements_post_batch(
    *,
    kind: str,
    movements: Sequence[Sequence[Leg]],
    institution: Institution | None = None,
    created_by: User | None = None,
    reason: str = "",
) -> list[LedgerTransaction]:
    """Record many balanced movements at once, in a few statements instead of a few per movement.

    For batch jobs (the meal deadline): the caller has locked every cardholder account of the legs
    in this transaction (`holders_accounts_lock`). The same rules as `movement_post`, checked per
    movement in order against the running balances, before any write: one refusal (InsufficientFunds,
    DebtLimitReached) refuses the batch, so callers leave out what they judged refused. Returns the
    transactions in the order of `movements`.
    """
    if not connection.in_atomic_block:
        raise LedgerInvariantBroken("A movement must run inside a transaction")
    if not movements:
        return []
    touched: dict[int, LedgerAccount] = {}
    saved: dict[int, tuple[int, bool]] = {}
    for legs in movements:
        _legs_check(legs)
        for leg in legs:
            if leg.account.holder_id is not None:
                touched.setdefault(leg.account.pk, leg.account)
                saved.setdefault(leg.account.pk, (leg.account.balance_cents, leg.account.low_balance_alerted))
    fell: list[int] = []
    rearmed: set[int] = set()
    entry_rows: list[tuple[int, int, int | None]] = []  # (account, amount, balance after) per leg, in order
    try:
        for legs in movements:
            holder_legs = [leg for leg in legs if leg.account.holder_id is not None]
            _floors_check(holder_legs)
            _balances_apply(holder_legs, fell, rearmed)
            entry_rows += [
                (leg.account.pk, leg.amount_cents, leg.account.balance_cents if leg.account.holder_id else None)
                for leg in legs
            ]
    except Exception:
        for pk, (balance, alerted) in saved.items():  # nothing was written: put the rows back as read
            touched[pk].balance_cents, touched[pk].low_balance_alerted = balance, alerted
        raise

    txns = LedgerTransaction.objects.bulk_create(
        [
            LedgerTransaction(kind=kind, institution=institution, created_by=created_by, reason=reason)
            for _ in movements
        ],
        batch_size=_BATCH_ROWS,
    )
    rows: list[tuple[int, int, int, int | None]] = []
    position = 0
    for txn, legs in zip(txns, movements, strict=True):
        for account_id, amount, after in entry_rows[position : position + len(legs)]:
            rows.append((txn.pk, account_id, amount, after))
        position += len(legs)
    deltas = {pk: account.balance_cents - saved[pk][0] for pk, account in touched.items()}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _BATCH_ROWS):
            chunk = rows[start : start + _BATCH_ROWS]
            cursor.execute(
                "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents) "
                "VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(chunk)),
                [value for row in chunk for value in row],
            )
        changed = [(pk, delta) for pk, delta in sorted(deltas.items()) if delta]
        for start in range(0, len(changed), _BATCH_ROWS):
            pairs = changed[start : start + _BATCH_ROWS]
            cursor.execute(
                # A named VALUES list in a WITH clause: the one form PostgreSQL and SQLite both take.
                "WITH v(id, delta) AS (VALUES " + ", ".join(["(%s, %s)"] * len(pairs)) + ") "  # noqa: S608 - placeholders only
                "UPDATE payments_ledgeraccount SET balance_cents = balance_cents + v.delta "
                "FROM v WHERE payments_ledgeraccount.id = v.id",
                [value for pair in pairs for value in pair],
            )
        if rearmed:
            LedgerAccount.objects.filter(pk__in=sorted(rearmed)).update(low_balance_alerted=False)
    if fell:
        transaction.on_commit(_balances_fell_queue(account_ids=fell), robust=True)
    _moved_log_on_commit(kind=kind, transaction_ids=[t.pk for t in txns], movements=movements, institution=institution)
    return txns


@dataclass(frozen=True)
class MoneyMovedLog:
    """The on_commit callback writing a movement's log line (a class, so it can be told apart from the
    callbacks that queue work: a sale that crosses no level queues nothing)."""

    kind: str
    amount_cents: int
    transaction_ids: tuple[int, ...]
    institution_id: int | None

    def __call__(self) -> None:
        ids = self.transaction_ids
        money_log.info(
            "money moved: %s movement(s) of kind %s, %s minor units, from transaction %s",
            len(ids),
            self.kind,
            self.amount_cents,
            ids[0],
            extra={
                "money_kind": self.kind,
                "amount_cents": self.amount_cents,
                "transaction_ids": list(ids) if len(ids) <= 3 else [ids[0], ids[-1]],
                "movements": len(ids),
                "institution_id": self.institution_id,
            },
        )


def _moved_log_on_commit(
    *, kind: str, transaction_ids: list[int], movements: Sequence[Sequence[Leg]], institution: Institution | None
) -> None:
    """Log the movement once it is committed (a rolled-back one never happened)."""
    if not money_log.isEnabledFor(logging.INFO):
        return
    amount = sum(leg.amount_cents for legs in movements for leg in legs if leg.amount_cents > 0)
    institution_id = institution.pk if institution is not None else None
    transaction.on_commit(MoneyMovedLog(kind, amount, tuple(transaction_ids), institution_id))


def _balances_fell_queue(*, account_ids: list[int]) -> Callable[[], None]:
    """The on_commit callback queueing `payments.balances_fell`: a broker that does not take it leaves
    it in the outbox, published when the broker is back (robust: an eager task's error is only logged,
    never raised into the committed sale)."""

    def balances_fell_queue() -> None:
        # Imported here: payments.tasks may import services that import this module.
        from payments.tasks import balances_fell_task

        task_send(balances_fell_task, account_ids)

    return balances_fell_queue


def opening_balance_post(*, account: LedgerAccount, amount_cents: int, reason: str) -> LedgerTransaction:
    """Credit a cardholder balance from the corrections account (demo data, migrations from old systems)."""
    with transaction.atomic():
        return movement_post(
            kind=LedgerTransaction.Kind.OPENING,
            legs=[Leg(account, amount_cents), Leg(system_account(kind=Kind.CORRECTIONS), -amount_cents)],
            reason=reason,
        )
