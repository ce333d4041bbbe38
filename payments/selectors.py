import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.db.models.query import EmptyQuerySet
from django.utils import timezone

from accounts.models import User
from cards.models import Card, Cardholder
from cards.selectors import holder_list_for_guardian
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

# The cards a guardian sees and manages: not the staff's teacher and cashier cards.
GUARDIAN_CARD_KINDS = (Card.Kind.REGULAR, Card.Kind.LOANER)


@dataclass(frozen=True)
class LedgerMismatch:
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


def ledger_mismatches() -> list[LedgerMismatch]:
    """Everything that breaks the ledger's invariants, found by queries over all rows.

    - every cardholder account's cached balance equals the sum of its entries;
    - every system account's cached balance stays zero;
    - every transaction has two or more entries that sum to zero;
    - all entries together sum to zero.
    """
    found: list[LedgerMismatch] = []
    accounts = (
        LedgerAccount.objects.annotate(entry_sum=Coalesce(Sum("entries__amount_cents"), 0))
        .filter(holder__isnull=False)
        .exclude(balance_cents=F("entry_sum"))
        .values_list("pk", "kind", "holder_id", "balance_cents", "entry_sum")
    )
    for pk, kind, holder_id, balance, entry_sum in accounts:
        found.append(
            LedgerMismatch(
                f"account {pk}",
                f"{kind} balance of cardholder {holder_id} is {balance} but its entries sum to {entry_sum}",
            )
        )
    for pk, kind, balance in (
        LedgerAccount.objects.filter(holder__isnull=True)
        .exclude(balance_cents=0)
        .values_list("pk", "kind", "balance_cents")
    ):
        found.append(LedgerMismatch(f"account {pk}", f"system account {kind} caches a balance of {balance}"))
    unbalanced = (
        LedgerEntry.objects.values("transaction_id")
        .annotate(total=Sum("amount_cents"), legs=Count("pk"))
        .filter(~Q(total=0) | Q(legs__lt=2))
        .order_by("transaction_id")
    )
    for row in unbalanced:
        found.append(
            LedgerMismatch(
                f"transaction {row['transaction_id']}",
                f"{row['legs']} entries summing to {row['total']}",
            )
        )
    grand_total = LedgerEntry.objects.aggregate(total=Coalesce(Sum("amount_cents"), 0))["total"]
    if grand_total != 0:
        found.append(LedgerMismatch("ledger", f"all entries sum to {grand_total}, not 0"))
    return found


def holder_list_with_balances_for_guardian(*, user: User) -> QuerySet[Cardholder]:
    """The guardian's cardholders with their institution, balances (`holder_accounts`) and cards
    (`card_list`): three queries however many there are."""
    return (
        holder_list_for_guardian(user=user)
        .select_related("institution")
        .prefetch_related(
            Prefetch(
                "ledger_accounts",
                queryset=LedgerAccount.objects.filter(kind__in=LedgerAccount.HOLDER_KINDS),
                to_attr="holder_accounts",
            ),
            Prefetch("cards", queryset=Card.objects.order_by("number"), to_attr="card_list"),
        )
        .order_by("name", "pk")
    )


def guardian_card_get(*, user: User, number: str) -> Card | None:
    """One of the guardian's cardholders' cards by its printed number, or None."""
    return (
        Card.objects.filter(number=number, kind__in=GUARDIAN_CARD_KINDS, holder__in=holder_list_for_guardian(user=user))
        .select_related("holder")
        .first()
    )


def holder_entries(
    *, holder: Cardholder, first_day: dt.date | None = None, last_day: dt.date | None = None
) -> QuerySet[LedgerEntry]:
    """The cardholder's entries on main and extra, newest first, with their sales and lines; the
    days are the institution's.

    Newest first by transaction id, not by the transaction's time: an account's entries are
    written under its lock, so their ids follow the order its balance changed (`balance_after` reads
    down the page), and sorting on the entry's own columns lets PostgreSQL take the page's 50 rows
    from the (account, transaction) index before joining anything, instead of joining the whole
    history to sort it by another table's column.
    """
    zone = holder.institution.zone
    account_ids = list(
        LedgerAccount.objects.filter(holder=holder, kind__in=LedgerAccount.HOLDER_KINDS).values_list("pk", flat=True)
    )
    entries = (
        LedgerEntry.objects.filter(account_id__in=account_ids)
        .select_related("transaction", "transaction__sale", "transaction__institution")
        .prefetch_related("transaction__sale__lines")
        .order_by("-transaction_id", "-pk")
    )
    if first_day:
        entries = entries.filter(transaction__created_at__gte=dt.datetime.combine(first_day, dt.time(), zone))
    if last_day:
        day_after = last_day + dt.timedelta(days=1)
        entries = entries.filter(transaction__created_at__lt=dt.datetime.combine(day_after, dt.time(), zone))
    return entries


