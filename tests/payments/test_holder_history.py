"""`HolderHistory`: a holder's entries newest first, read a page at a time from each account's index."""

import datetime as dt

import pytest
import time_machine
from django.db import transaction

from cards.models import Cardholder
from payments.ledger import Leg, holder_accounts_get, movement_post, system_account
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import HolderHistory
from tests.factories import holder_with_balances

pytestmark = pytest.mark.django_db


def spend(holder: Cardholder, kind: str, cents: int, at: dt.datetime | None = None) -> int:
    accounts = holder_accounts_get(holder_id=holder.pk)
    account = accounts.main if kind == "main" else accounts.extra
    # The ledger is append-only (a trigger on PostgreSQL): the clock is set, not the row.
    with time_machine.travel(at or dt.datetime.now(dt.UTC), tick=False), transaction.atomic():
        txn = movement_post(
            kind=LedgerTransaction.Kind.SALE,
            legs=[Leg(account, -cents), Leg(system_account(kind="revenue", institution=holder.institution), cents)],
        )
    return txn.pk


def newest_first(holder: Cardholder) -> list[int]:
    return list(
        LedgerEntry.objects.filter(account__holder=holder)
        .order_by("-transaction_id", "-pk")
        .values_list("pk", flat=True)
    )


def test_pages_of_both_balances_merge_newest_first_and_add_up_to_the_whole_history() -> None:
    holder = holder_with_balances(main=10000, extra=10000)
    for cents in range(1, 13):
        spend(holder, "main" if cents % 3 else "extra", cents)
    history = HolderHistory(holder=holder)

    pages = [entry.pk for start in range(0, 20, 5) for entry in history[start : start + 5]]

    assert history.count() == 14  # two opening entries and twelve sales
    assert pages == newest_first(holder)


def test_a_date_filter_keeps_exactly_the_entries_of_those_days() -> None:
    holder = holder_with_balances(extra=10000)
    zone = holder.institution.zone
    before = spend(holder, "extra", 1, dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=zone))
    inside = spend(holder, "extra", 2, dt.datetime(2026, 4, 1, 0, 0, tzinfo=zone))
    last = spend(holder, "extra", 3, dt.datetime(2026, 4, 30, 23, 59, 59, tzinfo=zone))
    after = spend(holder, "extra", 4, dt.datetime(2026, 5, 1, 0, 0, tzinfo=zone))
    history = HolderHistory(holder=holder, first_day=dt.date(2026, 4, 1), last_day=dt.date(2026, 4, 30))

    kept = [entry.transaction_id for entry in history[0:50]]

    assert kept == [last, inside]
    assert history.count() == 2
    assert before not in kept and after not in kept


def test_a_date_range_with_no_movements_is_empty() -> None:
    holder = holder_with_balances(extra=100)
    history = HolderHistory(holder=holder, first_day=dt.date(2099, 1, 1))

    assert (history.count(), history[0:50]) == (0, [])


def test_another_holders_entries_never_appear() -> None:
    mine, theirs = holder_with_balances(extra=500), holder_with_balances(extra=700)
    spend(theirs, "extra", 100)

    entries = HolderHistory(holder=mine)[0:50]

    assert {e.account.holder_id for e in entries} == {mine.pk}
    assert LedgerAccount.objects.filter(holder=theirs).exists()
