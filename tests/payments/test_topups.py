"""Top-ups: a pending payment split over balances, credited only by the provider's verified callback."""

import datetime as dt
import json
from typing import Any

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from cards.models import Card, Cardholder
from cards.services import guardianship_create
from payments.ledger import holder_accounts_get
from payments.models import LedgerTransaction, Payment, PaymentMandate
from payments.payment_mails import payment_settled_mail
from payments.providers.base import SIGNATURE_HEADER, signature_make
from payments.providers.test import simulated_callback_signed, simulated_event
from payments.selectors import ledger_mismatches
from payments.topups import payments_expire_overdue
from tests.factories import CardFactory, UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db

TOPUPS = "/api/v1/me/topups"


class Family:
    def __init__(self) -> None:
        self.user = UserFactory()
        self.client = Client()
        self.client.force_login(self.user)

    def ward(self, **kwargs: Any) -> Cardholder:
        holder = holder_with_balances(**kwargs)
        guardianship_create(guardian=self.user, holder=holder)
        return holder

    def topup(self, *allocations: tuple[Cardholder, str, str], **headers: str) -> Any:
        body = {"allocations": [{"holder": h.pk, "balance": b, "amount": a} for h, b, a in allocations]}
        return self.client.post(TOPUPS, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def family() -> Family:
    return Family()


def balances(holder: Cardholder) -> tuple[int, int]:
    accounts = holder_accounts_get(holder_id=holder.pk)
    return accounts.main.balance_cents, accounts.extra.balance_cents


def pay(response: Any, outcome: str = "succeeded") -> Any:
    """Complete the payment on the test provider's page, as a person clicking there would."""
    return Client().post(response.json()["payment_url"], {"outcome": outcome})


def callback(body: bytes, headers: dict[str, str]) -> Any:
    return Client().post(
        "/payments/callback/test/",
        data=body,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )


# --- starting a top-up ------------------------------------------------------------------------


def test_a_top_up_is_pending_and_moves_no_money_until_paid(family: Family) -> None:
    anna = family.ward(main=100, extra=50)

    response = family.topup((anna, "main", "60.00"), (anna, "extra", "40.00"))

    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert response.json()["total"] == "100.00"
    assert "/pay/test/" in response.json()["payment_url"]
    assert balances(anna) == (100, 50)
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.TOPUP).exists()


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("49.99", "below_minimum"),
        ("-50.00", "invalid_request"),
        ("0", "invalid_request"),
        ("50.001", "invalid_request"),
        ("5e3", "invalid_request"),
    ],
)
def test_bad_amounts_are_refused_with_a_field_and_create_nothing(family: Family, amount: str, code: str) -> None:
    anna = family.ward()

    response = family.topup((anna, "extra", amount))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    # A nested field is named with dots (API.md's fields stay {name: [messages]}).
    assert any(name.split(".")[0] == "allocations" for name in response.json()["error"]["fields"])
    assert not Payment.objects.exists()


def test_the_minimum_is_for_the_whole_payment_so_siblings_may_share_it(family: Family) -> None:
    anna, bo = family.ward(), family.ward()

    response = family.topup((anna, "extra", "25.00"), (bo, "main", "25.00"))

    assert response.status_code == 201
    assert response.json()["total"] == "50.00"


@override_settings(TOPUP_MINIMUM_CENTS=10000)
def test_the_minimum_is_a_setting(family: Family) -> None:
    anna = family.ward()

    assert family.topup((anna, "extra", "99.99")).json()["error"]["code"] == "below_minimum"


def test_another_familys_holder_is_not_found_and_nothing_is_created(family: Family) -> None:
    stranger = holder_with_balances()

    response = family.topup((stranger, "extra", "100.00"))

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert not Payment.objects.exists()


def test_the_same_idempotency_key_starts_one_payment(family: Family) -> None:
    anna = family.ward()

    first = family.topup((anna, "extra", "100.00"), HTTP_IDEMPOTENCY_KEY="k1")
    second = family.topup((anna, "extra", "100.00"), HTTP_IDEMPOTENCY_KEY="k1")

    assert first.json() == second.json()
    assert Payment.objects.count() == 1