# Transaction ids follow creation times except among transactions in flight at the same moment;
# this many ids either side of a date's bound cover that, and the exact time is checked as well.
_ID_SLACK = 1000


class HolderHistory:
    """A cardholder's entries newest first, read a page at a time: countable and sliceable like a
    QuerySet, so Django's Paginator and the API's pages take it as they are.

    Two steps per page. First the page's (transaction, entry) ids, from each of the holder's two
    accounts' (account, transaction) index, walked backwards and merged here: no join, and deep
    pages cost index reads only. Then those rows with their transaction, sale and lines. A single
    query over both accounts would let PostgreSQL walk the whole ledger's transaction index instead
    (measured: 125 ms for the first page with 200,000 other entries, against a few ms this way).
    A date filter narrows the index walk to a range of transaction ids found from the transactions'
    time index, and checks each row's exact time.
    """

    def __init__(
        self, *, holder: Cardholder, first_day: dt.date | None = None, last_day: dt.date | None = None
    ) -> None:
        zone = holder.institution.zone
        self.account_ids = list(
            LedgerAccount.objects.filter(holder=holder, kind__in=LedgerAccount.HOLDER_KINDS).values_list(
                "pk", flat=True
            )
        )
        self.start = dt.datetime.combine(first_day, dt.time(), zone) if first_day else None
        self.end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), zone) if last_day else None
        self._count: int | None = None

    def _entries(self) -> QuerySet[LedgerEntry]:
        entries = LedgerEntry.objects.filter(account_id__in=self.account_ids)
        if self.start is not None:
            first = (
                LedgerTransaction.objects.filter(created_at__gte=self.start)
                .order_by("created_at")
                .values_list("pk", flat=True)
                .first()
            )
            if first is None:
                return entries.none()
            entries = entries.filter(transaction_id__gte=first - _ID_SLACK, transaction__created_at__gte=self.start)
        if self.end is not None:
            last = (
                LedgerTransaction.objects.filter(created_at__lt=self.end)
                .order_by("-created_at")
                .values_list("pk", flat=True)
                .first()
            )
            if last is None:
                return entries.none()
            entries = entries.filter(transaction_id__lte=last + _ID_SLACK, transaction__created_at__lt=self.end)
        return entries

    def _page_ids(self, start: int, stop: int) -> list[int]:
        base = self._entries()
        if isinstance(base, EmptyQuerySet):  # no movement at all in the days asked for
            return []
        per_account = [
            base.filter(account_id=account_id)
            .order_by("-transaction_id", "-pk")
            .values_list("transaction_id", "pk")[:stop]
            for account_id in self.account_ids
        ]
        if not per_account or stop == start:
            return []
        if len(per_account) > 1 and connection.features.supports_slicing_ordering_in_compound:
            # PostgreSQL merges the accounts' walks itself and sends back only the page.
            merged = per_account[0].union(*per_account[1:], all=True).order_by("-transaction_id", "-pk")
            return [pk for _txn, pk in merged[start:stop]]
        keys = sorted((key for rows in per_account for key in rows), reverse=True)
        return [pk for _txn, pk in keys[start:stop]]

    def count(self) -> int:
        if self._count is None:
            self._count = self._entries().count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[LedgerEntry]:
        start = 0
        while page := self[start : start + 500]:
            yield from page
            start += 500

    @overload
    def __getitem__(self, index: int) -> LedgerEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[LedgerEntry]: ...

    def __getitem__(self, index: int | slice) -> LedgerEntry | list[LedgerEntry]:
        if isinstance(index, int):
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        if index.step is not None:
            raise TypeError("HolderHistory takes slices of pages")
        start, stop = index.start or 0, index.stop
        if stop is None or start < 0 or stop < start:
            raise ValueError("A page is a slice with a start and an end")
        page = self._page_ids(start, stop)
        rows = {
            entry.pk: entry
            for entry in LedgerEntry.objects.filter(pk__in=page)
            .select_related("transaction", "transaction__sale", "transaction__institution")
            .prefetch_related("transaction__sale__lines")
        }
        return [rows[pk] for pk in page]


