"""The kitchen's figures [SL]: meals per option and price category, the allergy list, the page, the PDF
and the e-mail sent once at the deadline."""

import datetime as dt
import io
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone, translation
from pypdf import PdfReader

from accounts.models import Institution, Role
from canteen.kitchen import kitchen_day_counts, kitchen_day_mail
from canteen.meal_deadline import meal_day_close
from canteen.meal_orders import meal_subscription_set
from canteen.models import MealOrder, SchoolDay
from cards.models import Cardholder, PriceCategory
from tests.factories import (
    CardholderFactory,
    InstitutionFactory,
    PriceCategoryFactory,
    UserFactory,
    holder_with_balances,
    staff_user,
)
from tests.meal_factories import MealOrderFactory, MealPolicyFactory, MealPriceFactory, SchoolDayFactory

pytestmark = pytest.mark.django_db

MONDAY = dt.date(2026, 12, 7)
KITCHEN = "kitchen@example.com"
Paid, Unpaid, Cancelled, Ordered = (
    MealOrder.Status.PAID,
    MealOrder.Status.UNPAID,
    MealOrder.Status.CANCELLED,
    MealOrder.Status.ORDERED,
)


@pytest.fixture
def school() -> Institution:
    institution = InstitutionFactory(name="Nørre Skole")
    MealPolicyFactory(institution=institution, kitchen_email=KITCHEN)
    return institution


@pytest.fixture
def small() -> PriceCategory:
    return PriceCategoryFactory(code="small", name="Grades 1 to 4")


@pytest.fixture
def big() -> PriceCategory:
    return PriceCategoryFactory(code="big", name="Grades 5 to 9")


def closed_day(institution: Institution, date: dt.date = MONDAY) -> SchoolDay:
    return SchoolDayFactory(
        institution=institution,
        date=date,
        option1="Meatballs",
        option2="Lasagne",
        orders_closed_at=timezone.now(),
    )


def order(
    day: SchoolDay,
    category: PriceCategory,
    *,
    option: int = 1,
    status: str = Paid,
    name: str | None = None,
    group: str = "5B",
    allergy: str = "",
) -> MealOrder:
    holder_fields = {"name": name} if name else {}
    holder = CardholderFactory(
        institution=day.institution, price_category=category, group=group, allergy_note=allergy, **holder_fields
    )
    return MealOrderFactory(school_day=day, holder=holder, option=option, status=status)


@pytest.fixture
def day(school: Institution, small: PriceCategory, big: PriceCategory) -> SchoolDay:
    """Paid: grades 1–4 three of option 1 and one of option 2, grades 5–9 two and two; one unpaid
    option 2, one cancelled; allergy notes on a paid, an unpaid and a cancelled order."""
    day = closed_day(school)
    order(day, small, name="Ida", group="2A", allergy="Peanuts")
    order(day, small)
    order(day, small)
    order(day, small, option=2)
    order(day, big)
    order(day, big)
    order(day, big, option=2, name="Bo", group="5B", allergy="Vegetarian")
    order(day, big, option=2)
    order(day, big, option=2, status=Unpaid, name="Ulla", group="6C", allergy="Gluten")
    order(day, small, status=Cancelled, name="Carl", allergy="Milk")
    return day


def counts_table(day: SchoolDay) -> list[tuple[str, int, int, int]]:
    return [(row.category, row.option1, row.option2, row.total) for row in kitchen_day_counts(school_day=day).rows]


def pdf_text(content: bytes) -> str:
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return " ".join(text.split())


# --- the figures -------------------------------------------------------------------------------


def test_paid_meals_are_counted_per_price_category_and_option(day: SchoolDay) -> None:
    assert counts_table(day) == [("Grades 1 to 4", 3, 1, 4), ("Grades 5 to 9", 2, 2, 4)]


def test_the_totals_are_the_paid_meals_of_every_category(day: SchoolDay) -> None:
    totals = kitchen_day_counts(school_day=day).totals
    assert (totals.option1, totals.option2, totals.total) == (5, 3, 8)


def test_unpaid_orders_are_counted_apart_and_not_in_the_meals_to_cook(day: SchoolDay) -> None:
    unpaid = kitchen_day_counts(school_day=day).unpaid
    assert (unpaid.option1, unpaid.option2) == (0, 1)


