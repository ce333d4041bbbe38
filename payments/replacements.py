"""A guardian orders a replacement card: the old card is blocked for good and the fee is paid [SK][PZ].

The fee (setting CARD_REPLACEMENT_FEE_CENTS) is paid from the holder's extra balance at once, or
with the payment provider: then the order waits for the provider's verified callback
(`card_fee_settle`) before the office sees it as one to print (cards admin). Lives in payments,
not cards, because it moves money through the ledger.
"""

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from cards.errors import CardReplaced
from cards.models import Card, Cardholder, ReplacementOrder
from cardsystem.errors import DomainError
from payments.errors import InsufficientFunds
from payments.ledger import Leg, holder_accounts_lock, movement_post, system_account
from payments.models import LedgerAccount, LedgerTransaction, Payment
from payments.topups import payment_reference_new

# The statuses a guardian may replace a card from; a lost or returned card is the office's to handle.
REPLACEABLE_STATUSES = (Card.Status.ACTIVE, Card.Status.BLOCKED, Card.Status.DEBT_BLOCKED)


class CardNotReplaceable(DomainError):
    """A lost or returned card, or a loaner, is not replaced by a guardian: the office decides."""

    code = "card_not_replaceable"
    status = 409
    default_message = _("This card cannot be replaced here. Ask the office.")


class FeeNotCovered(InsufficientFunds):
    """The extra balance is short of the fee (code insufficient_funds, like a purchase)."""

    default_message = _("The extra balance does not cover the replacement fee.")


def replacement_fee_cents() -> int:
    return int(settings.CARD_REPLACEMENT_FEE_CENTS)


def card_replacement_order(
    *, guardian: User, card: Card, paid_with: str = ReplacementOrder.PaidWith.BALANCE
) -> ReplacementOrder:
    """Order a new card for `card`'s holder, paying the fee from the extra balance or at the provider.

    The caller has checked that `card` is one of `guardian`'s holders' cards. Runs in the caller's
    `transaction.atomic(durable=True)` when there is one (the API's idempotency record commits
    with the order), else in its own. Every refusal is raised before the first write: CardReplaced
    (already replaced or ordered), CardNotReplaceable, InsufficientFunds (the card stays as it was).
    With `paid_with` PROVIDER the order awaits payment: pay it at the provider through
    `replacement_fee_payment` (the card is blocked for good already).
    """
    if paid_with not in (ReplacementOrder.PaidWith.BALANCE, ReplacementOrder.PaidWith.PROVIDER):
        raise ValueError(f"Unsupported way to pay the replacement fee: {paid_with!r}")
    if connection.in_atomic_block:
        return _order(guardian=guardian, card=card, paid_with=paid_with)
    with transaction.atomic(durable=True):
        return _order(guardian=guardian, card=card, paid_with=paid_with)


def _order(*, guardian: User, card: Card, paid_with: str) -> ReplacementOrder:
    locked = _card_lock_replaceable(card=card)
    holder = locked.holder
    assert holder is not None  # regular cards belong to a holder (database constraint)
    fee = replacement_fee_cents()
    status = ReplacementOrder.Status.ORDERED
    if fee == 0:
        paid_with = ReplacementOrder.PaidWith.FREE
    elif paid_with == ReplacementOrder.PaidWith.BALANCE:
        _fee_charge_from_balance(holder=holder, card=locked, fee_cents=fee, guardian=guardian)
    else:
        status = ReplacementOrder.Status.AWAITING_PAYMENT
    # Blocked for good: card_unblock refuses a replaced card.
    locked.status = Card.Status.REPLACED
    locked.status_reason = gettext("A replacement card was ordered.")
    locked.save(update_fields=["status", "status_reason"])
    order = ReplacementOrder.objects.create(
        old_card=locked,
        holder=holder,
        ordered_by=guardian,
        status=status,
        fee_cents=fee,
        paid_with=paid_with,
    )
    card.status, card.status_reason = locked.status, locked.status_reason
    return order