# --- guardian portal: overview, history and monthly statements --------------------------------

# Cards whose daily limit is the holder's (as the guardian API reads it): a replaced or returned card
# no longer counts.
LIMIT_CARD_STATUSES = (Card.Status.ACTIVE, Card.Status.BLOCKED, Card.Status.DEBT_BLOCKED)
BLOCKED_CARD_STATUSES = (Card.Status.BLOCKED, Card.Status.DEBT_BLOCKED)


def _day_start(*, zone: ZoneInfo, at: dt.datetime | None = None) -> dt.datetime:
    local = (at or timezone.now()).astimezone(zone)
    return dt.datetime.combine(local.date(), dt.time.min, tzinfo=zone)


def holders_spent_today(*, holders: Sequence[Cardholder], at: dt.datetime | None = None) -> dict[int, int]:
    """What each cardholder paid with a card at the buffet today, by holder id; one query.

    Counted as the till counts a card's day (canteen's `card_spent_today`): card sales, which take
    the extra balance only, since midnight in the holder's institution's time zone; cash is the
    pupil's own money and is not counted. The institutions' zones may differ, so each holder's day
    has its own start inside the one query.
    """
    by_zone: dict[str, list[int]] = defaultdict(list)
    for holder in holders:
        by_zone[holder.institution.time_zone].append(holder.pk)
    if not by_zone:
        return {}
    today = Q()
    for zone_name, ids in by_zone.items():
        start = _day_start(zone=ZoneInfo(zone_name), at=at)
        today |= Q(account__holder_id__in=ids, transaction__created_at__gte=start)
    rows = (
        LedgerEntry.objects.filter(
            today, account__kind=LedgerAccount.Kind.EXTRA, transaction__kind=LedgerTransaction.Kind.SALE
        )
        .values("account__holder_id")
        .annotate(total=Sum("amount_cents"))
        .order_by()
    )
    spent = {holder.pk: 0 for holder in holders}
    spent.update({row["account__holder_id"]: -int(row["total"]) for row in rows})
    return spent


def holder_spent_today(*, holder: Cardholder, at: dt.datetime | None = None) -> int:
    return holders_spent_today(holders=[holder], at=at)[holder.pk]


@dataclass(frozen=True)
class HolderOverview:
    """One cardholder as the guardian's overview page shows it."""

    holder: Cardholder
    cards: list[Card]
    main_cents: int
    extra_cents: int
    spent_today_cents: int
    daily_limit_cents: int | None
    blocked_cards: list[Card]
    in_debt: bool
    at_debt_limit: bool
    main_low: bool
    extra_low: bool

    @property
    def has_warnings(self) -> bool:
        return bool(self.blocked_cards) or self.in_debt or self.main_low or self.extra_low


def holder_overview_list(*, user: User, at: dt.datetime | None = None) -> list[HolderOverview]:
    """The guardian's cardholders with balances, cards, today's spending and what needs attention;
    four queries however many cardholders there are."""
    holders = list(holder_list_with_balances_for_guardian(user=user))
    spent = holders_spent_today(holders=holders, at=at)
    overviews = []
    for holder in holders:
        balances = {account.kind: account.balance_cents for account in holder.holder_accounts}  # type: ignore[attr-defined]
        main = balances.get(LedgerAccount.Kind.MAIN, 0)
        extra = balances.get(LedgerAccount.Kind.EXTRA, 0)
        cards: list[Card] = holder.card_list  # type: ignore[attr-defined]
        guardian_cards = [card for card in cards if card.kind in GUARDIAN_CARD_KINDS]
        limits = [card.daily_limit_cents for card in guardian_cards if card.status in LIMIT_CARD_STATUSES]
        alert = holder.low_balance_alert_cents
        overviews.append(
            HolderOverview(
                holder=holder,
                cards=cards,
                main_cents=main,
                extra_cents=extra,
                spent_today_cents=spent[holder.pk],
                daily_limit_cents=limits[0] if limits else None,
                blocked_cards=[card for card in guardian_cards if card.status in BLOCKED_CARD_STATUSES],
                in_debt=main < 0,
                # The till refuses meals and purchases from here on (DOMAIN.md: debt limit).
                at_debt_limit=main < 0 and main <= -holder.institution.debt_limit_cents,
                main_low=alert is not None and main < alert,
                extra_low=alert is not None and extra < alert,
            )
        )
    return overviews


