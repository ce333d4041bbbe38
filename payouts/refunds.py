"""Refund requests: asked for by a guardian or the office, approved or rejected by the office.

A request names the cardholder and the payee: a CPR number (paid to the payee's NemKonto [SK][NK])
or an IBAN (a SEPA transfer [SL]). The CPR number is checked (`payouts.crypto.cpr_check`) and stored
only as an encrypted token; audit entries and screens show it masked.

While a request is open the holder's automatic top-ups are paused, so money is not paid in and
out at once. Approval, under the request's row lock and the holder's account locks:

- refuses while the main balance is in debt (the debt is paid first [PZ]);
- returns the holder's cards for good and stops the automatic top-ups;
- moves the whole main and extra balance in one ledger movement: the payout cost
  (`PAYOUT_COST_CENTS`) to the payout costs account, the rest to payout clearing, from where a
  payout batch pays it. Both are the municipality's accounts (no institution): one NemKonto
  agreement and one debit account pay every institution's refunds.

Nothing is paid when less than 0.01 remains after the cost [PZ]. Then the cost takes what there is
(at most the whole balance) and the request ends as NOTHING_TO_PAY: the cards are returned and the
account closed at zero, rather than a few øre left on a holder whose cards no longer work.

Every action writes an audit entry (`accounts.audit.audit_record`), with the payee masked.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumValidationError

from accounts.audit import audit_record
from accounts.models import User
from cards.closing import holder_closed
from cards.models import Card, Cardholder
from cardsystem.errors import DomainError, InvalidRequest
from payments.auto_topups import auto_topups_pause, auto_topups_resume
from payments.balance_watch import balance_watch_refresh
from payments.ledger import HolderAccounts, Leg, holder_accounts_lock, movement_post, system_account
from payments.models import AutoTopUp, LedgerAccount, LedgerTransaction
from payouts.crypto import cpr_check, cpr_decrypt, cpr_encrypt, cpr_keys_reload, cpr_masked, cpr_token_rotate
from payouts.models import PayeeKind, RefundRequest

Status = RefundRequest.Status

# A request in one of these is still being handled: the holder cannot ask again meanwhile.
OPEN_STATUSES = (Status.REQUESTED, Status.APPROVED, Status.IN_BATCH, Status.RETURNED)
# Cards that still work or could work again; lost and replaced cards keep their status.
RETURNABLE_CARD_STATUSES = (Card.Status.ACTIVE, Card.Status.BLOCKED, Card.Status.DEBT_BLOCKED)
PAYEE_NAME_MAX_LENGTH = 200  # RefundRequest.payee_name


class DebtOutstanding(DomainError):
    code = "debt_outstanding"
    status = 409
    default_message = _("The main balance is in debt: the debt must be paid before a refund.")


class RefundAlreadyRequested(DomainError):
    code = "refund_already_requested"
    status = 409
    default_message = _("A refund for this cardholder is already being handled.")


class RefundAlreadyDecided(DomainError):
    code = "refund_already_decided"
    status = 409
    default_message = _("This refund request was already decided.")


class FourEyesRequired(DomainError):
    code = "four_eyes_required"
    status = 409
    default_message = _("A refund of this size must be approved by someone other than the person who entered it.")


class InvalidIban(DomainError):
    code = "invalid_iban"
    status = 400
    default_message = _("This is not a valid IBAN.")

    def __init__(self, message: str | None = None) -> None:
        text = message or str(self.default_message)
        super().__init__(text, fields={"payee_iban": [text]})


class InvalidBic(DomainError):
    code = "invalid_bic"
    status = 400
    default_message = _("This is not a valid BIC (8 or 11 characters, e.g. DABADKKK).")

    def __init__(self, message: str | None = None) -> None:
        text = message or str(self.default_message)
        super().__init__(text, fields={"payee_bic": [text]})


@dataclass(frozen=True)
class RefundRequested:
    refund: RefundRequest
    # The CPR number failed the modulus-11 check: accepted, but the caller shows this.
    warning: str | None


def iban_masked(iban: str) -> str:
    """Country, check digits and the last four characters: enough to recognise the account."""
    compact = stdnum_iban.compact(iban or "")
    if len(compact) <= 8:
        return "****"
    return f"{compact[:4]}{'*' * (len(compact) - 8)}{compact[-4:]}"


def refund_payee_masked(*, refund: RefundRequest) -> str:
    """The payee's CPR number as DDMMYY-****, or the IBAN masked; never the number in clear."""
    if refund.payee_kind == PayeeKind.CPR:
        return cpr_masked(cpr_decrypt(refund.payee_cpr_token)) if refund.payee_cpr_token else "******-****"
    return iban_masked(refund.payee_iban)


