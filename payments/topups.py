"""Top-ups: a guardian's payment split over cardholders' balances, credited only on the provider's word.

`topup_create` records a pending payment and its allocations; no money moves. The provider's
verified callback reaches `payment_complete`, which leaves `pending` exactly once under a row lock:
a repeated or late callback changes nothing. A top-up pays a cardholder's debt first (DOMAIN.md):
money meant for extra repays a negative main balance before it reaches extra.
"""

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from cards.services import holder_debt_block_lift
from cardsystem.errors import DomainError, InvalidRequest, NotFound
from cardsystem.money import cents_to_str
from outbox.services import task_send
from payments.ledger import Leg, movement_post, system_account
from payments.models import LedgerAccount, LedgerTransaction, Payment, PaymentAllocation, PaymentMandate
from payments.providers.base import CallbackEvent
from payments.settlements import settler_for, settlers_registered

Kind = LedgerAccount.Kind


class BelowMinimum(DomainError):
    code = "below_minimum"
    status = 400

    def __init__(self) -> None:
        minimum = cents_to_str(settings.TOPUP_MINIMUM_CENTS)
        message = _("A top-up is at least %(minimum)s.") % {"minimum": minimum}
        super().__init__(message, fields={"allocations": [message]})


class AboveMaximum(DomainError):
    code = "above_maximum"
    status = 400

    def __init__(self) -> None:
        maximum = cents_to_str(settings.TOPUP_MAXIMUM_CENTS)
        message = _("A top-up is at most %(maximum)s.") % {"maximum": maximum}
        super().__init__(message, fields={"allocations": [message]})


@dataclass(frozen=True)
class AllocationRequest:
    holder_id: int
    balance: str
    amount_cents: int


def payment_reference_new() -> str:
    return f"pay_{secrets.token_urlsafe(24)}"


def topup_create(*, guardian: User, allocations: Sequence[AllocationRequest], save_mandate: bool = False) -> Payment:
    """A pending top-up of the guardian's cardholders; the provider's callback credits it.

    Refused (nothing written): a holder that is not the guardian's (NotFound), an allocation of
    zero or less, a balance twice, a total below TOPUP_MINIMUM_CENTS or above TOPUP_MAXIMUM_CENTS.
    """
    if not allocations:
        raise InvalidRequest(fields={"allocations": [_("Choose at least one balance to top up.")]})
    seen: set[tuple[int, str]] = set()
    for allocation in allocations:
        if allocation.balance not in LedgerAccount.HOLDER_KINDS:
            raise InvalidRequest(fields={"allocations": [_("A balance is main or extra.")]})
        if allocation.amount_cents <= 0:
            raise InvalidRequest(fields={"allocations": [_("Each amount must be more than zero.")]})
        if (allocation.holder_id, allocation.balance) in seen:
            raise InvalidRequest(fields={"allocations": [_("Each balance may appear once.")]})
        seen.add((allocation.holder_id, allocation.balance))
    total = sum(a.amount_cents for a in allocations)
    if total < settings.TOPUP_MINIMUM_CENTS:
        raise BelowMinimum()
    if total > settings.TOPUP_MAXIMUM_CENTS:
        raise AboveMaximum()
    holder_ids = {a.holder_id for a in allocations}
    holders = {h.pk: h for h in holder_list_for_guardian(user=guardian).filter(pk__in=holder_ids)}
    if set(holders) != holder_ids:
        raise NotFound()

    with transaction.atomic():
        payment = Payment.objects.create(
            guardian=guardian,
            purpose=Payment.Purpose.TOPUP,
            amount_cents=total,
            provider=settings.PAYMENT_PROVIDER,
            reference=payment_reference_new(),
            save_mandate=save_mandate,
            expires_at=timezone.now() + dt.timedelta(minutes=settings.PAYMENT_EXPIRY_MINUTES),
        )
        PaymentAllocation.objects.bulk_create(
            PaymentAllocation(
                payment=payment, holder=holders[a.holder_id], balance=a.balance, amount_cents=a.amount_cents
            )
            for a in allocations
        )
    return payment


