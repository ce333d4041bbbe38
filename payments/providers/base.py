"""What the system needs from a payment provider, whichever it is."""

import abc
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from cardsystem.errors import DomainError
from payments.models import Payment

Outcome = Literal["succeeded", "failed"]
SIGNATURE_HEADER = "X-Payment-Signature"


class CallbackInvalid(DomainError):
    code = "invalid_signature"
    status = 400
    default_message = _("The callback's signature is missing, wrong or too old.")


@dataclass(frozen=True)
class CallbackEvent:
    """What a verified callback says about one payment."""

    event_id: str
    reference: str
    outcome: Outcome
    # A saved card the provider may charge later (automatic top-up), when the guardian agreed.
    mandate_reference: str = ""
    mandate_label: str = ""


def signature_make(*, body: bytes, timestamp: int, secret: str) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the scheme common hosted providers use."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_verify(*, body: bytes, header: str, secret: str, tolerance_seconds: int) -> None:
    """Raise CallbackInvalid unless `header` signs `body` with `secret` within the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise CallbackInvalid() from None
    if abs(time.time() - timestamp) > tolerance_seconds:
        raise CallbackInvalid()
    expected = signature_make(body=body, timestamp=timestamp, secret=secret).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise CallbackInvalid()


def event_from_json(body: bytes) -> CallbackEvent:
    try:
        data: Any = json.loads(body)
        outcome = data["outcome"]
        if outcome not in ("succeeded", "failed"):
            raise ValueError(outcome)
        return CallbackEvent(
            event_id=str(data["event_id"]),
            reference=str(data["reference"]),
            outcome=outcome,
            mandate_reference=str(data.get("mandate_reference") or ""),
            mandate_label=str(data.get("mandate_label") or ""),
        )
    except (ValueError, KeyError, TypeError):
        raise CallbackInvalid() from None


class RefundFailed(DomainError):
    code = "provider_refund_failed"
    status = 502
    default_message = _("The payment provider did not take the refund. Nothing was refunded; try again later.")


class PaymentProvider(abc.ABC):
    name: str

    @abc.abstractmethod
    def refund(self, *, payment: Payment, amount_cents: int, idempotency_key: str) -> str:
        """Pay `amount_cents` of a succeeded payment back to the card it came from; the provider's
        refund reference. Raise RefundFailed if the provider refuses.

        Called outside any database transaction (network I/O). `idempotency_key` is the same for a
        retry of the same refund, so a provider that already took it does not refund twice.
        """

    @abc.abstractmethod
    def payment_page_url(self, *, payment: Payment, base_url: str) -> str:
        """Where the guardian pays (the provider's hosted page)."""

    @abc.abstractmethod
    def mandate_charge(self, *, payment: Payment) -> None:
        """Ask the provider to charge the payment's saved mandate; the outcome comes as a callback.

        Called after the payment row is committed: it may do network I/O.
        """

    def callback_verify(self, *, body: bytes, headers: Mapping[str, str]) -> CallbackEvent:
        """The event a callback carries, once its signature is proven; else CallbackInvalid."""
        signature_verify(
            body=body,
            header=headers.get(SIGNATURE_HEADER, ""),
            secret=settings.PAYMENT_CALLBACK_SECRET,
            tolerance_seconds=settings.PAYMENT_CALLBACK_TOLERANCE_SECONDS,
        )
        return event_from_json(body)
