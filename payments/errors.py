from django.utils.translation import gettext_lazy as _

from cardsystem.errors import DomainError


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    default_message = _("The balance does not cover the purchase.")


class DebtLimitReached(DomainError):
    code = "debt_limit_reached"
    default_message = _("The debt limit is reached; the debt must be paid first.")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    default_message = _("This Idempotency-Key was used with another request.")


class LedgerInvariantBroken(Exception):
    """A programming error: a movement that does not balance. Never shown to users."""
