"""The guardian's card page /portal/cards/<number>/: block, reopen and order a replacement."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.reauth import REAUTH_FAILURES_ALLOWED
from cards.models import Card, ReplacementOrder
from cards.services import guardianship_create
from payments.ledger import holder_accounts_get
from payments.models import LedgerTransaction
from tests.factories import PASSWORD, CardFactory, UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db

FEE = 2500
NBSP = "\u00a0"


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> Iterator[None]:
    # Wrong passwords are counted in the cache, which outlives each test's database.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cardpage"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def portal() -> Client:
    user = UserFactory()
    # English pages, so the amounts read "25.00 DKK" whatever the default language.
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


def my_card(portal: Client, *, extra: int = FEE, **kwargs: Any) -> Card:
    holder = holder_with_balances(extra=extra, name="Anna")
    guardianship_create(guardian=portal.user, holder=holder)  # type: ignore[attr-defined]
    return CardFactory(holder=holder, **kwargs)


def page(card: Card) -> str:
    return reverse("cardpages:detail", args=[card.number])


def act(portal: Client, card: Card, action: str, password: str = PASSWORD) -> Any:
    return portal.post(page(card), {"action": action, f"{action}-password": password})


def status_of(card: Card) -> str:
    card.refresh_from_db()
    return card.status


def errors_of(content: str, field_id: str) -> str:
    """The text of the error block rendered beside the field with this id ("" if none)."""
    match = re.search(rf'<div id="{re.escape(field_id)}_errors" role="alert">(.*?)</div>', content, re.S)
    return match.group(1) if match else ""


# --- showing ----------------------------------------------------------------------------------


def test_the_page_shows_the_card_its_holder_status_and_the_forms_of_an_active_card(portal: Client) -> None:
    card = my_card(portal)

    response = portal.get(page(card))

    content = response.content.decode()
    assert response.status_code == 200
    assert card.number in content and "Anna" in content
    assert 'data-card-status="active"' in content
    assert 'name="action" value="block"' in content
    assert 'name="action" value="replace"' in content
    assert 'name="action" value="reopen"' not in content
    assert f"25.00{NBSP}DKK" in content


def test_every_password_field_has_its_own_label(portal: Client) -> None:
    card = my_card(portal)

    content = portal.get(page(card)).content.decode()

    inputs = re.findall(r'<input type="password" name="[^"]+"[^>]*id="([^"]+)"', content)
    assert sorted(inputs) == ["id_block-password", "id_replace-password"]
    for input_id in inputs:
        assert f'<label for="{input_id}">' in content


def test_a_blocked_card_offers_reopening_instead_of_blocking(portal: Client) -> None:
    card = my_card(portal, status=Card.Status.BLOCKED)

    content = portal.get(page(card)).content.decode()

    assert 'name="action" value="reopen"' in content
    assert 'name="action" value="block"' not in content


def test_a_replaced_card_shows_its_order_and_no_forms(portal: Client) -> None:
    card = my_card(portal)
    act(portal, card, "replace")

    content = portal.get(page(card)).content.decode()

    assert 'data-card-status="replaced"' in content
    assert "A replacement card was ordered" in content
    assert 'name="action"' not in content


def test_another_familys_card_is_not_found(portal: Client) -> None:
    card = CardFactory(holder=holder_with_balances(extra=FEE))

    assert portal.get(page(card)).status_code == 404
    assert act(portal, card, "block").status_code == 404
    assert status_of(card) == Card.Status.ACTIVE


def test_anonymous_visitors_are_sent_to_sign_in() -> None:
    card = CardFactory(holder=holder_with_balances())

    response = Client().get(page(card))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- block and reopen -------------------------------------------------------------------------


def test_blocking_with_the_password_blocks_and_says_so(portal: Client) -> None:
    card = my_card(portal)

    response = act(portal, card, "block")

    assert response.status_code == 302 and response["Location"] == page(card)
    assert status_of(card) == Card.Status.BLOCKED
    assert f"Card {card.number} is blocked" in portal.get(page(card)).content.decode()


def test_a_wrong_password_is_shown_beside_the_field_and_blocks_nothing(portal: Client) -> None:
    card = my_card(portal)

    response = act(portal, card, "block", password="wrong")

    assert response.status_code == 400
    assert "The password is not right." in errors_of(response.content.decode(), "id_block-password")
    assert status_of(card) == Card.Status.ACTIVE


def test_an_empty_password_is_refused_beside_the_field(portal: Client) -> None:
    card = my_card(portal)

    response = act(portal, card, "block", password="")

    assert response.status_code == 400
    assert errors_of(response.content.decode(), "id_block-password")
    assert status_of(card) == Card.Status.ACTIVE


def test_reopening_a_blocked_card_makes_it_active(portal: Client) -> None:
    card = my_card(portal, status=Card.Status.BLOCKED)

    response = act(portal, card, "reopen")

    assert response.status_code == 302
    assert status_of(card) == Card.Status.ACTIVE


def test_a_card_blocked_for_debt_is_not_reopened_and_the_reason_is_shown(portal: Client) -> None:
    card = my_card(portal, status=Card.Status.DEBT_BLOCKED)

    response = act(portal, card, "reopen")

    assert response.status_code == 400
    assert "cannot be reopened here" in response.content.decode()
    assert status_of(card) == Card.Status.DEBT_BLOCKED


def test_an_unknown_action_is_a_bad_request(portal: Client) -> None:
    card = my_card(portal)

    response = portal.post(page(card), {"action": "delete", "delete-password": PASSWORD})

    assert response.status_code == 400
    assert status_of(card) == Card.Status.ACTIVE


# --- replacement ------------------------------------------------------------------------------


def test_ordering_a_replacement_charges_the_fee_and_stops_the_old_card(portal: Client) -> None:
    card = my_card(portal, extra=FEE + 100)

    response = act(portal, card, "replace")

    assert response.status_code == 302
    assert status_of(card) == Card.Status.REPLACED
    order = ReplacementOrder.objects.get()
    assert (order.old_card_id, order.status, order.fee_cents) == (card.pk, "ordered", FEE)
    assert holder_accounts_get(holder_id=card.holder_id).extra.balance_cents == 100
    assert "A new card is ordered for Anna" in portal.get(page(card)).content.decode()


def test_a_short_extra_balance_is_shown_in_the_form_and_changes_nothing(portal: Client) -> None:
    card = my_card(portal, extra=FEE - 1)

    response = act(portal, card, "replace")

    content = response.content.decode()
    assert response.status_code == 400
    assert "The extra balance does not cover the replacement fee." in content
    assert 'name="action" value="replace"' in content
    assert status_of(card) == Card.Status.ACTIVE
    assert not ReplacementOrder.objects.exists()
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.FEE).exists()


def test_the_replacement_button_says_the_old_card_stops_for_good(portal: Client) -> None:
    card = my_card(portal)

    content = portal.get(page(card)).content.decode()

    assert f"Order a replacement and stop card {card.number} for good</button>" in content


def test_a_second_order_from_a_stale_page_is_refused_beside_the_form(portal: Client) -> None:
    card = my_card(portal, extra=2 * FEE)
    act(portal, card, "replace")

    response = act(portal, card, "replace")

    assert response.status_code == 400
    assert "The card has been replaced" in response.content.decode()
    assert ReplacementOrder.objects.count() == 1


# --- wrong passwords --------------------------------------------------------------------------


def test_after_five_wrong_passwords_the_page_refuses_even_the_right_one(portal: Client) -> None:
    card = my_card(portal)
    for _ in range(REAUTH_FAILURES_ALLOWED):
        act(portal, card, "block", password="wrong")

    response = act(portal, card, "replace")

    assert response.status_code == 429
    assert "Too many wrong passwords" in errors_of(response.content.decode(), "id_replace-password")
    assert status_of(card) == Card.Status.ACTIVE
    assert not ReplacementOrder.objects.exists()


def test_paying_the_fee_by_card_goes_to_the_provider_and_back_to_an_ordered_card(portal: Client) -> None:
    card = my_card(portal, extra=0)

    response = portal.post(
        page(card), {"action": "replace", "replace-password": PASSWORD, "replace-paid_with": "provider"}
    )

    assert response.status_code == 302 and response["Location"].startswith("http://testserver/pay/test/pay_")
    paid = portal.post(response["Location"], {"outcome": "succeeded"})
    assert paid["Location"] == page(card)
    content = portal.get(page(card)).content.decode()
    assert 'data-order-status="ordered"' in content
    assert holder_accounts_get(holder_id=card.holder_id).extra.balance_cents == 0


def test_an_order_awaiting_its_fee_offers_to_pay_again(portal: Client) -> None:
    card = my_card(portal, extra=0)
    first = portal.post(
        page(card), {"action": "replace", "replace-password": PASSWORD, "replace-paid_with": "provider"}
    )
    portal.post(first["Location"], {"outcome": "failed"})

    content = portal.get(page(card)).content.decode()
    again = portal.post(reverse("cardpages:pay_fee", args=[card.number]))

    assert 'data-order-status="awaiting_payment"' in content
    assert reverse("cardpages:pay_fee", args=[card.number]) in content
    assert again.status_code == 302 and again["Location"] != first["Location"]


def test_the_balance_is_chosen_beforehand_when_it_covers_the_fee_else_the_card(portal: Client) -> None:
    rich, poor = my_card(portal, extra=FEE), my_card(portal, extra=FEE - 1)

    rich_page = portal.get(page(rich)).content.decode()
    poor_page = portal.get(page(poor)).content.decode()

    assert re.search(r'value="balance"[^>]*checked', rich_page)
    assert re.search(r'value="provider"[^>]*checked', poor_page)
