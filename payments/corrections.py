"""The office's money actions on a cardholder's balances [PZ], each with a reason and an audit entry.

- `balance_move_main_to_extra`: on the guardian's request, money moves from main to extra. Only
  main's own money moves: main never goes below zero by it (debt is for meals, not for moving money).
- `correction_request`: a top-up the system missed is credited, a mistaken one taken back, as its own
  transaction with a reason. Up to CORRECTION_FOUR_EYES_ABOVE_CENTS (either way) it is applied at
  once; above it, it waits for a different office user (`correction_approve`, `correction_reject`).

A correction stands in for the top-up it mends, so a credit pays the main balance's debt first, as
every top-up does (DOMAIN.md), and reopens cards blocked for debt once main is back at zero. A debit
takes only money the balance holds: it never puts a cardholder into debt.

Who may act: office staff (or administrators) at the cardholder's institution, and superusers.
Anyone else meets NotFound, as if the cardholder or the correction did not exist.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts.audit import audit_record
from accounts.models import Role, StaffMembership, User
from cards.models import Cardholder
from cards.services import holder_debt_block_lift
from cardsystem.errors import DomainError, InvalidRequest, NotFound
from cardsystem.templatetags.money import money
from payments.errors import InsufficientFunds
from payments.ledger import HolderAccounts, Leg, holder_accounts_lock, movement_post, system_account
from payments.models import Correction, LedgerAccount, LedgerTransaction
from payments.topups import topup_credit_legs

Kind = LedgerAccount.Kind
# The roles whose members correct and move money at their institutions.
CORRECTION_ROLES = (Role.OFFICE, Role.ADMIN)
REASON_MAX_LENGTH = 300


class FourEyesRequired(DomainError):
    code = "four_eyes_required"
    status = 403
    default_message = _lazy("Another office user must decide on this correction: not the one who asked for it.")


class CorrectionDecided(DomainError):
    code = "correction_decided"
    default_message = _lazy("This correction was already decided.")


def staff_may_correct(*, user: User, institution_id: int) -> bool:
    """Whether the user corrects and moves money at this institution."""
    if user.is_superuser:
        return True
    return StaffMembership.objects.filter(user=user, institution_id=institution_id, role__in=CORRECTION_ROLES).exists()


def _staff_check(*, user: User, institution_id: int) -> None:
    if not staff_may_correct(user=user, institution_id=institution_id):
        raise NotFound()


def _reason_clean(reason: str, *, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidRequest(fields={field: [_("Give the reason: it is kept in the audit trail.")]})
    if len(text) > REASON_MAX_LENGTH:
        message = _("Keep the reason to %(count)s characters.") % {"count": REASON_MAX_LENGTH}
        raise InvalidRequest(fields={field: [message]})
    return text


def _not_covered(available: int) -> InsufficientFunds:
    message = _("This balance has %(available)s; it does not cover the amount.") % {
        "available": money(max(available, 0))
    }
    return InsufficientFunds(message, fields={"amount": [message]})


def balance_move_main_to_extra(
    *, holder: Cardholder, amount_cents: int, moved_by: User, reason: str
) -> LedgerTransaction:
    """Move `amount_cents` of a cardholder's main balance to their extra balance; one movement.

    Raises NotFound for a user who is not office staff at the holder's institution, InvalidRequest
    (on "amount" or "reason") for an amount not above zero or a missing reason, and InsufficientFunds
    (on "amount") when main does not hold the amount. Nothing moves when it raises.
    """
    _staff_check(user=moved_by, institution_id=holder.institution_id)
    if amount_cents <= 0:
        raise InvalidRequest(fields={"amount": [_("Enter an amount of more than zero.")]})
    reason = _reason_clean(reason)
    with transaction.atomic(durable=True):
        accounts = holder_accounts_lock(holder_id=holder.pk)
        if accounts.main.balance_cents < amount_cents:
            raise _not_covered(accounts.main.balance_cents)
        txn = movement_post(
            kind=LedgerTransaction.Kind.TRANSFER,
            legs=[Leg(accounts.main, -amount_cents), Leg(accounts.extra, amount_cents)],
            institution=holder.institution,
            created_by=moved_by,
            reason=reason,
            accounts_locked=True,
        )
        audit_record(
            actor=moved_by,
            action="balance.main_to_extra",
            target=holder,
            institution=holder.institution,
            reason=reason,
            details={
                "amount_cents": amount_cents,
                "ledger_transaction": txn.pk,
                "main_after_cents": accounts.main.balance_cents,
                "extra_after_cents": accounts.extra.balance_cents,
            },
        )
    return txn


def correction_request(
    *, holder: Cardholder, balance: str, amount_cents: int, requested_by: User, reason: str
) -> Correction:
    """Ask for a correction of one balance: positive credits it, negative takes money back.

    At or below CORRECTION_FOUR_EYES_ABOVE_CENTS (as an absolute amount) it is applied now and
    returned `applied`; above it, it is returned `pending`, awaiting another office user. Raises
    NotFound (not office staff at the holder's institution), InvalidRequest (on "balance", "amount"
    or "reason"), and, when applied now, InsufficientFunds for a debit the balance does not cover.
    """
    _staff_check(user=requested_by, institution_id=holder.institution_id)
    errors: dict[str, list[str]] = {}
    if balance not in LedgerAccount.HOLDER_KINDS:
        errors["balance"] = [_("Choose the main or the extra balance.")]
    if amount_cents == 0:
        errors["amount"] = [_("Enter an amount other than zero.")]
    if errors:
        raise InvalidRequest(fields=errors)
    reason = _reason_clean(reason)
    with transaction.atomic(durable=True):
        correction = Correction(
            holder=holder,
            institution_id=holder.institution_id,
            balance=balance,
            amount_cents=amount_cents,
            reason=reason,
            requested_by=requested_by,
        )
        if abs(amount_cents) > settings.CORRECTION_FOUR_EYES_ABOVE_CENTS:
            correction.save()
            audit_record(
                actor=requested_by,
                action="correction.requested",
                target=correction,
                institution=correction.institution,
                reason=reason,
                details=_details(correction),
            )
            return correction
        correction.ledger_transaction = _correction_post(correction=correction, created_by=requested_by)
        correction.status = Correction.Status.APPLIED
        correction.save()
        audit_record(
            actor=requested_by,
            action="correction.applied",
            target=correction,
            institution=correction.institution,
            reason=reason,
            details=_details(correction),
        )
    return correction


def correction_approve(*, correction: Correction, approved_by: User, note: str = "") -> Correction:
    """A second office user approves a pending correction: it is applied (one movement).

    Approving an applied correction again changes nothing (the row is locked and re-read, so of two
    approvals racing exactly one applies it). Raises NotFound (not office staff at the correction's
    institution), FourEyesRequired (the user asked for it), CorrectionDecided (it was rejected), and
    InsufficientFunds when a debit no longer fits the balance; it then stays pending.
    """
    note = (note or "").strip()[:REASON_MAX_LENGTH]
    with transaction.atomic(durable=True):
        locked = _lock(correction=correction, user=approved_by)
        if locked.status == Correction.Status.APPLIED:
            return locked
        if locked.status == Correction.Status.REJECTED:
            raise CorrectionDecided(_("This correction was rejected; ask for a new one."))
        locked.ledger_transaction = _correction_post(correction=locked, created_by=approved_by)
        locked.status = Correction.Status.APPLIED
        locked.decided_by = approved_by
        locked.decided_at = timezone.now()
        locked.decision_note = note
        locked.save(update_fields=["ledger_transaction", "status", "decided_by", "decided_at", "decision_note"])
        audit_record(
            actor=approved_by,
            action="correction.approved",
            target=locked,
            institution=locked.institution,
            reason=locked.reason,
            details={**_details(locked), "requested_by": locked.requested_by_id, "note": note},
        )
    return locked


def correction_reject(*, correction: Correction, rejected_by: User, reason: str) -> Correction:
    """A second office user rejects a pending correction, saying why; no money moves.

    Rejecting a rejected correction again changes nothing. Raises NotFound, FourEyesRequired as
    `correction_approve` does, InvalidRequest (on "reason") without a reason, and CorrectionDecided
    when it was applied (an applied correction is mended by a new one).
    """
    reason = _reason_clean(reason)
    with transaction.atomic(durable=True):
        locked = _lock(correction=correction, user=rejected_by)
        if locked.status == Correction.Status.REJECTED:
            return locked
        if locked.status == Correction.Status.APPLIED:
            raise CorrectionDecided(_("This correction was applied; a new correction mends it."))
        locked.status = Correction.Status.REJECTED
        locked.decided_by = rejected_by
        locked.decided_at = timezone.now()
        locked.decision_note = reason
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(
            actor=rejected_by,
            action="correction.rejected",
            target=locked,
            institution=locked.institution,
            reason=reason,
            details={**_details(locked), "requested_by": locked.requested_by_id},
        )
    return locked


def _lock(*, correction: Correction, user: User) -> Correction:
    """The correction's row, locked and re-read, once the user is known to decide on it."""
    # Only the correction's own row: locking the joined institution too would make every sale and
    # movement there (their rows point at it) wait for this decision, and deadlock with the accounts.
    locked = Correction.objects.select_for_update(of=("self",)).select_related("institution").get(pk=correction.pk)
    _staff_check(user=user, institution_id=locked.institution_id)
    if locked.requested_by_id == user.pk:
        raise FourEyesRequired()
    return locked


