"""The built-in test provider: a hosted payment page with "pay" and "fail", and an HMAC-signed callback.

It behaves like a hosted provider so the whole flow runs without one: the guardian is sent to its
page (`/pay/test/<reference>/`), a POST there with `outcome=succeeded` or `failed` completes the
payment as a person clicking would, and the provider then calls the system's callback, signed with
the shared secret. The system trusts only the verified callback. The call is made in-process through
the same function the HTTP callback endpoint uses (a real provider would POST it over the network).
"""

import json
import secrets
import time

from django.conf import settings
from django.urls import reverse

from outbox.services import task_send
from payments.models import Payment
from payments.providers.base import (
    SIGNATURE_HEADER,
    CallbackEvent,
    Outcome,
    PaymentProvider,
    RefundFailed,
    signature_make,
)

TEST_CARD_LABEL = "Test card •••• 4242"


class TestProvider(PaymentProvider):
    __test__ = False  # not a pytest class
    name = "test"

    def payment_page_url(self, *, payment: Payment, base_url: str) -> str:
        return base_url.rstrip("/") + reverse("test_provider:page", kwargs={"reference": payment.reference})

    def refund(self, *, payment: Payment, amount_cents: int, idempotency_key: str) -> str:
        # The test provider takes every refund of a paid payment, and the same key twice is one refund.
        if payment.status != Payment.Status.SUCCEEDED or not 0 < amount_cents <= payment.amount_cents:
            raise RefundFailed()
        return f"re_test_{idempotency_key}"

    def mandate_charge(self, *, payment: Payment) -> None:
        # A saved card is charged without the guardian; the answer arrives as a callback, like a
        # real provider's webhook (here: at once, from a Celery task).
        from payments.payment_tasks import simulated_mandate_charge_task  # tasks import the services

        task_send(simulated_mandate_charge_task, payment.reference)


def simulated_event(*, payment: Payment, outcome: Outcome, save_card: bool) -> CallbackEvent:
    """The event the test provider reports when its page is completed (or a mandate charged)."""
    mandate_reference = ""
    if outcome == "succeeded" and save_card:
        mandate_reference = f"test_mandate_{secrets.token_hex(8)}"
    return CallbackEvent(
        event_id=f"evt_{secrets.token_hex(12)}",
        reference=payment.reference,
        outcome=outcome,
        mandate_reference=mandate_reference,
        mandate_label=TEST_CARD_LABEL if mandate_reference else "",
    )


def simulated_callback_signed(event: CallbackEvent) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the callback the test provider sends for `event`."""
    body = json.dumps(
        {
            "event_id": event.event_id,
            "reference": event.reference,
            "outcome": event.outcome,
            "mandate_reference": event.mandate_reference,
            "mandate_label": event.mandate_label,
        }
    ).encode()
    header = signature_make(body=body, timestamp=int(time.time()), secret=settings.PAYMENT_CALLBACK_SECRET)
    return body, {SIGNATURE_HEADER: header}


def simulated_callback_deliver(event: CallbackEvent) -> Payment:
    """Send the signed callback to the system, through the callback endpoint's own code path."""
    from payments.callbacks import payment_callback_receive  # callbacks imports the providers

    body, headers = simulated_callback_signed(event)
    return payment_callback_receive(provider_name=TestProvider.name, body=body, headers=headers)
