"""The receipt of a webshop order, as a page, a PDF and in the e-mail."""

from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone, translation

from cardsystem.money import cents_to_str, currency
from webshop.models import ShopOrder


def receipt_context(*, order: ShopOrder) -> dict[str, Any]:
    institution = order.item.institution
    return {
        "order": order,
        "receipt_number": order.receipt_number,
        "item": order.item,
        "holder": order.holder,
        "institution": institution,
        "school_number": institution.school_number,
        "option": order.option,
        "choice_label": order.item.choice_label,
        "price": cents_to_str(order.price_cents),
        "paid_at": timezone.localtime(order.paid_at, institution.zone) if order.paid_at else None,
        "paid_with": order.get_paid_with_display(),
        "payment_reference": order.payment.reference if order.payment else "",
        "currency": currency(),
    }


def receipt_pdf(*, order: ShopOrder, language: str | None = None) -> bytes:
    from weasyprint import HTML  # imported here: loading pango is slow and pages rarely need it

    with translation.override(language or translation.get_language()):
        html = render_to_string("webshop/receipt_pdf.html", receipt_context(order=order))
    return bytes(HTML(string=html).write_pdf())
