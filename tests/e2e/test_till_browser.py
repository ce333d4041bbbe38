"""The till screen in a real browser: a scan appears without reload, a sale, the customer display."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import Page, expect

from accounts.models import Role, User
from cards.models import Card
from terminals.models import Terminal
from tests.factories import (
    PASSWORD,
    InstitutionFactory,
    ProductFactory,
    card_with_balances,
    staff_user,
    terminal_with_token,
)

pytestmark = pytest.mark.browser


def isolated(sentence: str, value: str) -> str:
    """A sentence as the page fills it: the inserted value is bidi-isolated (U+2068 … U+2069)."""
    return sentence % f"\u2068{value}\u2069"


@dataclass
class Canteen:
    base: str
    terminal: Terminal
    token: str
    cook: User
    card: Card

    def till_url(self, rest: str = "") -> str:
        return f"{self.base}/till/{self.terminal.pk}/{rest}"

    def scan(self, uid: str | None = None) -> dict[str, Any]:
        """What the terminal agent does when a card is laid on the reader."""
        response = httpx.post(
            f"{self.base}/api/v1/terminal/scans",
            json={"uid": uid or self.card.uid},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def canteen(transactional_db: None, live_server: Any) -> Canteen:
    school = InstitutionFactory(name="Demo School", school_number="101")
    terminal, token = terminal_with_token(institution=school, name="Canteen 1")
    cook = staff_user(institution=school, role=Role.CANTEEN, email="cook@example.com")
    # Sign-in needs a verified address (ACCOUNT_EMAIL_VERIFICATION is mandatory).
    EmailAddress.objects.create(user=cook, email=cook.email, primary=True, verified=True)
    card = card_with_balances(main=10000, extra=5000, institution=school, number="100001", uid="04A1B2C3D4E5F6")
    assert card.holder is not None
    card.holder.name, card.holder.group, card.holder.allergy_note = "Anna Berg", "2A", "Nuts, sesame"
    card.holder.save()
    for name, price in (("Sandwich", 2500), ("Milk", 500), ("Apple", 400), ("Chocolate bar", 1200)):
        ProductFactory(institution=school, name=name, price_cents=price)
    return Canteen(base=live_server.url, terminal=terminal, token=token, cook=cook, card=card)


def sign_in(page: Page, canteen: Canteen) -> None:
    page.goto(f"{canteen.base}/till/")
    page.locator("input[name=login]").fill(canteen.cook.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page).to_have_url(f"{canteen.base}/till/")


def open_till(page: Page, canteen: Canteen) -> None:
    sign_in(page, canteen)
    page.locator("a.till-choice", has_text="Canteen 1").click()
    expect(page).to_have_url(canteen.till_url())
    expect(page.locator("#customer-waiting")).to_be_visible()


def test_the_sign_in_page_wears_the_sites_layout(page: Page, canteen: Canteen, screenshots: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 740})
    page.goto(f"{canteen.base}/accounts/login/")
    expect(page.locator("header.site-header")).to_be_visible()
    expect(page.locator("#language-select")).to_be_visible()
    page.screenshot(path=screenshots / "login-phone.png", full_page=True)


def test_a_scan_at_the_terminal_appears_on_the_till_without_reload(
    page: Page, canteen: Canteen, screenshots: Path
) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    open_till(page, canteen)
    page.evaluate("window.notReloaded = true")
    canteen.scan()
    expect(page.locator("#customer-name")).to_have_text("Anna Berg")
    expect(page.locator("#customer-group")).to_have_text("2A")
    expect(page.locator("#customer-allergy")).to_contain_text("Nuts, sesame")
    expect(page.locator("#balance-extra")).to_contain_text("50.00")
    expect(page.locator("#customer-initials")).to_have_text("AB")
    expect(page.locator("#announcer")).to_contain_text("Anna Berg")
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=screenshots / "till-tablet-scanned.png", full_page=True)


def test_a_card_sale_shows_success_and_the_display_shows_the_new_balance(
    page: Page, canteen: Canteen, screenshots: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    open_till(page, canteen)
    display = page.context.new_page()
    display.set_viewport_size({"width": 800, "height": 480})
    display.goto(canteen.till_url("display/"))
    expect(display.locator("#display-greeting")).to_have_text("Welcome!")

    canteen.scan()
    expect(page.locator("#customer-name")).to_have_text("Anna Berg")
    page.locator(".product", has_text="Sandwich").click()
    expect(page.locator("#order-total")).to_have_text("25.00")
    expect(display.locator("#display-greeting")).to_have_text(isolated("Hello %s!", "Anna"))
    expect(display.locator("#display-lines")).to_contain_text("Sandwich")
    display.screenshot(path=screenshots / "display-order.png")

    page.get_by_role("button", name="Pay by card").click()
    expect(page.locator("#result")).to_have_class("result is-ok")
    expect(page.locator("#result-text")).to_contain_text("25.00")
    expect(page.locator("#result-receipt")).to_have_attribute("href", re.compile(r"^/receipts/"))
    expect(page.locator("#balance-extra")).to_contain_text("25.00")
    expect(display.locator("#display-greeting")).to_have_text(isolated("Thank you, %s!", "Anna"))
    expect(display.locator("#display-balance")).to_contain_text("25.00")
    expect(display.locator("#display")).not_to_contain_text("Nuts")
    expect(display.locator("#display")).not_to_contain_text("2A")
    page.screenshot(path=screenshots / "till-wide-sold.png", full_page=True)
    display.screenshot(path=screenshots / "display-thanks.png")


def test_a_typed_card_number_and_enter_show_the_pupil(page: Page, canteen: Canteen, screenshots: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    open_till(page, canteen)
    page.locator("#card-text").fill("100001")
    page.locator("#card-text").press("Enter")
    expect(page.locator("#customer-name")).to_have_text("Anna Berg")
    page.screenshot(path=screenshots / "till-phone-typed.png", full_page=True)


def test_a_blocked_card_shows_in_red_with_the_reason_and_cannot_pay(
    page: Page, canteen: Canteen, screenshots: Path
) -> None:
    Card.objects.filter(pk=canteen.card.pk).update(status=Card.Status.BLOCKED)
    page.set_viewport_size({"width": 1024, "height": 768})
    open_till(page, canteen)
    canteen.scan()
    expect(page.locator("#customer")).to_have_class("customer is-refused")
    expect(page.locator("#customer-refusal")).to_contain_text("The card is blocked.")
    page.locator(".product", has_text="Milk").click()
    expect(page.get_by_role("button", name="Pay by card")).to_be_disabled()
    expect(page.get_by_role("button", name="Cash sale")).to_be_enabled()
    page.screenshot(path=screenshots / "till-tablet-blocked.png", full_page=True)


def test_the_till_reads_right_to_left_in_arabic(page: Page, canteen: Canteen, screenshots: Path) -> None:
    page.set_viewport_size({"width": 1024, "height": 768})
    open_till(page, canteen)
    page.locator("#language-select").select_option("ar")
    page.locator("form.language button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page).to_have_url(canteen.till_url())
    canteen.scan()
    expect(page.locator("#customer-name")).to_have_text("Anna Berg")
    page.locator(".product", has_text="Apple").click()
    page.locator(".product", has_text="Apple").click()
    expect(page.locator("#order-total")).to_have_text("8.00")
    page.screenshot(path=screenshots / "till-tablet-arabic.png", full_page=True)
