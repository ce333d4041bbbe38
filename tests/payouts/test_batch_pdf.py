"""The batch summary PDF, read back as text: totals, counts, masked CPR numbers, builder and approver."""

import datetime as dt
import io

import pytest
from pypdf import PdfReader

from payouts.batch_pdf import batch_summary_pdf
from payouts.batches import payout_batch_approve, payout_batch_build, payout_batch_export, payout_stop
from tests.payouts.batch_factories import CPR, CPR_OTHER, approved_refund, finance_user

pytestmark = pytest.mark.django_db


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_summary_shows_totals_masked_cpr_numbers_builder_and_approver() -> None:
    approved_refund(amount_cents=12550, cpr=CPR, payee_name="Jens Hansen")
    approved_refund(amount_cents=4500, cpr=CPR_OTHER, payee_name="Mette Kjær")
    builder = finance_user(full_name="Birgit Builder")
    approver = finance_user(full_name="Anders Approver")
    (batch,) = payout_batch_build(built_by=builder, payment_date=dt.date(2026, 12, 3))
    payout_batch_approve(batch=batch, approved_by=approver)
    payout_batch_export(batch=batch, exported_by=approver)
    text = pdf_text(batch_summary_pdf(batch=batch, language="en"))
    assert f"Payout batch {batch.pk}" in text
    assert "Birgit Builder" in text
    assert "Anders Approver" in text
    assert "070761-****" in text
    assert "010190-****" in text
    assert CPR not in text.replace("-", "")
    assert "Jens Hansen" in text
    assert "170.50" in text  # 125.50 + 45.00
    assert "Exported" in text
    assert batch.payouts.first().reference in text


def test_the_summary_of_a_scheduled_batch_counts_stopped_payments_apart() -> None:
    approved_refund(amount_cents=1000)
    stopped = approved_refund(amount_cents=2000)
    (batch,) = payout_batch_build(built_by=None, payment_date=dt.date(2026, 12, 3))
    payout_stop(payout=batch.payouts.get(refund=stopped), stopped_by=finance_user(), reason="Wrong payee")
    text = pdf_text(batch_summary_pdf(batch=batch, language="en"))
    assert "the schedule" in text
    assert "Stopped" in text
    assert "To pay (not stopped)" in text
    assert "10.00" in text and "20.00" in text and "30.00" in text
