"""Cards handed out at the office [SE][PZ][SK]: new cards after an identity check, loaner cards for
a forgotten one [SL], and the rows of the issuance register.

- The first regular card of a cardholder is free; every further one costs the replacement fee
  (setting CARD_REPLACEMENT_FEE_CENTS), taken from the extra balance through the ledger, unless it
  fulfils a replacement order the guardian already paid (or one that was free, as on a move). An
  order still awaiting its payment is paid at the office from the extra balance.
- A new regular card replaces the holder's cards still in use: they are blocked for good.
- A loaner card is lent to a pupil for the rest of the day in the institution's time zone; the till
  refuses it once expired (`canteen.services.card_refusal`). The same chip is lent again another
  day, to the same or another pupil: every lending is its own issuance row.

Every write runs in one transaction with its audit entry. Locks are taken in one order everywhere:
the cardholder (no key update), the holder's cards (no key update), the replacement orders, the
balances. A sale takes a key share on the first two and locks the balances, so it waits for an
issuance or an issuance for it, never both; a guardian's replacement order locks its card, then
the balances, in the same order.
"""

import datetime as dt
import secrets
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _lazy

from accounts.audit import audit_record
from accounts.models import Institution, User
from cards.ledger_port import holder_ledger
from cards.models import Card, Cardholder, CardIssuance, ReplacementOrder
from cards.services import LIVE_STATUSES, HolderLeft, card_issue, holder_lock
from cards.uids import InvalidUid, normalize_uid
from cardsystem.errors import DomainError, InvalidRequest

STAFF_KINDS = (Card.Kind.TEACHER, Card.Kind.CASHIER)
OFFICE_KINDS = (Card.Kind.REGULAR, *STAFF_KINDS)
# Open orders an issuance fulfils: paid (or free) first, then one still awaiting its payment.
OPEN_ORDER_STATUSES = (ReplacementOrder.Status.ORDERED, ReplacementOrder.Status.AWAITING_PAYMENT)
# No 0/O, 1/I/L: the code is read off a letter and typed in by hand.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


class LoanerInUse(DomainError):
    code = "loaner_in_use"
    default_message = _lazy("This loaner card is lent to another pupil today. Take it back first.")


class NotALoaner(DomainError):
    code = "not_a_loaner"
    default_message = _lazy("This chip belongs to a card that is not a loaner card.")


class ActivationCodeUsed(DomainError):
    code = "activation_code_used"
    default_message = _lazy("The activation code of this card was used already: make a new one first.")


def activation_code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def replacement_fee_cents() -> int:
    return int(settings.CARD_REPLACEMENT_FEE_CENTS)


def _uid_clean(uid: str) -> str:
    try:
        return normalize_uid(uid)
    except InvalidUid as error:
        raise InvalidRequest(fields={"uid": [str(error)]}) from None


def _uniqueness_check(*, uid: str, number: str) -> None:
    errors: dict[str, list[str]] = {}
    if Card.objects.filter(uid=uid).exists():
        errors["uid"] = [gettext("A card with this chip UID exists already.")]
    if Card.objects.filter(number=number).exists():
        errors["number"] = [gettext("A card with this number exists already.")]
    if errors:
        raise InvalidRequest(fields=errors)


def _card_insert(
    *, uid: str, number: str, kind: str, holder: Cardholder | None = None, staff_user: User | None = None
) -> Card:
    """`card_issue` in a savepoint: a chip or number taken at the same moment is a form error."""
    try:
        return card_issue(uid=uid, number=number, kind=kind, holder=holder, staff_user=staff_user)
    except IntegrityError:
        _uniqueness_check(uid=uid, number=number)
        raise


T = TypeVar("T")


def _in_transaction(work: Callable[[], T]) -> T:
    """In the caller's transaction if there is one (an admin view's), as a savepoint, so a chip
    taken at the same moment leaves nothing behind; else in a durable one of its own, as the ledger
    wants for a movement."""
    with transaction.atomic(durable=not connection.in_atomic_block):
        return work()


def _document_check(document_type: str) -> None:
    if document_type not in CardIssuance.Document.values:
        raise InvalidRequest(fields={"document_type": [gettext("Choose the identity document that was checked.")]})


def _staff_member_check(*, staff_user: User, institution: Institution) -> None:
    if not staff_user.memberships.filter(institution=institution).exists():
        raise InvalidRequest(
            fields={
                "staff_user": [gettext("This person is not a member of staff at %(name)s.") % {"name": institution}]
            }
        )


