"""Redis down: the till still sells and scans; the tasks it queues wait in the outbox."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from canteen.models import Product, Sale
from cards.models import Card
from cards.services import guardianship_create
from cardsystem.celery import app
from outbox import services
from outbox.models import QueuedTask
from outbox.services import task_send
from payments.balance_watch import holder_settings_save
from payments.ledger import holder_accounts_get
from payments.tasks import balances_fell_task, ledger_check_task
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, card_with_balances, terminal_with_token

pytestmark = pytest.mark.django_db

OnCommit = Callable[..., Any]


class World:
    def __init__(self) -> None:
        school = InstitutionFactory()
        _terminal, token = terminal_with_token(institution=school)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        self.sandwich: Product = ProductFactory(institution=school, price_cents=1500)
        # 30.00 on extra with an alert at 20.00: one sandwich takes it below the level.
        self.card: Card = card_with_balances(extra=3000, institution=school)
        guardianship_create(guardian=UserFactory(), holder=self.card.holder)
        holder_settings_save(holder=self.card.holder, low_balance_alert_cents=2000)

    def buy(self, capture: OnCommit) -> Any:
        body = {"uid": self.card.uid, "lines": [{"product": self.sandwich.pk, "quantity": 1}], "payment": "card"}
        with capture(execute=True):
            return self.client.post(
                "/api/v1/terminal/purchases",
                data=json.dumps(body),
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="sale-1",
            )

    def extra(self) -> int:
        return holder_accounts_get(holder_id=self.card.holder_id).extra.balance_cents


@pytest.fixture
def world() -> World:
    return World()


def test_a_purchase_with_redis_down_answers_201_and_moves_the_money(
    redis_down: None, world: World, django_capture_on_commit_callbacks: OnCommit
) -> None:
    response = world.buy(django_capture_on_commit_callbacks)

    assert response.status_code == 201
    assert world.extra() == 1500
    assert Sale.objects.filter(card=world.card).count() == 1


def test_the_low_balance_task_of_a_purchase_with_redis_down_waits_in_the_outbox(
    redis_down: None, world: World, django_capture_on_commit_callbacks: OnCommit
) -> None:
    world.buy(django_capture_on_commit_callbacks)

    extra_id = holder_accounts_get(holder_id=world.card.holder_id).extra.pk
    assert list(QueuedTask.objects.values_list("task_name", "args", "attempts")) == [
        ("payments.balances_fell", [[extra_id]], 1)
    ]


def test_a_scan_with_redis_down_answers_200(redis_down: None, world: World) -> None:
    response = world.client.post(
        "/api/v1/terminal/scans", data=json.dumps({"uid": world.card.uid}), content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["balances"]["extra"] == "30.00"


def test_the_throttle_lets_a_request_through_and_warns_when_the_cache_is_down(
    redis_down: None, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    response = world.client.get("/api/v1/terminal/products")

    assert response.status_code == 200
    warnings = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "cardsystem.cache"]
    assert [(level, message.split(";")[0]) for level, message in warnings] == [
        ("WARNING", "The cache (Redis) does not answer")
    ]


def test_after_a_refused_publish_the_next_task_is_kept_without_asking_the_broker(
    broker_down: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_send(ledger_check_task)
    publishes: list[str] = []
    monkeypatch.setattr(services, "_publish", lambda **kwargs: publishes.append(kwargs["name"]))

    task_send(balances_fell_task, [7])

    assert publishes == []
    assert list(QueuedTask.objects.values_list("task_name", "attempts")) == [
        ("payments.ledger_check", 1),
        ("payments.balances_fell", 0),
    ]


def test_in_eager_mode_a_task_runs_in_process_and_nothing_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[int]] = []
    monkeypatch.setattr("payments.tasks.auto_topups_trigger", lambda *, account_ids: ran.append(account_ids))
    assert app.conf.task_always_eager

    task_send(balances_fell_task, [7])

    assert ran == [[7]]
    assert not QueuedTask.objects.exists()


def test_with_redis_down_the_cache_answers_as_an_empty_one(redis_down: None) -> None:
    from django.core.cache import cache

    cache.set("k", 1)
    assert (cache.get("k", "missing"), cache.add("k", 1), cache.incr("k", 3), cache.get_many(["k"])) == (
        "missing",
        True,
        3,
        {},
    )


def test_with_redis_down_sign_in_still_answers(redis_down: None) -> None:
    from django.test import Client

    from tests.factories import PASSWORD, UserFactory

    user = UserFactory()
    response = Client().post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code in (200, 302)
