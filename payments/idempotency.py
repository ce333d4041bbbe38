"""Exactly-once money-moving requests: one answer per (caller, Idempotency-Key).

The answer is stored in the same transaction as the movement, so a crash leaves either both or
neither. Two requests racing with one key: the second blocks on the unique index until the first
commits, fails, rolls back its own movement and replays the first answer; a plain replay does
the same. Domain refusals (409s) are stored too, so a retry gets the same answer.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from cardsystem.errors import DomainError
from cardsystem.rawsql import adapt_datetime
from payments.errors import IdempotencyKeyReused
from payments.models import IdempotencyRecord

Answer = tuple[int, dict[str, Any]]

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="1–64 characters; the same key and body answer as the first time and move no money twice.",
)


class InvalidIdempotencyKey(DomainError):
    code = "invalid_request"
    status = 400
    default_message = _("The Idempotency-Key header must be 1 to 64 characters.")


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 64:
        raise InvalidIdempotencyKey()
    return key


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path} {canonical}".encode()).hexdigest()


def _stored_answer(*, caller: str, key: str, fingerprint: str) -> Answer | None:
    record = IdempotencyRecord.objects.filter(caller=caller, key=key).only("fingerprint", "status_code", "body").first()
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return record.status_code, record.body


def idempotent_run(*, caller: str, key: str | None, fingerprint: str, run: Callable[[], Answer]) -> Answer:
    """Run `run` in one durable transaction, at most once per (caller, key); answer as it first did."""
    if key is None:
        try:
            with transaction.atomic(durable=True):
                return run()
        except DomainError as error:
            return error.status, error.as_body()

    # No look-up first: the common case is a new key, and a replay is found when the unique
    # index refuses the record at the end (its work rolls back with it).
    try:
        with transaction.atomic(durable=True):
            status, body = run()
            _record_insert(caller=caller, key=key, fingerprint=fingerprint, status=status, body=body)
        return status, body
    except IntegrityError:
        # Another request with this key committed first: its movement stands, ours rolled back.
        stored = _stored_answer(caller=caller, key=key, fingerprint=fingerprint)
        if stored is None:
            raise
        return stored
    except DomainError as error:
        IdempotencyRecord.objects.bulk_create(
            [
                IdempotencyRecord(
                    caller=caller, key=key, fingerprint=fingerprint, status_code=error.status, body=error.as_body()
                )
            ],
            ignore_conflicts=True,
        )
        stored = _stored_answer(caller=caller, key=key, fingerprint=fingerprint)
        return stored if stored is not None else (error.status, error.as_body())


def _record_insert(*, caller: str, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
    # A fixed statement: it closes every money-moving request (cardsystem.rawsql).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_idempotencyrecord (caller, key, fingerprint, status_code, body, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                caller,
                key,
                fingerprint,
                status,
                connection.ops.adapt_json_value(body, None),
                adapt_datetime(timezone.now()),
            ],
        )
