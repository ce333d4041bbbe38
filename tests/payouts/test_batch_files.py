"""The bank files of a payout batch: NemKonto XML against its own schema, SEPA against
pain.001.001.03 (both with lxml), at most 10,000 payments per file, the same bytes each time, and
the return file's format."""

import datetime as dt
import zipfile
from collections.abc import Iterator
from io import BytesIO

import pytest
from django.test import override_settings
from lxml import etree

from cards.models import Cardholder
from payments.ledger import system_account
from payments.models import LedgerAccount
from payouts.batch_files import (
    BatchFileMismatch,
    batch_files_check,
    batch_files_exported,
    batch_files_render,
    batch_files_zip,
)
from payouts.batches import payout_batch_approve, payout_batch_build, payout_batch_export
from payouts.crypto import cpr_encrypt
from payouts.models import PayeeKind, Payout, PayoutBatch, RefundRequest
from payouts.nemkonto import NAMESPACE, PAYMENT_TEXT, SCHEMA_PATH, NemKontoFileInvalid, nemkonto_file_validate
from payouts.return_file import ReturnFileInvalid, return_file_parse, return_file_write
from payouts.sepa import SepaFileInvalid, sepa_file_validate
from tests.factories import CardholderFactory, UserFactory
from tests.payouts.batch_factories import BIC, CPR, CPR_OTHER, IBAN, approved_refund, finance_user, system_total

pytestmark = pytest.mark.django_db

PAY_DAY = dt.date(2026, 12, 3)
NK = {"n": NAMESPACE}
PAIN = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
SETTINGS = {
    "NEMKONTO_AGREEMENT_NUMBER": "12345678",
    "NEMKONTO_DEBIT_ACCOUNT": "12340001234567",
    "SEPA_DEBTOR_NAME": "Demo Kommune",
    "SEPA_DEBTOR_IBAN": "DK5000400440116243",
    "SEPA_DEBTOR_BIC": "DABADKKK",
}


def pain_schema() -> etree.XMLSchema:
    import sepaxml

    path = f"{sepaxml.__path__[0]}/schemas/pain.001.001.03.xsd"
    return etree.XMLSchema(etree.parse(path))


def nemkonto_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def export_all() -> list[tuple[PayoutBatch, list]]:
    builder, approver = finance_user(), finance_user()
    done = []
    for batch in payout_batch_build(built_by=builder, payment_date=PAY_DAY):
        payout_batch_approve(batch=batch, approved_by=approver)
        done.append((batch, payout_batch_export(batch=batch, exported_by=approver)))
    return done


@pytest.fixture(autouse=True)
def _bank_settings() -> Iterator[None]:
    with override_settings(**SETTINGS):
        yield


# --- NemKonto ------------------------------------------------------------------------------------


def test_the_nemkonto_file_is_valid_against_its_schema() -> None:
    approved_refund(amount_cents=2550, cpr=CPR, payee_name="Jens Ærø Hansen")
    approved_refund(amount_cents=500, cpr=CPR_OTHER, payee_name="Mette <Kjær> & Co")
    ((_batch, (file,)),) = export_all()
    document = etree.fromstring(file.content)
    nemkonto_schema().assertValid(document)


def test_the_nemkonto_file_has_the_header_the_debtor_and_one_payment_per_payee_by_cpr() -> None:
    approved_refund(amount_cents=2550, cpr=CPR, payee_name="Jens Hansen")
    approved_refund(amount_cents=500, cpr=CPR_OTHER, payee_name="Mette Kjær")
    ((batch, (file,)),) = export_all()
    root = etree.fromstring(file.content)
    header = root.find("n:Batch/n:Header", NK)
    assert header.findtext("n:AgreementNumber", namespaces=NK) == "12345678"
    assert header.findtext("n:DebitAccount", namespaces=NK) == "12340001234567"
    assert header.findtext("n:NumberOfPayments", namespaces=NK) == "2"
    assert header.findtext("n:ControlSum", namespaces=NK) == "30.50"
    assert root.findtext("n:Batch/n:Debtor/n:Name", namespaces=NK) == "Demo Kommune"
    payments = root.findall("n:Batch/n:Debtor/n:Payment", NK)
    found = [
        (
            p.findtext("n:Reference", namespaces=NK),
            p.findtext("n:Payee/n:CPR", namespaces=NK),
            p.findtext("n:Payee/n:Name", namespaces=NK),
            p.findtext("n:Amount", namespaces=NK),
            p.findtext("n:PaymentDate", namespaces=NK),
            p.findtext("n:Text", namespaces=NK),
        )
        for p in payments
    ]
    first, second = batch.payouts.order_by("pk")
    assert found == [
        (first.reference, CPR, "Jens Hansen", "25.50", "2026-12-03", PAYMENT_TEXT),
        (second.reference, CPR_OTHER, "Mette Kjær", "5.00", "2026-12-03", PAYMENT_TEXT),
    ]


