"""Celery signal receivers: the request id travels with a task, and a starting worker drains the outbox.

A task published while a request is handled carries the request's id in its message headers; while
the task runs, `cardsystem.request_id` holds that id again, so every log line the task writes names
the request that caused it (cardsystem.logging).
"""

import logging
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

from cardsystem.request_id import request_id_get, request_id_var
from outbox.services import REQUEST_ID_HEADER

logger = logging.getLogger(__name__)

# The id each running task found when it started, put back when it ends (by task id).
_outer_ids: dict[str, str | None] = {}


@before_task_publish.connect(dispatch_uid="outbox.request_id_attach")
def request_id_attach(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = request_id_get()
    if request_id and headers is not None:
        # The outbox passes a stored request's id itself: that one wins.
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def carried_request_id(task: Any) -> str | None:
    """The request id a task's message carried: a header of its own on a worker, inside `headers`
    when applied in-process."""
    request = task.request
    carried = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    return str(carried) if carried else None


@task_prerun.connect(dispatch_uid="outbox.request_id_enter")
def request_id_enter(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is None or task is None:
        return
    outer = request_id_var.get()
    _outer_ids[task_id] = outer
    # An eager task inside a request without an id of its own keeps the request's.
    request_id_var.set(carried_request_id(task) or outer)


@task_postrun.connect(dispatch_uid="outbox.request_id_leave")
def request_id_leave(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id is not None and task_id in _outer_ids:
        request_id_var.set(_outer_ids.pop(task_id))


@worker_ready.connect(dispatch_uid="outbox.drain_on_worker_ready")
def drain_on_worker_ready(**kwargs: Any) -> None:
    """A worker starting (often: the broker is back) publishes what the outbox kept, from a task."""
    from outbox.tasks import outbox_drain_task

    try:
        outbox_drain_task.apply_async(ignore_result=True, retry=False)
    except Exception:  # the broker went away again: beat's drain will come
        logger.warning("outbox: could not queue the drain at worker start", exc_info=True)
