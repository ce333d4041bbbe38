"""Replacement orders racing each other, purchases and their own fee callbacks, on PostgreSQL."""

from collections import Counter

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import Sum

from cards.errors import CardReplaced
from cards.models import Card, ReplacementOrder
from cards.services import guardianship_create
from payments.errors import InsufficientFunds
from payments.ledger import holder_accounts_get, system_account
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment
from payments.providers.test import simulated_callback_signed, simulated_event
from payments.replacements import card_replacement_order, replacement_fee_payment
from payments.selectors import ledger_mismatches
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, card_with_balances, terminal_with_token
from tests.payments.test_ledger_postgres import purchase, race
from tests.payments.test_topups_postgres import callback

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FEE = 2500


def card_fees(institution_id: int) -> int:
    account = system_account(kind=LedgerAccount.Kind.CARD_FEES, institution=InstitutionFactory.build(pk=institution_id))
    return int(LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount_cents"))["total"] or 0)


def test_orders_for_one_card_racing_purchases_charge_one_fee_and_never_overdraw_extra() -> None:
    cache.clear()
    school = InstitutionFactory()
    guardian = UserFactory()
    card = card_with_balances(extra=FEE + 2 * 1000, institution=school)  # the fee and two sandwiches
    guardianship_create(guardian=guardian, holder=card.holder)
    sandwich = ProductFactory(institution=school, price_cents=1000)
    _terminal, token = terminal_with_token(institution=school)

    def work(i: int) -> object:
        if i % 2:
            return purchase(token, card.uid, sandwich.pk, key=f"p{i}")[0]
        try:
            card_replacement_order(guardian=guardian, card=Card.objects.get(pk=card.pk))
        except (CardReplaced, InsufficientFunds) as error:
            return type(error).__name__
        return "ordered"

    results = race(10, work)

    outcome = Counter(results)
    assert outcome["ordered"] == 1, results
    assert ReplacementOrder.objects.count() == 1
    sold = outcome[201]
    extra = holder_accounts_get(holder_id=card.holder_id).extra.balance_cents
    assert extra == FEE + 2000 - FEE - sold * 1000 >= 0
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.FEE).count() == 1
    assert card_fees(school.pk) == FEE
    assert ledger_mismatches() == []
    call_command("ledger_check")


def test_the_same_fee_callback_delivered_eight_times_at_once_books_the_fee_once() -> None:
    school = InstitutionFactory()
    guardian = UserFactory()
    card = card_with_balances(institution=school)
    guardianship_create(guardian=guardian, holder=card.holder)
    order = card_replacement_order(guardian=guardian, card=card, paid_with=ReplacementOrder.PaidWith.PROVIDER)
    payment = replacement_fee_payment(guardian=guardian, order=order)
    signed = simulated_callback_signed(simulated_event(payment=payment, outcome="succeeded", save_card=False))

    statuses = race(8, lambda i: callback(*signed))

    assert statuses == [200] * 8
    assert card_fees(school.pk) == FEE
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    assert ReplacementOrder.objects.get().status == ReplacementOrder.Status.ORDERED
    assert ledger_mismatches() == []
