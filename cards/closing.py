"""What other apps stop when a cardholder's account closes: a refund paid the balance out, or the
pupil left.

Cards sits below the apps that keep plans for a cardholder (the canteen's meal subscription and
orders), so it cannot call them: each registers a hook in its AppConfig.ready(), and the services
that close an account (`cards.services.holder_leave`, `payouts.refunds.refund_approve`) run the
hooks inside their own transaction, so the plans end exactly when the account closes.
"""

from collections.abc import Callable

from cards.models import Cardholder

HolderClosedHook = Callable[..., object]

_hooks: list[HolderClosedHook] = []


def holder_closed_hook_register(hook: HolderClosedHook) -> None:
    """`hook(holder=...)` ends what the app keeps running for the cardholder; idempotent."""
    if hook not in _hooks:
        _hooks.append(hook)


def holder_closed(*, holder: Cardholder) -> None:
    for hook in _hooks:
        hook(holder=holder)
