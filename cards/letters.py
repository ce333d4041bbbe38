"""Printed papers of the card office: the guardian's activation letter and the issuance register.

Both are PDFs made with WeasyPrint from templates, in the language asked for (the office user's
by default). Printing either writes an audit entry: the letter shows a one-time code, the
register personal data.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from accounts.audit import audit_record
from accounts.models import Institution, User
from cards.issuance import ActivationCodeUsed, issuance_register_rows
from cards.models import Card, CardIssuance


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: loading pango costs ~0.3 s, not needed elsewhere

    return bytes(HTML(string=html).write_pdf())


def portal_link_url() -> str:
    """Where a guardian links a card: the portal's page, as an address to type from paper."""
    try:
        path = reverse("cards:link")
    except NoReverseMatch:  # the portal is not mounted in this deployment
        path = "/"
    return f"{str(settings.SITE_URL).rstrip('/')}{path}"


def activation_letter_context(*, card: Card) -> dict[str, Any]:
    holder = card.holder
    assert holder is not None
    issuance = card.issuances.order_by("-issued_at", "-pk").first()
    issued_at = issuance.issued_at if issuance else card.issued_at
    return {
        "card": card,
        "holder": holder,
        "institution": holder.institution,
        "issued_on": issued_at.astimezone(holder.institution.zone).date(),
        "site_url": str(settings.SITE_URL).rstrip("/"),
        "link_url": portal_link_url(),
    }


def activation_letters_pdf(*, cards: Sequence[Card], printed_by: User, language: str | None = None) -> bytes:
    """One letter a page for the guardians of each card's holder, with its one-time activation code.

    Raises ActivationCodeUsed, printing nothing, if a card's code was used (or never made): make a
    new one first (`cards.issuance.activation_code_renew`).
    """
    if not cards or any(card.kind != Card.Kind.REGULAR or not card.activation_code for card in cards):
        raise ActivationCodeUsed()
    with translation.override(language or translation.get_language()):
        letters = [activation_letter_context(card=card) for card in cards]
        html = render_to_string("cards/activation_letter_pdf.html", {"letters": letters})
    pdf = _pdf(html)
    for card in cards:
        assert card.holder is not None
        audit_record(
            actor=printed_by,
            action="card.activation_letter_printed",
            target=card,
            institution=card.holder.institution,
            details={"number": card.number},
        )
    return pdf


def issuance_register_context(*, institution: Institution, first: dt.date, last: dt.date) -> dict[str, Any]:
    rows: list[CardIssuance] = list(issuance_register_rows(institution=institution, first=first, last=last))
    return {
        "institution": institution,
        "first": first,
        "last": last,
        "rows": [
            {
                "issuance": row,
                "at": row.issued_at.astimezone(institution.zone),
                "name": row.holder.name if row.holder else str(row.card.staff_user or ""),
                "group": row.holder.group if row.holder else "",
            }
            for row in rows
        ],
        "made_at": timezone.now().astimezone(institution.zone),
    }


def issuance_register_pdf(
    *, institution: Institution, first: dt.date, last: dt.date, printed_by: User, language: str | None = None
) -> bytes:
    """The register of the cards handed out from `first` to `last`, with a column to sign in."""
    with translation.override(language or translation.get_language()):
        context = issuance_register_context(institution=institution, first=first, last=last)
        html = render_to_string("cards/issuance_register_pdf.html", {**context, "printed_by": printed_by})
    pdf = _pdf(html)
    audit_record(
        actor=printed_by,
        action="card.issuance_register_printed",
        institution=institution,
        details={"first": first.isoformat(), "last": last.isoformat(), "rows": len(context["rows"])},
    )
    return pdf


def register_filename(*, institution: Institution, first: dt.date, last: dt.date) -> str:
    span = first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
    return f"card-register-{institution.pk}-{span}.pdf"
