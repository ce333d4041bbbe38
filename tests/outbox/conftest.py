"""Brokers for the outbox tests: one that refuses (Redis down), one in memory, the real Redis.

Each fixture points the Celery app at its broker with eager mode off, and puts the app back as it
was afterwards (conftest's `_tasks_run_in_process` turns eager mode on for every other test).
"""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from django.conf import settings
from kombu import Connection
from kombu.simple import SimpleQueue

from cardsystem.cache import cache_pause_end
from cardsystem.celery import app
from cardsystem.logging import JsonFormatter, RequestIdFilter
from outbox.services import publish_pause_end

# Nothing listens on port 1: a connection is refused at once, as with Redis stopped.
REDIS_DOWN_URL = "redis://127.0.0.1:1/5"
QUEUE = "celery"


def _pools_reset() -> None:
    # The app keeps the connection and producer pools of the broker URL it first used; kombu keeps
    # them per URL for the process (so they are left open for the next test on that URL).
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    saved = {"broker_url": app.conf.broker_url, "task_always_eager": app.conf.task_always_eager}
    app.conf.broker_url = url
    app.conf.task_always_eager = False
    _pools_reset()
    try:
        yield
    finally:
        app.conf.update(saved)
        _pools_reset()


@pytest.fixture(autouse=True)
def _pauses_cleared() -> Iterator[None]:
    # A failure in one test pauses the broker and the cache for this process: not for the next test.
    publish_pause_end()
    cache_pause_end()
    yield
    publish_pause_end()
    cache_pause_end()


@pytest.fixture
def broker_down() -> Iterator[None]:
    with celery_broker(REDIS_DOWN_URL):
        yield


@pytest.fixture
def redis_down(broker_down: None, settings: Any) -> None:
    """Redis stopped: the broker and the cache refuse, and the till's throttle is on (as in production)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "cardsystem.cache.FailSoftRedisCache",
            "LOCATION": REDIS_DOWN_URL,
            "OPTIONS": {
                "socket_connect_timeout": settings.REDIS_TIMEOUT_SECONDS,
                "socket_timeout": settings.REDIS_TIMEOUT_SECONDS,
            },
        }
    }
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"terminal": "50/s", "personal_token": "120/min"},
    }


class MemoryQueue:
    """The in-memory broker's task queue, read the way a worker would."""

    def __init__(self, connection: Connection) -> None:
        self.queue = SimpleQueue(connection, QUEUE, no_ack=True)

    def messages(self) -> list[Any]:
        found = []
        while True:
            try:
                found.append(self.queue.get(block=False))
            except self.queue.Empty:
                return found


@pytest.fixture
def memory_queue() -> Iterator[MemoryQueue]:
    """A broker that answers, in this process (kombu's memory transport)."""
    with celery_broker("memory://"), app.connection_for_read() as connection:
        queue = MemoryQueue(connection)
        queue.queue.clear()
        yield queue
        queue.queue.clear()


@pytest.fixture
def redis_queue() -> Iterator[redis.Redis]:
    """The real Redis (REDIS_URL) as the broker; its task queue is emptied before and after."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(QUEUE)
    with celery_broker(settings.REDIS_URL):
        yield client
    client.delete(QUEUE)
    client.close()


@contextmanager
def json_log_capture() -> Iterator[io.StringIO]:
    """Every record at INFO and above as production writes it: JSON with the request id."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    with json_log_capture() as stream:
        yield stream


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]
