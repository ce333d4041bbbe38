"""Meals in a real browser: a guardian orders and cancels on the month calendar (phone, desktop and
Arabic), and a pupil's card read at the self-service terminal opens their page, where they pick."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import Page, expect

from accounts.models import Institution, Role, User
from canteen.meal_calendar import local_today
from canteen.models import MealOrder, SchoolDay
from cards.models import Cardholder
from terminals.models import Terminal
from tests.factories import PASSWORD, CardFactory, holder_with_balances, staff_user, terminal_with_token
from tests.meal_factories import guardian_of, meal_school, weekday_school_days

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 1024, "height": 768}


@dataclass
class School:
    base: str
    institution: Institution
    pupil: Cardholder
    guardian: User
    days: list[SchoolDay]
    today: dt.date

    def ahead(self, count: int) -> SchoolDay:
        """The count-th school day after today: from the third on, its deadline is days away."""
        return [day for day in self.days if day.date > self.today][count - 1]

    def calendar(self, day: SchoolDay) -> str:
        return f"{self.base}/portal/holders/{self.pupil.pk}/meals/?month={day.date:%Y-%m}"


def form_name(date: dt.date) -> str:
    return f"Meal on {date:%A} {date.day} {date:%B}"


def verified(user: User) -> User:
    # Sign-in needs a verified address (ACCOUNT_EMAIL_VERIFICATION is mandatory).
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    return user


@pytest.fixture
def school(transactional_db: None, live_server: Any) -> School:
    # Real time here, not a frozen clock: the browser's own timers must run. The days ordered are
    # three and four school days ahead, whose deadlines are at least a day away whenever this runs.
    institution = meal_school(name="Demo School")
    today = local_today(institution=institution)
    days = weekday_school_days(institution, today - dt.timedelta(days=10), today + dt.timedelta(days=45))
    pupil = holder_with_balances(institution=institution, name="Anna Berg", group="2A", main=10000)
    guardian = verified(guardian_of(pupil, email="parent@example.com"))
    past = [day for day in days if day.date < today][-1]
    MealOrder.objects.create(
        holder=pupil,
        school_day=past,
        option=1,
        source=MealOrder.Source.GUARDIAN,
        status=MealOrder.Status.PAID,
        price_cents=2500,
    )
    return School(base=live_server.url, institution=institution, pupil=pupil, guardian=guardian, days=days, today=today)


def sign_in(page: Page, base: str, email: str, landing: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page).to_have_url(f"{base}{landing}")


def test_a_guardian_orders_and_cancels_meals_on_the_calendar(page: Page, school: School, screenshots: Path) -> None:
    to_order, to_cancel = school.ahead(3), school.ahead(4)
    MealOrder.objects.create(holder=school.pupil, school_day=to_cancel, option=1, source=MealOrder.Source.GUARDIAN)
    page.set_viewport_size(DESKTOP)
    sign_in(page, school.base, school.guardian.email, "/portal/")

    page.goto(school.calendar(to_order))
    day = page.locator(f"#day-{to_order.date.isoformat()}")
    expect(day).to_contain_text("Not ordered")
    day.get_by_role("form", name=form_name(to_order.date)).get_by_role("button", name="Option 2").click()

    expect(page).to_have_url(f"{school.calendar(to_order)}#day-{to_order.date.isoformat()}")
    expect(page.locator(".messages")).to_contain_text("Option 2 ordered for Anna Berg")
    expect(day.locator(".choice")).to_contain_text("Option 2 ordered")
    page.screenshot(path=screenshots / "meals-calendar-desktop.png", full_page=True)

    page.goto(school.calendar(to_cancel))
    day = page.locator(f"#day-{to_cancel.date.isoformat()}")
    expect(day.locator(".choice")).to_contain_text("Option 1 ordered")
    # By keyboard: the day's "No meal" button takes focus and Enter submits its form.
    day.get_by_role("form", name=form_name(to_cancel.date)).get_by_role("button", name="No meal").focus()
    page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_contain_text("No meal for Anna Berg")
    expect(page.locator(f"#day-{to_cancel.date.isoformat()} .choice")).to_contain_text("Cancelled: no meal")
    assert MealOrder.objects.get(school_day=to_order).option == 2
    assert MealOrder.objects.get(school_day=to_cancel).status == MealOrder.Status.CANCELLED

    page.set_viewport_size(PHONE)
    page.goto(school.calendar(to_order))
    expect(page.locator(f"#day-{to_order.date.isoformat()}")).to_be_visible()
    page.screenshot(path=screenshots / "meals-calendar-phone.png", full_page=True)


def test_the_calendar_in_arabic_reads_right_to_left(page: Page, school: School, screenshots: Path) -> None:
    to_order = school.ahead(3)
    page.set_viewport_size(PHONE)
    sign_in(page, school.base, school.guardian.email, "/portal/")
    page.goto(school.calendar(to_order))
    page.get_by_label("Language").select_option("ar")
    page.locator("form.language button[type=submit]").click()

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    day = page.locator(f"#day-{to_order.date.isoformat()}")
    day.locator("button[name=choice][value='2']").click()
    expect(page.locator(f"#day-{to_order.date.isoformat()}")).to_have_attribute("data-state", "ordered")
    page.screenshot(path=screenshots / "meals-calendar-arabic-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=screenshots / "meals-calendar-arabic-desktop.png", full_page=True)


@dataclass
class Kiosk:
    base: str
    terminal: Terminal
    token: str
    cook: User

    def card_read(self, uid: str) -> None:
        """What the terminal's reader agent does when a card is held to it."""
        response = httpx.post(
            f"{self.base}/api/v1/terminal/scans",
            json={"uid": uid},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text


def test_a_pupils_card_read_opens_their_page_on_the_self_service_screen(
    page: Page, school: School, screenshots: Path
) -> None:
    terminal, token = terminal_with_token(institution=school.institution, name="Meal kiosk")
    cook = verified(staff_user(institution=school.institution, role=Role.CANTEEN, email="cook@example.com"))
    kiosk = Kiosk(base=school.base, terminal=terminal, token=token, cook=cook)
    card = CardFactory(holder=school.pupil, uid="04A1B2C3D4E5F6", number="100001")
    page.set_viewport_size(TABLET)
    sign_in(page, kiosk.base, cook.email, "/till/")  # the home page sends canteen staff to their tills
    page.goto(f"{kiosk.base}/self-service/{terminal.pk}/")
    expect(page.get_by_role("heading", name="Hold your card to the reader to order your meals")).to_be_visible()
    page.screenshot(path=screenshots / "self-service-waiting.png")

    kiosk.card_read(card.uid)

    expect(page.get_by_role("heading", name="Hello Anna!")).to_be_visible(timeout=5000)
    to_order = school.ahead(3)
    day = page.locator(f"#day-{to_order.date.isoformat()}")
    day.get_by_role("button", name="Option 2").click()
    expect(page.locator(".messages")).to_contain_text("Option 2 on")
    expect(page.locator(f"#day-{to_order.date.isoformat()} .choice")).to_contain_text("Your choice: option 2")
    page.screenshot(path=screenshots / "self-service-pupil.png", full_page=True)
    order = MealOrder.objects.get(holder=school.pupil, school_day=to_order)
    assert (order.option, order.source) == (2, MealOrder.Source.TERMINAL)
