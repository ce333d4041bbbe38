"""Automatic top-up: a balance falling below the guardian's level is refilled from the saved card."""

from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from canteen.services import LineRequest, purchase_create
from cards.services import guardianship_create
from cardsystem.errors import NotFound
from payments.auto_topups import (
    auto_topup_set,
    auto_topup_stop,
    auto_topups_pause,
    auto_topups_resume,
    auto_topups_trigger,
)
from payments.ledger import holder_accounts_get
from payments.models import AutoTopUp, Payment, PaymentMandate
from payments.providers.test import TestProvider
from payments.selectors import ledger_mismatches
from payments.topups import BelowMinimum
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, card_with_balances

pytestmark = pytest.mark.django_db


class Setup:
    def __init__(self, *, extra: int = 6000) -> None:
        self.school = InstitutionFactory()
        self.guardian = UserFactory()
        self.card = card_with_balances(extra=extra, institution=self.school)
        self.holder = self.card.holder
        guardianship_create(guardian=self.guardian, holder=self.holder)
        self.mandate = PaymentMandate.objects.create(
            guardian=self.guardian, provider="test", reference="m-1", label="Test card"
        )
        self.sandwich = ProductFactory(institution=self.school, price_cents=2500)

    def rule(self, *, threshold: int = 5000, amount: int = 10000) -> AutoTopUp:
        return auto_topup_set(
            guardian=self.guardian,
            holder_id=self.holder.pk,
            balance="extra",
            threshold_cents=threshold,
            amount_cents=amount,
            mandate_id=self.mandate.pk,
        )

    def buy(self) -> None:
        with transaction.atomic():
            purchase_create(
                institution=self.school, card=self.card, lines=[LineRequest(product_id=self.sandwich.pk, quantity=1)]
            )

    def extra(self) -> int:
        return holder_accounts_get(holder_id=self.holder.pk).extra.balance_cents


@pytest.fixture
def setup() -> Setup:
    return Setup()


def test_a_purchase_taking_the_balance_below_the_level_charges_the_saved_card(
    setup: Setup, django_capture_on_commit_callbacks: Any
) -> None:
    setup.rule(threshold=5000, amount=10000)

    with django_capture_on_commit_callbacks(execute=True):
        setup.buy()  # 60.00 → 35.00, below 50.00

    payment = Payment.objects.get(purpose=Payment.Purpose.AUTO_TOPUP)
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.mandate == setup.mandate
    assert setup.extra() == 3500 + 10000
    assert ledger_mismatches() == []


def test_the_guardian_is_mailed_about_each_automatic_top_up(
    setup: Setup, django_capture_on_commit_callbacks: Any
) -> None:
    setup.rule()

    with django_capture_on_commit_callbacks(execute=True):
        setup.buy()

    mails = [m for m in mail.outbox if m.to == [setup.guardian.email]]
    assert len(mails) == 1
    assert "10" in mails[0].body


def test_a_purchase_that_stays_above_the_level_charges_nothing(
    setup: Setup, django_capture_on_commit_callbacks: Any
) -> None:
    setup.rule(threshold=1000)

    with django_capture_on_commit_callbacks(execute=True):
        setup.buy()

    assert not Payment.objects.exists()
    assert setup.extra() == 3500


def test_at_most_one_payment_is_pending_per_balance(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TestProvider, "mandate_charge", lambda self, *, payment: None)  # the provider is slow
    setup.rule(threshold=10000)
    account_id = holder_accounts_get(holder_id=setup.holder.pk).extra.pk

    first = auto_topups_trigger(account_ids=[account_id])
    second = auto_topups_trigger(account_ids=[account_id])

    assert len(first) == 1 and second == []
    assert Payment.objects.filter(status=Payment.Status.PENDING).count() == 1


