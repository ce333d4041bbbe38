"""Queue a Celery task without ever failing the caller or losing the task.

`task_send` publishes at once with a short, bounded retry (the broker's timeouts are in settings:
a till must not wait on a broker that hangs). When the broker does not take the task, the task is
written to the `QueuedTask` table instead, and `queued_tasks_drain` (beat every minute, a worker
when it starts, `manage.py outbox_drain`) publishes it later. Tasks are idempotent (DESIGN.md), so
a task published twice, by a drain racing another, changes nothing more.

In eager mode (no REDIS_URL) tasks run in-process exactly as `.delay()` runs them.
"""

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from celery import Task
from django.db import transaction
from django.db.models import F

from cardsystem.celery import app
from cardsystem.request_id import request_id_get
from outbox.models import QueuedTask

logger = logging.getLogger(__name__)

# The message header carrying the id of the request that queued the task (outbox.signals).
REQUEST_ID_HEADER = "request_id"

# One quick second try: after Redis restarts, the first publish meets a dead pooled connection and
# the second one reconnects. Each try is bounded by the broker's socket timeouts (settings).
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

# After a failed publish the process stops trying the broker for a while and stores tasks at once:
# a broker that hangs would otherwise cost every sale its timeouts. The drain always tries.
PUBLISH_PAUSE_SECONDS = 30.0
_paused_until = 0.0

DRAIN_BATCH = 100


def task_send(task: Task, *args: Any) -> None:
    """Queue `task(*args)` now; if the broker does not take it, keep it in the outbox."""
    if app.conf.task_always_eager:
        task.apply_async(args=args)
        return
    request_id = request_id_get() or ""
    if time.monotonic() < _paused_until:
        _store(name=task.name, args=list(args), request_id=request_id, attempts=0, error="not tried: broker paused")
        return
    try:
        _publish(name=task.name, args=list(args), request_id=request_id)
    except Exception as error:  # any broker or connection error: the caller must go on
        _publish_pause()
        logger.warning("task %s kept in the outbox: the broker did not take it (%s)", task.name, error)
        _store(name=task.name, args=list(args), request_id=request_id, attempts=1, error=repr(error))


def task_send_on_commit(task: Task, *args: Any) -> None:
    """`task_send` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(partial(task_send, task, *args))


@dataclass
class Drained:
    sent: int = 0
    left: int = 0
    error: str = ""


def queued_tasks_drain(*, batch: int = DRAIN_BATCH) -> Drained:
    """Publish the stored tasks, oldest first, deleting each once the broker took it.

    The first failure stops the drain: the broker is still down, and the tasks keep their order.
    The failed row counts the attempt and keeps the error. Rows another drain is publishing at the
    same moment are skipped (row locks on PostgreSQL).
    """
    result = Drained()
    last_pk = 0
    while not result.error:
        ids = list(QueuedTask.objects.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        for pk in ids:
            last_pk = pk
            if not _one_drain(pk, result):
                break
    if not result.error:
        publish_pause_end()
    result.left = QueuedTask.objects.count()
    return result


def _one_drain(pk: int, result: Drained) -> bool:
    """Publish one stored task under its row lock; False when the broker refused it."""
    with transaction.atomic():
        row = QueuedTask.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
        if row is None:
            return True  # another drain holds it or has sent it
        try:
            _publish(name=row.task_name, args=row.args, request_id=row.request_id)
        except Exception as error:  # the broker is still down: keep the row for the next drain
            result.error = repr(error)
            QueuedTask.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1, last_error=result.error)
            logger.warning("outbox: task %s not published yet (%s)", row.task_name, error)
            return False
        row.delete()
    result.sent += 1
    return True


def _publish(*, name: str, args: list[Any], request_id: str) -> None:
    # No result is awaited: subscribing to one would open Redis's result store, which retries for
    # some 20 seconds when Redis is down.
    app.send_task(
        name,
        args=args,
        headers={REQUEST_ID_HEADER: request_id} if request_id else None,
        ignore_result=True,
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
    )


def _store(*, name: str, args: list[Any], request_id: str, attempts: int, error: str) -> None:
    QueuedTask.objects.create(task_name=name, args=args, request_id=request_id, attempts=attempts, last_error=error)


def _publish_pause() -> None:
    global _paused_until
    _paused_until = time.monotonic() + PUBLISH_PAUSE_SECONDS


def publish_pause_end() -> None:
    """Let requests try the broker again (the drain got through)."""
    global _paused_until
    _paused_until = 0.0