def card_office_issue(
    *,
    institution: Institution,
    uid: str,
    number: str,
    kind: str,
    issued_by: User,
    checked_by: User,
    document_type: str,
    received_by: str = "",
    holder: Cardholder | None = None,
    staff_user: User | None = None,
    replacement_order: ReplacementOrder | None = None,
    daily_limit_cents: int | None = None,
) -> CardIssuance:
    """Hand out a new card after an identity check, and record it for the issuance register.

    A regular card belongs to `holder` (a pupil of `institution` who has not left); a teacher or
    cashier card to `staff_user` (a member of staff there). The fee rules are the module's. The
    new regular card gets a one-time activation code for the guardian's letter. Every refusal is
    raised before the first write: InvalidRequest (with fields), HolderLeft, InsufficientFunds.
    """
    uid = _uid_clean(uid)
    number = number.strip()
    if not number:
        raise InvalidRequest(fields={"number": [gettext("Type the number printed on the card.")]})
    _document_check(document_type)
    if kind == Card.Kind.REGULAR:
        if holder is None or staff_user is not None:
            raise InvalidRequest(fields={"holder": [gettext("A regular card belongs to a cardholder.")]})
        if holder.institution_id != institution.pk:
            raise InvalidRequest(fields={"holder": [gettext("The cardholder belongs to another institution.")]})
    elif kind in STAFF_KINDS:
        if staff_user is None or holder is not None:
            raise InvalidRequest(
                fields={"staff_user": [gettext("A teacher or cashier card belongs to a member of staff.")]}
            )
        _staff_member_check(staff_user=staff_user, institution=institution)
    else:
        raise InvalidRequest(fields={"kind": [gettext("The office issues regular, teacher and cashier cards here.")]})

    def work() -> CardIssuance:
        if holder is None:
            _uniqueness_check(uid=uid, number=number)
            assert staff_user is not None
            card = _card_insert(uid=uid, number=number, staff_user=staff_user, kind=kind)
            if daily_limit_cents is not None:
                card.daily_limit_cents = daily_limit_cents
                card.save(update_fields=["daily_limit_cents"])
            issuance = CardIssuance.objects.create(
                card=card,
                institution=institution,
                received_by=received_by.strip() or str(staff_user),
                document_type=document_type,
                checked_by=checked_by,
                issued_by=issued_by,
            )
            _issued_audit(issuance=issuance, replaced=[], ledger_transaction=None)
            return issuance
        return _regular_issue(
            institution=institution,
            uid=uid,
            number=number,
            holder=holder,
            issued_by=issued_by,
            checked_by=checked_by,
            document_type=document_type,
            received_by=received_by,
            replacement_order=replacement_order,
            daily_limit_cents=daily_limit_cents,
        )

    return _in_transaction(work)


def _regular_issue(
    *,
    institution: Institution,
    uid: str,
    number: str,
    holder: Cardholder,
    issued_by: User,
    checked_by: User,
    document_type: str,
    received_by: str,
    replacement_order: ReplacementOrder | None,
    daily_limit_cents: int | None,
) -> CardIssuance:
    locked = holder_lock(holder=holder)
    if locked.left_at is not None:
        raise HolderLeft()
    if locked.institution_id != institution.pk:
        raise InvalidRequest(fields={"holder": [gettext("The cardholder belongs to another institution.")]})
    _uniqueness_check(uid=uid, number=number)
    # The cards before the orders: a guardian ordering a replacement holds the old card's lock while
    # the order is made, so once we hold the cards, every order of theirs is committed and seen.
    earlier = list(
        Card.objects.select_for_update(no_key=True).filter(holder=locked, kind=Card.Kind.REGULAR).order_by("pk")
    )
    order = _order_lock(holder=locked, chosen=replacement_order)
    if order is not None:
        fee = order.fee_cents if order.status == ReplacementOrder.Status.AWAITING_PAYMENT else 0
    else:
        fee = replacement_fee_cents() if earlier else 0
    txn_id = None
    if fee:
        txn_id = holder_ledger().fee_charge(
            holder=locked,
            fee_cents=fee,
            charged_by=issued_by,
            reason=gettext("Card %(number)s handed out at the office") % {"number": number},
        )
    live = [card for card in earlier if card.status in LIVE_STATUSES]
    # A debt block is the holder's, not the chip's: it carries over to the new card until paid.
    debt_blocked = any(card.status == Card.Status.DEBT_BLOCKED for card in live)
    for old in live:
        old.status = Card.Status.REPLACED
        old.status_reason = gettext("Replaced by card %(number)s.") % {"number": number}
        old.save(update_fields=["status", "status_reason"])
    if daily_limit_cents is None and earlier:
        daily_limit_cents = earlier[-1].daily_limit_cents
    card = _card_insert(uid=uid, number=number, holder=locked, kind=Card.Kind.REGULAR)
    card.activation_code = activation_code_new()
    card.daily_limit_cents = daily_limit_cents
    if debt_blocked:
        card.status = Card.Status.DEBT_BLOCKED
    card.save(update_fields=["activation_code", "daily_limit_cents", "status"])
    if order is not None:
        if order.status == ReplacementOrder.Status.AWAITING_PAYMENT:
            # Paid here and now; a provider payment still finished later goes to the extra balance
            # (payments.replacements.card_fee_settle).
            order.paid_with = ReplacementOrder.PaidWith.BALANCE
        order.status = ReplacementOrder.Status.ISSUED
        order.new_card = card
        order.issued_at = timezone.now()
        order.save(update_fields=["status", "paid_with", "new_card", "issued_at"])
    issuance = CardIssuance.objects.create(
        card=card,
        institution=institution,
        holder=locked,
        received_by=received_by.strip() or locked.name,
        document_type=document_type,
        checked_by=checked_by,
        issued_by=issued_by,
        fee_cents=fee,
        replacement_order=order,
    )
    _issued_audit(issuance=issuance, replaced=[old.number for old in live], ledger_transaction=txn_id)
    return issuance