def test_a_paused_rule_charges_nothing_until_resumed(setup: Setup) -> None:
    setup.rule(threshold=10000)
    account_id = holder_accounts_get(holder_id=setup.holder.pk).extra.pk
    auto_topups_pause(holder=setup.holder, reason="Refund requested")

    assert auto_topups_trigger(account_ids=[account_id]) == []
    auto_topups_resume(holder=setup.holder)
    assert len(auto_topups_trigger(account_ids=[account_id])) == 1


def test_a_revoked_card_is_not_charged(setup: Setup) -> None:
    setup.rule(threshold=10000)
    PaymentMandate.objects.filter(pk=setup.mandate.pk).update(revoked_at="2026-01-01T00:00:00Z")

    assert auto_topups_trigger(account_ids=[holder_accounts_get(holder_id=setup.holder.pk).extra.pk]) == []


def test_a_stopped_rule_charges_nothing(setup: Setup) -> None:
    rule = setup.rule(threshold=10000)
    auto_topup_stop(guardian=setup.guardian, rule_id=rule.pk)

    assert auto_topups_trigger(account_ids=[holder_accounts_get(holder_id=setup.holder.pk).extra.pk]) == []


def test_setting_a_level_above_the_balance_tops_up_at_once(
    setup: Setup, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        setup.rule(threshold=8000)

    assert setup.extra() == 6000 + 10000


def test_the_amount_is_at_least_the_top_up_minimum(setup: Setup) -> None:
    with pytest.raises(BelowMinimum):
        setup.rule(amount=4999)
    assert not AutoTopUp.objects.exists()


def test_another_familys_holder_or_card_is_not_found(setup: Setup) -> None:
    stranger = UserFactory()
    with pytest.raises(NotFound):
        auto_topup_set(
            guardian=stranger,
            holder_id=setup.holder.pk,
            balance="extra",
            threshold_cents=0,
            amount_cents=5000,
            mandate_id=setup.mandate.pk,
        )
    other = card_with_balances().holder
    guardianship_create(guardian=stranger, holder=other)
    with pytest.raises(NotFound):
        auto_topup_set(
            guardian=stranger,
            holder_id=other.pk,
            balance="extra",
            threshold_cents=0,
            amount_cents=5000,
            mandate_id=setup.mandate.pk,
        )


# --- the page ---------------------------------------------------------------------------------


def test_the_page_sets_up_and_stops_an_automatic_top_up(setup: Setup) -> None:
    client = Client()
    client.force_login(setup.guardian)

    response = client.post(
        "/portal/auto-topup/",
        {
            "holder": setup.holder.pk,
            "balance": "extra",
            "threshold": "20.00",
            "amount": "100.00",
            "mandate": setup.mandate.pk,
        },
    )

    assert response.status_code == 302
    rule = AutoTopUp.objects.get()
    assert (rule.threshold_cents, rule.amount_cents, rule.active) == (2000, 10000, True)
    client.post(f"/portal/auto-topup/{rule.pk}/stop/")
    rule.refresh_from_db()
    assert rule.active is False


def test_the_page_shows_a_too_small_amount_beside_the_field(setup: Setup) -> None:
    client = Client()
    client.force_login(setup.guardian)

    response = client.post(
        "/portal/auto-topup/",
        {
            "holder": setup.holder.pk,
            "balance": "extra",
            "threshold": "20.00",
            "amount": "10.00",
            "mandate": setup.mandate.pk,
        },
    )

    assert response.status_code == 400
    assert 'id="id_amount_errors"' in response.content.decode()
    assert not AutoTopUp.objects.exists()


def test_without_a_saved_card_the_page_explains_how_to_get_one() -> None:
    client = Client()
    client.force_login(UserFactory())

    page = client.get("/portal/auto-topup/").content.decode()

    assert 'href="/portal/topup/"' in page
    assert 'name="threshold"' not in page


def test_stopping_another_familys_rule_is_not_found(setup: Setup) -> None:
    rule = setup.rule()
    client = Client()
    client.force_login(UserFactory())

    assert client.post(f"/portal/auto-topup/{rule.pk}/stop/").status_code == 404
    rule.refresh_from_db()
    assert rule.active
