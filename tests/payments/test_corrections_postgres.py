"""Corrections under real row locks (PostgreSQL): approvals racing each other, corrections racing
purchases at the till. Each thread has its own connection, as each gunicorn worker would."""

from typing import Any

import pytest

from accounts.models import Institution, Role, User
from accounts.services import membership_grant
from payments.corrections import balance_move_main_to_extra, correction_approve, correction_request
from payments.errors import InsufficientFunds
from payments.ledger import holder_accounts_get
from payments.models import Correction, LedgerAccount, LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.factories import (
    CardFactory,
    InstitutionFactory,
    ProductFactory,
    UserFactory,
    holder_with_balances,
    terminal_with_token,
)
from tests.payments.test_ledger_postgres import purchase, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MAIN, EXTRA = LedgerAccount.Kind.MAIN, LedgerAccount.Kind.EXTRA
LIMIT = 50000


@pytest.fixture(autouse=True)
def _limit(settings: Any) -> None:
    settings.CORRECTION_FOUR_EYES_ABOVE_CENTS = LIMIT


def office_user(institution: Institution) -> User:
    user = UserFactory()
    membership_grant(user=user, institution=institution, role=Role.OFFICE)
    return user


def test_approvals_racing_apply_the_correction_exactly_once() -> None:
    school = InstitutionFactory()
    holder = holder_with_balances(institution=school)
    correction = correction_request(
        holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=office_user(school), reason="bank statement"
    )
    approvers = [office_user(school) for _ in range(6)]

    results = race(len(approvers), lambda i: correction_approve(correction=correction, approved_by=approvers[i]))

    assert all(isinstance(result, Correction) for result in results), results
    assert holder_accounts_get(holder_id=holder.pk).main.balance_cents == LIMIT + 1
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.CORRECTION).count() == 1
    correction.refresh_from_db()
    assert correction.status == Correction.Status.APPLIED
    assert correction.decided_by in approvers
    assert ledger_mismatches() == []


def test_a_debit_correction_racing_purchases_on_one_extra_balance_never_overdraws_it() -> None:
    school = InstitutionFactory()
    holder = holder_with_balances(institution=school, extra=6000)
    card = CardFactory(holder=holder)
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)
    clerk = office_user(school)

    def work(i: int) -> str:
        if i == 0:
            try:
                correction_request(holder=holder, balance=EXTRA, amount_cents=-2000, requested_by=clerk, reason="x")
            except InsufficientFunds:
                return "correction refused"
            return "corrected"
        status, _body = purchase(token, card.uid, sandwich.pk)
        return "sold" if status == 201 else f"refused {status}"

    results = race(5, work)

    sold = results.count("sold")
    corrected = results.count("corrected")
    assert corrected + results.count("correction refused") == 1, results
    extra = holder_accounts_get(holder_id=holder.pk).extra.balance_cents
    assert extra == 6000 - sold * 2500 - corrected * 2000
    assert extra >= 0
    assert ledger_mismatches() == []


def test_an_approval_racing_purchases_and_a_move_keeps_every_balance_exact() -> None:
    school = InstitutionFactory()
    holder = holder_with_balances(institution=school, main=LIMIT + 5000, extra=5000)
    card = CardFactory(holder=holder)
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)
    clerk, approver = office_user(school), office_user(school)
    correction = correction_request(
        holder=holder, balance=EXTRA, amount_cents=LIMIT + 1, requested_by=clerk, reason="missed"
    )

    def work(i: int) -> str:
        if i == 0:
            correction_approve(correction=correction, approved_by=approver)
            return "approved"
        if i == 1:
            balance_move_main_to_extra(holder=holder, amount_cents=5000, moved_by=clerk, reason="asked")
            return "moved"
        status, _body = purchase(token, card.uid, sandwich.pk)
        return "sold" if status == 201 else f"refused {status}"

    results = race(6, work)

    assert results[:2] == ["approved", "moved"], results
    sold = results.count("sold")
    accounts = holder_accounts_get(holder_id=holder.pk)
    assert accounts.main.balance_cents == LIMIT
    assert accounts.extra.balance_cents == 5000 + LIMIT + 1 + 5000 - sold * 2500
    assert ledger_mismatches() == []