def _order_lock(*, holder: Cardholder, chosen: ReplacementOrder | None) -> ReplacementOrder | None:
    """The replacement order this card fulfils, locked: the one chosen, or the holder's oldest open
    one (paid first), so a guardian who paid never pays again at the desk."""
    orders = ReplacementOrder.objects.select_for_update().filter(holder=holder, status__in=OPEN_ORDER_STATUSES)
    if chosen is not None:
        order = orders.filter(pk=chosen.pk).first()
        if order is None:
            raise InvalidRequest(
                fields={"replacement_order": [gettext("This order is not an open order of the cardholder.")]}
            )
        return order
    for status in OPEN_ORDER_STATUSES:
        order = orders.filter(status=status).order_by("created_at", "pk").first()
        if order is not None:
            return order
    return None


def _issued_audit(*, issuance: CardIssuance, replaced: list[str], ledger_transaction: int | None) -> None:
    card = issuance.card
    audit_record(
        actor=issuance.issued_by,
        action="card.issued",
        target=card,
        institution=issuance.institution,
        details={
            "number": card.number,
            "kind": card.kind,
            "holder": issuance.holder_id,
            "staff_user": card.staff_user_id,
            "document_type": issuance.document_type,
            "checked_by": issuance.checked_by_id,
            "fee_cents": issuance.fee_cents,
            "replacement_order": issuance.replacement_order_id,
            "ledger_transaction": ledger_transaction,
            "replaced": replaced,
        },
    )


def activation_code_renew(*, card: Card, renewed_by: User) -> Card:
    """A new one-time activation code for a regular card (the old one stops working)."""
    if card.kind != Card.Kind.REGULAR or card.holder_id is None:
        raise InvalidRequest(fields={"card": [gettext("Only a regular card is linked with an activation code.")]})
    with transaction.atomic():
        locked = (
            Card.objects.select_for_update(of=("self",), no_key=True)
            .select_related("holder__institution")
            .get(pk=card.pk)
        )
        locked.activation_code = activation_code_new()
        locked.save(update_fields=["activation_code"])
        assert locked.holder is not None
        audit_record(
            actor=renewed_by,
            action="card.activation_code_renewed",
            target=locked,
            institution=locked.holder.institution,
        )
    card.refresh_from_db()
    return card


# --- loaner cards [SL] ---------------------------------------------------------------------------


def loaner_expiry(*, institution: Institution, now: dt.datetime | None = None) -> dt.datetime:
    """The end of today at the institution: the next local midnight."""
    today = (now or timezone.now()).astimezone(institution.zone).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=institution.zone)


def day_start(*, institution: Institution, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=institution.zone)


