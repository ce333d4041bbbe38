"""Guardians split money between their own cardholders [SK: "splits money between them"].

A transfer is one ledger movement of kind TRANSFER with two legs, both on cardholder accounts:
nothing enters or leaves the system, so the sum of all balances stays the same. It never
overdraws: the source balance must cover the whole amount, and a main balance may not go below
zero by a transfer even though its floor is the debt limit (debt is for meals, not for moving
money). Moving main to extra of one cardholder is the office's job [PZ], so the two cardholders
differ.
"""

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import User
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from cardsystem.errors import InvalidRequest, NotFound
from cardsystem.templatetags.money import money
from payments.errors import InsufficientFunds, LedgerInvariantBroken
from payments.ledger import Leg, movement_post
from payments.models import LedgerAccount, LedgerTransaction


def transfer_create(
    *,
    guardian: User,
    source_holder: Cardholder,
    source_balance: str,
    target_holder: Cardholder,
    target_balance: str,
    amount_cents: int,
) -> LedgerTransaction:
    """Move `amount_cents` from one of the guardian's cardholders' balances to another's.

    A holder that is not the guardian's raises NotFound (another family's looks like no holder at
    all); a bad balance name, an amount not above zero or the same cardholder on both sides raise
    InvalidRequest with the field named; a source balance that does not cover the amount raises
    InsufficientFunds on "amount". Nothing moves when it raises.
    """
    errors: dict[str, list[str]] = {}
    for name, value in (("source_balance", source_balance), ("target_balance", target_balance)):
        if value not in LedgerAccount.HOLDER_KINDS:
            errors[name] = [_("Choose the main or the extra balance.")]
    if source_holder.pk == target_holder.pk:
        errors["target_holder"] = [_("Choose another cardholder: money moves between two cardholders.")]
    if amount_cents <= 0:
        errors["amount"] = [_("Enter an amount of more than zero.")]

    with transaction.atomic(durable=True):
        # Checked first, so a stranger's holder is a 404 whatever else is wrong.
        holder_ids = {source_holder.pk, target_holder.pk}
        if holder_list_for_guardian(user=guardian).filter(pk__in=holder_ids).count() != len(holder_ids):
            raise NotFound()
        if errors:
            raise InvalidRequest(fields=errors)
        source, target = _accounts_lock(
            source=(source_holder.pk, source_balance), target=(target_holder.pk, target_balance)
        )
        if source.balance_cents < amount_cents:
            message = _("This balance has %(available)s; it does not cover the amount.") % {
                "available": money(max(source.balance_cents, 0))
            }
            raise InsufficientFunds(message, fields={"amount": [message]})
        return movement_post(
            kind=LedgerTransaction.Kind.TRANSFER,
            legs=[Leg(source, -amount_cents), Leg(target, amount_cents)],
            created_by=guardian,
            accounts_locked=True,
        )


def _accounts_lock(*, source: tuple[int, str], target: tuple[int, str]) -> tuple[LedgerAccount, LedgerAccount]:
    """Lock the two accounts in primary-key order, as every movement does, and read their balances.

    One statement for both: locking one cardholder's accounts after the other's could take them
    out of key order and deadlock with a top-up locking the same accounts.
    """
    locked = {
        (account.holder_id, account.kind): account
        for account in LedgerAccount.objects.select_for_update()
        .filter(Q(holder_id=source[0], kind=source[1]) | Q(holder_id=target[0], kind=target[1]))
        .order_by("pk")
    }
    if source not in locked or target not in locked:
        raise LedgerInvariantBroken(f"A cardholder's accounts are not open: {source}, {target}")
    return locked[source], locked[target]
