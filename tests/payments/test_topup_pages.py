"""The portal's top-up page, the provider's page, and the outcome page, as a guardian uses them."""

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from cards.models import Cardholder
from cards.services import guardianship_create
from payments.ledger import holder_accounts_get
from payments.models import Payment
from tests.factories import UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db


@pytest.fixture
def guardian_client() -> Client:
    client = Client()
    client.force_login(UserFactory())
    return client


def guardian_of(client: Client, **kwargs: Any) -> Cardholder:
    user = User.objects.get(pk=client.session["_auth_user_id"])
    holder = holder_with_balances(**kwargs)
    guardianship_create(guardian=user, holder=holder)
    return holder


def test_the_page_has_a_labelled_amount_for_each_balance_of_each_cardholder(guardian_client: Client) -> None:
    anna, bo = guardian_of(guardian_client), guardian_of(guardian_client)

    page = guardian_client.get("/portal/topup/").content.decode()

    for holder in (anna, bo):
        for balance in ("main", "extra"):
            assert f'<label for="id_amount_{holder.pk}_{balance}">' in page
    assert 'name="save_card"' in page


def test_a_valid_split_goes_to_the_provider_and_paying_there_shows_the_outcome(guardian_client: Client) -> None:
    anna = guardian_of(guardian_client, main=100, extra=50)

    started = guardian_client.post(
        "/portal/topup/", {f"amount_{anna.pk}_main": "60", f"amount_{anna.pk}_extra": "40,00"}
    )
    assert started.status_code == 302
    assert "/pay/test/" in started["Location"]
    provider_page = Client().get(started["Location"])
    assert "100.00" in provider_page.content.decode() or "100,00" in provider_page.content.decode()
    paid = Client().post(started["Location"], {"outcome": "succeeded"})
    outcome = guardian_client.get(paid["Location"])

    assert outcome.status_code == 200
    assert 'data-status="succeeded"' in outcome.content.decode()
    accounts = holder_accounts_get(holder_id=anna.pk)
    assert (accounts.main.balance_cents, accounts.extra.balance_cents) == (6100, 4050)


def test_below_the_minimum_the_message_is_beside_the_field_and_nothing_starts(guardian_client: Client) -> None:
    anna = guardian_of(guardian_client)

    response = guardian_client.post("/portal/topup/", {f"amount_{anna.pk}_extra": "20.00"})

    assert response.status_code == 400
    assert f'id="id_amount_{anna.pk}_extra_errors"' in response.content.decode()
    assert "50" in response.content.decode()
    assert not Payment.objects.exists()


@pytest.mark.parametrize("amount", ["12.345", "-60", "0", "abc"])
def test_a_bad_amount_is_refused_beside_its_field(guardian_client: Client, amount: str) -> None:
    anna = guardian_of(guardian_client)

    response = guardian_client.post("/portal/topup/", {f"amount_{anna.pk}_main": amount})

    assert response.status_code == 400
    assert f'id="id_amount_{anna.pk}_main_errors"' in response.content.decode()
    assert not Payment.objects.exists()


def test_an_empty_form_asks_for_an_amount(guardian_client: Client) -> None:
    guardian_of(guardian_client)

    response = guardian_client.post("/portal/topup/", {})

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not Payment.objects.exists()


def test_an_amount_for_another_familys_holder_is_ignored(guardian_client: Client) -> None:
    anna = guardian_of(guardian_client)
    stranger = holder_with_balances()

    guardian_client.post("/portal/topup/", {f"amount_{anna.pk}_main": "50", f"amount_{stranger.pk}_extra": "500"})

    payment = Payment.objects.get()
    assert [a.holder_id for a in payment.allocations.all()] == [anna.pk]
    assert payment.amount_cents == 5000


def test_a_guardian_without_cardholders_is_sent_to_link_one(guardian_client: Client) -> None:
    assert guardian_client.get("/portal/topup/")["Location"] == "/portal/link/"


def test_anonymous_visitors_are_asked_to_sign_in() -> None:
    assert Client().get("/portal/topup/")["Location"].startswith("/accounts/login/")


def test_a_failed_payment_page_offers_to_try_again(guardian_client: Client) -> None:
    anna = guardian_of(guardian_client)
    started = guardian_client.post("/portal/topup/", {f"amount_{anna.pk}_extra": "50"})

    failed = Client().post(started["Location"], {"outcome": "failed"})
    page = guardian_client.get(failed["Location"]).content.decode()

    assert 'data-status="failed"' in page
    assert 'href="/portal/topup/"' in page
