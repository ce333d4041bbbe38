"""Payment providers: the hosted payment page guardians pay on and the signed callback it sends back.

`provider_get()` returns the deployment's provider (setting PAYMENT_PROVIDER). The built-in "test"
provider behaves like a hosted one and is the embedded default; a real provider is another module
implementing `PaymentProvider`.
"""

from django.conf import settings

from payments.providers.base import CallbackEvent, CallbackInvalid, PaymentProvider, RefundFailed
from payments.providers.test import TestProvider

_PROVIDERS: dict[str, type[PaymentProvider]] = {TestProvider.name: TestProvider}


def provider_get(name: str | None = None) -> PaymentProvider:
    provider_name = name or settings.PAYMENT_PROVIDER
    try:
        return _PROVIDERS[provider_name]()
    except KeyError:
        raise LookupError(f"Unknown payment provider {provider_name!r}") from None


__all__ = ["CallbackEvent", "CallbackInvalid", "PaymentProvider", "RefundFailed", "provider_get"]
