"""The guardian's activation letter and the issuance register, rendered as PDFs and read back."""

import datetime as dt
import subprocess
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, Institution, User
from cards.issuance import ActivationCodeUsed, activation_code_renew, card_office_issue, loaner_lend
from cards.letters import activation_letters_pdf, issuance_register_pdf
from cards.models import Card, Cardholder, CardIssuance
from cards.services import guardianship_link
from tests.cards.test_back_office import office_user, signed_in
from tests.factories import CardFactory, InstitutionFactory, UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db

MONDAY = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "out.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], capture_output=True, check=True, text=True).stdout


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(name="Our School", school_number="101", time_zone="Europe/Copenhagen")


@pytest.fixture
def other() -> Institution:
    return InstitutionFactory(name="Their School")


@pytest.fixture
def clerk(school: Institution) -> User:
    return office_user(school, full_name="Olga Office")


def hand_out(clerk: User, holder: Cardholder, number: str, uid: str, **kwargs: object) -> CardIssuance:
    return card_office_issue(  # type: ignore[arg-type]
        institution=holder.institution,
        uid=uid,
        number=number,
        kind=Card.Kind.REGULAR,
        holder=holder,
        issued_by=clerk,
        checked_by=clerk,
        document_type=CardIssuance.Document.PASSPORT,
        **kwargs,
    )


# --- the activation letter ----------------------------------------------------------------------


def test_the_letter_names_the_pupil_the_card_the_code_and_where_to_link_it(
    clerk: User, school: Institution, tmp_path: Path, settings: object
) -> None:
    settings.SITE_URL = "https://kort.example.dk"  # type: ignore[attr-defined]
    card = hand_out(clerk, holder_with_balances(institution=school, name="Ida Holm"), "700001", "04A1B2C3").card

    text = pdf_text(activation_letters_pdf(cards=[card], printed_by=clerk, language="en"), tmp_path)

    assert "Ida Holm" in text and "Our School" in text
    assert "700001" in text
    assert card.activation_code in text
    assert "https://kort.example.dk/portal/link/" in text


def test_the_code_printed_in_the_letter_links_the_guardian(clerk: User, school: Institution, tmp_path: Path) -> None:
    card = hand_out(clerk, holder_with_balances(institution=school), "700001", "04A1B2C3").card
    text = pdf_text(activation_letters_pdf(cards=[card], printed_by=clerk, language="en"), tmp_path)
    printed = next(line.split()[-1] for line in text.splitlines() if "Activation code" in line)
    guardian = UserFactory()

    guardianship_link(guardian=guardian, card_number="700001", activation_code=printed)

    assert card.holder is not None and guardian.wards.filter(pk=card.holder.pk).exists()


def test_the_letter_is_in_the_language_asked_for(clerk: User, school: Institution, tmp_path: Path) -> None:
    card = hand_out(clerk, holder_with_balances(institution=school), "700001", "04A1B2C3").card

    english = pdf_text(activation_letters_pdf(cards=[card], printed_by=clerk, language="en"), tmp_path)

    assert "Dear guardian" in english


def test_several_letters_print_one_a_page(clerk: User, school: Institution, tmp_path: Path) -> None:
    first = hand_out(clerk, holder_with_balances(institution=school, name="Ida Holm"), "700001", "04A1B2C3").card
    second = hand_out(clerk, holder_with_balances(institution=school, name="Bo Berg"), "700002", "04A1B2C4").card

    text = pdf_text(activation_letters_pdf(cards=[first, second], printed_by=clerk, language="en"), tmp_path)

    pages = text.split("\f")
    assert "Ida Holm" in pages[0] and "Bo Berg" in pages[1]


def test_no_letter_for_a_code_already_used(clerk: User, school: Institution) -> None:
    card = hand_out(clerk, holder_with_balances(institution=school), "700001", "04A1B2C3").card
    guardianship_link(guardian=UserFactory(), card_number=card.number, activation_code=card.activation_code)
    card.refresh_from_db()

    with pytest.raises(ActivationCodeUsed):
        activation_letters_pdf(cards=[card], printed_by=clerk)


