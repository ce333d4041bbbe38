"""Transfers racing purchases on PostgreSQL with real row locks: no overdraft, no deadlock, no lost money.

Threads wait behind a barrier, then move money out of one extra balance and buy with it at once;
each thread has its own connection, as each gunicorn worker would.
"""

import json

import pytest
from django.db.models import Sum
from django.test import Client

from cards.services import guardianship_create
from payments.errors import InsufficientFunds
from payments.ledger import holder_accounts_get
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from payments.transfers import transfer_create
from tests.factories import (
    CardFactory,
    InstitutionFactory,
    ProductFactory,
    UserFactory,
    holder_with_balances,
    terminal_with_token,
)
from tests.payments.test_ledger_postgres import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MAIN, EXTRA = LedgerAccount.Kind.MAIN, LedgerAccount.Kind.EXTRA


def holder_balances_total() -> int:
    return int(LedgerAccount.objects.filter(holder__isnull=False).aggregate(total=Sum("balance_cents"))["total"])


def test_transfers_and_purchases_racing_on_one_extra_balance_never_overdraw_it_nor_lose_money() -> None:
    school = InstitutionFactory()
    guardian = UserFactory()
    anna = holder_with_balances(institution=school, extra=10000)
    bo = holder_with_balances(institution=school, main=10000)
    for holder in (anna, bo):
        guardianship_create(guardian=guardian, holder=holder)
    card = CardFactory(holder=anna)
    sandwich = ProductFactory(institution=school, price_cents=1000)
    _terminal, token = terminal_with_token(institution=school)
    total_before = holder_balances_total()

    def out_of_annas_extra(i: int) -> str:
        try:
            transfer_create(
                guardian=guardian,
                source_holder=anna,
                source_balance=EXTRA,
                target_holder=bo,
                target_balance=EXTRA,
                amount_cents=1500,
            )
        except InsufficientFunds:
            return "transfer refused"
        return "transfer"

    def into_annas_main(i: int) -> str:
        # The other direction, on other accounts of the same two cardholders: locks cross.
        transfer_create(
            guardian=guardian,
            source_holder=bo,
            source_balance=MAIN,
            target_holder=anna,
            target_balance=MAIN,
            amount_cents=500,
        )
        return "back"

    def buy(i: int) -> str:
        body = {"uid": card.uid, "lines": [{"product": sandwich.pk, "quantity": 1}], "payment": "card"}
        response = Client().post(
            "/api/v1/terminal/purchases",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY=f"race-{i}",
        )
        if response.status_code == 409 and response.json()["error"]["code"] == "insufficient_funds":
            return "purchase refused"
        assert response.status_code == 201, response.content
        return "purchase"

    work = [out_of_annas_extra] * 10 + [buy] * 10 + [into_annas_main] * 4
    results = race(len(work), lambda i: work[i](i))

    assert not [r for r in results if isinstance(r, BaseException)], results
    transfers, purchases = results.count("transfer"), results.count("purchase")
    assert results.count("back") == 4
    extra = holder_accounts_get(holder_id=anna.pk).extra.balance_cents
    assert extra == 10000 - 1500 * transfers - 1000 * purchases >= 0
    # Every refusal was right: what is left covers neither what was refused.
    if "transfer refused" in results:
        assert extra < 1500
    if "purchase refused" in results:
        assert extra < 1000
    assert holder_accounts_get(holder_id=anna.pk).main.balance_cents == 4 * 500
    assert holder_accounts_get(holder_id=bo.pk).extra.balance_cents == 1500 * transfers
    # No entry ever took the extra balance below zero, in whatever order the threads ran.
    assert not LedgerEntry.objects.filter(account__holder=anna, account__kind=EXTRA, balance_after_cents__lt=0).exists()
    # Transfers only move money between cardholders; only the sales took money out.
    assert holder_balances_total() == total_before - 1000 * purchases
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.TRANSFER).count() == transfers + 4
    assert ledger_mismatches() == []
