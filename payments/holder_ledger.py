"""The ledger side of the cards back office (`cards.ledger_port.HolderLedger`).

Registered by `PaymentsConfig.ready()`, so the card services (which may not import `payments`)
open balances, move a holder's debt floor and take card fees through the ledger.
"""

from django.utils.translation import gettext

from accounts.models import Institution, User
from cards.models import Cardholder
from payments.ledger import Leg, holder_accounts_lock, holder_accounts_open, movement_post, system_account
from payments.models import LedgerAccount, LedgerTransaction
from payments.replacements import FeeNotCovered


class PaymentsHolderLedger:
    def accounts_open(self, *, holder: Cardholder) -> None:
        holder_accounts_open(holder=holder)

    def floor_follow(self, *, holder: Cardholder, institution: Institution) -> None:
        # Under the balances' lock: a meal charged at the same moment sees either floor, never a
        # balance below the one it checked against.
        main = holder_accounts_lock(holder_id=holder.pk).main
        # The new institution's debt limit, but never above what the holder already owes: the
        # check constraint (balance >= floor) must hold, and the debt stays to be paid off.
        floor = min(-institution.debt_limit_cents, main.balance_cents)
        if floor != main.floor_cents:
            LedgerAccount.objects.filter(pk=main.pk).update(floor_cents=floor)
            main.floor_cents = floor

    def fee_charge(self, *, holder: Cardholder, fee_cents: int, charged_by: User, reason: str) -> int:
        accounts = holder_accounts_lock(holder_id=holder.pk)
        if accounts.extra.balance_cents < fee_cents:
            raise FeeNotCovered()
        txn = movement_post(
            kind=LedgerTransaction.Kind.FEE,
            legs=[
                Leg(accounts.extra, -fee_cents),
                Leg(system_account(kind=LedgerAccount.Kind.CARD_FEES, institution=holder.institution), fee_cents),
            ],
            institution=holder.institution,
            created_by=charged_by,
            reason=reason or gettext("Card fee"),
            accounts_locked=True,
        )
        return int(txn.pk)
