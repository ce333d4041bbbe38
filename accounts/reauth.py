"""Asking for the password again before a sensitive action (block, reopen or replace a card).

Wrong passwords are counted per user in the cache: after REAUTH_FAILURES_ALLOWED of them in
REAUTH_WINDOW_SECONDS every attempt is refused, even with the right password, until the window
passes. A stolen session (or personal token) therefore cannot be used to guess the password.
"""

from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from cardsystem.errors import DomainError

REAUTH_FAILURES_ALLOWED = 5
REAUTH_WINDOW_SECONDS = 15 * 60


class ReauthFailed(DomainError):
    code = "reauth_failed"
    status = 403
    default_message = _("The password is not right.")


class TooManyAttempts(DomainError):
    code = "too_many_attempts"
    status = 429
    default_message = _("Too many wrong passwords. Try again in 15 minutes.")


def _failures_key(user: User) -> str:
    return f"accounts:reauth-failures:{user.pk}"


def reauth_failure_count(*, user: User) -> int:
    return int(cache.get(_failures_key(user), 0))


def _failure_record(user: User) -> None:
    key = _failures_key(user)
    # add() starts the window with the first failure; incr() keeps its expiry, so the window is
    # fixed and does not slide with every further attempt.
    if not cache.add(key, 1, timeout=REAUTH_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=REAUTH_WINDOW_SECONDS)


def reauth_check(*, user: User, password: str) -> None:
    """Raise TooManyAttempts while the user is locked out, ReauthFailed for a wrong password."""
    # Checked before the password: once locked out, the right password must not be told apart
    # from a wrong one, or guessing could go on.
    if reauth_failure_count(user=user) >= REAUTH_FAILURES_ALLOWED:
        raise TooManyAttempts()
    if not user.check_password(password):
        _failure_record(user)
        raise ReauthFailed()