def _iban_check(text: str) -> str:
    try:
        return str(stdnum_iban.validate(text))
    except StdnumValidationError:
        raise InvalidIban() from None


def _bic_check(text: str) -> str:
    if not text.strip():
        return ""
    try:
        return str(stdnum_bic.validate(text))
    except StdnumValidationError:
        raise InvalidBic() from None


def _main_in_debt(accounts: HolderAccounts) -> bool:
    return accounts.main.balance_cents < 0


def refund_request_create(
    *,
    holder: Cardholder,
    requested_by: User,
    payee_name: str,
    payee_cpr: str | None = None,
    payee_iban: str | None = None,
    payee_bic: str = "",
) -> RefundRequested:
    """Ask for the holder's remaining balance to be paid out to the payee.

    Exactly one of `payee_cpr` and `payee_iban` (InvalidRequest otherwise). A CPR number with an
    impossible date, the wrong length or letters raises InvalidCpr; one failing only the modulus-11
    check is accepted with a warning. An invalid IBAN or BIC raises InvalidIban or InvalidBic.
    Refused while the main balance is in debt (DebtOutstanding) or while another request for the
    holder is open (RefundAlreadyRequested). The caller checks that `requested_by` may ask for this
    holder (the guardian's own, or the office's institution). Nothing is written when it raises.
    """
    name = (payee_name or "").strip()
    cpr_text = (payee_cpr or "").strip()
    iban_text = (payee_iban or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["payee_name"] = [gettext("Enter the payee's name.")]
    elif len(name) > PAYEE_NAME_MAX_LENGTH:
        errors["payee_name"] = [gettext("The name is too long.")]
    if bool(cpr_text) == bool(iban_text):
        message = gettext("Give either the payee's CPR number or an IBAN, not both.")
        errors["payee_cpr" if not cpr_text else "payee_iban"] = [message]
    if errors:
        raise InvalidRequest(fields=errors)

    warning: str | None = None
    cpr_token, iban, bic = "", "", ""
    if cpr_text:
        checked = cpr_check(cpr_text)
        warning = checked.warning
        cpr_token = cpr_encrypt(checked.number)
        masked = cpr_masked(checked.number)
        kind = PayeeKind.CPR
    else:
        iban = _iban_check(iban_text)
        bic = _bic_check(payee_bic)
        masked = iban_masked(iban)
        kind = PayeeKind.IBAN

    with transaction.atomic():
        # The holder's account locks serialise two requests for the same holder (a double click) and
        # make the debt check see the balance as it is.
        accounts = holder_accounts_lock(holder_id=holder.pk)
        if _main_in_debt(accounts):
            raise DebtOutstanding()
        if RefundRequest.objects.filter(holder_id=holder.pk, status__in=OPEN_STATUSES).exists():
            raise RefundAlreadyRequested()
        refund = RefundRequest.objects.create(
            holder=holder,
            institution_id=holder.institution_id,
            requested_by=requested_by,
            payee_name=name,
            payee_kind=kind,
            payee_cpr_token=cpr_token,
            payee_iban=iban,
            payee_bic=bic,
        )
        paused = auto_topups_pause(holder=holder, reason=gettext("Refund #%(id)s requested") % {"id": refund.pk})
        audit_record(
            actor=requested_by,
            action="refund.requested",
            target=refund,
            institution=refund.institution,
            details={
                "holder": holder.pk,
                "payee_kind": kind,
                "payee": masked,
                "cpr_warning": warning is not None,
                "auto_topups_paused": paused,
            },
        )
    return RefundRequested(refund=refund, warning=warning)


def _auto_topups_stop(*, holder: Cardholder, reason: str) -> int:
    """Stop the holder's automatic top-ups for good (the cards are returned): the guardian sets a
    new rule should the holder get a card again."""
    count = AutoTopUp.objects.filter(holder_id=holder.pk, active=True).update(active=False, paused_reason=reason)
    balance_watch_refresh(holder=holder)
    return count


def refund_approve(*, refund: RefundRequest, approved_by: User, note: str = "") -> RefundRequest:
    """Approve a requested refund (office staff): return the cards, stop automatic top-ups and move
    the balance, less the payout cost, to payout clearing (see the module's docstring).

    Approving twice changes nothing more: an approved (or nothing-to-pay) request is returned as it
    is. A rejected one raises RefundAlreadyDecided; a main balance in debt, DebtOutstanding; a
    payout above `CORRECTION_FOUR_EYES_ABOVE_CENTS` approved by the person who entered the request,
    FourEyesRequired. Nothing is written when it raises. The caller checks that `approved_by` is
    office staff of the request's institution.
    """
    with transaction.atomic(durable=True):
        locked = RefundRequest.objects.select_for_update(of=("self",)).select_related("holder").get(pk=refund.pk)
        if locked.status in (Status.APPROVED, Status.NOTHING_TO_PAY, Status.IN_BATCH, Status.PAID):
            return locked
        if locked.status != Status.REQUESTED:
            raise RefundAlreadyDecided()
        holder = locked.holder
        # Locked first, in primary-key order like every movement; read again after the top-ups stop
        # (that rewrites the levels the ledger watches on these rows).
        accounts = holder_accounts_lock(holder_id=holder.pk)
        if _main_in_debt(accounts):
            raise DebtOutstanding()
        balance = accounts.main.balance_cents + accounts.extra.balance_cents
        cost = min(settings.PAYOUT_COST_CENTS, balance)
        amount = balance - cost
        if amount > settings.CORRECTION_FOUR_EYES_ABOVE_CENTS and approved_by.pk == locked.requested_by_id:
            raise FourEyesRequired()

        reason = gettext("Refund #%(id)s") % {"id": locked.pk}
        cards_returned = Card.objects.filter(holder_id=holder.pk, status__in=RETURNABLE_CARD_STATUSES).update(
            status=Card.Status.RETURNED, status_reason=reason
        )
        stopped = _auto_topups_stop(holder=holder, reason=reason)
        holder_closed(holder=holder)  # meal subscription and unpaid orders end with the account
        accounts = holder_accounts_lock(holder_id=holder.pk)

        txn: LedgerTransaction | None = None
        if balance > 0:
            legs = [
                Leg(account, -account.balance_cents)
                for account in (accounts.main, accounts.extra)
                if account.balance_cents > 0
            ]
            if amount > 0:
                legs.append(Leg(system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING), amount))
            if cost > 0:
                legs.append(Leg(system_account(kind=LedgerAccount.Kind.PAYOUT_COSTS), cost))
            txn = movement_post(
                kind=LedgerTransaction.Kind.REFUND,
                legs=legs,
                institution=locked.institution,
                created_by=approved_by,
                reason=reason,
                accounts_locked=True,
            )

        locked.status = Status.APPROVED if amount > 0 else Status.NOTHING_TO_PAY
        locked.balance_cents, locked.cost_cents, locked.amount_cents = balance, cost, amount
        locked.ledger_transaction = txn
        locked.decided_by = approved_by
        locked.decided_at = timezone.now()
        locked.decision_note = note.strip()
        locked.save(
            update_fields=[
                "status",
                "balance_cents",
                "cost_cents",
                "amount_cents",
                "ledger_transaction",
                "decided_by",
                "decided_at",
                "decision_note",
            ]
        )
        audit_record(
            actor=approved_by,
            action=f"refund.{locked.status}",
            target=locked,
            institution=locked.institution,
            reason=locked.decision_note,
            details={
                "holder": holder.pk,
                "payee": refund_payee_masked(refund=locked),
                "balance_cents": balance,
                "cost_cents": cost,
                "amount_cents": amount,
                "ledger_transaction": txn.pk if txn is not None else None,
                "cards_returned": cards_returned,
                "auto_topups_stopped": stopped,
            },
        )
    return locked


