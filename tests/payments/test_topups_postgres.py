"""Top-up callbacks racing purchases and each other, on PostgreSQL with real row locks."""

from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client

from cards.services import guardianship_create
from payments.ledger import holder_accounts_get
from payments.models import LedgerTransaction, Payment
from payments.providers.test import simulated_callback_signed, simulated_event
from payments.selectors import ledger_mismatches
from payments.topups import AllocationRequest, topup_create
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, card_with_balances, terminal_with_token
from tests.payments.test_ledger_postgres import purchase, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def callback(body: bytes, headers: dict[str, str]) -> int:
    meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return Client().post("/payments/callback/test/", data=body, content_type="application/json", **meta).status_code


def test_a_top_up_callback_racing_purchases_on_the_same_card_loses_no_money() -> None:
    school = InstitutionFactory()
    guardian = UserFactory()
    card = card_with_balances(extra=3 * 2500, institution=school)  # covers three sandwiches alone
    guardianship_create(guardian=guardian, holder=card.holder)
    sandwich = ProductFactory(institution=school, price_cents=2500)
    _terminal, token = terminal_with_token(institution=school)
    payment = topup_create(
        guardian=guardian, allocations=[AllocationRequest(holder_id=card.holder_id, balance="extra", amount_cents=5000)]
    )
    signed = simulated_callback_signed(simulated_event(payment=payment, outcome="succeeded", save_card=False))

    def work(i: int) -> object:
        return callback(*signed) if i == 0 else purchase(token, card.uid, sandwich.pk, key=f"p{i}")[0]

    results = race(12, work)

    assert results[0] == 200
    sold = Counter(results[1:])[201]
    assert 3 <= sold <= 5  # 3 before the top-up lands, up to 5 after it
    extra = holder_accounts_get(holder_id=card.holder_id).extra
    assert extra.balance_cents == 3 * 2500 + 5000 - sold * 2500
    assert ledger_mismatches() == []
    call_command("ledger_check")


def test_the_same_callback_delivered_ten_times_at_once_credits_once() -> None:
    guardian = UserFactory()
    card = card_with_balances()
    guardianship_create(guardian=guardian, holder=card.holder)
    payment = topup_create(
        guardian=guardian, allocations=[AllocationRequest(holder_id=card.holder_id, balance="main", amount_cents=10000)]
    )
    signed = simulated_callback_signed(simulated_event(payment=payment, outcome="succeeded", save_card=False))

    assert race(10, lambda _i: callback(*signed)) == [200] * 10

    assert holder_accounts_get(holder_id=card.holder_id).main.balance_cents == 10000
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.TOPUP).count() == 1
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    assert ledger_mismatches() == []
