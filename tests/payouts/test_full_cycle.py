"""The whole life of a pupil's money, end to end through the services and APIs, on one ledger:
top-up → purchase → refund request → approval → payout batch → bank return (no NemKonto) →
corrected by the office → paid in the next batch. No money made or lost at any step."""

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from accounts.models import Role
from cards.services import guardianship_create
from cardsystem.errors import InvalidRequest
from payments.ledger import holder_accounts_get, system_account
from payments.models import LedgerAccount, LedgerEntry
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.selectors import ledger_mismatches
from payments.topups import AllocationRequest, topup_create
from payouts.batches import payout_batch_approve, payout_batch_build, payout_batch_export, return_file_import
from payouts.models import Payout, PayoutBatch, RefundRequest
from payouts.refunds import RefundAlreadyDecided, refund_approve, refund_paid_another_way, refund_returned_correct
from tests.factories import (
    CardFactory,
    InstitutionFactory,
    ProductFactory,
    UserFactory,
    holder_with_balances,
    staff_user,
    terminal_with_token,
)

pytestmark = pytest.mark.django_db

VALID_CPR = "0707614285"
CORRECTED_CPR = "0101901234"


def total(kind: str) -> int:
    account = system_account(kind=kind)
    return int(LedgerEntry.objects.filter(account=account).aggregate(sum=Sum("amount_cents"))["sum"] or 0)


def returned(reference: str, status: str, code: str = "") -> bytes:
    return f"reference,status,code,text\n{reference},{status},{code},\n".encode()


def clean() -> None:
    assert ledger_mismatches() == []
    call_command("ledger_check")


def test_a_pupils_money_from_top_up_to_nemkonto_and_back_again_is_never_made_or_lost(settings: Any) -> None:
    settings.PAYOUT_COST_CENTS = 500
    school = InstitutionFactory()
    guardian = UserFactory()
    office = staff_user(institution=school, role=Role.OFFICE)
    builder, approver = (staff_user(institution=school, role=Role.FINANCE) for _ in range(2))
    holder = holder_with_balances(institution=school)
    guardianship_create(guardian=guardian, holder=holder)
    card = CardFactory(holder=holder)
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)

    # Top-up of 100.00 on the extra balance, paid at the provider.
    payment = topup_create(
        guardian=guardian, allocations=[AllocationRequest(holder_id=holder.pk, balance="extra", amount_cents=10000)]
    )
    simulated_callback_deliver(simulated_event(payment=payment, outcome="succeeded", save_card=False))
    clean()

    # A sandwich at the till.
    sale = Client().post(
        "/api/v1/terminal/purchases",
        data=json.dumps({"uid": card.uid, "lines": [{"product": sandwich.pk, "quantity": 1}], "payment": "card"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert sale.status_code == 201
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 7500
    clean()

    # The guardian asks for the rest to be paid to NemKonto; the office approves.
    portal = Client()
    portal.force_login(guardian)
    asked = portal.post(
        "/api/v1/me/refunds",
        data=json.dumps({"holder": holder.pk, "payee_name": "Parent", "payee_cpr": VALID_CPR}),
        content_type="application/json",
    )
    assert asked.status_code == 201
    refund = RefundRequest.objects.get(pk=asked.json()["id"])
    refund = refund_approve(refund=refund, approved_by=office)
    assert (refund.amount_cents, refund.cost_cents) == (7000, 500)
    accounts = holder_accounts_get(holder_id=holder.pk)
    assert (accounts.main.balance_cents, accounts.extra.balance_cents) == (0, 0)
    assert total(LedgerAccount.Kind.PAYOUT_CLEARING) == 7000
    clean()

    # The batch at the cut-off, approved by a second finance user, exported; the bank says: no NemKonto.
    [batch] = payout_batch_build(built_by=builder)
    payout_batch_approve(batch=batch, approved_by=approver)
    payout_batch_export(batch=batch, exported_by=approver)
    first = Payout.objects.get(batch=batch)
    assert total(LedgerAccount.Kind.PAYOUT_SENT) == 7000
    return_file_import(content=returned(first.reference, "rejected", "7"), filename="r1.csv", imported_by=approver)
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.RETURNED
    assert total(LedgerAccount.Kind.PAYOUT_CLEARING) == 7000  # the money is back in clearing
    assert total(LedgerAccount.Kind.PAYOUT_SENT) == 0
    clean()

    # The office corrects the CPR number; the next batch pays it; the bank completes it.
    refund_returned_correct(refund=refund, corrected_by=office, note="CPR number corrected", payee_cpr=CORRECTED_CPR)
    [again] = payout_batch_build(built_by=builder)
    payout_batch_approve(batch=again, approved_by=approver)
    payout_batch_export(batch=again, exported_by=approver)
    second = Payout.objects.get(batch=again)
    return_file_import(content=returned(second.reference, "completed"), filename="r2.csv", imported_by=approver)

    refund.refresh_from_db()
    again.refresh_from_db()
    assert refund.status == RefundRequest.Status.PAID
    assert again.status == PayoutBatch.Status.SETTLED
    assert total(LedgerAccount.Kind.BANK) == 7000
    assert total(LedgerAccount.Kind.PAYOUT_CLEARING) == 0
    # What came in (10,000 at the provider) went out as a sale, a payout cost and the payout.
    assert total(LedgerAccount.Kind.PROVIDER_CLEARING) == -10000
    assert total(LedgerAccount.Kind.PAYOUT_COSTS) == 500
    clean()


def returned_refund() -> tuple[RefundRequest, Any]:
    """An approved refund whose payout the bank rejected (no NemKonto)."""
    from tests.payouts.batch_factories import approved_refund, finance_user

    refund = approved_refund(amount_cents=4000)
    builder, approver = finance_user(), finance_user()
    [batch] = payout_batch_build(built_by=builder)
    payout_batch_approve(batch=batch, approved_by=approver)
    payout_batch_export(batch=batch, exported_by=approver)
    payout = Payout.objects.get(batch=batch)
    return_file_import(content=returned(payout.reference, "rejected", "7"), filename="r.csv", imported_by=approver)
    refund.refresh_from_db()
    return refund, staff_user(institution=refund.institution, role=Role.OFFICE)


def test_a_returned_refund_can_be_paid_to_an_iban_instead() -> None:
    refund, office = returned_refund()

    corrected = refund_returned_correct(
        refund=refund,
        corrected_by=office,
        note="No NemKonto: paid to a bank account",
        payee_iban="DE89370400440532013000",
    )

    assert (corrected.status, corrected.payee_kind, corrected.payee_cpr_token) == ("approved", "iban", "")
    assert [b.kind for b in payout_batch_build()] == [PayoutBatch.Kind.SEPA]


def test_a_returned_refund_paid_another_way_leaves_clearing_for_the_bank() -> None:
    refund, office = returned_refund()

    paid = refund_paid_another_way(refund=refund, paid_by=office, note="Transferred by hand")

    assert paid.status == RefundRequest.Status.PAID
    assert total(LedgerAccount.Kind.PAYOUT_CLEARING) == 0
    assert total(LedgerAccount.Kind.BANK) == 4000
    clean()


def test_only_a_returned_refund_is_corrected_and_a_note_is_required() -> None:
    refund, office = returned_refund()

    with pytest.raises(InvalidRequest):
        refund_returned_correct(refund=refund, corrected_by=office, note=" ")
    refund_paid_another_way(refund=refund, paid_by=office, note="Cash at the office")
    with pytest.raises(RefundAlreadyDecided):
        refund_returned_correct(refund=refund, corrected_by=office, note="too late")
