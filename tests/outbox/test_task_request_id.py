"""The request id travels with a task: in its message, into its log lines, through the outbox."""

import io
import json
import logging
import time
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from cardsystem.celery import app
from cardsystem.request_id import request_id_get, request_id_var
from outbox.models import QueuedTask
from outbox.services import queued_tasks_drain, task_send
from payments.tasks import ledger_check_task
from tests.outbox.conftest import MemoryQueue, celery_broker, json_log_capture, records
from tests.outbox.test_redis_down import World


def buy_with_request_id(world: World, request_id: str) -> int:
    body = {"uid": world.card.uid, "lines": [{"product": world.sandwich.pk, "quantity": 1}], "payment": "card"}
    response = world.client.post(
        "/api/v1/terminal/purchases",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="sale-1",
        HTTP_X_REQUEST_ID=request_id,
    )
    return response.status_code


# Real commits: the sale's on_commit hook runs inside the request, as in production.
@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_a_request_carries_the_request_id_in_its_message(memory_queue: MemoryQueue) -> None:
    world = World()

    assert buy_with_request_id(world, "till-req-1") == 201

    [message] = memory_queue.messages()
    assert (message.headers["task"], message.headers["request_id"]) == ("payments.balances_fell", "till-req-1")


def test_a_task_queued_with_delay_during_a_request_carries_its_id_too(memory_queue: MemoryQueue) -> None:
    token = request_id_var.set("portal-req-7")
    try:
        ledger_check_task.delay()
    finally:
        request_id_var.reset(token)

    [message] = memory_queue.messages()
    assert message.headers["request_id"] == "portal-req-7"


@pytest.mark.django_db
def test_a_task_queued_outside_a_request_carries_no_request_id(memory_queue: MemoryQueue) -> None:
    task_send(ledger_check_task)

    [message] = memory_queue.messages()
    assert "request_id" not in message.headers


@pytest.mark.django_db(transaction=True)
def test_a_task_kept_in_the_outbox_is_published_with_the_request_id_of_its_request(broker_down: None) -> None:
    world = World()
    assert buy_with_request_id(world, "till-req-2") == 201
    assert list(QueuedTask.objects.values_list("request_id", flat=True)) == ["till-req-2"]

    with celery_broker("memory://"), app.connection_for_read() as connection:  # the broker is back
        queue = MemoryQueue(connection)
        queue.queue.clear()
        queued_tasks_drain()
        [message] = queue.messages()

    assert message.headers["request_id"] == "till-req-2"


@pytest.mark.django_db
def test_a_task_writes_its_log_lines_with_the_request_id_it_carries(json_lines: io.StringIO) -> None:
    ledger_check_task.apply(headers={"request_id": "till-req-3"})

    lines = [r for r in records(json_lines) if r["logger"] == "payments.tasks"]
    assert [(r["message"], r["request_id"]) for r in lines] == [("ledger is consistent", "till-req-3")]


@pytest.mark.django_db
def test_after_a_task_the_request_id_is_the_one_before_it() -> None:
    token = request_id_var.set("outer-req")
    try:
        ledger_check_task.apply(headers={"request_id": "till-req-4"})
        assert request_id_get() == "outer-req"
    finally:
        request_id_var.reset(token)


@pytest.mark.django_db
def test_an_eager_task_inside_a_request_logs_with_that_requests_id(json_lines: io.StringIO) -> None:
    token = request_id_var.set("portal-req-5")
    try:
        task_send(ledger_check_task)
    finally:
        request_id_var.reset(token)

    assert [r["request_id"] for r in records(json_lines) if r["logger"] == "payments.tasks"] == ["portal-req-5"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_a_task_with_the_request_id_of_the_request_that_queued_it(redis_queue: object) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        # The embedded worker sets Django up again, which configures logging anew: capture after it.
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10), json_log_capture() as lines:
            token = request_id_var.set("till-req-6")
            try:
                task_send(ledger_check_task)  # as a request would, through Redis
            finally:
                request_id_var.reset(token)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not _task_lines(lines):
                time.sleep(0.05)
    finally:
        # The worker set the root logger up for itself (handlers and its own level): put both back,
        # or later tests' log capture sees nothing below ERROR.
        root.handlers = handlers
        root.setLevel(level)

    assert [r["request_id"] for r in _task_lines(lines)] == ["till-req-6"]


def _task_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in records(stream) if r["logger"] == "payments.tasks"]