def test_the_nemkonto_schema_refuses_a_payment_without_a_cpr_number() -> None:
    approved_refund()
    ((_batch, (file,)),) = export_all()
    broken = file.content.replace(f"<CPR>{CPR}</CPR>".encode(), b"<CPR>12345</CPR>")
    assert not nemkonto_schema().validate(etree.fromstring(broken))
    with pytest.raises(NemKontoFileInvalid):
        nemkonto_file_validate(broken)


def test_a_bad_agreement_number_setting_stops_the_export_and_moves_no_money() -> None:
    approved_refund(amount_cents=1200)
    builder, approver = finance_user(), finance_user()
    (batch,) = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    payout_batch_approve(batch=batch, approved_by=approver)
    with override_settings(NEMKONTO_AGREEMENT_NUMBER="not a number"), pytest.raises(NemKontoFileInvalid):
        payout_batch_export(batch=batch, exported_by=approver)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.APPROVED
    assert system_total(LedgerAccount.Kind.PAYOUT_SENT) == 0
    assert system_total(LedgerAccount.Kind.PAYOUT_CLEARING) == 1200


def test_a_batch_over_10000_payments_is_split_into_files_of_at_most_10000() -> None:
    holder = CardholderFactory()
    requested_by = UserFactory()
    token = cpr_encrypt(CPR)
    RefundRequest.objects.bulk_create(
        [
            RefundRequest(
                holder=holder,
                institution=holder.institution,
                requested_by=requested_by,
                status=RefundRequest.Status.APPROVED,
                payee_name=f"Payee {n}",
                payee_kind=PayeeKind.CPR,
                payee_cpr_token=token,
                amount_cents=100 + n % 7,
            )
            for n in range(10_001)
        ],
        batch_size=2000,
    )
    system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING)  # the clearing account exists, empty here
    ((batch, files),) = export_all()
    assert [file.payments for file in files] == [10_000, 1]
    assert sum(file.total_cents for file in files) == sum(
        Payout.objects.filter(batch=batch).values_list("amount_cents", flat=True)
    )
    schema = nemkonto_schema()
    references = []
    for number, file in enumerate(files, start=1):
        root = etree.fromstring(file.content)
        schema.assertValid(root)
        assert root.findtext("n:Batch/n:Header/n:Part", namespaces=NK) == str(number)
        assert root.findtext("n:Batch/n:Header/n:Parts", namespaces=NK) == "2"
        assert root.findtext("n:Batch/n:Header/n:NumberOfPayments", namespaces=NK) == str(file.payments)
        references += root.xpath("//n:Reference/text()", namespaces=NK)
    assert references == list(Payout.objects.filter(batch=batch).order_by("pk").values_list("reference", flat=True))
    assert Cardholder.objects.count() == 1


def test_the_nemkonto_schema_refuses_more_than_10000_payments_in_one_file() -> None:
    approved_refund()
    ((_batch, (file,)),) = export_all()
    root = etree.fromstring(file.content)
    debtor = root.find("n:Batch/n:Debtor", NK)
    payment = debtor.find("n:Payment", NK)
    for _ in range(10_000):
        debtor.append(etree.fromstring(etree.tostring(payment)))
    root.find("n:Batch/n:Header/n:NumberOfPayments", NK).text = "10000"
    assert not nemkonto_schema().validate(root)


# --- SEPA ----------------------------------------------------------------------------------------


def test_the_sepa_file_is_valid_against_pain_001_001_03() -> None:
    approved_refund(amount_cents=1999, iban=IBAN, bic=BIC, payee_name="Jürgen Weiß")
    approved_refund(amount_cents=1, iban="DK5000400440116243", payee_name="Bo Ærø")
    ((_batch, (file,)),) = export_all()
    pain_schema().assertValid(etree.fromstring(file.content))