def refund_reject(*, refund: RefundRequest, rejected_by: User, note: str) -> RefundRequest:
    """Reject a requested refund (office staff) with a reason; the automatic top-ups resume.

    Rejecting twice changes nothing more; an approved request raises RefundAlreadyDecided (its
    money has moved). A missing note raises InvalidRequest.
    """
    text = (note or "").strip()
    if not text:
        raise InvalidRequest(fields={"note": [gettext("Give the reason for the rejection.")]})
    with transaction.atomic():
        locked = RefundRequest.objects.select_for_update(of=("self",)).select_related("holder").get(pk=refund.pk)
        if locked.status == Status.REJECTED:
            return locked
        if locked.status != Status.REQUESTED:
            raise RefundAlreadyDecided()
        locked.status = Status.REJECTED
        locked.decided_by = rejected_by
        locked.decided_at = timezone.now()
        locked.decision_note = text
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        resumed = auto_topups_resume(holder=locked.holder)
        audit_record(
            actor=rejected_by,
            action="refund.rejected",
            target=locked,
            institution=locked.institution,
            reason=text,
            details={
                "holder": locked.holder_id,
                "payee": refund_payee_masked(refund=locked),
                "auto_topups_resumed": resumed,
            },
        )
    return locked


def refund_tokens_rotate(*, chunk_size: int = 500) -> int:
    """Re-encrypt every stored CPR token under the newest key; returns how many were rewritten.

    In chunks, each in its own short transaction, so a rotation over many requests does not hold
    one long lock. Safe to run again: every key of the setting still decrypts meanwhile.
    """
    cpr_keys_reload()  # the keys as the setting names them now
    count = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            rows = list(
                RefundRequest.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .exclude(payee_cpr_token="")
                .order_by("pk")
                .values_list("pk", "payee_cpr_token")[:chunk_size]
            )
            for pk, token in rows:
                RefundRequest.objects.filter(pk=pk).update(payee_cpr_token=cpr_token_rotate(token))
        if not rows:
            return count
        count += len(rows)
        last_pk = rows[-1][0]