def replacement_fee_payment(*, guardian: User, order: ReplacementOrder) -> Payment:
    """The provider payment for an order awaiting its fee: the one still open, or a new one.

    Under the order's row lock, so a double click opens one payment, not two. Raises
    OrderNotAwaitingPayment once the fee is paid (or the order is no longer the guardian's to pay).
    """
    with transaction.atomic():
        locked = ReplacementOrder.objects.select_for_update().get(pk=order.pk)
        if locked.status != ReplacementOrder.Status.AWAITING_PAYMENT or locked.ordered_by_id != guardian.pk:
            raise OrderNotAwaitingPayment()
        now = timezone.now()
        open_payment = Payment.objects.filter(
            replacement=locked, status=Payment.Status.PENDING, expires_at__gt=now
        ).first()
        if open_payment is not None:
            return open_payment
        return Payment.objects.create(
            guardian=guardian,
            purpose=Payment.Purpose.CARD_FEE,
            amount_cents=locked.fee_cents,
            provider=settings.PAYMENT_PROVIDER,
            reference=payment_reference_new(),
            replacement=locked,
            expires_at=now + dt.timedelta(minutes=settings.PAYMENT_EXPIRY_MINUTES),
        )


class OrderNotAwaitingPayment(DomainError):
    code = "already_paid"
    status = 409
    default_message = _("The fee for this card is already paid.")


def card_fee_settle(*, payment: Payment) -> LedgerTransaction:
    """Book a replacement fee the provider has taken; called by `payment_complete` under its lock.

    The first payment moves the order on to be printed. Should a second payment for the same
    order succeed (an expired payment the guardian finished after all, beside a new one), that
    money is not kept as a second fee: it goes to the holder's extra balance, where the guardian
    sees it and can spend it or have it refunded.
    """
    assert payment.replacement_id is not None  # CARD_FEE payments are made for an order
    order = (
        ReplacementOrder.objects.select_for_update(of=("self",))
        .select_related("holder__institution", "old_card")
        .get(pk=payment.replacement_id)
    )
    holder = order.holder
    clearing = Leg(system_account(kind=LedgerAccount.Kind.PROVIDER_CLEARING), -payment.amount_cents)
    if order.status != ReplacementOrder.Status.AWAITING_PAYMENT:
        accounts = holder_accounts_lock(holder_id=holder.pk)
        return movement_post(
            kind=LedgerTransaction.Kind.TOPUP,
            legs=[Leg(accounts.extra, payment.amount_cents), clearing],
            institution=holder.institution,
            created_by=payment.guardian,
            reason=gettext("Replacement fee paid twice: credited to the extra balance (%(reference)s)")
            % {"reference": payment.reference},
            accounts_locked=True,
        )
    txn = movement_post(
        kind=LedgerTransaction.Kind.FEE,
        legs=[
            clearing,
            Leg(
                system_account(kind=LedgerAccount.Kind.CARD_FEES, institution=holder.institution), payment.amount_cents
            ),
        ],
        institution=holder.institution,
        created_by=payment.guardian,
        reason=gettext("Replacement of card %(number)s") % {"number": order.old_card.number},
    )
    order.status = ReplacementOrder.Status.ORDERED
    order.save(update_fields=["status"])
    return txn


def _card_lock_replaceable(*, card: Card) -> Card:
    """Lock the card row and check, under the lock, that it may be replaced now.

    The lock serialises two orders for the same card (double click, two devices): the second one
    waits, then sees the card replaced.
    """
    # FOR NO KEY UPDATE: a sale on this card at the same moment holds the holder's balances and needs
    # a key-share lock on the card for its foreign key; a plain FOR UPDATE here would deadlock with it.
    locked = (
        Card.objects.select_for_update(of=("self",), no_key=True).select_related("holder__institution").get(pk=card.pk)
    )
    if locked.status == Card.Status.REPLACED or ReplacementOrder.objects.filter(old_card=locked).exists():
        raise CardReplaced()
    if locked.kind != Card.Kind.REGULAR or locked.status not in REPLACEABLE_STATUSES:
        raise CardNotReplaceable()
    return locked


def _fee_charge_from_balance(*, holder: Cardholder, card: Card, fee_cents: int, guardian: User) -> LedgerTransaction:
    """One FEE movement: the holder's extra balance pays the institution's card fees account."""
    accounts = holder_accounts_lock(holder_id=holder.pk)
    if accounts.extra.balance_cents < fee_cents:
        raise FeeNotCovered()
    return movement_post(
        kind=LedgerTransaction.Kind.FEE,
        legs=[
            Leg(accounts.extra, -fee_cents),
            Leg(system_account(kind=LedgerAccount.Kind.CARD_FEES, institution=holder.institution), fee_cents),
        ],
        institution=holder.institution,
        created_by=guardian,
        reason=gettext("Replacement of card %(number)s") % {"number": card.number},
        accounts_locked=True,
    )
