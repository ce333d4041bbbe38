"""Low-balance e-mails under concurrency, on PostgreSQL with real row locks and real commits."""

import json

import pytest
from django.core import mail
from django.test import Client

from cards.services import guardianship_create
from payments.alerts import low_balance_alerts_send, low_balance_sweep
from payments.balance_watch import holder_settings_save
from payments.ledger import holder_accounts_get
from payments.selectors import ledger_mismatches
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, card_with_balances, terminal_with_token
from tests.payments.test_ledger_postgres import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


def purchase(token: str, uid: str, product_id: int, key: str) -> int:
    response = Client().post(
        "/api/v1/terminal/purchases",
        data=json.dumps({"uid": uid, "lines": [{"product": product_id, "quantity": 1}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    return response.status_code


def test_twenty_purchases_racing_across_the_level_send_exactly_one_mail() -> None:
    school = InstitutionFactory()
    card = card_with_balances(main=10000, extra=10000, institution=school)
    assert card.holder is not None
    guardian = UserFactory()
    guardianship_create(guardian=guardian, holder=card.holder)
    holder_settings_save(holder=card.holder, low_balance_alert_cents=5000)  # crossed by the 13th sale of 4.00
    apple = ProductFactory(institution=school, price_cents=400)
    _terminal, token = terminal_with_token(institution=school)

    statuses = race(THREADS, lambda i: purchase(token, card.uid, apple.pk, key=f"a{i}"))

    assert statuses == [201] * THREADS
    assert [message.to for message in mail.outbox] == [[guardian.email]]
    extra = holder_accounts_get(holder_id=card.holder_id).extra
    assert extra.balance_cents == 10000 - THREADS * 400 and extra.low_balance_alerted
    assert ledger_mismatches() == []


def test_the_hooks_task_and_sweeps_racing_on_one_crossing_send_one_mail() -> None:
    school = InstitutionFactory()
    card = card_with_balances(main=10000, extra=1000, institution=school)
    assert card.holder is not None
    guardianship_create(guardian=UserFactory(), holder=card.holder)
    holder_settings_save(holder=card.holder, low_balance_alert_cents=2000)  # extra already below: not told yet
    extra_id = holder_accounts_get(holder_id=card.holder_id).extra.pk

    def work(i: int) -> object:
        return low_balance_sweep() if i % 2 else low_balance_alerts_send(account_ids=[extra_id])

    results = race(THREADS, work)

    assert not [r for r in results if isinstance(r, Exception)]
    assert len(mail.outbox) == 1
    assert ledger_mismatches() == []
