import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.models import User
from cards.models import Card, Cardholder
from cards.selectors import holder_list_for_guardian
from payments.models import LedgerAccount, LedgerEntry

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
    days are the institution's."""
    zone = holder.institution.zone
    entries = (
        LedgerEntry.objects.filter(account__holder=holder, account__kind__in=LedgerAccount.HOLDER_KINDS)
        .select_related("transaction", "transaction__sale")
        .prefetch_related("transaction__sale__lines")
        .order_by("-transaction__created_at", "-pk")
    )
    if first_day:
        entries = entries.filter(transaction__created_at__gte=dt.datetime.combine(first_day, dt.time(), zone))
    if last_day:
        day_after = last_day + dt.timedelta(days=1)
        entries = entries.filter(transaction__created_at__lt=dt.datetime.combine(day_after, dt.time(), zone))
    return entries
