"""The webshop in a real browser: a guardian buys a place on a trip with a payment card and gets the
receipt; the office sees who has paid."""

from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.models import Role
from accounts.services import membership_grant
from cards.models import Cardholder
from payments.ledger import holder_accounts_get, opening_balance_post
from payments.providers.test import simulated_callback_deliver, simulated_event
from tests.factories import PASSWORD, InstitutionFactory, UserFactory, holder_with_balances
from tests.meal_factories import guardian_of
from tests.webshop.factories import item_for_groups
from webshop.models import ShopItem, ShopOrder
from webshop.orders import order_create

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def trip(transactional_db: None, live_server: Any) -> ShopItem:
    institution = InstitutionFactory(name="Demo School", school_number="101")
    item = item_for_groups(
        "5B",
        institution=institution,
        name="Trip to the zoo",
        price_cents=15000,
        capacity=25,
        choice_label="T-shirt size",
        options=("S", "M", "L"),
    )
    bo = holder_with_balances(institution=institution, name="Bo", group="5B")
    guardian = guardian_of(bo, email="parent@example.com")
    EmailAddress.objects.create(user=guardian, email=guardian.email, primary=True, verified=True)
    return item


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main button[type=submit]").click()


def test_a_guardian_buys_a_trip_with_a_payment_card_and_gets_the_receipt(
    page: Page, trip: ShopItem, live_server: Any, screenshots: Path
) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url, "parent@example.com")
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Webshop").click()
    page.get_by_role("link", name="Trip to the zoo").click()
    expect(page.get_by_role("heading", name="Trip to the zoo")).to_be_visible()
    page.screenshot(path=str(screenshots / "webshop-item-phone.png"), full_page=True)
    page.get_by_label("T-shirt size").select_option(label="M")
    page.get_by_label("Payment card").check()
    page.get_by_role("button", name="Buy").click()
    # The provider's hosted page: pay.
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.locator(".order-status")).to_have_attribute("data-status", "paid")
    expect(page.locator("[data-field=option]")).to_have_text("M")
    page.screenshot(path=str(screenshots / "webshop-receipt-phone.png"), full_page=True)
    order = ShopOrder.objects.get()
    assert order.status == ShopOrder.Status.PAID
    assert any(order.receipt_number in message.subject for message in mail.outbox)
    with page.expect_download() as download:
        page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.download = ''; a.click(); }",
                      f"/portal/shop/orders/{order.pk}/receipt.pdf")  # fmt: skip
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")


def test_the_office_sees_the_trip_paid_in_the_list(
    page: Page, trip: ShopItem, live_server: Any, screenshots: Path
) -> None:
    membership_grant(user=UserFactory(email="office@example.com"), institution=trip.institution, role=Role.OFFICE)
    bo = Cardholder.objects.get(name="Bo")
    order = order_create(
        guardian=bo.guardians.get(), item_id=trip.pk, holder_id=bo.pk, option_id=trip.options.first().pk,
        paid_with="provider",
    )  # fmt: skip
    assert order.payment is not None
    simulated_callback_deliver(simulated_event(payment=order.payment, outcome="succeeded", save_card=False))
    unpaid = holder_with_balances(institution=trip.institution, name="Carl", group="5B")
    guardian_of(unpaid)
    page.goto(f"{live_server.url}/admin/login/")
    page.locator("input[name=username]").fill("office@example.com")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.goto(f"{live_server.url}/admin/webshop/shopitem/{trip.pk}/paid/")
    table = page.locator("table.paid-list")
    expect(table.locator("tr[data-paid=yes]")).to_contain_text("Bo")
    expect(table.locator("tr[data-paid=no]")).to_contain_text("Carl")
    expect(table.locator("caption")).to_have_text("1 paid, 1 not paid")
    page.screenshot(path=str(screenshots / "webshop-paid-list.png"), full_page=True)


def test_the_webshop_in_arabic_reads_right_to_left_and_buys_from_the_balance(
    page: Page, trip: ShopItem, live_server: Any, screenshots: Path
) -> None:
    ShopItem.objects.filter(pk=trip.pk).update(balance_allowed=True)
    bo = Cardholder.objects.get(name="Bo")
    opening_balance_post(account=holder_accounts_get(holder_id=bo.pk).extra, amount_cents=20000, reason="test")
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url, "parent@example.com")
    page.goto(f"{live_server.url}/portal/shop/items/{trip.pk}/")
    page.get_by_label("Language").select_option("ar")
    page.locator("form.language button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.locator("select[name=option]").select_option(label="L")
    page.locator("input[name=paid_with][value=balance]").check()
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".order-status")).to_have_attribute("data-status", "paid")
    page.screenshot(path=str(screenshots / "webshop-receipt-arabic-phone.png"), full_page=True)
    assert holder_accounts_get(holder_id=bo.pk).extra.balance_cents == 5000
