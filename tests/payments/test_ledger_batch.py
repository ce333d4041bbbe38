"""`movements_post_batch`: many movements in a few statements, by the same rules as one."""

import pytest
from django.db import transaction

from payments.errors import DebtLimitReached
from payments.ledger import Leg, holders_accounts_lock, movements_post_batch, system_account
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.factories import holder_with_balances

pytestmark = pytest.mark.django_db

REVENUE = LedgerAccount.Kind.REVENUE


def test_a_batch_posts_each_movement_with_its_running_balances() -> None:
    anna, bo = holder_with_balances(main=1000), holder_with_balances(main=500, extra=300)
    revenue = system_account(kind=REVENUE, institution=anna.institution)

    with transaction.atomic():
        accounts = holders_accounts_lock(holder_ids=[anna.pk, bo.pk])
        txns = movements_post_batch(
            kind=LedgerTransaction.Kind.MEAL,
            movements=[
                [Leg(accounts[anna.pk].main, -400), Leg(revenue, 400)],
                [Leg(accounts[bo.pk].main, -500), Leg(accounts[bo.pk].extra, -200), Leg(revenue, 700)],
                [Leg(accounts[anna.pk].main, -400), Leg(revenue, 400)],
            ],
            institution=anna.institution,
        )

    assert len(txns) == 3 and len({t.pk for t in txns}) == 3
    afters = list(
        LedgerEntry.objects.filter(account__holder=anna)
        .exclude(transaction__kind="opening")
        .order_by("transaction_id")
        .values_list("balance_after_cents", flat=True)
    )
    assert afters == [600, 200]
    assert LedgerAccount.objects.get(holder=bo, kind="extra").balance_cents == 100
    assert ledger_mismatches() == []


def test_one_movement_past_a_floor_refuses_the_batch_and_writes_nothing() -> None:
    anna = holder_with_balances(main=0)
    anna.institution.debt_limit_cents = 1000
    revenue = system_account(kind=REVENUE, institution=anna.institution)
    before = LedgerTransaction.objects.count()

    with transaction.atomic():
        accounts = holders_accounts_lock(holder_ids=[anna.pk])
        main = accounts[anna.pk].main
        floor, balance = main.floor_cents, main.balance_cents
        with pytest.raises(DebtLimitReached):
            movements_post_batch(
                kind=LedgerTransaction.Kind.MEAL,
                movements=[[Leg(main, -100), Leg(revenue, 100)], [Leg(main, floor - 1), Leg(revenue, 1 - floor)]],
            )
        assert main.balance_cents == balance  # the in-memory row is put back as it was read

    assert LedgerTransaction.objects.count() == before
    assert ledger_mismatches() == []
