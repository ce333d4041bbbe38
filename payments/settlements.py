"""What a succeeded payment of another app's purpose does, registered by that app.

Payments sits below the apps that sell through the provider (the webshop), so it cannot import
them: each registers a settler for its purpose in its AppConfig.ready(). `payment_complete` calls
it under the payment's row lock, inside the same transaction, exactly once per payment.
"""

from collections.abc import Callable

from payments.models import LedgerTransaction

Settler = Callable[..., LedgerTransaction]

_settlers: dict[str, Settler] = {}


def settler_register(*, purpose: str, settler: Settler) -> None:
    """`settler(payment=...)` posts the payment's movement and returns it."""
    _settlers[purpose] = settler


def settlers_registered() -> frozenset[str]:
    return frozenset(_settlers)


def settler_for(purpose: str) -> Settler:
    return _settlers[purpose]