def _target(accounts: HolderAccounts, balance: str) -> LedgerAccount:
    return accounts.main if balance == Kind.MAIN else accounts.extra


def _correction_post(*, correction: Correction, created_by: User) -> LedgerTransaction:
    """The correction's movement between the corrections account and the balance, under the lock."""
    amount = correction.amount_cents
    accounts = holder_accounts_lock(holder_id=correction.holder_id)
    if amount > 0:
        # Debt first, as the top-up it stands in for would have paid it.
        legs = topup_credit_legs(
            main=accounts.main,
            extra=accounts.extra,
            to_main=amount if correction.balance == Kind.MAIN else 0,
            to_extra=amount if correction.balance == Kind.EXTRA else 0,
        )
    else:
        target = _target(accounts, correction.balance)
        if target.balance_cents < -amount:
            raise _not_covered(target.balance_cents)
        legs = [Leg(target, amount)]
    legs.append(Leg(system_account(kind=Kind.CORRECTIONS), -amount))
    txn = movement_post(
        kind=LedgerTransaction.Kind.CORRECTION,
        legs=legs,
        institution=correction.institution,
        created_by=created_by,
        reason=correction.reason,
        accounts_locked=True,
    )
    if amount > 0 and accounts.main.balance_cents >= 0:
        holder_debt_block_lift(holder=Cardholder(pk=correction.holder_id))
    return txn


def _details(correction: Correction) -> dict[str, object]:
    return {
        "holder": correction.holder_id,
        "balance": correction.balance,
        "amount_cents": correction.amount_cents,
        "status": correction.status,
        "ledger_transaction": correction.ledger_transaction_id,
    }
