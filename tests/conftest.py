"""Shared fixtures. Tests needing services are marked and skipped without them, failed in CI."""

import logging
import os
import shutil
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from payments.ledger import system_account_cache_clear

# Playwright's sync API runs an event loop in the main thread; Django would refuse the ORM there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REQUIRE_ALL = os.environ.get("REQUIRE_ALL_TESTS") == "1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    # The default hasher takes over a second per call on small machines.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test client and the live server speak plain HTTP: no redirect to HTTPS, cookies not
    # HTTPS-only (tests/test_security.py checks the production values).
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    # Tests make requests faster than any till, with ids reused from test to test: no token rate
    # limits here (tests/test_security.py turns them on to check them).
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {}}
    from rest_framework.settings import api_settings

    api_settings.reload()


def _missing(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://..."
    if item.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        return "needs Chromium: apt-get install chromium"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _missing(item)
    if reason:
        if REQUIRE_ALL:
            pytest.fail(f"REQUIRE_ALL_TESTS is set but this test {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_system_accounts() -> Iterator[None]:
    # System account ids are cached per process; each test's database starts empty.
    system_account_cache_clear()
    yield
    system_account_cache_clear()


@pytest.fixture(autouse=True)
def _root_logger_level_kept() -> Iterator[None]:
    # An embedded Celery worker (tests of the broker) sets the root logger up for itself, at ERROR:
    # later tests' log capture would see nothing below it.
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


@pytest.fixture(autouse=True)
def _tasks_run_in_process() -> Iterator[None]:
    # With REDIS_URL set (CI) tasks would go to a broker no worker reads. Tests run them in-process;
    # the tests of the broker itself (tests/payments/test_tasks.py) turn this off again.
    from cardsystem.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager
