"""The guardian portal in a real browser: sign up, link a card, top up, block and reopen it."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from cards.models import Card
from tests.factories import InstitutionFactory, ProductFactory, card_with_balances, terminal_with_token

pytestmark = pytest.mark.browser

PASSWORD = "a-long-portal-password-7"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class School:
    base: str
    card: Card
    token: str
    sandwich_id: int

    def till_buys(self) -> httpx.Response:
        """What the canteen's till does when the card is laid on the reader and a sandwich is sold."""
        return httpx.post(
            f"{self.base}/api/v1/terminal/purchases",
            json={"uid": self.card.uid, "lines": [{"product": self.sandwich_id, "quantity": 1}], "payment": "card"},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )


@pytest.fixture
def school(transactional_db: None, live_server: Any) -> School:
    institution = InstitutionFactory(name="Demo School", school_number="101")
    _terminal, token = terminal_with_token(institution=institution, name="Canteen 1")
    card = card_with_balances(
        main=10000,
        extra=5000,
        institution=institution,
        number="100001",
        uid="04A1B2C3D4E5F6",
        activation_code="DEMO-100001",
    )
    assert card.holder is not None
    card.holder.name, card.holder.group = "Anna", "2A"
    card.holder.save()
    sandwich = ProductFactory(institution=institution, name="Sandwich", price_cents=2500)
    return School(base=live_server.url, card=card, token=token, sandwich_id=sandwich.pk)


def sign_up_and_verify(page: Page, base: str, email: str) -> None:
    """Each test signs up its own address: allauth allows one verification mail per address in three
    minutes, and its counter lives in the cache, which outlives each test's database."""
    page.goto(f"{base}/accounts/signup/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password1]").fill(PASSWORD)
    page.locator("input[name=password2]").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    # The verification mail is sent before the page answers; wait for the answer, not the click.
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+", mail.outbox[-1].body)
    assert link is not None, mail.outbox[-1].body
    page.goto(link.group(0))
    page.locator("main button[type=submit]").click()
    page.goto(f"{base}/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page).to_have_url(f"{base}/portal/")


def link_anna(page: Page) -> None:
    page.get_by_role("link", name="Link a cardholder").click()
    page.get_by_label("Card number").fill("100001")
    page.get_by_label("Activation code").fill("DEMO-100001")
    page.get_by_role("button", name="Link").click()
    expect(page.locator("main")).to_contain_text("Anna")


def test_a_guardian_signs_up_links_tops_up_blocks_and_reopens_a_card(
    page: Page, school: School, screenshots: Path
) -> None:
    page.set_viewport_size(DESKTOP)
    sign_up_and_verify(page, school.base, "new.parent@example.com")

    link_anna(page)

    page.goto(f"{school.base}/portal/topup/")
    page.get_by_label("Anna: Main balance (meals)").fill("60.00")
    page.get_by_label("Anna: Extra balance (buffet)").fill("40.00")
    page.set_viewport_size(PHONE)
    page.screenshot(path=screenshots / "portal-topup-phone.png", full_page=True)
    page.get_by_role("button", name="Go to payment").click()
    expect(page.locator("[data-field=amount]")).to_contain_text("100.00")
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "succeeded")

    page.goto(f"{school.base}/portal/")
    expect(page.locator("main")).to_contain_text("160.00")
    expect(page.locator("main")).to_contain_text("90.00")
    page.screenshot(path=screenshots / "portal-overview-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=screenshots / "portal-overview-desktop.png", full_page=True)

    page.goto(f"{school.base}/portal/cards/100001/")
    block = page.locator("form", has=page.get_by_role("button", name="Block card"))
    block.get_by_label("Password").fill(PASSWORD)
    block.get_by_role("button", name="Block card").click()
    expect(page.locator("main")).to_contain_text("Blocked")
    refused = school.till_buys()
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "card_blocked")

    reopen = page.locator("form", has=page.get_by_role("button", name="Reopen card"))
    reopen.get_by_label("Password").fill(PASSWORD)
    reopen.get_by_role("button", name="Reopen card").click()
    expect(page.locator("main")).to_contain_text("Active")
    assert school.till_buys().status_code == 201


def test_the_portal_in_arabic_reads_right_to_left(page: Page, school: School, screenshots: Path) -> None:
    page.set_viewport_size(PHONE)
    sign_up_and_verify(page, school.base, "arabic.parent@example.com")
    link_anna(page)
    page.get_by_label("Language").select_option("ar")
    page.locator("form.language button[type=submit]").click()

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.locator("[data-field=main]")).to_contain_text("100")
    page.screenshot(path=screenshots / "portal-overview-arabic-phone.png", full_page=True)