def refund_returned_correct(
    *,
    refund: RefundRequest,
    corrected_by: User,
    note: str,
    payee_name: str | None = None,
    payee_cpr: str | None = None,
    payee_iban: str | None = None,
    payee_bic: str = "",
) -> RefundRequest:
    """A refund the bank returned (no NemKonto, a bank error), corrected by the office and made
    payable again: the next batch pays it. Its money never left payout clearing, so none moves.

    The payee may be changed (a corrected CPR, or an IBAN instead of NemKonto); the rules of a new
    request apply to it. A note is required.
    """
    text = (note or "").strip()
    if not text:
        raise InvalidRequest(fields={"note": [gettext("Say what was corrected.")]})
    if payee_cpr and payee_iban:
        raise InvalidRequest(fields={"payee_iban": [gettext("Give a CPR number or an IBAN, not both.")]})
    with transaction.atomic():
        locked = RefundRequest.objects.select_for_update(of=("self",)).get(pk=refund.pk)
        if locked.status != Status.RETURNED:
            raise RefundAlreadyDecided(gettext("Only a refund the bank returned can be corrected and paid again."))
        if payee_name is not None and payee_name.strip():
            locked.payee_name = payee_name.strip()
        if payee_cpr:
            locked.payee_kind, locked.payee_iban, locked.payee_bic = PayeeKind.CPR, "", ""
            locked.payee_cpr_token = cpr_encrypt(cpr_check(payee_cpr).number)
        elif payee_iban:
            locked.payee_kind, locked.payee_cpr_token = PayeeKind.IBAN, ""
            locked.payee_iban, locked.payee_bic = _iban_check(payee_iban), _bic_check(payee_bic) if payee_bic else ""
        locked.status = Status.APPROVED
        locked.decision_note = text
        locked.save()
        audit_record(
            actor=corrected_by,
            action="refund.corrected",
            target=locked,
            institution=locked.institution,
            reason=text,
            details={"payee": refund_payee_masked(refund=locked)},
        )
    return locked


def refund_paid_another_way(*, refund: RefundRequest, paid_by: User, note: str) -> RefundRequest:
    """A returned refund the office paid some other way (a manual bank transfer): its money leaves
    payout clearing for the bank, and the refund is paid. A note (how it was paid) is required."""
    text = (note or "").strip()
    if not text:
        raise InvalidRequest(fields={"note": [gettext("Say how the money was paid.")]})
    with transaction.atomic():
        locked = RefundRequest.objects.select_for_update(of=("self",)).get(pk=refund.pk)
        if locked.status != Status.RETURNED or not locked.amount_cents:
            raise RefundAlreadyDecided(gettext("Only a refund the bank returned can be paid another way."))
        movement_post(
            kind=LedgerTransaction.Kind.REFUND,
            legs=[
                Leg(system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING), -locked.amount_cents),
                Leg(system_account(kind=LedgerAccount.Kind.BANK), locked.amount_cents),
            ],
            institution=locked.institution,
            created_by=paid_by,
            reason=text,
        )
        locked.status = Status.PAID
        locked.decision_note = text
        locked.save(update_fields=["status", "decision_note"])
        audit_record(
            actor=paid_by,
            action="refund.paid_another_way",
            target=locked,
            institution=locked.institution,
            reason=text,
            details={"amount_cents": locked.amount_cents},
        )
    return locked
