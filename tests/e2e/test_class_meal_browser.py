"""A teacher confirms a class meal in a real browser: the teacher card on the reader, the class, the
pupils with those who ordered ticked, the confirmation, and the receipt."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import Page, expect

from accounts.models import Institution, Role, User
from canteen.meal_calendar import local_today
from canteen.models import ClassMeal, MealOrder, SchoolDay
from cards.models import Card, Cardholder
from payments.ledger import holder_accounts_get
from payments.selectors import ledger_mismatches
from terminals.models import Terminal
from tests.factories import (
    PASSWORD,
    CardFactory,
    InstitutionFactory,
    PriceCategoryFactory,
    holder_with_balances,
    staff_user,
    terminal_with_token,
)
from tests.meal_factories import MealPolicyFactory, MealPriceFactory

pytestmark = [pytest.mark.browser]


@dataclass
class Classroom:
    base: str
    school: Institution
    terminal: Terminal
    token: str
    teacher: User
    card: Card
    pupils: dict[str, Cardholder]

    def screen_url(self, rest: str = "") -> str:
        return f"{self.base}/class-meals/{self.terminal.pk}/{rest}"

    def lay_teacher_card_on_reader(self) -> None:
        """What the terminal agent does when the teacher card is laid on the reader."""
        response = httpx.post(
            f"{self.base}/api/v1/terminal/scans",
            json={"uid": self.card.uid},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def classroom(transactional_db: None, live_server: Any) -> Classroom:
    school = InstitutionFactory(
        name="Demo School", school_number="101", time_zone="Europe/Copenhagen", debt_limit_cents=15000
    )
    MealPolicyFactory(institution=school)
    category = PriceCategoryFactory(code="grades-5-9", name="Grades 5–9")
    MealPriceFactory(institution=school, price_category=category, price_cents=2800)
    # Today, whatever the day of the week: the screen works on the institution's today.
    day = SchoolDay.objects.create(
        institution=school, date=local_today(institution=school), option1="Fish soup", option2="Pasta"
    )
    terminal, token = terminal_with_token(institution=school, name="Info 5B", kind=Terminal.Kind.INFO)
    teacher = staff_user(institution=school, role=Role.TEACHER, email="teacher@example.com", full_name="Mette Lærer")
    EmailAddress.objects.create(user=teacher, email=teacher.email, primary=True, verified=True)
    card = CardFactory(holder=None, staff_user=teacher, kind=Card.Kind.TEACHER, uid="04D4E5F6071829", number="900001")
    pupils = {}
    for name, main, order in (
        ("Anna Berg", 10000, MealOrder.Status.ORDERED),
        ("Bo Dahl", 5000, None),
        ("Carl Ek", 10000, MealOrder.Status.CANCELLED),
        ("Dora Fri", -15000, MealOrder.Status.UNPAID),
    ):
        holder = holder_with_balances(institution=school, main=main, name=name, group="5B", price_category=category)
        if order:
            MealOrder.objects.create(holder=holder, school_day=day, status=order, source=MealOrder.Source.GUARDIAN)
        pupils[name.split()[0].lower()] = holder
    holder_with_balances(institution=school, name="Eve Gram", group="2A", price_category=category)
    return Classroom(
        base=live_server.url,
        school=school,
        terminal=terminal,
        token=token,
        teacher=teacher,
        card=card,
        pupils=pupils,
    )


def sign_in_at_the_terminal(page: Page, classroom: Classroom) -> None:
    page.goto(f"{classroom.base}/class-meals/")
    page.locator("input[name=login]").fill(classroom.teacher.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page).to_have_url(f"{classroom.base}/class-meals/")
    page.get_by_role("link", name="Info 5B").click()
    expect(page).to_have_url(classroom.screen_url())


def pupil_box(page: Page, name: str) -> Any:
    return page.get_by_role("checkbox", name=name)


def test_a_teacher_confirms_a_class_meal_on_a_phone(page: Page, classroom: Classroom, screenshots: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in_at_the_terminal(page, classroom)
    expect(page.get_by_role("heading", name="Confirm a class meal")).to_be_visible()
    page.screenshot(path=screenshots / "class-meal-phone-card.png", full_page=True)

    classroom.lay_teacher_card_on_reader()

    expect(page).to_have_url(classroom.screen_url("classes/"))
    expect(page.locator("[data-field=teacher-card]")).to_have_text("900001")
    expect(page.locator(".cm-steps [aria-current=step]")).to_contain_text("Class")
    page.get_by_role("link", name="5B").click()

    expect(page.get_by_role("heading", name="Class 5B")).to_be_visible()
    expect(pupil_box(page, "Anna Berg")).to_be_checked()
    expect(pupil_box(page, "Bo Dahl")).not_to_be_checked()
    expect(pupil_box(page, "Carl Ek")).not_to_be_checked()
    expect(pupil_box(page, "Dora Fri")).to_be_checked()
    expect(page.locator("#cm-count")).to_contain_text("2")
    expect(page.locator("main")).to_contain_text("At the debt limit: cannot be served")
    expect(page.locator("main")).not_to_contain_text("Eve Gram")

    page.get_by_text("Bo Dahl").click()  # the whole row's label ticks the box
    expect(pupil_box(page, "Bo Dahl")).to_be_checked()
    expect(page.locator("#cm-count")).to_have_text("\u20683\u2069 of \u20684\u2069 pupils ticked")
    expect(page.locator("#cm-confirm")).to_have_text("Confirm \u20683\u2069 pupils")
    page.screenshot(path=screenshots / "class-meal-phone-pupils.png", full_page=True)

    page.locator("#cm-confirm").click()

    class_meal = ClassMeal.objects.get()
    expect(page).to_have_url(classroom.screen_url(f"done/{class_meal.pk}/"))
    expect(page.locator(".cm-ok")).to_have_text("2 pupils served.")
    expect(page.locator(".cm-warning")).to_contain_text("Dora Fri")
    expect(page.locator("[data-table=pupils]")).to_contain_text("Anna Berg")
    expect(page.locator("[data-table=pupils]")).to_contain_text("Bo Dahl")
    expect(page.locator("[data-table=pupils]")).not_to_contain_text("Dora Fri")
    expect(page.locator("[data-field=total]")).to_contain_text("56.00")
    page.screenshot(path=screenshots / "class-meal-phone-done.png", full_page=True)

    balances = {key: holder_accounts_get(holder_id=h.pk).main.balance_cents for key, h in classroom.pupils.items()}
    assert balances == {"anna": 10000 - 2800, "bo": 5000 - 2800, "carl": 10000, "dora": -15000}
    assert ledger_mismatches() == []

    page.get_by_role("link", name="Open the receipt").click()
    expect(page.get_by_role("heading", name="Class meal receipt")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Mette Lærer")
    page.screenshot(path=screenshots / "class-meal-phone-receipt.png", full_page=True)


def test_a_teacher_uses_the_screen_by_keyboard_alone(page: Page, classroom: Classroom, screenshots: Path) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in_at_the_terminal(page, classroom)

    page.keyboard.type("900001")  # the card field has the focus, as a USB reader typing would find it
    page.keyboard.press("Enter")
    expect(page).to_have_url(classroom.screen_url("classes/"))
    page.get_by_role("link", name="5B").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Class 5B")).to_be_visible()
    pupil_box(page, "Dora Fri").focus()
    page.keyboard.press("Space")
    expect(pupil_box(page, "Dora Fri")).not_to_be_checked()
    page.locator("#cm-confirm").focus()
    page.keyboard.press("Enter")

    expect(page.locator(".cm-ok")).to_have_text("1 pupil served.")
    page.screenshot(path=screenshots / "class-meal-tablet-done.png", full_page=True)
