"""The drain: kept tasks go to the broker once it answers, oldest first; a refused one stays."""

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from kombu import Connection

from outbox.models import QueuedTask
from outbox.services import queued_tasks_drain
from outbox.signals import drain_on_worker_ready
from tests.outbox.conftest import QUEUE, MemoryQueue

pytestmark = pytest.mark.django_db


def kept(name: str = "payments.balances_fell", args: list[object] | None = None, request_id: str = "") -> QueuedTask:
    return QueuedTask.objects.create(
        task_name=name, args=[[3]] if args is None else args, request_id=request_id, attempts=1, last_error="down"
    )


def test_draining_publishes_a_kept_task_and_deletes_its_row(memory_queue: MemoryQueue) -> None:
    kept(args=[[3, 4]])

    result = queued_tasks_drain()

    [message] = memory_queue.messages()
    assert (message.headers["task"], message.decode()[0]) == ("payments.balances_fell", [[3, 4]])
    assert (result.sent, result.left) == (1, 0)
    assert not QueuedTask.objects.exists()


def test_draining_publishes_the_kept_tasks_in_the_order_they_were_kept(memory_queue: MemoryQueue) -> None:
    kept(args=[[1]])
    kept(name="canteen.kitchen_mail", args=[2])
    kept(args=[[3]])

    queued_tasks_drain(batch=2)

    assert [(m.headers["task"], m.decode()[0]) for m in memory_queue.messages()] == [
        ("payments.balances_fell", [[1]]),
        ("canteen.kitchen_mail", [2]),
        ("payments.balances_fell", [[3]]),
    ]


def test_a_task_the_broker_still_refuses_stays_with_one_more_attempt(broker_down: None) -> None:
    row = kept()

    result = queued_tasks_drain()

    row.refresh_from_db()
    assert (row.attempts, result.sent, result.left) == (2, 0, 1)
    assert "Connection refused" in row.last_error


def test_the_drain_command_fails_and_keeps_the_task_while_the_broker_refuses(broker_down: None) -> None:
    kept()

    with pytest.raises(CommandError, match="the broker refused a task"):
        call_command("outbox_drain")

    assert QueuedTask.objects.count() == 1


def test_the_drain_command_publishes_and_says_how_many(
    memory_queue: MemoryQueue, capsys: pytest.CaptureFixture
) -> None:
    kept()
    kept()

    call_command("outbox_drain")

    assert capsys.readouterr().out.strip() == "outbox_drain: 2 sent, 0 still queued"
    assert len(memory_queue.messages()) == 2


def test_a_starting_worker_queues_the_drain(memory_queue: MemoryQueue) -> None:
    drain_on_worker_ready()

    assert [m.headers["task"] for m in memory_queue.messages()] == ["outbox.drain"]


def test_beat_drains_the_outbox_every_minute() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE["outbox-drain"]

    assert (schedule["task"], str(schedule["schedule"])) == ("outbox.drain", "<crontab: * * * * * (m/h/dM/MY/d)>")


@pytest.mark.redis
def test_with_redis_back_the_drain_puts_the_kept_task_on_the_redis_queue(redis_queue: redis.Redis) -> None:
    kept(args=[[5]], request_id="till-req-9")

    queued_tasks_drain()

    assert redis_queue.llen(QUEUE) == 1
    assert not QueuedTask.objects.exists()
    with Connection(settings.REDIS_URL) as connection:
        message = connection.SimpleQueue(QUEUE, no_ack=True).get(timeout=5)
    assert (message.headers["task"], message.headers["request_id"], message.decode()[0]) == (
        "payments.balances_fell",
        "till-req-9",
        [[5]],
    )
