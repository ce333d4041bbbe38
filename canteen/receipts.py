"""Receipts as a page and as a PDF, with every field DOMAIN.md lists [PZ]."""

from typing import Any

from django.template.loader import render_to_string
from django.utils import translation

from canteen.models import Sale
from cardsystem.money import cents_to_str, currency


def receipt_context(*, sale: Sale) -> dict[str, Any]:
    lines = [
        {
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": cents_to_str(line.unit_price_cents),
            "total": cents_to_str(line.line_total_cents),
        }
        for line in sale.lines.all()
    ]
    return {
        "sale": sale,
        "receipt_number": sale.receipt_number,
        "card_number": sale.card.number if sale.card else None,
        "provider": sale.institution.canteen_provider,
        "institution": sale.institution,
        "school_number": sale.institution.school_number,
        "at": sale.created_at.astimezone(sale.institution.zone),
        "lines": lines,
        "total": cents_to_str(sale.total_cents),
        "extra_after": None if sale.extra_after_cents is None else cents_to_str(sale.extra_after_cents),
        "currency": currency(),
    }


def receipt_pdf(*, sale: Sale, language: str | None = None) -> bytes:
    from weasyprint import HTML  # imported here: loading pango costs ~0.3 s, not needed on the till's path

    with translation.override(language or translation.get_language()):
        html = render_to_string("canteen/receipt_pdf.html", receipt_context(sale=sale))
    return bytes(HTML(string=html).write_pdf())
