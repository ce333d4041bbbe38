"""Refund approvals racing on PostgreSQL with real row locks: approved once, and no money lost when a
purchase on the holder's card runs at the same moment.

Threads wait behind a barrier; each has its own connection, as each gunicorn worker would.
"""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from accounts.models import AuditEntry, Role
from canteen.models import Sale
from cards.models import Card
from payments.ledger import holder_accounts_get
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payouts.models import RefundRequest
from payouts.refunds import refund_approve
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, staff_user, terminal_with_token
from tests.payments.test_ledger_postgres import purchase, race
from tests.payouts.test_refunds import guardian_holder, request_refund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def clearing_total() -> int:
    total = LedgerEntry.objects.filter(account__kind=LedgerAccount.Kind.PAYOUT_CLEARING).aggregate(
        total=Sum("amount_cents")
    )["total"]
    return int(total or 0)


def ledger_check_output() -> str:
    out = StringIO()
    call_command("ledger_check", stdout=out)  # raises CommandError on any mismatch
    return out.getvalue()


def test_approvals_racing_on_one_refund_move_the_money_once() -> None:
    school = InstitutionFactory()
    guardian = UserFactory()
    holder = guardian_holder(guardian, school, main=10000, extra=5000)
    refund = request_refund(holder, guardian)
    approvers = [staff_user(institution=school, role=Role.OFFICE) for _ in range(8)]

    results = race(8, lambda i: refund_approve(refund=refund, approved_by=approvers[i]))

    assert all(isinstance(result, RefundRequest) for result in results), results
    assert {result.status for result in results} == {RefundRequest.Status.APPROVED}
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.REFUND).count() == 1
    assert AuditEntry.objects.filter(action="refund.approved").count() == 1
    assert clearing_total() == 15000
    assert "consistent" in ledger_check_output()


def test_an_approval_racing_purchases_on_the_card_loses_no_money() -> None:
    school = InstitutionFactory()
    guardian = UserFactory()
    holder = guardian_holder(guardian, school, main=3000, extra=10000)
    card = Card.objects.get(holder=holder)
    sandwich = ProductFactory(institution=school, price_cents=1500)
    _terminal, token = terminal_with_token(institution=school)
    refund = request_refund(holder, guardian)
    office = staff_user(institution=school, role=Role.OFFICE)

    def work(i: int) -> object:
        if i == 0:
            return refund_approve(refund=refund, approved_by=office)
        return purchase(token, card.uid, sandwich.pk, key=f"buy-{i}")

    results = race(6, work)

    approved = results[0]
    assert isinstance(approved, RefundRequest), approved
    sold = Counter(status for status, _body in results[1:])
    assert set(sold) <= {201, 409}
    sales_total = int(Sale.objects.filter(holder=holder).aggregate(total=Sum("total_cents"))["total"] or 0)
    assert sales_total == sold[201] * 1500
    # Every øre is either spent at the till or refunded: nothing lost, nothing paid twice.
    assert approved.balance_cents == 13000 - sales_total
    assert clearing_total() == approved.balance_cents
    accounts = holder_accounts_get(holder_id=holder.pk)
    assert (accounts.main.balance_cents, accounts.extra.balance_cents) == (0, 0)
    assert "consistent" in ledger_check_output()
    # And after the approval the returned card buys nothing.
    status, answer = purchase(token, card.uid, sandwich.pk, key="after")
    assert (status, answer["error"]["code"]) == (409, "card_blocked")
