"""Fuzzing the terminal and guardian APIs with schemathesis, against the schema the app serves.

Every operation under `/api/v1/terminal/` and `/api/v1/me/` runs with a valid token and generated
requests, valid and invalid. Each answer must: not be a server error; have a status code, content
type and body the schema documents; and, for a 4xx, be API.md's error body.

The budget is fixed and small so CI stays quick (`SCHEMATHESIS_EXAMPLES`, default 15 per operation)
and generation is deterministic, so a failure found once is found again on the next run.
"""

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis import BaseSchema, Case, CheckContext, GenerationMode, Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import personal_token_create
from cards.services import guardianship_create
from cardsystem.wsgi import application
from tests.factories import CardFactory, ProductFactory, holder_with_balances, terminal_with_token
from tests.meal_factories import guardian_of, meal_school, teacher_card_for, weekday_school_days

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "15"))
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def api_schema(mode: GenerationMode) -> BaseSchema:
    """The schema the app serves, cut to the terminal and guardian APIs, generating `mode` requests."""
    loaded = schemathesis.openapi.from_wsgi("/api/schema/", application)
    loaded.config.generation.update(
        modes=[mode],
        max_examples=EXAMPLES,
        deterministic=True,
        # Our Authorization header must reach the API, not a generated one.
        with_security_parameters=False,
        database="none",
    )
    return loaded.include(path_regex=r"^/api/v1/(terminal|me)/")


valid_requests = api_schema(GenerationMode.POSITIVE)
# The two lists take no parameters and no body: there is nothing to make invalid in them.
invalid_requests = api_schema(GenerationMode.NEGATIVE).exclude(
    method="GET", path_regex=r"^/api/v1/(me/holders|terminal/products)$"
)


@dataclass(frozen=True)
class World:
    terminal_token: str
    guardian_token: str


@pytest.fixture
def world() -> World:
    """A school with products, meals from today on, a guardian with two pupils, another family and a teacher."""
    school = meal_school()
    today = timezone.localdate()
    weekday_school_days(school, today - dt.timedelta(days=7), today + dt.timedelta(days=21))
    for name, price in (("Sandwich", 2500), ("Milk", 500), ("Apple", 400)):
        ProductFactory(institution=school, name=name, price_cents=price)
    anna = holder_with_balances(institution=school, main=10000, extra=5000)
    bo = holder_with_balances(institution=school)
    guardian = guardian_of(anna)
    guardianship_create(guardian=guardian, holder=bo)
    carl = holder_with_balances(institution=school, extra=2000)
    guardian_of(carl)
    # The demo cards' UIDs and numbers, so the fuzzer's examples from the docs meet real cards.
    CardFactory(holder=anna, uid="04A1B2C3D4E5F6", number="100001")
    CardFactory(holder=bo, uid="04B2C3D4E5F607", number="100002")
    CardFactory(holder=carl, uid="04C3D4E5F60718", number="100003")
    teacher_card_for(institution=school, uid="04D4E5F6071829", number="100004")
    _terminal, terminal_token = terminal_with_token(institution=school)
    _token, guardian_token = personal_token_create(user=guardian, name="fuzz")
    return World(terminal_token=terminal_token, guardian_token=guardian_token)


def error_body_conformance(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A 4xx answers API.md's error body: {"error": {"code": snake_case, "message": str, "fields"?: {...}}}."""
    if not 400 <= response.status_code < 500:
        return None
    body: Any = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"not an error body: {body!r}"
    error = body["error"]
    assert isinstance(error, dict), f"error is not an object: {error!r}"
    assert isinstance(error.get("code"), str) and SNAKE_CASE.match(error["code"]), f"bad code: {error!r}"
    assert isinstance(error.get("message"), str) and error["message"], f"no message: {error!r}"
    assert set(error) <= {"code", "message", "fields"}, f"unexpected keys: {error!r}"
    if "fields" in error:
        fields = error["fields"]
        assert isinstance(fields, dict) and fields, f"fields is not an object: {fields!r}"
        for name, messages in fields.items():
            assert isinstance(name, str), f"field name is not a string: {name!r}"
            assert isinstance(messages, list) and all(isinstance(m, str) for m in messages), f"bad: {fields!r}"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_body_conformance,
]


def token_for(path: str, world: World) -> str:
    return world.terminal_token if path.startswith("/api/v1/terminal/") else world.guardian_token


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection() -> Iterator[None]:
    # The app runs in-process through its WSGI handler, which drops the database connection after a
    # request when autocommit is off, as it is inside the test's wrapping transaction. Django's own
    # test client unhooks the same handler; doing so here spares a flush of the database per test.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call_and_validate(case: Case, world: World) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token_for(case.path, world)}"}, checks=CHECKS)


# The world is built once per operation and shared by its examples, on purpose: state left by one
# request (a blocked card, a placed order) is part of what the next request meets.
@pytest.mark.django_db
@valid_requests.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_valid_requests_answer_as_documented(case: Case, world: World) -> None:
    call_and_validate(case, world)


@pytest.mark.django_db
@invalid_requests.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_invalid_requests_answer_the_error_body(case: Case, world: World) -> None:
    call_and_validate(case, world)