def test_a_cancelled_order_is_not_counted(school: Institution, small: PriceCategory) -> None:
    day = closed_day(school)
    order(day, small, status=Cancelled)
    kitchen = kitchen_day_counts(school_day=day)
    assert kitchen.rows == [] and kitchen.totals.total == 0 and kitchen.unpaid.total == 0


def test_a_holder_without_a_price_category_is_counted_under_no_category(school: Institution) -> None:
    day = closed_day(school)
    MealOrderFactory(school_day=day, holder=CardholderFactory(institution=school, price_category=None))
    with translation.override("en"):
        assert counts_table(day) == [("No price category", 1, 0, 1)]


def test_another_days_orders_are_not_counted(day: SchoolDay, small: PriceCategory) -> None:
    order(closed_day(day.institution, MONDAY + dt.timedelta(days=1)), small)
    assert kitchen_day_counts(school_day=day).totals.total == 8


def test_the_allergy_list_has_each_pupil_with_a_note_with_class_and_option(day: SchoolDay) -> None:
    lines = [(a.group, a.name, a.option, a.note, a.unpaid) for a in kitchen_day_counts(school_day=day).allergies]
    assert lines == [
        ("2A", "Ida", 1, "Peanuts", False),
        ("5B", "Bo", 2, "Vegetarian", False),
        ("6C", "Ulla", 2, "Gluten", True),  # may still eat if the debt is paid before lunch
    ]


def test_before_the_deadline_open_orders_and_subscribers_are_counted_as_provisional(
    school: Institution, small: PriceCategory
) -> None:
    day = SchoolDayFactory(institution=school, date=MONDAY)
    order(day, small, option=2, status=Ordered)
    subscriber = CardholderFactory(institution=school, price_category=small, name="Sam", allergy_note="Eggs")
    meal_subscription_set(holder=subscriber, subscribed=True)
    cancelled_subscriber = CardholderFactory(institution=school, price_category=small)
    meal_subscription_set(holder=cancelled_subscriber, subscribed=True)
    MealOrderFactory(school_day=day, holder=cancelled_subscriber, status=Cancelled)

    kitchen = kitchen_day_counts(school_day=day)

    assert kitchen.provisional
    assert counts_table(day) == [("Grades 1 to 4", 1, 1, 2)]
    assert [(a.name, a.option, a.note) for a in kitchen.allergies] == [("Sam", 1, "Eggs")]


def test_after_the_deadline_the_figures_are_final(day: SchoolDay) -> None:
    assert not kitchen_day_counts(school_day=day).provisional


# --- the page and the PDF ----------------------------------------------------------------------


def staff_client(institution: Institution, role: str = Role.CANTEEN) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff_user(institution=institution, role=role))
    return client


def page_url(day: SchoolDay) -> str:
    return f"/kitchen/{day.institution_id}/{day.date.isoformat()}/"


def test_the_page_shows_the_counts_and_the_allergy_list(day: SchoolDay) -> None:
    response = staff_client(day.institution).get(page_url(day))
    assert response.status_code == 200
    content = response.content.decode()
    for text in ("Nørre Skole", "2026-12-07", "Meatballs", "Lasagne", "Grades 1 to 4", "Peanuts", "Ida", "Gluten"):
        assert text in content, text
    assert '<td class="num" data-field="total">8</td>' in content
    assert "Milk" not in content  # the cancelled pupil's note


def test_office_staff_see_the_page_too(day: SchoolDay) -> None:
    assert staff_client(day.institution, Role.OFFICE).get(page_url(day)).status_code == 200


def test_the_pdf_shows_the_counts_and_the_allergy_list(day: SchoolDay) -> None:
    response = staff_client(day.institution).get(page_url(day) + "kitchen.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    for expected in (
        "Nørre Skole",
        "2026-12-07",
        "Meatballs",
        "Grades 1 to 4 3 1 4",
        "Grades 5 to 9 2 2 4",
        "Total 5 3 8",
        "2A Ida 1 Peanuts",
        "6C Ulla",
        "Gluten",
    ):
        assert expected in text, expected
    assert "Milk" not in text


def test_staff_of_another_institution_get_404(day: SchoolDay) -> None:
    client = staff_client(InstitutionFactory())
    assert client.get(page_url(day)).status_code == 404
    assert client.get(page_url(day) + "kitchen.pdf").status_code == 404


