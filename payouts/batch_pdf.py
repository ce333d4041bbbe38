"""The summary of a payout batch as a PDF: for the finance office's file and the approver's check.

It shows the batch (kind, payment date, status and its dates), who built and who approved it, the
count and sum of its payments by status, the bank files of the export with their digests, and the
payments themselves with the payee's CPR number masked (`DDMMYY-****`) or IBAN shortened. A very
large batch lists its first `PDF_ROWS_MAX` payments: the rest are in the admin's payout list.
"""

from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cardsystem.money import currency
from payouts.batch_files import batch_files_exported
from payouts.batches import payee_masked, payout_status_counts
from payouts.models import Payout, PayoutBatch

PDF_ROWS_MAX = 1000


@dataclass(frozen=True)
class StatusTotal:
    status: str
    label: str
    count: int
    total_cents: int


def batch_summary_context(*, batch: PayoutBatch) -> dict[str, Any]:
    counts = payout_status_counts(batch=batch)
    labels = dict(Payout.Status.choices)
    by_status = [
        StatusTotal(status=status, label=str(labels[status]), count=counts[status][0], total_cents=counts[status][1])
        for status in Payout.Status.values
        if status in counts
    ]
    paid_out = [row for row in by_status if row.status != Payout.Status.STOPPED]
    rows = (
        Payout.objects.filter(batch=batch)
        .order_by("pk")
        .values_list(
            "reference",
            "status",
            "amount_cents",
            "return_code",
            "refund__payee_name",
            "refund__payee_kind",
            "refund__payee_cpr_token",
            "refund__payee_iban",
            "refund__holder__name",
        )[:PDF_ROWS_MAX]
    )
    payouts = [
        {
            "reference": reference,
            "status": labels.get(status, status),
            "amount_cents": amount,
            "return_code": code,
            "payee_name": payee_name,
            "payee": payee_masked(payee_kind=kind, cpr_token=token, iban=iban),
            "holder_name": holder_name,
        }
        for reference, status, amount, code, payee_name, kind, token, iban, holder_name in rows
    ]
    count = sum(row.count for row in by_status)
    return {
        "batch": batch,
        "built_by": str(batch.built_by) if batch.built_by else _("the schedule"),
        "approved_by": str(batch.approved_by) if batch.approved_by else "",
        "by_status": by_status,
        "count": count,
        "total_cents": sum(row.total_cents for row in by_status),
        "paid_out_count": sum(row.count for row in paid_out),
        "paid_out_total_cents": sum(row.total_cents for row in paid_out),
        "files": batch_files_exported(batch=batch),
        "payouts": payouts,
        "more": max(0, count - len(payouts)),
        "printed_at": timezone.now(),
        "currency": currency(),
    }


def batch_summary_pdf(*, batch: PayoutBatch, language: str | None = None) -> bytes:
    from weasyprint import HTML  # imported here: loading pango costs ~0.3 s

    with translation.override(language or translation.get_language()):
        html = render_to_string("payouts/batch_summary_pdf.html", batch_summary_context(batch=batch))
    return bytes(HTML(string=html).write_pdf())