def holder_balances_before(*, holder: Cardholder, at: dt.datetime) -> dict[str, int]:
    """The cardholder's main and extra balances just before `at`: the balance after the account's
    last entry before then (0 before the first), one indexed query per account, never a sum.

    Ordered by transaction id: the transaction row is written while the account is locked, so
    within one account its ids follow the order the balance changed, and the
    (account, transaction) index finds the row without reading the account's history.
    """
    balances: dict[str, int] = {}
    accounts = dict(
        LedgerAccount.objects.filter(holder=holder, kind__in=LedgerAccount.HOLDER_KINDS).values_list("kind", "pk")
    )
    for kind in LedgerAccount.HOLDER_KINDS:
        last = (
            # By the account's id, not through a join on holder and kind: the planner then walks
            # that account's (account, transaction) index backwards instead of the whole index.
            LedgerEntry.objects.filter(account_id=accounts.get(kind), transaction__created_at__lt=at)
            .order_by("-transaction_id", "-pk")
            .values_list("balance_after_cents", flat=True)
            .first()
        )
        balances[kind] = int(last or 0)
    return balances


@dataclass(frozen=True)
class BalanceSummary:
    kind: str
    label: str
    opening_cents: int
    closing_cents: int
    in_cents: int
    out_cents: int


@dataclass(frozen=True)
class MonthStatement:
    holder: Cardholder
    first_day: dt.date
    last_day: dt.date
    balances: list[BalanceSummary]
    # Oldest first, with their sales and lines (`holder_entries`).
    entries: QuerySet[LedgerEntry]


def holder_month_statement(*, holder: Cardholder, year: int, month: int) -> MonthStatement:
    """The cardholder's month (in the institution's time zone): opening and closing balances, money in
    and out per balance, and every entry. Raises ValueError for a month that does not exist."""
    first_day = dt.date(year, month, 1)
    next_first = (first_day + dt.timedelta(days=32)).replace(day=1)
    zone = holder.institution.zone
    start = dt.datetime.combine(first_day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(next_first, dt.time.min, tzinfo=zone)
    opening = holder_balances_before(holder=holder, at=start)
    closing = holder_balances_before(holder=holder, at=end)
    moved: dict[str, Mapping[str, Any]] = {
        row["account__kind"]: row
        for row in LedgerEntry.objects.filter(
            account__holder=holder,
            account__kind__in=LedgerAccount.HOLDER_KINDS,
            transaction__created_at__gte=start,
            transaction__created_at__lt=end,
        )
        .values("account__kind")
        .annotate(
            money_in=Coalesce(Sum("amount_cents", filter=Q(amount_cents__gt=0)), 0),
            money_out=Coalesce(Sum("amount_cents", filter=Q(amount_cents__lt=0)), 0),
        )
        .order_by()
    }
    balances = [
        BalanceSummary(
            kind=kind,
            label=str(LedgerAccount.Kind(kind).label),
            opening_cents=opening[kind],
            closing_cents=closing[kind],
            in_cents=int(moved.get(kind, {}).get("money_in", 0)),
            out_cents=int(moved.get(kind, {}).get("money_out", 0)),
        )
        for kind in LedgerAccount.HOLDER_KINDS
    ]
    last_day = next_first - dt.timedelta(days=1)
    entries = holder_entries(holder=holder, first_day=first_day, last_day=last_day).order_by("transaction_id", "pk")
    return MonthStatement(holder=holder, first_day=first_day, last_day=last_day, balances=balances, entries=entries)
