"""What the cards back office needs from the ledger, without importing `payments`.

Apps depend one way (accounts ← cards ← payments): `cards` may not import the ledger, yet
registering a pupil opens their balances, moving a pupil changes their debt floor and a further
card is paid from the extra balance. `payments` implements this protocol and registers it when
the apps are ready (`payments.holder_ledger`); the card services call it through `holder_ledger()`.
"""

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from accounts.models import Institution, User
from cards.models import Cardholder


class HolderLedger(Protocol):
    def accounts_open(self, *, holder: Cardholder) -> None:
        """Open the holder's main and extra balances (idempotent)."""

    def floor_follow(self, *, holder: Cardholder, institution: Institution) -> None:
        """Set the main balance's floor to `institution`'s debt limit, never above the debt the
        holder already has. Inside the caller's transaction, under the balances' lock."""

    def fee_charge(self, *, holder: Cardholder, fee_cents: int, charged_by: User, reason: str) -> int:
        """Take a card fee from the extra balance to the institution's card fees, in the caller's
        transaction; returns the ledger transaction's id. Raises InsufficientFunds (a DomainError,
        code insufficient_funds) before any write when the extra balance is short."""


_registered: list[HolderLedger] = []


def holder_ledger_register(ledger: HolderLedger) -> None:
    _registered[:] = [ledger]


def holder_ledger() -> HolderLedger:
    if not _registered:
        raise ImproperlyConfigured("No holder ledger is registered: is `payments` in INSTALLED_APPS and ready?")
    return _registered[0]
