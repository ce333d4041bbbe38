"""The provider's callback: verified first, then applied once (`payments.topups.payment_complete`)."""

from collections.abc import Mapping

from payments.models import Payment
from payments.providers import provider_get
from payments.topups import payment_complete


def payment_callback_receive(*, provider_name: str, body: bytes, headers: Mapping[str, str]) -> Payment:
    """Raise CallbackInvalid for a forged, altered or stale callback (nothing changes); else apply it."""
    event = provider_get(provider_name).callback_verify(body=body, headers=headers)
    return payment_complete(event=event)
