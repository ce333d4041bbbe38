"""Registering pupils from a CSV file: a dry run with a report line by line, then the whole file or
nothing, only into the office user's own institutions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, Institution, Role, User
from accounts.services import membership_grant
from cards.imports import ImportReport, holders_import
from cards.models import Cardholder, Guardianship, PriceCategory
from cardsystem.errors import InvalidRequest
from payments.models import LedgerAccount
from tests.cards.test_back_office import office_user, signed_in
from tests.factories import CardholderFactory, InstitutionFactory, PriceCategoryFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = "name,group,price_category,allergy_note,guardian_email\n"


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(name="Our School")


@pytest.fixture
def other() -> Institution:
    return InstitutionFactory(name="Their School")


@pytest.fixture
def clerk(school: Institution) -> User:
    return office_user(school)


@pytest.fixture(autouse=True)
def categories() -> list[PriceCategory]:
    return [PriceCategoryFactory(code="grades-1-4"), PriceCategoryFactory(code="grades-5-9", name="Grades 5–9")]


def run(text: str, school: Institution, clerk: User, *, dry_run: bool) -> ImportReport:
    return holders_import(data=text.encode(), institution=school, imported_by=clerk, dry_run=dry_run)


GOOD = HEADER + "Anna Jensen,2A,grades-1-4,,\nBo Hansen,5B,grades-5-9,Nuts,\n"


def test_a_dry_run_reports_every_line_and_writes_nothing(school: Institution, clerk: User) -> None:
    report = run(GOOD, school, clerk, dry_run=True)

    assert report.valid and not report.imported
    assert [(row.line, row.name, row.group, row.ok) for row in report.rows] == [
        (2, "Anna Jensen", "2A", True),
        (3, "Bo Hansen", "5B", True),
    ]
    assert not Cardholder.objects.exists()
    assert not LedgerAccount.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_confirmed_import_registers_every_pupil_with_balances_and_audit(school: Institution, clerk: User) -> None:
    report = run(GOOD, school, clerk, dry_run=False)

    assert report.imported
    anna, bo = Cardholder.objects.order_by("name")
    assert (anna.institution, anna.group, anna.price_category.code) == (school, "2A", "grades-1-4")  # type: ignore[union-attr]
    assert bo.allergy_note == "Nuts"
    assert LedgerAccount.objects.filter(holder__in=[anna, bo]).count() == 4
    assert AuditEntry.objects.filter(action="holder.registered", details__via="import").count() == 2
    assert AuditEntry.objects.get(action="holders.imported").details == {"count": 2}


def test_a_guardian_signed_up_with_the_address_is_linked(school: Institution, clerk: User) -> None:
    guardian = UserFactory(email="far@example.com")
    text = HEADER + "Anna Jensen,2A,grades-1-4,,far@example.com\nBo Hansen,5B,grades-5-9,,nobody@example.com\n"

    report = run(text, school, clerk, dry_run=False)

    anna = Cardholder.objects.get(name="Anna Jensen")
    assert Guardianship.objects.filter(guardian=guardian, holder=anna).exists()
    assert Guardianship.objects.count() == 1
    assert "far@example.com" in report.rows[0].notes[0]
    assert "activation letter" in report.rows[1].notes[0]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (",2A,grades-1-4,,", "The name is missing."),
        ("Anna Jensen,,grades-1-4,,", "The class is missing."),
        ("Anna Jensen,2A,,,", "The price category is missing."),
        ("Anna Jensen,2A,grades-x,,", "No price category has the code “grades-x”."),
        ("Anna Jensen,2A,grades-1-4,,not-an-address", "“not-an-address” is not an e-mail address."),
        ("Anna Jensen,2A,grades-1-4,,,surplus", "The line has more cells than the header has columns."),
        ("Anna Jensen," + "x" * 41 + ",grades-1-4,,", "The class is longer than 40 characters."),
    ],
)
def test_a_bad_line_is_reported_with_its_line_and_reason_and_nothing_is_written(
    school: Institution, clerk: User, line: str, reason: str
) -> None:
    text = HEADER + "Bo Hansen,5B,grades-5-9,,\n" + line + "\n"

    report = run(text, school, clerk, dry_run=False)

    assert not report.valid and not report.imported
    [bad] = report.bad_rows
    assert (bad.line, bad.errors) == (3, [reason])
    assert report.rows[0].ok
    assert not Cardholder.objects.exists()
    assert not LedgerAccount.objects.exists()


def test_a_pupil_twice_in_the_file_is_reported_on_the_second_line(school: Institution, clerk: User) -> None:
    text = HEADER + "Anna Jensen,2A,grades-1-4,,\nBo Hansen,5B,grades-5-9,,\nanna jensen,2a,grades-1-4,,\n"

    report = run(text, school, clerk, dry_run=True)

    [bad] = report.bad_rows
    assert (bad.line, bad.errors) == (4, ["The same pupil is on line 2 too."])


def test_a_file_imported_twice_is_refused_the_second_time(school: Institution, clerk: User) -> None:
    run(GOOD, school, clerk, dry_run=False)

    report = run(GOOD, school, clerk, dry_run=False)

    assert not report.imported
    assert [row.errors for row in report.rows] == [["A pupil of this name is registered in this class already."]] * 2
    assert Cardholder.objects.count() == 2


def test_a_namesake_at_another_institution_is_no_duplicate(
    school: Institution, other: Institution, clerk: User
) -> None:
    CardholderFactory(institution=other, name="Anna Jensen", group="2A")

    assert run(GOOD, school, clerk, dry_run=True).valid


def test_line_numbers_count_blank_lines_and_the_header(school: Institution, clerk: User) -> None:
    text = HEADER + "\nAnna Jensen,2A,grades-1-4,,\n\n,5B,grades-5-9,,\n"

    report = run(text, school, clerk, dry_run=True)

    assert [(row.line, row.ok) for row in report.rows] == [(3, True), (5, False)]


def test_a_spreadsheet_file_with_semicolons_and_a_byte_order_mark_is_read(school: Institution, clerk: User) -> None:
    text = "\ufeffName;Class;Price category code;Allergy;E-mail\nÆble Øster;2A;GRADES-1-4;Æg;\n"

    report = run(text, school, clerk, dry_run=False)

    assert report.imported
    holder = Cardholder.objects.get()
    assert (holder.name, holder.group, holder.allergy_note) == ("Æble Øster", "2A", "Æg")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name,group\nAnna,2A\n", "Missing columns: price_category."),
        (HEADER.strip() + ",shoe_size\n", "Unknown columns: shoe_size."),
        ("", "The file is empty."),
        (HEADER, "The file has no pupils in it."),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(
    school: Institution, clerk: User, text: str, problem: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        run(text, school, clerk, dry_run=True)

    assert refused.value.fields == {"file": [problem]}


def test_a_file_not_in_utf8_is_refused(school: Institution, clerk: User) -> None:
    with pytest.raises(InvalidRequest):
        holders_import(
            data=(HEADER + "Æble,2A,grades-1-4,,\n").encode("latin-1"),
            institution=school,
            imported_by=clerk,
            dry_run=True,
        )


# --- the admin pages ----------------------------------------------------------------------------


def upload(client: Client, institution: Institution, text: str) -> object:
    return client.post(
        reverse("admin:cards_cardholder_import"),
        {"institution": institution.pk, "file": SimpleUploadedFile("pupils.csv", text.encode(), "text/csv")},
    )


def test_the_admin_shows_the_report_then_registers_on_confirmation(school: Institution, clerk: User) -> None:
    office = signed_in(clerk)

    checked = upload(office, school, GOOD)

    assert checked.status_code == 200  # type: ignore[attr-defined]
    assert checked.context["report"].valid  # type: ignore[attr-defined]
    assert not Cardholder.objects.exists()
    payload = checked.context["payload"]  # type: ignore[attr-defined]

    confirmed = office.post(reverse("admin:cards_cardholder_import"), {"payload": payload, "confirm": "1"})

    assert confirmed.status_code == 302
    assert Cardholder.objects.filter(institution=school).count() == 2


def test_the_admin_offers_no_confirmation_for_a_file_with_a_bad_line(school: Institution, clerk: User) -> None:
    response = upload(signed_in(clerk), school, HEADER + "Anna Jensen,2A,nope,,\n")

    content = response.content.decode()  # type: ignore[attr-defined]
    assert "No price category has the code" in content
    assert 'name="confirm"' not in content
    assert response.context["payload"] == ""  # type: ignore[attr-defined]


def test_an_office_user_cannot_import_into_another_institution(
    school: Institution, other: Institution, clerk: User
) -> None:
    response = upload(signed_in(clerk), other, GOOD)

    assert "institution" in response.context["form"].errors  # type: ignore[attr-defined]
    assert not Cardholder.objects.exists()


def test_a_confirmation_for_another_users_institution_is_refused(
    school: Institution, other: Institution, clerk: User
) -> None:
    checked = upload(signed_in(office_user(other)), other, GOOD)
    payload = checked.context["payload"]  # type: ignore[attr-defined]

    response = signed_in(clerk).post(reverse("admin:cards_cardholder_import"), {"payload": payload, "confirm": "1"})

    assert response.status_code == 302
    assert not Cardholder.objects.exists()


def test_a_tampered_confirmation_is_refused(school: Institution, clerk: User) -> None:
    checked = upload(signed_in(clerk), school, GOOD)
    payload = checked.context["payload"] + "x"  # type: ignore[attr-defined]

    signed_in(clerk).post(reverse("admin:cards_cardholder_import"), {"payload": payload, "confirm": "1"})

    assert not Cardholder.objects.exists()


def test_a_pupil_registered_between_check_and_confirmation_stops_the_whole_file(
    school: Institution, clerk: User
) -> None:
    office = signed_in(clerk)
    payload = upload(office, school, GOOD).context["payload"]  # type: ignore[attr-defined]
    CardholderFactory(institution=school, name="Bo Hansen", group="5B")

    response = office.post(reverse("admin:cards_cardholder_import"), {"payload": payload, "confirm": "1"})

    assert response.status_code == 200
    assert not Cardholder.objects.filter(name="Anna Jensen").exists()


def test_the_example_file_passes_its_own_check(school: Institution, clerk: User) -> None:
    example = signed_in(clerk).get(reverse("admin:cards_cardholder_import_example")).content.decode()

    assert run(example, school, clerk, dry_run=True).valid


def test_finance_staff_cannot_import(school: Institution) -> None:
    finance = UserFactory()
    membership_grant(user=finance, institution=school, role=Role.FINANCE)

    assert upload(signed_in(finance), school, GOOD).status_code == 403  # type: ignore[attr-defined]
    assert not Cardholder.objects.exists()