def test_a_new_code_replaces_the_used_one_and_audits_it(clerk: User, school: Institution) -> None:
    card = hand_out(clerk, holder_with_balances(institution=school), "700001", "04A1B2C3").card
    old = card.activation_code

    activation_code_renew(card=card, renewed_by=clerk)

    assert card.activation_code and card.activation_code != old
    assert AuditEntry.objects.filter(action="card.activation_code_renewed", actor=clerk).count() == 1


def test_printing_a_letter_is_audited(clerk: User, school: Institution) -> None:
    card = hand_out(clerk, holder_with_balances(institution=school), "700001", "04A1B2C3").card

    activation_letters_pdf(cards=[card], printed_by=clerk)

    entry = AuditEntry.objects.get(action="card.activation_letter_printed")
    assert (entry.actor, entry.target_id, entry.institution) == (clerk, str(card.pk), school)
    assert card.activation_code not in str(entry.details)


def test_the_admin_serves_the_letter_as_a_pdf(clerk: User, school: Institution, tmp_path: Path) -> None:
    card = hand_out(clerk, holder_with_balances(institution=school, name="Ida Holm"), "700001", "04A1B2C3").card

    response = signed_in(clerk).get(reverse("admin:cards_card_letter", args=[card.pk]))

    assert response["Content-Type"] == "application/pdf"
    assert "Ida Holm" in pdf_text(response.content, tmp_path)


def test_the_admin_prints_letters_for_the_selected_cards(clerk: User, school: Institution, tmp_path: Path) -> None:
    card = hand_out(clerk, holder_with_balances(institution=school, name="Ida Holm"), "700001", "04A1B2C3").card

    response = signed_in(clerk).post(
        reverse("admin:cards_card_changelist"), {"action": "print_letters", "_selected_action": [card.pk]}
    )

    assert response["Content-Type"] == "application/pdf"
    assert card.activation_code in pdf_text(response.content, tmp_path)


def test_another_institutions_letter_is_not_found(clerk: User, other: Institution) -> None:
    card = CardFactory(holder=holder_with_balances(institution=other), activation_code="ABCDEFGHJK")

    response = signed_in(clerk).get(reverse("admin:cards_card_letter", args=[card.pk]))

    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="card.activation_letter_printed").exists()


def test_finance_staff_get_no_letter(school: Institution) -> None:
    from accounts.models import Role
    from accounts.services import membership_grant

    finance = UserFactory()
    membership_grant(user=finance, institution=school, role=Role.FINANCE)
    card = CardFactory(holder=holder_with_balances(institution=school), activation_code="ABCDEFGHJK")

    assert signed_in(finance).get(reverse("admin:cards_card_letter", args=[card.pk])).status_code == 403


# --- the issuance register ----------------------------------------------------------------------


@pytest.fixture
def handed_out_monday(clerk: User, school: Institution, other: Institution) -> list[CardIssuance]:
    """Two cards handed out at our school on Monday, one the day before, one elsewhere, a loaner."""
    with time_machine.travel(MONDAY - dt.timedelta(days=1), tick=False):
        hand_out(clerk, holder_with_balances(institution=school, name="Sunday Pupil"), "700000", "04A1B2C0")
    with time_machine.travel(MONDAY, tick=False):
        first = hand_out(
            clerk,
            holder_with_balances(institution=school, name="Ida Holm", group="3C"),
            "700001",
            "04A1B2C3",
            received_by="Mor Holm",
        )
        second = hand_out(clerk, holder_with_balances(institution=school, name="Bo Berg"), "700002", "04A1B2C4")
        loaner_lend(
            institution=school,
            uid="04EEEE01",
            number="L1",
            holder=holder_with_balances(institution=school, name="Loaner Pupil"),
            lent_by=clerk,
        )
        other_clerk = office_user(other)
        hand_out(other_clerk, holder_with_balances(institution=other, name="Other Pupil"), "800001", "04A1B2D0")
    return [first, second]