# --- paying on the provider's page ------------------------------------------------------------


def test_paying_on_the_provider_page_credits_each_balance_once(family: Family) -> None:
    anna, bo = family.ward(main=100, extra=50), family.ward()
    started = family.topup((anna, "main", "60.00"), (anna, "extra", "40.00"), (bo, "extra", "20.00"))

    page = pay(started)

    assert page.status_code == 302
    assert page["Location"] == f"/portal/topups/{started.json()['id']}/"
    assert balances(anna) == (100 + 6000, 50 + 4000)
    assert balances(bo) == (0, 2000)
    assert family.client.get(f"{TOPUPS}/{started.json()['id']}").json()["status"] == "succeeded"
    assert ledger_mismatches() == []


def test_a_failed_payment_moves_nothing(family: Family) -> None:
    anna = family.ward(extra=50)
    started = family.topup((anna, "extra", "100.00"))

    pay(started, "failed")

    assert balances(anna) == (0, 50)
    assert Payment.objects.get().status == Payment.Status.FAILED


def test_a_paid_payment_cannot_be_paid_again_on_the_page(family: Family) -> None:
    anna = family.ward()
    started = family.topup((anna, "extra", "100.00"))
    pay(started)

    again = pay(started)

    assert again.status_code == 410
    assert balances(anna) == (0, 10000)


def test_the_guardian_gets_a_receipt_mail_once(family: Family, django_capture_on_commit_callbacks: Any) -> None:
    anna = family.ward()
    started = family.topup((anna, "extra", "100.00"))

    with django_capture_on_commit_callbacks(execute=True):
        pay(started)
    payment_settled_mail(payment=Payment.objects.get())  # a second run of the task sends nothing more

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [family.user.email]
    assert anna.name in mail.outbox[0].body


def test_the_top_up_shows_its_allocations(family: Family) -> None:
    anna = family.ward()
    started = family.topup((anna, "main", "70.00"), (anna, "extra", "30.00"))

    body = family.client.get(f"{TOPUPS}/{started.json()['id']}").json()

    assert body["allocations"] == [
        {"holder": anna.pk, "balance": "main", "amount": "70.00"},
        {"holder": anna.pk, "balance": "extra", "amount": "30.00"},
    ]
    assert body["currency"] == "DKK"


def test_another_guardians_top_up_is_not_found(family: Family) -> None:
    anna = family.ward()
    started = family.topup((anna, "extra", "100.00"))
    other = Client()
    other.force_login(UserFactory())

    assert other.get(f"{TOPUPS}/{started.json()['id']}").status_code == 404
    assert other.get(f"/portal/topups/{started.json()['id']}/").status_code == 404


# --- debt first -------------------------------------------------------------------------------


def test_money_for_extra_pays_a_main_debt_first(family: Family) -> None:
    anna = family.ward(main=-3000, extra=0)

    pay(family.topup((anna, "extra", "100.00")))

    assert balances(anna) == (0, 7000)


def test_money_for_main_repays_the_debt_and_the_rest_stays_on_main(family: Family) -> None:
    anna = family.ward(main=-3000, extra=500)

    pay(family.topup((anna, "main", "50.00"), (anna, "extra", "50.00")))

    assert balances(anna) == (2000, 5500)


def test_a_top_up_that_repays_the_debt_lifts_the_debt_block(family: Family) -> None:
    anna = family.ward(main=-15000)
    card = CardFactory(holder=anna, status=Card.Status.DEBT_BLOCKED)

    pay(family.topup((anna, "extra", "200.00")))

    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    assert balances(anna) == (0, 5000)


def test_a_top_up_that_leaves_debt_keeps_the_debt_block(family: Family) -> None:
    anna = family.ward(main=-15000)
    card = CardFactory(holder=anna, status=Card.Status.DEBT_BLOCKED)

    pay(family.topup((anna, "extra", "100.00")))

    card.refresh_from_db()
    assert card.status == Card.Status.DEBT_BLOCKED
    assert balances(anna) == (-5000, 0)


# --- the callback -----------------------------------------------------------------------------


