from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from payments.models import LedgerAccount, LedgerEntry


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