def test_the_register_of_a_day_lists_its_cards_with_a_signature_column(
    clerk: User, school: Institution, handed_out_monday: list[CardIssuance], tmp_path: Path
) -> None:
    day = dt.date(2026, 12, 7)

    text = pdf_text(
        issuance_register_pdf(institution=school, first=day, last=day, printed_by=clerk, language="en"), tmp_path
    )

    assert "Card issuance register" in text and "Our School" in text
    assert "Signature" in text and "Received" in text
    assert "Ida Holm" in text and "Bo Berg" in text and "Mor Holm" in text
    assert "700001" in text and "700002" in text and "Passport" in text and "Olga Office" in text
    assert "Sunday Pupil" not in text
    assert "Other Pupil" not in text
    assert "Loaner Pupil" not in text


def test_the_register_of_a_range_includes_every_day(
    clerk: User, school: Institution, handed_out_monday: list[CardIssuance], tmp_path: Path
) -> None:
    text = pdf_text(
        issuance_register_pdf(
            institution=school, first=dt.date(2026, 12, 6), last=dt.date(2026, 12, 7), printed_by=clerk, language="en"
        ),
        tmp_path,
    )

    assert "Sunday Pupil" in text and "Ida Holm" in text


def test_an_empty_register_says_so(clerk: User, school: Institution, tmp_path: Path) -> None:
    day = dt.date(2026, 12, 7)

    text = pdf_text(
        issuance_register_pdf(institution=school, first=day, last=day, printed_by=clerk, language="en"), tmp_path
    )

    assert "No cards were handed out in this period." in text


def test_printing_the_register_is_audited(
    clerk: User, school: Institution, handed_out_monday: list[CardIssuance]
) -> None:
    day = dt.date(2026, 12, 7)

    issuance_register_pdf(institution=school, first=day, last=day, printed_by=clerk)

    entry = AuditEntry.objects.get(action="card.issuance_register_printed")
    assert (entry.actor, entry.institution, entry.details["rows"]) == (clerk, school, 2)


def test_the_admin_prints_the_register_for_the_users_institution(
    clerk: User, school: Institution, handed_out_monday: list[CardIssuance], tmp_path: Path
) -> None:
    response = signed_in(clerk).get(
        reverse("admin:cards_cardissuance_register"),
        {"institution": school.pk, "first": "2026-12-07", "last": "2026-12-07"},
    )

    assert response["Content-Type"] == "application/pdf"
    assert "Ida Holm" in pdf_text(response.content, tmp_path)


def test_the_admin_does_not_print_another_institutions_register(
    clerk: User, other: Institution, handed_out_monday: list[CardIssuance]
) -> None:
    response = signed_in(clerk).get(
        reverse("admin:cards_cardissuance_register"),
        {"institution": other.pk, "first": "2026-12-07", "last": "2026-12-07"},
    )

    assert response.status_code == 200
    assert "institution" in response.context["form"].errors
    assert not AuditEntry.objects.filter(action="card.issuance_register_printed").exists()


def test_the_issuance_list_shows_only_the_users_institution(clerk: User, handed_out_monday: list[CardIssuance]) -> None:
    content = signed_in(clerk).get(reverse("admin:cards_cardissuance_changelist")).content.decode()

    assert "700001" in content
    assert "800001" not in content


def test_the_register_refuses_a_period_ending_before_it_starts(clerk: User, school: Institution) -> None:
    response: Client = signed_in(clerk).get(  # type: ignore[assignment]
        reverse("admin:cards_cardissuance_register"),
        {"institution": school.pk, "first": "2026-12-07", "last": "2026-12-06"},
    )

    assert "last" in response.context["form"].errors  # type: ignore[attr-defined]