def test_a_replayed_callback_credits_once(family: Family) -> None:
    anna = family.ward()
    family.topup((anna, "extra", "100.00"))
    payment = Payment.objects.get()
    body, headers = simulated_callback_signed(simulated_event(payment=payment, outcome="succeeded", save_card=False))

    first, second = callback(body, headers), callback(body, headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert balances(anna) == (0, 10000)
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.TOPUP).count() == 1


def test_a_failed_callback_after_success_changes_nothing(family: Family) -> None:
    anna = family.ward()
    family.topup((anna, "extra", "100.00"))
    payment = Payment.objects.get()
    callback(*simulated_callback_signed(simulated_event(payment=payment, outcome="succeeded", save_card=False)))

    callback(*simulated_callback_signed(simulated_event(payment=payment, outcome="failed", save_card=False)))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert balances(anna) == (0, 10000)


def test_a_forged_signature_is_refused_and_changes_nothing(family: Family) -> None:
    anna = family.ward()
    family.topup((anna, "extra", "100.00"))
    body, _headers = simulated_callback_signed(
        simulated_event(payment=Payment.objects.get(), outcome="succeeded", save_card=False)
    )
    forged = {SIGNATURE_HEADER: signature_make(body=body, timestamp=int(timezone.now().timestamp()), secret="guess")}

    response = callback(body, forged)

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_signature")
    assert Payment.objects.get().status == Payment.Status.PENDING
    assert balances(anna) == (0, 0)


def test_an_altered_body_is_refused(family: Family) -> None:
    anna = family.ward()
    family.topup((anna, "extra", "100.00"))
    body, headers = simulated_callback_signed(
        simulated_event(payment=Payment.objects.get(), outcome="failed", save_card=False)
    )

    response = callback(body.replace(b'"failed"', b'"succeeded"'), headers)

    assert response.status_code == 400
    assert balances(anna) == (0, 0)


def test_a_callback_older_than_the_tolerance_is_refused(family: Family) -> None:
    anna = family.ward()
    family.topup((anna, "extra", "100.00"))
    body, _headers = simulated_callback_signed(
        simulated_event(payment=Payment.objects.get(), outcome="succeeded", save_card=False)
    )
    from django.conf import settings

    stale = int(timezone.now().timestamp()) - 3600
    headers = {SIGNATURE_HEADER: signature_make(body=body, timestamp=stale, secret=settings.PAYMENT_CALLBACK_SECRET)}

    assert callback(body, headers).status_code == 400
    assert balances(anna) == (0, 0)


def test_a_callback_without_a_signature_is_refused(family: Family) -> None:
    anna = family.ward()
    family.topup((anna, "extra", "100.00"))
    body, _headers = simulated_callback_signed(
        simulated_event(payment=Payment.objects.get(), outcome="succeeded", save_card=False)
    )

    assert callback(body, {}).status_code == 400


# --- expiry -----------------------------------------------------------------------------------


def test_abandoned_payments_expire_and_cannot_be_paid_any_more(family: Family) -> None:
    anna = family.ward()
    started = family.topup((anna, "extra", "100.00"))

    expired = payments_expire_overdue(now=timezone.now() + dt.timedelta(hours=1))

    assert expired == 1
    assert Payment.objects.get().status == Payment.Status.EXPIRED
    assert pay(started).status_code == 410
    assert balances(anna) == (0, 0)


def test_a_payment_within_its_time_does_not_expire(family: Family) -> None:
    family.topup((family.ward(), "extra", "100.00"))

    assert payments_expire_overdue() == 0


# --- saving the card --------------------------------------------------------------------------


def test_a_payment_with_save_card_leaves_a_mandate(family: Family) -> None:
    anna = family.ward()
    body = {"allocations": [{"holder": anna.pk, "balance": "extra", "amount": "100.00"}], "save_card": True}
    started = family.client.post(TOPUPS, data=json.dumps(body), content_type="application/json")

    pay(started)

    mandate = PaymentMandate.objects.get()
    assert mandate.guardian == family.user
    assert Payment.objects.get().mandate == mandate


def test_a_payment_without_save_card_leaves_no_mandate(family: Family) -> None:
    pay(family.topup((family.ward(), "extra", "100.00")))

    assert not PaymentMandate.objects.exists()