def test_the_sepa_file_holds_each_iban_payee_with_its_reference_and_amount() -> None:
    approved_refund(amount_cents=1999, iban=IBAN, bic=BIC, payee_name="Jürgen Weiß")
    ((batch, (file,)),) = export_all()
    root = etree.fromstring(file.content)
    (tx,) = root.findall(".//p:CdtTrfTxInf", PAIN)
    assert tx.findtext("p:PmtId/p:EndToEndId", namespaces=PAIN) == batch.payouts.get().reference
    assert tx.findtext("p:Amt/p:InstdAmt", namespaces=PAIN) == "19.99"
    assert tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=PAIN) == IBAN
    assert tx.findtext("p:CdtrAgt/p:FinInstnId/p:BIC", namespaces=PAIN) == BIC
    assert root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=PAIN) == "19.99"
    assert root.findtext(".//p:PmtInf/p:ReqdExctnDt", namespaces=PAIN) == "2026-12-03"
    assert root.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=PAIN) == "DK5000400440116243"


def test_the_pain_schema_refuses_a_bad_iban() -> None:
    approved_refund(iban=IBAN)
    ((_batch, (file,)),) = export_all()
    broken = file.content.replace(IBAN.encode(), b"de89-3704")
    assert not pain_schema().validate(etree.fromstring(broken))
    with pytest.raises(SepaFileInvalid):
        sepa_file_validate(broken)


# --- kept by writing them again ------------------------------------------------------------------


def test_the_files_are_the_same_bytes_each_time_they_are_written() -> None:
    approved_refund()
    approved_refund(iban=IBAN)
    for batch, files in export_all():
        batch.refresh_from_db()
        again = batch_files_render(batch=batch)
        assert [(f.name, f.content) for f in again] == [(f.name, f.content) for f in files]
        batch_files_check(batch=batch, files=again)


def test_the_export_records_each_files_digest() -> None:
    approved_refund()
    ((batch, (file,)),) = export_all()
    (recorded,) = batch_files_exported(batch=batch)
    assert recorded == {"name": file.name, "sha256": file.sha256, "payments": 1, "total_cents": 2500}


def test_a_file_written_after_a_setting_changed_is_caught() -> None:
    approved_refund()
    ((batch, _files),) = export_all()
    batch.refresh_from_db()
    with override_settings(NEMKONTO_DEBIT_ACCOUNT="99990001234567"):
        changed = batch_files_render(batch=batch)
    with pytest.raises(BatchFileMismatch):
        batch_files_check(batch=batch, files=changed)


def test_no_file_is_written_before_the_export() -> None:
    approved_refund()
    (batch,) = payout_batch_build(built_by=finance_user(), payment_date=PAY_DAY)
    assert batch_files_render(batch=batch) == []


def test_the_zip_holds_every_file_of_the_batches() -> None:
    approved_refund()
    approved_refund(iban=IBAN)
    exported = export_all()
    archive = zipfile.ZipFile(BytesIO(batch_files_zip(batches=exported)))
    assert sorted(archive.namelist()) == sorted(f.name for _b, files in exported for f in files)
    for _batch, files in exported:
        for file in files:
            assert archive.read(file.name) == file.content


# --- the return file's format --------------------------------------------------------------------


def test_a_return_file_is_read_line_by_line() -> None:
    content = '\ufeffreference,status,code,text\nNK1-1,completed,,\nNK1-2,Rejected,7,"Ingen NemKonto, tjek CPR"\n\n'
    lines = return_file_parse(content.encode())
    assert [(x.line, x.reference, x.status, x.code, x.text) for x in lines] == [
        (2, "NK1-1", "completed", "", ""),
        (3, "NK1-2", "rejected", "7", "Ingen NemKonto, tjek CPR"),
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"ref,status\nNK1-1,completed\n",
        b"reference,status,code,text\nNK1-1,paid,,\n",
        b"reference,status,code,text\nNK1-1,rejected,,\n",
        b"reference,status,code,text\n,completed,,\n",
        b"reference,status,code,text\nNK1-1,completed\n",
        b"\xff\xfe not utf-8",
        b"",
    ],
)
def test_a_malformed_return_file_is_refused(content: bytes) -> None:
    with pytest.raises(ReturnFileInvalid):
        return_file_parse(content)


def test_a_written_return_file_reads_back() -> None:
    rows = [("NK1-1", "received", "", ""), ("NK1-1", "rejected", "9", "Konto lukket")]
    lines = return_file_parse(return_file_write(rows))
    assert [(x.reference, x.status, x.code, x.text) for x in lines] == rows
