"""Low-balance e-mails: one per crossing of the guardian's level, on each balance, to the guardians only."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from canteen.models import Product
from canteen.services import LineRequest, purchase_create
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from payments.alerts import low_balance_alerts_send, low_balance_sweep
from payments.balance_watch import balance_watch_refresh, holder_settings_save
from payments.ledger import Leg, MoneyMovedLog, holder_accounts_get, movement_post, opening_balance_post
from payments.models import AutoTopUp, LedgerAccount, LedgerTransaction, PaymentMandate
from payments.selectors import ledger_mismatches
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, card_with_balances

pytestmark = pytest.mark.django_db

OnCommit = Callable[..., Any]


@pytest.fixture
def sandwich() -> Product:
    return ProductFactory(institution=InstitutionFactory(), price_cents=1500)


def holder_card(
    product: Product, *, extra: int = 3000, main: int = 5000, alert: int | None = 2000, guardians: int = 1
) -> Card:
    """A card whose holder has guardians and an alert level (main stays above it unless asked)."""
    card = card_with_balances(extra=extra, main=main, institution=product.institution)
    holder = card.holder
    assert holder is not None
    for _ in range(guardians):
        guardianship_create(guardian=UserFactory(), holder=holder)
    holder_settings_save(holder=holder, low_balance_alert_cents=alert)
    return card


def sell(card: Card, product: Product, capture: OnCommit, *, execute: bool = True) -> list[Any]:
    """One purchase in its own transaction; returns the on_commit callbacks it registered."""
    with capture(execute=execute) as callbacks, transaction.atomic():
        purchase_create(institution=product.institution, card=card, lines=[LineRequest(product.pk, 1)])
    return list(callbacks)


def extra_account(card: Card) -> LedgerAccount:
    return holder_accounts_get(holder_id=card.holder_id).extra


def credit(account: LedgerAccount, cents: int) -> None:
    with transaction.atomic():
        opening_balance_post(account=account, amount_cents=cents, reason="test top-up")


def guardians_of(holder: Cardholder | None) -> set[str]:
    return set(User.objects.filter(guardianships__holder=holder).values_list("email", flat=True))


def test_a_purchase_crossing_the_level_sends_one_mail_naming_holder_balance_and_amount(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)

    sell(card, sandwich, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == list(guardians_of(card.holder))
    assert card.holder is not None and card.holder.name in message.subject
    assert "Ekstrasaldo" in message.body
    assert "15,00" in message.body and "20,00" in message.body  # now 15.00, level 20.00 (Danish format)
    assert extra_account(card).low_balance_alerted


def test_a_second_purchase_below_the_level_sends_no_mail(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=4000, alert=3000)
    sell(card, sandwich, django_capture_on_commit_callbacks)

    sell(card, sandwich, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1


def test_a_credit_back_at_the_level_rearms_and_the_next_crossing_mails_again(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    sell(card, sandwich, django_capture_on_commit_callbacks)  # 15.00: mail 1

    credit(extra_account(card), 500)  # exactly 20.00: at the level again
    assert not extra_account(card).low_balance_alerted
    sell(card, sandwich, django_capture_on_commit_callbacks)  # 5.00: mail 2

    assert len(mail.outbox) == 2


def test_a_credit_that_stays_below_the_level_does_not_rearm(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    sell(card, sandwich, django_capture_on_commit_callbacks)  # 15.00

    credit(extra_account(card), 400)  # 19.00: still below
    sell(card, sandwich, django_capture_on_commit_callbacks)  # 4.00

    assert extra_account(card).low_balance_alerted
    assert len(mail.outbox) == 1


def queued_work(callbacks: list[Any]) -> list[Any]:
    """The callbacks that queue work, leaving out the money log line every movement writes."""
    return [callback for callback in callbacks if not isinstance(callback, MoneyMovedLog)]


def test_without_a_level_a_purchase_sends_nothing_and_registers_no_callback(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=10000, alert=None)
    sell(card, sandwich, django_capture_on_commit_callbacks)  # caches the system accounts (their own callback)

    callbacks = sell(card, sandwich, django_capture_on_commit_callbacks, execute=False)

    assert queued_work(callbacks) == []
    assert mail.outbox == []


def test_a_purchase_that_crosses_nothing_runs_no_more_statements_than_one_without_any_level(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    plain = holder_card(sandwich, extra=10000, alert=None)
    watched = holder_card(sandwich, extra=10000, alert=2000)
    sell(plain, sandwich, django_capture_on_commit_callbacks)  # caches the system accounts

    with CaptureQueriesContext(connection) as plain_queries:
        callbacks_plain = sell(plain, sandwich, django_capture_on_commit_callbacks, execute=False)
    with CaptureQueriesContext(connection) as watched_queries:
        callbacks_watched = sell(watched, sandwich, django_capture_on_commit_callbacks, execute=False)

    assert len(watched_queries) == len(plain_queries)
    assert queued_work(callbacks_plain) == queued_work(callbacks_watched) == []


def test_the_mail_goes_to_every_guardian_of_the_holder_and_to_nobody_else(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000, guardians=3)
    holder_card(sandwich, extra=3000, alert=2000, guardians=1)  # another family, not crossing

    sell(card, sandwich, django_capture_on_commit_callbacks)

    assert sorted(address for message in mail.outbox for address in message.to) == sorted(guardians_of(card.holder))
    assert all(len(message.to) == 1 and not message.cc and not message.bcc for message in mail.outbox)


def test_the_main_balance_falling_below_the_level_is_mailed_too(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, main=5000, extra=0, alert=2000)
    accounts = holder_accounts_get(holder_id=card.holder_id)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        movement_post(kind=LedgerTransaction.Kind.TRANSFER, legs=[Leg(accounts.main, -4000), Leg(accounts.extra, 4000)])

    assert len(mail.outbox) == 1
    assert "Hovedsaldo" in mail.outbox[0].body


def test_each_balance_is_mailed_once_for_its_own_crossing(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, main=5000, extra=3000, alert=2000)
    accounts = holder_accounts_get(holder_id=card.holder_id)
    sell(card, sandwich, django_capture_on_commit_callbacks)  # extra 15.00

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        movement_post(
            kind=LedgerTransaction.Kind.TRANSFER, legs=[Leg(accounts.main, -4000), Leg(accounts.extra, 4000)]
        )  # main 10.00 crosses; extra back to 55.00 (re-armed)

    assert len(mail.outbox) == 2
    assert "Ekstrasaldo" in mail.outbox[0].body
    assert "Hovedsaldo" in mail.outbox[1].body
    assert not holder_accounts_get(holder_id=card.holder_id).extra.low_balance_alerted


def test_the_sweep_mails_a_crossing_the_hook_missed_and_twice_sends_it_once(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    sell(card, sandwich, django_capture_on_commit_callbacks, execute=False)  # the task was never queued
    assert mail.outbox == []

    assert low_balance_sweep() == (0, 1)
    assert low_balance_sweep() == (0, 0)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == list(guardians_of(card.holder))


def test_the_sweep_rearms_an_alerted_balance_back_at_its_level(sandwich: Product) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    LedgerAccount.objects.filter(pk=extra_account(card).pk).update(low_balance_alerted=True)

    assert low_balance_sweep() == (1, 0)

    assert not extra_account(card).low_balance_alerted
    assert mail.outbox == []


def test_the_task_and_the_sweep_together_mail_a_crossing_once(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    sell(card, sandwich, django_capture_on_commit_callbacks)

    low_balance_sweep()
    low_balance_alerts_send(account_ids=[extra_account(card).pk])

    assert len(mail.outbox) == 1


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("the mail server is down")


def test_a_mail_that_could_not_be_sent_is_retried_by_the_next_sweep(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit, settings: Any
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    sell(card, sandwich, django_capture_on_commit_callbacks, execute=False)
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"

    with pytest.raises(ConnectionRefusedError):
        low_balance_sweep()
    assert not extra_account(card).low_balance_alerted

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert low_balance_sweep() == (0, 1)
    assert len(mail.outbox) == 1


def test_a_failing_mail_server_does_not_undo_the_sale(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit, settings: Any
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"

    sell(card, sandwich, django_capture_on_commit_callbacks)

    assert extra_account(card).balance_cents == 1500
    assert ledger_mismatches() == []


# --- the watched levels -------------------------------------------------------------------------


def patch_limits(user: User, holder: Cardholder | None, body: dict[str, Any]) -> Any:
    assert holder is not None
    client = Client()
    client.force_login(user)
    return client.patch(f"/api/v1/me/holders/{holder.pk}", data=json.dumps(body), content_type="application/json")


def levels(card: Card) -> list[tuple[str, int | None, int | None]]:
    return list(
        LedgerAccount.objects.filter(holder_id=card.holder_id)
        .order_by("kind")
        .values_list("kind", "alert_below_cents", "watch_below_cents")
    )


def test_patch_sets_the_watched_level_on_both_balances_and_null_removes_it(sandwich: Product) -> None:
    card = holder_card(sandwich, extra=3000, alert=None)
    guardian = User.objects.get(guardianships__holder=card.holder)

    response = patch_limits(guardian, card.holder, {"low_balance_alert": "20.00"})

    assert response.status_code == 200 and response.json()["low_balance_alert"] == "20.00"
    assert levels(card) == [("extra", 2000, 2000), ("main", 2000, 2000)]
    assert patch_limits(guardian, card.holder, {"low_balance_alert": None}).status_code == 200
    assert levels(card) == [("extra", None, None), ("main", None, None)]


def test_patching_only_the_daily_limit_keeps_the_watched_level(sandwich: Product) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    guardian = User.objects.get(guardianships__holder=card.holder)

    assert patch_limits(guardian, card.holder, {"daily_limit": "40.00"}).status_code == 200

    assert levels(card) == [("extra", 2000, 2000), ("main", 2000, 2000)]


def test_lowering_the_level_to_the_balance_rearms_an_alerted_balance(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    sell(card, sandwich, django_capture_on_commit_callbacks)  # 15.00, alerted
    assert card.holder is not None

    holder_settings_save(holder=card.holder, low_balance_alert_cents=1500)

    assert not extra_account(card).low_balance_alerted


def auto_topup(card: Card, *, balance: str, threshold: int, paused_reason: str = "") -> AutoTopUp:
    guardian = User.objects.filter(guardianships__holder=card.holder).first()
    assert guardian is not None and card.holder is not None
    mandate = PaymentMandate.objects.create(guardian=guardian, provider="test", reference=f"m{card.pk}")
    return AutoTopUp.objects.create(
        holder=card.holder,
        balance=balance,
        threshold_cents=threshold,
        amount_cents=5000,
        mandate=mandate,
        guardian=guardian,
        paused_reason=paused_reason,
    )


def test_an_active_automatic_top_up_above_the_alert_raises_the_watched_level_of_its_balance_only(
    sandwich: Product,
) -> None:
    card = holder_card(sandwich, extra=3000, alert=1000)
    auto_topup(card, balance="extra", threshold=2500)
    assert card.holder is not None

    balance_watch_refresh(holder=card.holder)

    assert levels(card) == [("extra", 1000, 2500), ("main", 1000, 1000)]


def test_a_paused_automatic_top_up_is_not_watched(sandwich: Product) -> None:
    card = holder_card(sandwich, extra=3000, alert=None)
    auto_topup(card, balance="extra", threshold=2500, paused_reason="refund requested")
    assert card.holder is not None

    balance_watch_refresh(holder=card.holder)

    assert levels(card) == [("extra", None, None), ("main", None, None)]


def test_falling_below_a_top_up_threshold_runs_the_task_which_tops_up_and_mails_no_alert(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = holder_card(sandwich, extra=4500, alert=2000)
    auto_topup(card, balance="extra", threshold=4000)
    assert card.holder is not None
    balance_watch_refresh(holder=card.holder)
    calls: list[list[int]] = []

    def recorded(*, account_ids: list[int]) -> int:
        calls.append(list(account_ids))
        return low_balance_alerts_send(account_ids=account_ids)

    monkeypatch.setattr("payments.tasks.low_balance_alerts_send", recorded)

    sell(card, sandwich, django_capture_on_commit_callbacks)  # 30.00: below the top-up's 40.00 only

    assert calls == [[extra_account(card).pk]]
    assert extra_account(card).balance_cents == 3000 + 5000  # the automatic top-up was charged
    assert not extra_account(card).low_balance_alerted  # and no low-balance alert went out


def test_the_mail_is_written_in_the_language_the_guardian_last_chose(
    sandwich: Product, django_capture_on_commit_callbacks: OnCommit
) -> None:
    card = holder_card(sandwich, extra=3000, alert=2000)
    User.objects.filter(guardianships__holder=card.holder).update(language="en")

    sell(card, sandwich, django_capture_on_commit_callbacks)

    assert "Extra balance" in mail.outbox[0].body
    assert "15.00" in mail.outbox[0].body