def test_a_guardian_is_refused(day: SchoolDay) -> None:
    client = Client()
    guardian = UserFactory()
    client.force_login(guardian)
    assert client.get(page_url(day)).status_code == 403
    assert client.get(page_url(day) + "kitchen.pdf").status_code == 403


def test_a_teacher_is_refused(day: SchoolDay) -> None:
    assert staff_client(day.institution, Role.TEACHER).get(page_url(day)).status_code == 403


def test_signed_out_the_page_sends_to_sign_in(day: SchoolDay) -> None:
    response = Client().get(page_url(day))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("date", ["2026-12-05", "2026-13-01", "20261207"])
def test_a_day_that_is_not_a_school_day_or_not_a_date_is_404(day: SchoolDay, date: str) -> None:
    assert staff_client(day.institution).get(f"/kitchen/{day.institution_id}/{date}/").status_code == 404


def test_the_page_links_the_neighbouring_school_days(day: SchoolDay) -> None:
    closed_day(day.institution, MONDAY + dt.timedelta(days=1))
    content = staff_client(day.institution).get(page_url(day)).content.decode()
    assert f"/kitchen/{day.institution_id}/2026-12-08/" in content
    assert f"/kitchen/{day.institution_id}/2026-12-04/" not in content


# --- the e-mail --------------------------------------------------------------------------------


def test_the_mail_goes_to_the_kitchen_with_the_pdf(day: SchoolDay) -> None:
    assert kitchen_day_mail(school_day_id=day.pk) is True
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [KITCHEN]
    assert "Nørre Skole" in message.subject and "2026-12-07" in message.subject
    assert "Peanuts" in message.body and "Meatballs" in message.body
    ((filename, content, mimetype),) = message.attachments
    assert mimetype == "application/pdf" and filename.endswith("2026-12-07.pdf")
    assert "Grades 1 to 4 3 1 4" in pdf_text(content)


def test_the_mail_is_sent_once(day: SchoolDay) -> None:
    kitchen_day_mail(school_day_id=day.pk)
    assert kitchen_day_mail(school_day_id=day.pk) is False
    assert len(mail.outbox) == 1
    day.refresh_from_db()
    assert day.kitchen_notified_at is not None


def test_without_a_kitchen_address_nothing_is_sent(day: SchoolDay) -> None:
    day.institution.meal_policy.kitchen_email = ""
    day.institution.meal_policy.save()
    assert kitchen_day_mail(school_day_id=day.pk) is False
    assert mail.outbox == []
    day.refresh_from_db()
    assert day.kitchen_notified_at is None


def test_before_the_deadline_nothing_is_sent(school: Institution) -> None:
    day = SchoolDayFactory(institution=school, date=MONDAY)
    assert kitchen_day_mail(school_day_id=day.pk) is False
    assert mail.outbox == []


def test_a_failed_send_gives_the_claim_back_so_a_retry_sends(day: SchoolDay) -> None:
    with (
        mock.patch("django.core.mail.EmailMessage.send", side_effect=ConnectionRefusedError),
        pytest.raises(ConnectionRefusedError),
    ):
        kitchen_day_mail(school_day_id=day.pk)
    day.refresh_from_db()
    assert day.kitchen_notified_at is None
    assert kitchen_day_mail(school_day_id=day.pk) is True


@override_settings(LANGUAGE_CODE="da")
def test_the_mail_is_in_the_deployments_language(day: SchoolDay) -> None:
    with translation.override("en"):  # whoever ran the task
        kitchen_day_mail(school_day_id=day.pk)
    assert "mandag" in mail.outbox[0].body  # Monday, in Danish


def test_the_deadline_job_mails_the_kitchen(
    school: Institution, small: PriceCategory, django_capture_on_commit_callbacks: Any
) -> None:
    MealPriceFactory(institution=school, price_category=small, price_cents=2500)
    day = SchoolDayFactory(institution=school, date=MONDAY, option1="Meatballs")
    pupil: Cardholder = holder_with_balances(institution=school, main=10000, price_category=small)
    MealOrderFactory(school_day=day, holder=pupil, status=Ordered)

    with django_capture_on_commit_callbacks(execute=True):
        meal_day_close(school_day=day)

    assert [message.to for message in mail.outbox] == [[KITCHEN]]
    assert "Grades 1 to 4 1 0 1" in pdf_text(mail.outbox[0].attachments[0][1])
