"""Replacement cards: the service and `POST /api/v1/me/cards/{number}/replace` (API.md).

The fee leaves the extra balance once, into the institution's card fees account; the old card is
blocked for good; a refusal changes nothing.
"""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client

from accounts.reauth import REAUTH_FAILURES_ALLOWED, REAUTH_WINDOW_SECONDS
from cards.errors import CardReplaced
from cards.models import Card, Cardholder, ReplacementOrder
from payments.idempotency import request_fingerprint
from payments.ledger import holder_accounts_get, system_account
from payments.models import IdempotencyRecord, LedgerAccount, LedgerEntry, LedgerTransaction, Payment
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.replacements import OrderNotAwaitingPayment, card_replacement_order, replacement_fee_payment
from payments.selectors import ledger_mismatches
from tests.factories import (
    PASSWORD,
    CardFactory,
    InstitutionFactory,
    ProductFactory,
    holder_with_balances,
    terminal_with_token,
)
from tests.payments.test_guardian_api import Guardian, error_code

pytestmark = pytest.mark.django_db

FEE = 2500
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> Iterator[None]:
    # The wrong-password counter lives in the cache, which outlives each test's database: a
    # local-memory cache of these tests' own (also where REDIS_URL is set) starts empty each time.
    settings.CACHES = {"default": {"BACKEND": LOCMEM, "LOCATION": "test-replacements"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def guardian() -> Guardian:
    return Guardian()


def replace(guardian: Guardian, card: Card, password: str = PASSWORD, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return guardian.client.post(
        f"/api/v1/me/cards/{card.number}/replace",
        data=json.dumps({"password": password}),
        content_type="application/json",
        **headers,
    )


def extra_of(holder: Cardholder | int) -> int:
    holder_id = holder if isinstance(holder, int) else holder.pk
    return holder_accounts_get(holder_id=holder_id).extra.balance_cents


def card_fees_total(holder: Cardholder) -> int:
    account = system_account(kind=LedgerAccount.Kind.CARD_FEES, institution=holder.institution)
    return sum(LedgerEntry.objects.filter(account=account).values_list("amount_cents", flat=True))


def fee_movements() -> int:
    return LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.FEE).count()


def status_of(card: Card) -> str:
    card.refresh_from_db()
    return card.status


# --- ordering ---------------------------------------------------------------------------------


def test_replacing_charges_the_fee_from_extra_once_and_orders_a_new_card(guardian: Guardian) -> None:
    holder = guardian.ward(main=10000, extra=5000)
    card = CardFactory(holder=holder)

    response = replace(guardian, card)

    assert response.status_code == 201
    order = ReplacementOrder.objects.get()
    assert response.json() == {
        "order": order.pk,
        "fee": "25.00",
        "currency": "DKK",
        "status": "ordered",
        "paid_with": "balance",
    }
    assert (order.old_card_id, order.holder_id, order.ordered_by_id) == (card.pk, holder.pk, guardian.user.pk)
    assert (order.status, order.paid_with, order.fee_cents) == ("ordered", "balance", FEE)
    assert extra_of(holder) == 5000 - FEE
    assert holder_accounts_get(holder_id=holder.pk).main.balance_cents == 10000
    assert card_fees_total(holder) == FEE
    assert fee_movements() == 1
    assert status_of(card) == Card.Status.REPLACED
    assert card.status_reason
    assert ledger_mismatches() == []


def test_a_replaced_card_is_refused_at_the_till() -> None:
    school = InstitutionFactory()
    owner = Guardian()
    card = CardFactory(holder=owner.ward(extra=10000, institution=school))
    apple = ProductFactory(institution=school, price_cents=400)
    _terminal, token = terminal_with_token(institution=school)
    till = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert replace(owner, card).status_code == 201

    scan = till.post(
        "/api/v1/terminal/scans", data=json.dumps({"uid": card.uid}), content_type="application/json", **headers
    )
    purchase = till.post(
        "/api/v1/terminal/purchases",
        data=json.dumps({"uid": card.uid, "lines": [{"product": apple.pk, "quantity": 1}]}),
        content_type="application/json",
        **headers,
    )

    assert (scan.json()["can_buy"], scan.json()["reason"]) == (False, "card_blocked")
    assert (purchase.status_code, error_code(purchase)) == (409, "card_blocked")
    assert extra_of(card.holder_id) == 10000 - FEE


def test_a_replaced_card_cannot_be_reopened(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward(extra=FEE))
    replace(guardian, card)

    response = guardian.post(f"/api/v1/me/cards/{card.number}/unblock", {"password": PASSWORD})

    assert (response.status_code, error_code(response)) == (409, "card_replaced")
    assert status_of(card) == Card.Status.REPLACED


def test_a_card_the_guardian_blocked_can_be_replaced(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward(extra=FEE), status=Card.Status.BLOCKED)

    response = replace(guardian, card)

    assert response.status_code == 201
    assert status_of(card) == Card.Status.REPLACED
    assert extra_of(card.holder_id) == 0


def test_with_no_fee_set_the_order_is_free_and_no_money_moves(guardian: Guardian, settings: Any) -> None:
    settings.CARD_REPLACEMENT_FEE_CENTS = 0
    card = CardFactory(holder=guardian.ward(extra=0))
    transactions_before = LedgerTransaction.objects.count()

    response = replace(guardian, card)

    assert response.status_code == 201
    assert (response.json()["fee"], response.json()["paid_with"]) == ("0.00", "free")
    order = ReplacementOrder.objects.get()
    assert (order.paid_with, order.fee_cents, order.status) == ("free", 0, "ordered")
    assert LedgerTransaction.objects.count() == transactions_before
    assert status_of(card) == Card.Status.REPLACED


# --- refusals ---------------------------------------------------------------------------------


def test_an_extra_balance_short_of_the_fee_is_refused_and_changes_nothing(guardian: Guardian) -> None:
    holder = guardian.ward(main=100000, extra=FEE - 1)
    card = CardFactory(holder=holder)

    response = replace(guardian, card)

    assert (response.status_code, error_code(response)) == (409, "insufficient_funds")
    assert status_of(card) == Card.Status.ACTIVE
    assert not ReplacementOrder.objects.exists()
    assert extra_of(holder) == FEE - 1
    assert fee_movements() == 0


def test_a_card_already_replaced_is_refused_and_charged_once(guardian: Guardian) -> None:
    holder = guardian.ward(extra=3 * FEE)
    card = CardFactory(holder=holder)
    first = replace(guardian, card)

    second = replace(guardian, card)

    assert first.status_code == 201
    assert (second.status_code, error_code(second)) == (409, "card_replaced")
    assert ReplacementOrder.objects.count() == 1
    assert extra_of(holder) == 2 * FEE
    assert fee_movements() == 1


def test_a_card_with_an_order_is_not_replaced_again_whatever_its_status(guardian: Guardian) -> None:
    holder = guardian.ward(extra=3 * FEE)
    card = CardFactory(holder=holder)
    with transaction.atomic():
        card_replacement_order(guardian=guardian.user, card=card)
    # As if the office had set the status back by hand: the order still stands.
    Card.objects.filter(pk=card.pk).update(status=Card.Status.BLOCKED)

    with pytest.raises(CardReplaced), transaction.atomic():
        card_replacement_order(guardian=guardian.user, card=card)

    assert ReplacementOrder.objects.count() == 1
    assert extra_of(holder) == 2 * FEE


@pytest.mark.parametrize(
    "card_kwargs",
    [{"status": Card.Status.LOST}, {"status": Card.Status.RETURNED}, {"kind": Card.Kind.LOANER}],
    ids=["lost", "returned", "loaner"],
)
def test_lost_returned_and_loaner_cards_are_the_offices_to_replace(
    guardian: Guardian, card_kwargs: dict[str, str]
) -> None:
    holder = guardian.ward(extra=FEE)
    card = CardFactory(holder=holder, **card_kwargs)
    before = card.status

    response = replace(guardian, card)

    assert (response.status_code, error_code(response)) == (409, "card_not_replaceable")
    assert status_of(card) == before
    assert not ReplacementOrder.objects.exists()
    assert extra_of(holder) == FEE


def test_another_familys_card_is_not_found_and_not_replaced(guardian: Guardian) -> None:
    other = holder_with_balances(extra=FEE)
    card = CardFactory(holder=other)

    response = replace(guardian, card)

    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert status_of(card) == Card.Status.ACTIVE
    assert extra_of(other) == FEE
    assert not ReplacementOrder.objects.exists()


def test_a_wrong_password_is_refused_and_changes_nothing(guardian: Guardian) -> None:
    holder = guardian.ward(extra=FEE)
    card = CardFactory(holder=holder)

    response = replace(guardian, card, password="wrong")

    assert (response.status_code, error_code(response)) == (403, "reauth_failed")
    assert status_of(card) == Card.Status.ACTIVE
    assert extra_of(holder) == FEE
    assert not ReplacementOrder.objects.exists()


def test_anonymous_callers_cannot_replace() -> None:
    card = CardFactory(holder=holder_with_balances(extra=FEE))

    response = Client().post(
        f"/api/v1/me/cards/{card.number}/replace", data={"password": PASSWORD}, content_type="application/json"
    )

    assert response.status_code in (401, 403)
    assert status_of(card) == Card.Status.ACTIVE


# --- idempotency ------------------------------------------------------------------------------


def test_a_replay_with_the_same_key_returns_the_same_order_and_charges_once(guardian: Guardian) -> None:
    holder = guardian.ward(extra=3 * FEE)
    card = CardFactory(holder=holder)

    first = replace(guardian, card, key="replace-1")
    again = replace(guardian, card, key="replace-1")

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert ReplacementOrder.objects.count() == 1
    assert extra_of(holder) == 2 * FEE
    assert ledger_mismatches() == []


def test_the_same_key_for_another_card_is_refused(guardian: Guardian) -> None:
    holder = guardian.ward(extra=3 * FEE)
    first_card, second_card = CardFactory(holder=holder), CardFactory(holder=holder)
    replace(guardian, first_card, key="k")

    response = replace(guardian, second_card, key="k")

    assert (response.status_code, error_code(response)) == (422, "idempotency_key_reused")
    assert status_of(second_card) == Card.Status.ACTIVE


def test_keys_are_the_callers_own(guardian: Guardian) -> None:
    other = Guardian()
    mine, theirs = CardFactory(holder=guardian.ward(extra=FEE)), CardFactory(holder=other.ward(extra=FEE))
    replace(guardian, mine, key="same")

    response = replace(other, theirs, key="same")

    assert response.status_code == 201
    assert status_of(theirs) == Card.Status.REPLACED


def test_an_overlong_key_is_refused(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward(extra=FEE))

    response = replace(guardian, card, key="k" * 65)

    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert status_of(card) == Card.Status.ACTIVE


def test_the_password_is_not_kept_in_the_idempotency_record(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward(extra=FEE))
    path = f"/api/v1/me/cards/{card.number}/replace"
    replace(guardian, card, key="k")

    record = IdempotencyRecord.objects.get()
    assert record.fingerprint != request_fingerprint(method="POST", path=path, body={"password": PASSWORD})
    assert PASSWORD not in json.dumps(record.body)


# --- wrong passwords --------------------------------------------------------------------------


def wrong_passwords(guardian: Guardian, card: Card, count: int = REAUTH_FAILURES_ALLOWED) -> list[int]:
    return [replace(guardian, card, password=f"wrong-{i}").status_code for i in range(count)]


def test_after_five_wrong_passwords_even_the_right_one_is_refused(guardian: Guardian) -> None:
    holder = guardian.ward(extra=FEE)
    card = CardFactory(holder=holder)

    statuses = wrong_passwords(guardian, card)
    response = replace(guardian, card)

    assert statuses == [403] * REAUTH_FAILURES_ALLOWED
    assert (response.status_code, error_code(response)) == (429, "too_many_attempts")
    assert status_of(card) == Card.Status.ACTIVE
    assert extra_of(holder) == FEE


def test_the_lock_out_covers_blocking_and_reopening_too(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward(extra=FEE))
    blocked = CardFactory(holder=card.holder, status=Card.Status.BLOCKED)
    wrong_passwords(guardian, card)

    block = guardian.post(f"/api/v1/me/cards/{card.number}/block", {"password": PASSWORD})
    unblock = guardian.post(f"/api/v1/me/cards/{blocked.number}/unblock", {"password": PASSWORD})

    assert (block.status_code, error_code(block)) == (429, "too_many_attempts")
    assert (unblock.status_code, error_code(unblock)) == (429, "too_many_attempts")
    assert (status_of(card), status_of(blocked)) == (Card.Status.ACTIVE, Card.Status.BLOCKED)


def test_four_wrong_passwords_still_let_the_right_one_through(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward(extra=FEE))

    wrong_passwords(guardian, card, count=REAUTH_FAILURES_ALLOWED - 1)
    response = replace(guardian, card)

    assert response.status_code == 201


def test_the_lock_out_is_per_user(guardian: Guardian) -> None:
    other = Guardian()
    card = CardFactory(holder=guardian.ward(extra=FEE))
    theirs = CardFactory(holder=other.ward(extra=FEE))
    wrong_passwords(guardian, card)

    response = replace(other, theirs)

    assert response.status_code == 201


def test_the_right_password_works_again_once_the_window_has_passed(
    guardian: Guardian, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = CardFactory(holder=guardian.ward(extra=FEE))
    wrong_passwords(guardian, card)
    later = time.time() + REAUTH_WINDOW_SECONDS + 1
    # The local-memory cache reads time.time() for expiry.
    monkeypatch.setattr(time, "time", lambda: later)

    response = replace(guardian, card)

    assert response.status_code == 201


# --- paying the fee at the provider -----------------------------------------------------------


def replace_paying_by_card(guardian: Guardian, card: Card) -> Any:
    return guardian.client.post(
        f"/api/v1/me/cards/{card.number}/replace",
        data=json.dumps({"password": PASSWORD, "paid_with": "provider"}),
        content_type="application/json",
    )


def provider_clearing_total() -> int:
    account = system_account(kind=LedgerAccount.Kind.PROVIDER_CLEARING)
    return sum(LedgerEntry.objects.filter(account=account).values_list("amount_cents", flat=True))


def test_paying_by_card_blocks_the_card_at_once_and_awaits_the_payment(guardian: Guardian) -> None:
    holder = guardian.ward(main=0, extra=0)
    card = CardFactory(holder=holder)

    response = replace_paying_by_card(guardian, card)

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["paid_with"], body["fee"]) == ("awaiting_payment", "provider", "25.00")
    payment = Payment.objects.get()
    assert body["payment_url"].endswith(f"/pay/test/{payment.reference}/")
    assert (payment.purpose, payment.status, payment.amount_cents) == ("card_fee", "pending", FEE)
    assert status_of(card) == Card.Status.REPLACED
    assert fee_movements() == 0 and card_fees_total(holder) == 0


def test_the_verified_callback_books_the_fee_and_releases_the_order_to_print(guardian: Guardian) -> None:
    holder = guardian.ward(main=0, extra=0)
    card = CardFactory(holder=holder)
    replace_paying_by_card(guardian, card)
    payment = Payment.objects.get()

    simulated_callback_deliver(simulated_event(payment=payment, outcome="succeeded", save_card=False))

    order = ReplacementOrder.objects.get()
    assert order.status == ReplacementOrder.Status.ORDERED
    assert card_fees_total(holder) == FEE
    assert provider_clearing_total() == -FEE
    assert extra_of(holder) == 0
    assert ledger_mismatches() == []


def test_a_repeated_fee_callback_books_the_fee_once(guardian: Guardian) -> None:
    holder = guardian.ward(main=0, extra=0)
    replace_paying_by_card(guardian, CardFactory(holder=holder))
    event = simulated_event(payment=Payment.objects.get(), outcome="succeeded", save_card=False)

    simulated_callback_deliver(event)
    simulated_callback_deliver(event)

    assert card_fees_total(holder) == FEE
    assert fee_movements() == 1


def test_a_failed_fee_payment_leaves_the_order_awaiting_and_a_new_payment_can_be_made(guardian: Guardian) -> None:
    holder = guardian.ward(main=0, extra=0)
    replace_paying_by_card(guardian, CardFactory(holder=holder))
    first = Payment.objects.get()
    simulated_callback_deliver(simulated_event(payment=first, outcome="failed", save_card=False))
    order = ReplacementOrder.objects.get()

    second = replacement_fee_payment(guardian=guardian.user, order=order)

    order.refresh_from_db()
    assert order.status == ReplacementOrder.Status.AWAITING_PAYMENT
    assert second.pk != first.pk and second.status == Payment.Status.PENDING
    assert card_fees_total(holder) == 0


def test_asking_twice_for_the_fee_payment_gives_the_open_one(guardian: Guardian) -> None:
    holder = guardian.ward(main=0, extra=0)
    replace_paying_by_card(guardian, CardFactory(holder=holder))
    order = ReplacementOrder.objects.get()

    again = replacement_fee_payment(guardian=guardian.user, order=order)

    assert Payment.objects.count() == 1 and again.pk == Payment.objects.get().pk


def test_a_second_successful_fee_payment_is_credited_to_the_extra_balance_not_kept(guardian: Guardian) -> None:
    holder = guardian.ward(main=0, extra=0)
    replace_paying_by_card(guardian, CardFactory(holder=holder))
    first = Payment.objects.get()
    Payment.objects.filter(pk=first.pk).update(status=Payment.Status.EXPIRED)
    second = replacement_fee_payment(guardian=guardian.user, order=ReplacementOrder.objects.get())
    simulated_callback_deliver(simulated_event(payment=second, outcome="succeeded", save_card=False))

    # The guardian finishes the expired payment after all: the provider holds the money twice.
    simulated_callback_deliver(simulated_event(payment=first, outcome="succeeded", save_card=False))

    assert card_fees_total(holder) == FEE
    assert extra_of(holder) == FEE
    assert provider_clearing_total() == -2 * FEE
    assert ledger_mismatches() == []


def test_once_the_fee_is_paid_no_further_payment_is_opened(guardian: Guardian) -> None:
    holder = guardian.ward(main=0, extra=0)
    replace_paying_by_card(guardian, CardFactory(holder=holder))
    simulated_callback_deliver(simulated_event(payment=Payment.objects.get(), outcome="succeeded", save_card=False))

    with pytest.raises(OrderNotAwaitingPayment):
        replacement_fee_payment(guardian=guardian.user, order=ReplacementOrder.objects.get())
