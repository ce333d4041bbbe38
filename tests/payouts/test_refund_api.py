"""Guardians ask for refunds: `POST /api/v1/me/refunds` (API.md) and the page
/portal/holders/<id>/refund/. Another family's cardholder is a 404 on both."""

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import Institution, User
from cards.models import Cardholder
from payouts.models import PayeeKind, RefundRequest
from tests.factories import InstitutionFactory, UserFactory
from tests.payouts.test_refunds import (
    CPR_IMPOSSIBLE_DATE,
    CPR_MOD11_FAILS,
    CPR_VALID,
    IBAN_BAD_CHECKSUM,
    IBAN_VALID,
    guardian_holder,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/me/refunds"


def page(holder: Cardholder) -> str:
    return f"/portal/holders/{holder.pk}/refund/"


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory()


@pytest.fixture
def guardian() -> User:
    return UserFactory(full_name="Maja Jensen")


@pytest.fixture
def holder(guardian: User, school: Institution) -> Cardholder:
    return guardian_holder(guardian, school, main=10000, extra=5000)


@pytest.fixture
def strangers_holder(school: Institution) -> Cardholder:
    return guardian_holder(UserFactory(), school, extra=2000)


@pytest.fixture
def client(guardian: User) -> Client:
    # English pages, so the texts asserted on do not change when translations arrive.
    client = Client(headers={"accept-language": "en"})
    client.force_login(guardian)
    return client


def post(client: Client, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post(API, data=json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def body(holder: Cardholder, **payee: str) -> dict[str, Any]:
    return {"holder": holder.pk, "payee_name": "Maja Jensen", **(payee or {"payee_cpr": CPR_VALID})}


# --- the API ---------------------------------------------------------------------------------------


def test_a_refund_request_answers_201_with_its_id_and_status(client: Client, holder: Cardholder) -> None:
    status, answer = post(client, body(holder))

    assert status == 201
    refund = RefundRequest.objects.get()
    assert answer == {"id": refund.pk, "status": "requested"}
    assert refund.holder == holder


def test_a_cpr_number_failing_modulus_11_is_accepted_with_a_warning(client: Client, holder: Cardholder) -> None:
    status, answer = post(client, body(holder, payee_cpr=CPR_MOD11_FAILS))

    assert status == 201
    assert "modulus-11" in answer["warning"]


def test_an_impossible_cpr_number_is_400_invalid_cpr(client: Client, holder: Cardholder) -> None:
    status, answer = post(client, body(holder, payee_cpr=CPR_IMPOSSIBLE_DATE))

    assert status == 400
    assert answer["error"]["code"] == "invalid_cpr"
    assert "payee_cpr" in answer["error"]["fields"]
    assert not RefundRequest.objects.exists()


def test_a_holder_in_debt_is_409_debt_outstanding(client: Client, guardian: User, school: Institution) -> None:
    in_debt = guardian_holder(guardian, school, main=-100)

    status, answer = post(client, body(in_debt))

    assert status == 409
    assert answer["error"]["code"] == "debt_outstanding"


def test_a_second_request_while_one_is_open_is_409(client: Client, holder: Cardholder) -> None:
    post(client, body(holder))

    status, answer = post(client, body(holder))

    assert status == 409
    assert answer["error"]["code"] == "refund_already_requested"


def test_another_familys_holder_is_404(client: Client, strangers_holder: Cardholder) -> None:
    status, answer = post(client, body(strangers_holder))

    assert status == 404
    assert answer["error"]["code"] == "not_found"
    assert not RefundRequest.objects.exists()


def test_an_iban_payee_is_accepted(client: Client, holder: Cardholder) -> None:
    status, answer = post(client, body(holder, payee_iban=IBAN_VALID, payee_bic="DABADKKK"))

    assert status == 201
    assert RefundRequest.objects.get(pk=answer["id"]).payee_kind == PayeeKind.IBAN


def test_an_invalid_iban_is_400(client: Client, holder: Cardholder) -> None:
    status, answer = post(client, body(holder, payee_iban=IBAN_BAD_CHECKSUM))

    assert status == 400
    assert answer["error"]["code"] == "invalid_iban"


def test_an_unknown_field_is_400_invalid_request(client: Client, holder: Cardholder) -> None:
    status, answer = post(client, {**body(holder), "account_number": "1234"})

    assert status == 400
    assert answer["error"]["code"] == "invalid_request"


def test_without_signing_in_it_is_401() -> None:
    response = Client().post(API, data=json.dumps({"holder": 1}), content_type="application/json")

    assert response.status_code == 401


# --- the page --------------------------------------------------------------------------------------


def test_the_page_explains_that_the_money_goes_to_the_nemkonto(client: Client, holder: Cardholder) -> None:
    response = client.get(page(holder))

    assert response.status_code == 200
    assert "The money will be paid to your NemKonto." in response.content.decode()
    assert 'name="payee_cpr"' in response.content.decode()


def test_the_page_of_another_familys_holder_is_404(client: Client, strangers_holder: Cardholder) -> None:
    assert client.get(page(strangers_holder)).status_code == 404
    assert client.post(page(strangers_holder), {"payee_name": "X", "payee_cpr": CPR_VALID}).status_code == 404
    assert not RefundRequest.objects.exists()


def test_sending_the_form_requests_the_refund_and_shows_its_status_with_the_cpr_masked(
    client: Client, holder: Cardholder
) -> None:
    response = client.post(page(holder), {"payee_name": "Maja Jensen", "payee_cpr": CPR_VALID}, follow=True)

    html = response.content.decode()
    assert RefundRequest.objects.filter(holder=holder, status="requested").count() == 1
    assert "070761-****" in html
    assert "4285" not in html
    assert "Requested" in html
    assert 'name="payee_cpr"' not in html  # no second request while this one is open


def test_an_impossible_cpr_number_is_shown_beside_its_field(client: Client, holder: Cardholder) -> None:
    response = client.post(page(holder), {"payee_name": "Maja Jensen", "payee_cpr": CPR_IMPOSSIBLE_DATE})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_payee_cpr_errors"' in html
    assert "DDMMYY-XXXX" in html
    assert not RefundRequest.objects.exists()


def test_a_debt_is_shown_as_the_reason_on_the_page(client: Client, guardian: User, school: Institution) -> None:
    in_debt = guardian_holder(guardian, school, main=-100)

    response = client.post(page(in_debt), {"payee_name": "Maja Jensen", "payee_cpr": CPR_VALID})

    assert response.status_code == 400
    assert "the debt must be paid before a refund" in response.content.decode()
    assert not RefundRequest.objects.exists()


def test_a_modulus_11_warning_is_shown_after_sending(client: Client, holder: Cardholder) -> None:
    response = client.post(page(holder), {"payee_name": "Maja Jensen", "payee_cpr": CPR_MOD11_FAILS}, follow=True)

    assert "modulus-11" in response.content.decode()
