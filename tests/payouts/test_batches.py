"""Payout batches: built from approved refunds by payee kind, approved by a second finance user, stopped
before export, exported (money from clearing to sent), settled by return files (completed to the
bank, rejected back to clearing and to the office), traced; the ledger consistent throughout."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from accounts.models import AuditEntry, Role
from cardsystem.errors import InvalidRequest
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from payouts.batches import (
    BatchStatusConflict,
    NotFinanceStaff,
    PayoutNotPending,
    SameUser,
    payment_date_next,
    payout_batch_approve,
    payout_batch_build,
    payout_batch_export,
    payout_batch_mark_sent,
    payout_stop,
    payout_trace,
    return_file_import,
)
from payouts.models import PayeeKind, Payout, PayoutBatch, RefundRequest, ReturnFileImport
from payouts.return_file import ReturnFileInvalid, return_file_write
from payouts.tasks import payout_batch_build_task
from tests.factories import InstitutionFactory, staff_user
from tests.payouts.batch_factories import (
    BIC,
    CPR,
    CPR_OTHER,
    IBAN,
    approved_refund,
    finance_user,
    system_total,
)

pytestmark = pytest.mark.django_db

CLEARING = LedgerAccount.Kind.PAYOUT_CLEARING
SENT = LedgerAccount.Kind.PAYOUT_SENT
BANK = LedgerAccount.Kind.BANK
PAY_DAY = dt.date(2026, 12, 3)


def built_and_approved(*refunds: RefundRequest) -> PayoutBatch:
    """The one batch built from the approved refunds, approved by a second finance user."""
    builder, approver = finance_user(), finance_user()
    (batch,) = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    return payout_batch_approve(batch=batch, approved_by=approver)


def exported(*refunds: RefundRequest) -> PayoutBatch:
    batch = built_and_approved(*refunds)
    payout_batch_export(batch=batch, exported_by=finance_user())
    return batch


def answer(*lines: tuple[str, str, str, str]) -> bytes:
    return return_file_write(lines)


# --- build ---------------------------------------------------------------------------------------


def test_build_puts_cpr_payees_in_a_nemkonto_batch_and_iban_payees_in_a_sepa_batch() -> None:
    cpr_refund = approved_refund(amount_cents=1500)
    iban_refund = approved_refund(amount_cents=2000, iban=IBAN, bic=BIC)
    batches = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    by_kind = {batch.kind: batch for batch in batches}
    assert set(by_kind) == {PayoutBatch.Kind.NEMKONTO, PayoutBatch.Kind.SEPA}
    assert list(by_kind["nemkonto"].payouts.values_list("refund_id", "amount_cents")) == [(cpr_refund.pk, 1500)]
    assert list(by_kind["sepa"].payouts.values_list("refund_id", "amount_cents")) == [(iban_refund.pk, 2000)]


def test_build_moves_the_refunds_into_the_batch_as_pending_payouts() -> None:
    refund = approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.IN_BATCH
    assert batch.status == PayoutBatch.Status.DRAFT
    assert batch.payment_date == PAY_DAY
    assert list(batch.payouts.values_list("status", flat=True)) == [Payout.Status.PENDING]


def test_build_leaves_out_a_kind_without_payees() -> None:
    approved_refund(iban=IBAN)
    batches = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    assert [batch.kind for batch in batches] == [PayoutBatch.Kind.SEPA]


def test_build_takes_only_approved_refunds() -> None:
    approved = approved_refund()
    for status in (RefundRequest.Status.REQUESTED, RefundRequest.Status.RETURNED, RefundRequest.Status.PAID):
        other = approved_refund()
        RefundRequest.objects.filter(pk=other.pk).update(status=status)
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    assert list(batch.payouts.values_list("refund_id", flat=True)) == [approved.pk]


def test_build_with_nothing_approved_builds_no_batch() -> None:
    assert payout_batch_build(built_by=finance_user()) == []
    assert not PayoutBatch.objects.exists()


def test_building_again_takes_no_refund_twice() -> None:
    approved_refund()
    payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    assert payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY) == []
    assert Payout.objects.count() == 1


def test_payout_references_are_unique_and_name_their_batch() -> None:
    approved_refund()
    approved_refund()
    (first,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    approved_refund()
    (second,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    references = list(Payout.objects.order_by("pk").values_list("reference", flat=True))
    assert references == [f"NK{first.pk}-1", f"NK{first.pk}-2", f"NK{second.pk}-1"]


def test_the_payment_date_is_by_default_the_next_weekday() -> None:
    friday_evening = dt.datetime(2026, 12, 4, 18, 0, tzinfo=dt.UTC)
    assert payment_date_next(now=friday_evening) == dt.date(2026, 12, 7)
    tuesday = dt.datetime(2026, 12, 1, 5, 30, tzinfo=dt.UTC)
    assert payment_date_next(now=tuesday) == dt.date(2026, 12, 2)


def test_the_scheduled_task_builds_a_batch_without_a_builder() -> None:
    approved_refund()
    ids = payout_batch_build_task.delay().get()
    batch = PayoutBatch.objects.get()
    assert ids == [batch.pk]
    assert batch.built_by is None


def test_a_user_without_the_finance_role_cannot_build() -> None:
    approved_refund()
    office = staff_user(institution=InstitutionFactory(), role=Role.OFFICE)
    with pytest.raises(NotFinanceStaff):
        payout_batch_build(built_by=office)
    assert not PayoutBatch.objects.exists()


# --- four eyes -----------------------------------------------------------------------------------


def test_the_builder_cannot_approve_their_own_batch() -> None:
    approved_refund()
    builder = finance_user()
    (batch,) = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    with pytest.raises(SameUser) as raised:
        payout_batch_approve(batch=batch, approved_by=builder)
    assert raised.value.code == "same_user"
    batch.refresh_from_db()
    assert (batch.status, batch.approved_by) == (PayoutBatch.Status.DRAFT, None)


def test_a_second_finance_user_approves_the_batch() -> None:
    approved_refund()
    builder, approver = finance_user(), finance_user()
    (batch,) = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    payout_batch_approve(batch=batch, approved_by=approver)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.APPROVED
    assert batch.approved_by == approver
    assert batch.approved_at is not None


def test_the_database_refuses_a_batch_approved_by_its_builder() -> None:
    approved_refund()
    builder = finance_user()
    (batch,) = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.filter(pk=batch.pk).update(approved_by=builder, status=PayoutBatch.Status.APPROVED)


def test_a_batch_built_by_the_schedule_is_approved_by_a_finance_user() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=None, payment_date=PAY_DAY)
    payout_batch_approve(batch=batch, approved_by=finance_user())
    assert batch.status == PayoutBatch.Status.APPROVED


def test_a_user_without_the_finance_role_cannot_approve() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    office = staff_user(institution=InstitutionFactory(), role=Role.OFFICE)
    with pytest.raises(NotFinanceStaff):
        payout_batch_approve(batch=batch, approved_by=office)


def test_an_approved_batch_is_not_approved_again_by_someone_else() -> None:
    batch = built_and_approved(approved_refund())
    first_approver = batch.approved_by
    with pytest.raises(BatchStatusConflict):
        payout_batch_approve(batch=batch, approved_by=finance_user())
    batch.refresh_from_db()
    assert batch.approved_by == first_approver


# --- export --------------------------------------------------------------------------------------


def test_a_draft_batch_is_not_exported() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    with pytest.raises(BatchStatusConflict):
        payout_batch_export(batch=batch, exported_by=finance_user())
    assert system_total(SENT) == 0


def test_export_moves_each_payout_from_clearing_to_sent() -> None:
    approved_refund(amount_cents=1500)
    approved_refund(amount_cents=2500)
    batch = built_and_approved()
    assert system_total(CLEARING) == 4000
    files = payout_batch_export(batch=batch, exported_by=finance_user())
    assert (system_total(CLEARING), system_total(SENT)) == (0, 4000)
    assert batch.status == PayoutBatch.Status.EXPORTED
    assert [file.payments for file in files] == [2]
    for payout in batch.payouts.all():
        assert payout.status == Payout.Status.EXPORTED
        assert payout.ledger_transaction is not None
        legs = set(payout.ledger_transaction.entries.values_list("account__kind", "amount_cents"))
        assert legs == {(CLEARING, -payout.amount_cents), (SENT, payout.amount_cents)}


def test_exporting_again_returns_the_same_files_and_moves_nothing() -> None:
    batch = built_and_approved(approved_refund())
    first = payout_batch_export(batch=batch, exported_by=finance_user())
    transactions = LedgerTransaction.objects.count()
    again = payout_batch_export(batch=batch, exported_by=finance_user())
    assert [file.content for file in again] == [file.content for file in first]
    assert LedgerTransaction.objects.count() == transactions


def test_an_exported_batch_is_marked_sent() -> None:
    batch = exported(approved_refund())
    payout_batch_mark_sent(batch=batch, sent_by=finance_user())
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.SENT
    assert batch.sent_at is not None


def test_an_approved_batch_is_not_marked_sent_before_export() -> None:
    batch = built_and_approved(approved_refund())
    with pytest.raises(BatchStatusConflict):
        payout_batch_mark_sent(batch=batch, sent_by=finance_user())


# --- stop ----------------------------------------------------------------------------------------


def test_a_stopped_payout_is_left_out_of_the_export_and_its_refund_waits_for_the_next_batch() -> None:
    kept, stopped = approved_refund(amount_cents=1000), approved_refund(amount_cents=3000)
    batch = built_and_approved()
    payout = batch.payouts.get(refund=stopped)
    payout_stop(payout=payout, stopped_by=finance_user(), reason="The payee called: wrong person")
    files = payout_batch_export(batch=batch, exported_by=finance_user())
    payout.refresh_from_db()
    stopped.refresh_from_db()
    assert payout.status == Payout.Status.STOPPED
    assert stopped.status == RefundRequest.Status.APPROVED
    assert (files[0].payments, files[0].total_cents) == (1, 1000)
    assert (system_total(CLEARING), system_total(SENT)) == (3000, 1000)
    (later,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    assert list(later.payouts.values_list("refund_id", flat=True)) == [stopped.pk]
    assert kept.pk not in later.payouts.values_list("refund_id", flat=True)


def test_a_payout_cannot_be_stopped_after_export() -> None:
    refund = approved_refund()
    batch = exported(refund)
    payout = batch.payouts.get()
    with pytest.raises(PayoutNotPending):
        payout_stop(payout=payout, stopped_by=finance_user(), reason="Too late")
    payout.refresh_from_db()
    refund.refresh_from_db()
    assert payout.status == Payout.Status.EXPORTED
    assert refund.status == RefundRequest.Status.IN_BATCH


def test_stopping_needs_a_reason() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    with pytest.raises(InvalidRequest):
        payout_stop(payout=batch.payouts.get(), stopped_by=finance_user(), reason="  ")
    assert batch.payouts.get().status == Payout.Status.PENDING


def test_stopping_every_payout_of_a_batch_settles_it() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    payout_stop(payout=batch.payouts.get(), stopped_by=finance_user(), reason="Duplicate")
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.SETTLED


# --- return files --------------------------------------------------------------------------------


def test_a_completed_payout_pays_the_refund_and_moves_the_money_to_the_bank() -> None:
    refund = approved_refund(amount_cents=2500)
    batch = exported(refund)
    reference = batch.payouts.get().reference
    return_file_import(content=answer((reference, "completed", "", "")), filename="r1.csv", imported_by=finance_user())
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.PAID
    assert batch.payouts.get().status == Payout.Status.COMPLETED
    assert (system_total(CLEARING), system_total(SENT), system_total(BANK)) == (0, 0, 2500)


def test_the_same_return_file_twice_changes_nothing_the_second_time() -> None:
    refund = approved_refund()
    batch = exported(refund)
    content = answer((batch.payouts.get().reference, "completed", "", ""))
    first = return_file_import(content=content, filename="r1.csv", imported_by=finance_user())
    entries, audits = LedgerEntry.objects.count(), AuditEntry.objects.count()
    second = return_file_import(content=content, filename="r1-again.csv", imported_by=finance_user())
    assert second.pk == first.pk
    assert ReturnFileImport.objects.count() == 1
    assert (LedgerEntry.objects.count(), AuditEntry.objects.count()) == (entries, audits)
    assert system_total(BANK) == refund.amount_cents


def test_a_completed_payout_is_not_completed_again_by_another_file() -> None:
    batch = exported(approved_refund())
    reference = batch.payouts.get().reference
    return_file_import(content=answer((reference, "completed", "", "")), filename="a.csv", imported_by=None)
    entries = LedgerEntry.objects.count()
    record = return_file_import(
        content=answer((reference, "received", "", ""), (reference, "completed", "", "")),
        filename="b.csv",
        imported_by=None,
    )
    assert LedgerEntry.objects.count() == entries
    assert record.summary["already_done"] == 2
    assert record.summary["completed"] == 0


def test_a_payment_received_then_completed_in_one_file_is_completed_once() -> None:
    batch = exported(approved_refund(amount_cents=700))
    reference = batch.payouts.get().reference
    record = return_file_import(
        content=answer((reference, "received", "", ""), (reference, "completed", "", "")),
        filename="r.csv",
        imported_by=None,
    )
    assert (record.summary["received"], record.summary["completed"]) == (1, 1)
    assert batch.payouts.get().status == Payout.Status.COMPLETED
    assert system_total(BANK) == 700


def test_received_only_leaves_the_batch_open() -> None:
    batch = exported(approved_refund())
    payout_batch_mark_sent(batch=batch, sent_by=finance_user())
    reference = batch.payouts.get().reference
    return_file_import(content=answer((reference, "received", "", "")), filename="r.csv", imported_by=None)
    batch.refresh_from_db()
    assert batch.payouts.get().status == Payout.Status.RECEIVED
    assert batch.status == PayoutBatch.Status.SENT
    assert system_total(SENT) == batch.payouts.get().amount_cents


def test_a_rejection_with_code_7_returns_the_money_to_clearing_and_the_refund_to_the_office() -> None:
    refund = approved_refund(amount_cents=4200)
    batch = exported(refund)
    reference = batch.payouts.get().reference
    return_file_import(
        content=answer((reference, "rejected", "7", "Ingen NemKonto")), filename="r.csv", imported_by=finance_user()
    )
    refund.refresh_from_db()
    payout = batch.payouts.get()
    assert refund.status == RefundRequest.Status.RETURNED
    assert (payout.status, payout.return_code, payout.return_text) == (Payout.Status.REJECTED, "7", "Ingen NemKonto")
    assert (system_total(CLEARING), system_total(SENT), system_total(BANK)) == (4200, 0, 0)


def test_a_returned_refund_is_not_put_in_a_batch_until_the_office_corrects_it() -> None:
    refund = approved_refund()
    batch = exported(refund)
    return_file_import(
        content=answer((batch.payouts.get().reference, "rejected", "9", "")), filename="r.csv", imported_by=None
    )
    assert payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY) == []


def test_a_rejected_refund_corrected_by_the_office_is_paid_in_a_later_batch() -> None:
    refund = approved_refund(amount_cents=4200)
    first = exported(refund)
    old = first.payouts.get()
    return_file_import(content=answer((old.reference, "rejected", "7", "")), filename="r1.csv", imported_by=None)
    # The office corrects the payee (now an IBAN) and approves the payment again.
    RefundRequest.objects.filter(pk=refund.pk).update(
        status=RefundRequest.Status.APPROVED, payee_kind=PayeeKind.IBAN, payee_cpr_token="", payee_iban=IBAN
    )
    second = exported(refund)
    new = second.payouts.get()
    assert second.kind == PayoutBatch.Kind.SEPA
    assert new.reference != old.reference
    return_file_import(content=answer((new.reference, "completed", "", "")), filename="r2.csv", imported_by=None)
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.PAID
    assert (system_total(CLEARING), system_total(SENT), system_total(BANK)) == (0, 0, 4200)
    assert ledger_mismatches() == []


def test_an_unknown_reference_is_counted_and_changes_nothing() -> None:
    batch = exported(approved_refund())
    record = return_file_import(content=answer(("NK999-1", "completed", "", "")), filename="r.csv", imported_by=None)
    assert record.summary["unknown"] == 1
    assert record.summary["unknown_references"] == ["NK999-1"]
    assert batch.payouts.get().status == Payout.Status.EXPORTED


def test_an_answer_for_a_payout_never_exported_changes_nothing() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    reference = batch.payouts.get().reference
    record = return_file_import(content=answer((reference, "completed", "", "")), filename="r.csv", imported_by=None)
    assert record.summary["not_exported"] == 1
    assert batch.payouts.get().status == Payout.Status.PENDING
    assert system_total(BANK) == 0


def test_a_return_file_with_a_bad_line_is_refused_whole() -> None:
    batch = exported(approved_refund())
    reference = batch.payouts.get().reference
    content = answer((reference, "completed", "", ""), (reference, "rejected", "", "no code"))
    with pytest.raises(ReturnFileInvalid, match="line 3"):
        return_file_import(content=content, filename="bad.csv", imported_by=None)
    assert not ReturnFileImport.objects.exists()
    assert batch.payouts.get().status == Payout.Status.EXPORTED


def test_a_batch_is_settled_when_every_payout_is_final() -> None:
    approved_refund()
    approved_refund()
    batch = exported()
    payout_batch_mark_sent(batch=batch, sent_by=finance_user())
    first, second = batch.payouts.order_by("pk")
    return_file_import(content=answer((first.reference, "completed", "", "")), filename="a.csv", imported_by=None)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.SENT
    return_file_import(content=answer((second.reference, "rejected", "9", "")), filename="b.csv", imported_by=None)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.SETTLED
    assert batch.settled_at is not None


def test_a_full_cycle_leaves_the_ledger_consistent() -> None:
    refunds = [approved_refund(amount_cents=1000 + n) for n in range(3)]
    refunds.append(approved_refund(amount_cents=900, iban=IBAN))
    builder, approver = finance_user(), finance_user()
    batches = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    lines = []
    for batch in batches:
        payout_batch_approve(batch=batch, approved_by=approver)
        payout_batch_export(batch=batch, exported_by=approver)
        payout_batch_mark_sent(batch=batch, sent_by=approver)
        lines += [(reference, "completed", "", "") for reference in batch.payouts.values_list("reference", flat=True)]
    return_file_import(content=answer(*lines), filename="all.csv", imported_by=approver)
    assert all(PayoutBatch.objects.get(pk=b.pk).status == PayoutBatch.Status.SETTLED for b in batches)
    assert set(RefundRequest.objects.values_list("status", flat=True)) == {RefundRequest.Status.PAID}
    assert system_total(BANK) == sum(refund.amount_cents or 0 for refund in refunds)
    assert (system_total(CLEARING), system_total(SENT)) == (0, 0)
    assert ledger_mismatches() == []
    out = io.StringIO()
    call_command("ledger_check", stdout=out)
    assert "consistent" in out.getvalue()


# --- audit, trace --------------------------------------------------------------------------------


def test_every_step_writes_an_audit_entry_with_no_cpr_number_in_clear() -> None:
    refund = approved_refund(cpr=CPR)
    batch = exported(refund)
    payout_batch_mark_sent(batch=batch, sent_by=finance_user())
    return_file_import(
        content=answer((batch.payouts.get().reference, "completed", "", "")), filename="r.csv", imported_by=None
    )
    payout_trace(searched_by=finance_user(), payee_cpr=CPR, date=PAY_DAY)
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "payout_batch.build",
        "payout_batch.approve",
        "payout_batch.export",
        "payout_batch.send",
        "payout_return.import",
        "payout_batch.settle",
        "payout.trace",
    } <= actions
    for details in AuditEntry.objects.values_list("details", flat=True):
        assert CPR not in str(details)
    trace_entry = AuditEntry.objects.get(action="payout.trace")
    assert trace_entry.details["payee_cpr"] == "070761-****"


def test_the_stop_reason_is_in_the_audit_trail() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    payout_stop(payout=batch.payouts.get(), stopped_by=finance_user(), reason="Payee deceased")
    assert AuditEntry.objects.get(action="payout.stop").reason == "Payee deceased"


def test_trace_finds_a_payment_by_the_cardholders_name() -> None:
    refund = approved_refund()
    refund.holder.name = "Anna Sørensen"
    refund.holder.save()
    approved_refund()
    exported()
    (row,) = payout_trace(searched_by=finance_user(), holder_name="sørensen")
    assert row.holder_name == "Anna Sørensen"
    assert row.payee == "070761-****"
    assert row.status == Payout.Status.EXPORTED


def test_trace_finds_a_payment_by_cpr_number_and_date() -> None:
    mine = approved_refund(cpr=CPR)
    approved_refund(cpr=CPR_OTHER)
    exported()
    rows = payout_trace(searched_by=finance_user(), payee_cpr="070761-4285", date=PAY_DAY)
    assert [row.payout_id for row in rows] == list(Payout.objects.filter(refund=mine).values_list("pk", flat=True))
    assert payout_trace(searched_by=finance_user(), payee_cpr=CPR, date=PAY_DAY + dt.timedelta(days=1)) == []


def test_trace_by_cpr_number_alone_asks_for_a_date_or_name() -> None:
    approved_refund()
    exported()
    with pytest.raises(InvalidRequest) as raised:
        payout_trace(searched_by=finance_user(), payee_cpr=CPR)
    assert "payee_cpr" in (raised.value.fields or {})


def test_trace_finds_a_payment_by_reference_with_its_return_reason() -> None:
    batch = exported(approved_refund())
    reference = batch.payouts.get().reference
    return_file_import(content=answer((reference, "rejected", "7", "")), filename="r.csv", imported_by=None)
    (row,) = payout_trace(searched_by=finance_user(), reference=reference.lower())
    assert (row.status, row.return_code) == (Payout.Status.REJECTED, "7")


def test_trace_needs_something_to_search_by() -> None:
    with pytest.raises(InvalidRequest):
        payout_trace(searched_by=finance_user())


def test_trace_is_for_finance_staff_only() -> None:
    office = staff_user(institution=InstitutionFactory(), role=Role.OFFICE)
    with pytest.raises(NotFinanceStaff):
        payout_trace(searched_by=office, holder_name="Anna")


def test_the_cpr_number_stays_encrypted_in_every_payout_table() -> None:
    exported(approved_refund(cpr=CPR))
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("payouts_payout", "payouts_payoutbatch", "payouts_refundrequest", "accounts_auditentry"):
            cursor.execute(f"SELECT * FROM {table}")
            assert CPR not in str(cursor.fetchall())