def topup_credit_legs(*, main: LedgerAccount, extra: LedgerAccount, to_main: int, to_extra: int) -> list[Leg]:
    """The credit legs of one cardholder's share, debt first: what was meant for extra repays a
    negative main (after main's own share) before any of it reaches extra."""
    main_after = main.balance_cents + to_main
    repay = min(to_extra, max(0, -main_after))
    legs = []
    if to_main + repay:
        legs.append(Leg(main, to_main + repay))
    if to_extra - repay:
        legs.append(Leg(extra, to_extra - repay))
    return legs


def _topup_post(*, payment: Payment) -> LedgerTransaction:
    allocations = list(payment.allocations.all())
    holder_ids = sorted({a.holder_id for a in allocations})
    # Every account of every holder at once, in primary-key order, like every other movement.
    locked = list(LedgerAccount.objects.select_for_update().filter(holder_id__in=holder_ids).order_by("pk"))
    accounts = {(a.holder_id, a.kind): a for a in locked}
    legs: list[Leg] = []
    for holder_id in holder_ids:
        shares = {a.balance: a.amount_cents for a in allocations if a.holder_id == holder_id}
        legs += topup_credit_legs(
            main=accounts[(holder_id, Kind.MAIN)],
            extra=accounts[(holder_id, Kind.EXTRA)],
            to_main=shares.get(Kind.MAIN, 0),
            to_extra=shares.get(Kind.EXTRA, 0),
        )
    legs.append(Leg(system_account(kind=Kind.PROVIDER_CLEARING), -payment.amount_cents))
    txn = movement_post(
        kind=LedgerTransaction.Kind.TOPUP,
        legs=legs,
        created_by=payment.guardian,
        reason=f"{payment.get_purpose_display()} {payment.reference}",
        accounts_locked=True,
    )
    for holder_id in holder_ids:
        if accounts[(holder_id, Kind.MAIN)].balance_cents >= 0:
            holder_debt_block_lift(holder=Cardholder(pk=holder_id))
    return txn


def payment_complete(*, event: CallbackEvent) -> Payment:
    """Apply a verified callback: credit a succeeded payment once, mark a failed one; idempotent."""
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().filter(reference=event.reference).first()
        if payment is None:
            raise NotFound()
        # Succeeded and failed are final: a repeated callback (or a contradicting one) changes nothing.
        # An expired payment still takes a success: the provider holds the guardian's money.
        if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.FAILED):
            return payment
        if event.outcome == "failed":
            if payment.status == Payment.Status.PENDING:
                payment.status = Payment.Status.FAILED
                payment.completed_at = timezone.now()
                payment.save(update_fields=["status", "completed_at"])
                transaction.on_commit(lambda: _payment_settled_hooks(payment.pk))
            return payment
        if payment.purpose == Payment.Purpose.CARD_FEE:
            from payments.replacements import card_fee_settle  # replacements builds on payments

            payment.ledger_transaction = card_fee_settle(payment=payment)
        elif payment.purpose in settlers_registered():
            payment.ledger_transaction = settler_for(payment.purpose)(payment=payment)
        else:
            payment.ledger_transaction = _topup_post(payment=payment)
        if event.mandate_reference and payment.save_mandate:
            payment.mandate, _created = PaymentMandate.objects.get_or_create(
                reference=event.mandate_reference,
                defaults={"guardian": payment.guardian, "provider": payment.provider, "label": event.mandate_label},
            )
        payment.status = Payment.Status.SUCCEEDED
        payment.completed_at = timezone.now()
        payment.save(update_fields=["status", "completed_at", "ledger_transaction", "mandate"])
        transaction.on_commit(lambda: _payment_settled_hooks(payment.pk))
    return payment


def _payment_settled_hooks(payment_id: int) -> None:
    from payments.payment_tasks import payment_settled_task  # tasks import the services

    task_send(payment_settled_task, payment_id)


def payments_expire_overdue(*, now: dt.datetime | None = None) -> int:
    """Mark pending payments nobody finished in time as expired (one statement); returns how many."""
    moment = now or timezone.now()
    return Payment.objects.filter(status=Payment.Status.PENDING, expires_at__lt=moment).update(
        status=Payment.Status.EXPIRED, completed_at=moment
    )


def guardian_payment_get(*, guardian: User, payment_id: int) -> Payment:
    """One of the guardian's own payments with its allocations, or NotFound."""
    payment = Payment.objects.filter(guardian=guardian, pk=payment_id).prefetch_related("allocations__holder").first()
    if payment is None:
        raise NotFound()
    return payment