def loaner_lend(
    *,
    institution: Institution,
    uid: str,
    holder: Cardholder,
    lent_by: User,
    number: str = "",
    document_type: str = CardIssuance.Document.KNOWN_PERSONALLY,
    checked_by: User | None = None,
    now: dt.datetime | None = None,
) -> CardIssuance:
    """Lend a loaner card to a pupil who forgot theirs, until the end of the day [SL].

    A chip not seen before becomes a new loaner card with the printed `number`; a known loaner
    chip is lent again (it may still be lent to this same pupil today). The pupil's own card is
    left as it is: it was forgotten, not lost. The loaner gets the pupil's daily limit. Raises
    InvalidRequest, HolderLeft, NotALoaner or LoanerInUse before any write.
    """
    uid = _uid_clean(uid)
    _document_check(document_type)
    if holder.institution_id != institution.pk:
        raise InvalidRequest(fields={"holder": [gettext("The cardholder belongs to another institution.")]})
    moment = now or timezone.now()
    expires = loaner_expiry(institution=institution, now=moment)

    def work() -> CardIssuance:
        locked = holder_lock(holder=holder)
        if locked.left_at is not None:
            raise HolderLeft()
        own = (
            Card.objects.filter(holder=locked, kind=Card.Kind.REGULAR)
            .order_by("-pk")
            .values_list("daily_limit_cents", flat=True)
        ).first()
        card = Card.objects.select_for_update(no_key=True).filter(uid=uid).first()
        if card is None:
            if not number.strip():
                raise InvalidRequest(fields={"number": [gettext("A new loaner card needs its printed number.")]})
            _uniqueness_check(uid=uid, number=number.strip())
            card = _card_insert(uid=uid, number=number.strip(), holder=locked, kind=Card.Kind.LOANER)
        else:
            if card.kind != Card.Kind.LOANER:
                raise NotALoaner()
            if card.status != Card.Status.ACTIVE:
                raise InvalidRequest(
                    fields={"uid": [gettext("This loaner card is %(status)s.") % {"status": card.get_status_display()}]}
                )
            if card.holder_id != locked.pk and card.expires_at is not None and card.expires_at > moment:
                raise LoanerInUse()
            card.holder = locked
        card.expires_at = expires
        card.daily_limit_cents = own
        card.save(update_fields=["holder", "expires_at", "daily_limit_cents"])
        issuance = CardIssuance.objects.create(
            card=card,
            institution=institution,
            holder=locked,
            received_by=locked.name,
            document_type=document_type,
            checked_by=checked_by or lent_by,
            issued_by=lent_by,
            issued_at=moment,
        )
        audit_record(
            actor=lent_by,
            action="card.loaned",
            target=card,
            institution=institution,
            details={"number": card.number, "holder": locked.pk, "expires_at": expires.isoformat()},
        )
        return issuance

    return _in_transaction(work)


def loaner_return(*, card: Card, returned_by: User, now: dt.datetime | None = None) -> Card:
    """The pupil handed the loaner card back: it stops working now rather than at midnight."""
    if card.kind != Card.Kind.LOANER:
        raise NotALoaner()
    moment = now or timezone.now()
    with transaction.atomic():
        locked = (
            Card.objects.select_for_update(of=("self",), no_key=True)
            .select_related("holder__institution")
            .get(pk=card.pk)
        )
        if locked.expires_at is None or locked.expires_at > moment:
            locked.expires_at = moment
            locked.save(update_fields=["expires_at"])
            assert locked.holder is not None
            audit_record(
                actor=returned_by,
                action="card.loaner_returned",
                target=locked,
                institution=locked.holder.institution,
                details={"number": locked.number, "holder": locked.holder_id},
            )
    card.refresh_from_db()
    return card


def loaners_lent_today(
    *, institutions: QuerySet[Institution], now: dt.datetime | None = None
) -> QuerySet[CardIssuance]:
    """Loaner cards lent today at these institutions (each one's own today), newest first."""
    moment = now or timezone.now()
    today = Q(pk__in=[])
    for institution in institutions:
        day = moment.astimezone(institution.zone).date()
        today |= Q(institution=institution, issued_at__gte=day_start(institution=institution, day=day))
    return (
        CardIssuance.objects.filter(today, card__kind=Card.Kind.LOANER)
        .select_related("card", "holder", "institution", "issued_by")
        .order_by("-issued_at", "-pk")
    )


# --- the issuance register -----------------------------------------------------------------------


def issuance_register_rows(*, institution: Institution, first: dt.date, last: dt.date) -> QuerySet[CardIssuance]:
    """The cards handed out at the institution from `first` to `last` (its local days), for the
    register to sign. Loaner cards are lent and taken back the same day: they are not in it."""
    if last < first:
        raise InvalidRequest(fields={"last": [gettext("The last day comes before the first.")]})
    return (
        CardIssuance.objects.filter(
            institution=institution,
            issued_at__gte=day_start(institution=institution, day=first),
            issued_at__lt=day_start(institution=institution, day=last + dt.timedelta(days=1)),
        )
        .exclude(card__kind=Card.Kind.LOANER)
        .select_related("card__staff_user", "holder", "checked_by", "issued_by", "replacement_order")
        .order_by("issued_at", "pk")
    )
