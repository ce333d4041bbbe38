import datetime as dt
import enum
import hmac

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _lazy

from accounts.audit import audit_record
from accounts.models import Institution, User
from cards.closing import holder_closed
from cards.errors import ActivationInvalid, CardNotReopenable, CardReplaced
from cards.ledger_port import holder_ledger
from cards.models import Card, Cardholder, Guardianship, PriceCategory, ReplacementOrder
from cards.uids import normalize_uid
from cardsystem.errors import DomainError, InvalidRequest


def holder_create(
    *,
    name: str,
    institution: Institution,
    group: str = "",
    allergy_note: str = "",
    price_category: PriceCategory | None = None,
) -> Cardholder:
    """A new cardholder without balances; `payments.services.holder_register` opens them too."""
    return Cardholder.objects.create(
        name=name,
        institution=institution,
        group=group,
        allergy_note=allergy_note,
        price_category=price_category,
    )


def guardianship_create(*, guardian: User, holder: Cardholder) -> Guardianship:
    guardianship, _created = Guardianship.objects.get_or_create(guardian=guardian, holder=holder)
    return guardianship


@transaction.atomic
def card_issue(
    *,
    uid: str,
    number: str,
    holder: Cardholder | None = None,
    staff_user: User | None = None,
    kind: str = Card.Kind.REGULAR,
    activation_code: str = "",
) -> Card:
    return Card.objects.create(
        uid=normalize_uid(uid),
        number=number,
        holder=holder,
        staff_user=staff_user,
        kind=kind,
        activation_code=activation_code,
    )


def card_block(*, card: Card, reason: str = "") -> Card:
    """Block a card: it buys nothing until reopened (a replaced card cannot be reopened)."""
    with transaction.atomic():
        locked = Card.objects.select_for_update(no_key=True).get(pk=card.pk)
        if locked.status == Card.Status.ACTIVE:
            locked.status = Card.Status.BLOCKED
            locked.status_reason = reason
            locked.save(update_fields=["status", "status_reason"])
    card.refresh_from_db()
    return card


def guardianship_link(*, guardian: User, card_number: str, activation_code: str) -> Guardianship:
    """Make `guardian` a guardian of the holder of the card, with the one-time activation code.

    The code is consumed (cleared) in the same transaction, so it links once; letter case and
    surrounding spaces do not matter. A wrong number, a
    wrong code or a code already used all raise ActivationInvalid with the same message and change
    nothing.
    """
    number = card_number.strip()
    code = activation_code.strip().upper()
    with transaction.atomic():
        card = Card.objects.select_for_update(no_key=True).filter(number=number, holder__isnull=False).first()
        stored = card.activation_code.strip().upper() if card is not None else ""
        # Compare even without a card, so an unknown number takes as long as a wrong code.
        matches = hmac.compare_digest((stored or "\0").encode(), code.encode())
        if card is None or not stored or not code or not matches:
            raise ActivationInvalid()
        card.activation_code = ""
        card.save(update_fields=["activation_code"])
        assert card.holder is not None
        return guardianship_create(guardian=guardian, holder=card.holder)


def card_unblock(*, card: Card) -> Card:
    """Reopen a blocked card; an active card stays active.

    A replaced card raises CardReplaced; a card blocked for debt, lost or returned raises
    CardNotReopenable (the office decides those). Nothing changes when it raises.
    """
    with transaction.atomic():
        locked = Card.objects.select_for_update(no_key=True).get(pk=card.pk)
        if locked.status == Card.Status.REPLACED:
            raise CardReplaced()
        if locked.status not in (Card.Status.ACTIVE, Card.Status.BLOCKED):
            raise CardNotReopenable()
        if locked.status == Card.Status.BLOCKED:
            locked.status = Card.Status.ACTIVE
            locked.status_reason = ""
            locked.save(update_fields=["status", "status_reason"])
    card.refresh_from_db()
    return card


class Unchanged(enum.Enum):
    """Marks a limit the caller leaves as it is (None means "no limit")."""

    UNCHANGED = enum.auto()


UNCHANGED = Unchanged.UNCHANGED


def holder_limits_set(
    *,
    holder: Cardholder,
    daily_limit_cents: int | Unchanged | None = UNCHANGED,
    low_balance_alert_cents: int | Unchanged | None = UNCHANGED,
) -> Cardholder:
    """Set a cardholder's daily limit and low-balance alert; None removes it, UNCHANGED keeps it.

    The daily limit is enforced per card at the till, so it is written to every regular and loaner
    card of the holder, in one transaction with the alert.
    """
    for value in (daily_limit_cents, low_balance_alert_cents):
        if isinstance(value, int) and value < 0:
            raise ValueError("Limits cannot be negative")
    with transaction.atomic():
        if not isinstance(daily_limit_cents, Unchanged):
            Card.objects.filter(holder=holder, kind__in=[Card.Kind.REGULAR, Card.Kind.LOANER]).update(
                daily_limit_cents=daily_limit_cents
            )
        if not isinstance(low_balance_alert_cents, Unchanged):
            holder.low_balance_alert_cents = low_balance_alert_cents
            holder.save(update_fields=["low_balance_alert_cents"])
    return holder


def holder_debt_block_lift(*, holder: Cardholder) -> int:
    """Reopen the holder's cards that were blocked for debt (the debt is paid); returns how many."""
    return Card.objects.filter(holder=holder, status=Card.Status.DEBT_BLOCKED).update(
        status=Card.Status.ACTIVE, status_reason=""
    )


def holder_debt_block(*, holder_id: int) -> int:
    """Block the holder's usable cards for debt (the main balance reached the debt limit); returns how many.

    Only active cards: a card the guardian blocked, or one lost or replaced, keeps its own status.
    """
    return Card.objects.filter(holder_id=holder_id, status=Card.Status.ACTIVE).update(
        status=Card.Status.DEBT_BLOCKED, status_reason=""
    )


def holders_debt_block(*, holder_ids: list[int]) -> int:
    """`holder_debt_block` for many cardholders in one statement (the meal deadline's batches)."""
    return Card.objects.filter(holder_id__in=holder_ids, status=Card.Status.ACTIVE).update(
        status=Card.Status.DEBT_BLOCKED, status_reason=""
    )


# --- the back office: registering, moving and leaving ---------------------------------------------
# Each action writes an audit entry (who, when, what, why) in its own transaction.


class HolderLeft(DomainError):
    """The cardholder has left: nothing more is registered, moved or handed out for them."""

    code = "holder_left"
    default_message = _lazy("This cardholder has left.")


class AlreadyThere(DomainError):
    code = "same_institution"
    default_message = _lazy("The cardholder already belongs to this institution.")


def _reason_required(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise InvalidRequest(fields={"reason": [gettext("A reason is required.")]})
    return text


def holder_enrol(
    *,
    name: str,
    institution: Institution,
    registered_by: User,
    group: str = "",
    allergy_note: str = "",
    price_category: PriceCategory | None = None,
    via: str = "admin",
) -> Cardholder:
    """Register a pupil at the institution with their main and extra balances opened [PZ].

    `via` says in the audit entry how the office registered them ("admin", "import").
    """
    with transaction.atomic():
        holder = holder_create(
            name=name.strip(),
            institution=institution,
            group=group.strip(),
            allergy_note=allergy_note.strip(),
            price_category=price_category,
        )
        holder_ledger().accounts_open(holder=holder)
        audit_record(
            actor=registered_by,
            action="holder.registered",
            target=holder,
            institution=institution,
            details={"via": via, "group": holder.group},
        )
    return holder


def holder_guardian_add(*, holder: Cardholder, email: str, added_by: User) -> Guardianship | None:
    """Make the user signed up with this e-mail address a guardian of the holder.

    None when nobody has signed up with the address: the guardian links the card themselves
    with the activation letter.
    """
    guardian = User.objects.filter(email__iexact=email.strip()).first()
    if guardian is None:
        return None
    with transaction.atomic():
        guardianship = guardianship_create(guardian=guardian, holder=holder)
        audit_record(
            actor=added_by,
            action="holder.guardian_added",
            target=holder,
            institution=holder.institution,
            details={"guardian": guardian.pk},
        )
    return guardianship


# Statuses of a card still in use: moving, leaving or replacing ends them.
LIVE_STATUSES = (Card.Status.ACTIVE, Card.Status.BLOCKED, Card.Status.DEBT_BLOCKED)


def holder_lock(*, holder: Cardholder) -> Cardholder:
    """Lock the holder's row (no key update: a sale at the same moment only needs a key share on it)
    and re-read it, so two office actions on one pupil run one after the other."""
    return (
        Cardholder.objects.select_for_update(of=("self",), no_key=True).select_related("institution").get(pk=holder.pk)
    )


def holder_move(
    *,
    holder: Cardholder,
    institution: Institution,
    moved_by: User,
    reason: str,
    group: str = "",
    replace_cards: bool = True,
) -> Cardholder:
    """Move a pupil to another institution; the balances move with them [PZ].

    The ledger accounts stay the holder's; the main balance's floor follows the new institution's
    debt limit, but never above a debt already owed (it is paid off as ever, by the next top-up).
    With `replace_cards` the pupil's cards in use are blocked for good, as on every transfer
    [PZ], and a free replacement is put in the office queue, so the new institution's office
    hands out the new card without a fee. Raises HolderLeft, AlreadyThere or InvalidRequest (no
    reason) before any write.
    """
    text = _reason_required(reason)
    with transaction.atomic():
        locked = holder_lock(holder=holder)
        if locked.left_at is not None:
            raise HolderLeft()
        if locked.institution_id == institution.pk:
            raise AlreadyThere()
        old = locked.institution
        locked.institution = institution
        locked.group = group.strip()
        locked.save(update_fields=["institution", "group"])
        replaced = _cards_replace_on_move(holder=locked, moved_by=moved_by) if replace_cards else []
        holder_ledger().floor_follow(holder=locked, institution=institution)
        audit_record(
            actor=moved_by,
            action="holder.moved",
            target=locked,
            institution=old,
            reason=text,
            details={"from": old.pk, "to": institution.pk, "group": locked.group, "cards_replaced": replaced},
        )
    holder.refresh_from_db()
    return holder


def _cards_replace_on_move(*, holder: Cardholder, moved_by: User) -> list[str]:
    cards = list(
        Card.objects.select_for_update(no_key=True)
        .filter(holder=holder, kind=Card.Kind.REGULAR, status__in=LIVE_STATUSES)
        .order_by("pk")
    )
    for card in cards:
        card.status = Card.Status.REPLACED
        card.status_reason = gettext("Moved to %(institution)s.") % {"institution": holder.institution}
        card.save(update_fields=["status", "status_reason"])
    newest = cards[-1] if cards else None
    if newest is not None and not ReplacementOrder.objects.filter(old_card=newest).exists():
        ReplacementOrder.objects.create(
            old_card=newest,
            holder=holder,
            ordered_by=moved_by,
            status=ReplacementOrder.Status.ORDERED,
            fee_cents=0,
            paid_with=ReplacementOrder.PaidWith.FREE,
        )
    Card.objects.filter(holder=holder, kind=Card.Kind.LOANER, expires_at__gt=timezone.now()).update(
        expires_at=timezone.now()
    )
    return [card.number for card in cards]


def holder_leave(*, holder: Cardholder, left_by: User, reason: str, left_on: dt.date | None = None) -> Cardholder:
    """Mark a pupil as left: their cards in use are blocked, their balances stay.

    The cards are blocked (BLOCKED, with the reason), not marked RETURNED: a card is returned when
    its balance is refunded (payouts), which also needs the guardian's request. Until then the
    money is the family's and the guardian can still ask for it. A loaner lent today expires at
    once. Leaving twice changes nothing the second time (the first date is kept).
    """
    text = _reason_required(reason)
    with transaction.atomic():
        locked = holder_lock(holder=holder)
        if locked.left_at is not None:
            holder.refresh_from_db()
            return holder
        locked.left_at = left_on or timezone.localdate(timezone=locked.institution.zone)
        locked.save(update_fields=["left_at"])
        status_reason = gettext("Left on %(date)s.") % {"date": locked.left_at.isoformat()}
        blocked = list(
            Card.objects.filter(holder=locked, status__in=LIVE_STATUSES)
            .exclude(kind=Card.Kind.LOANER)
            .values_list("number", flat=True)
        )
        Card.objects.filter(holder=locked, status__in=LIVE_STATUSES).exclude(kind=Card.Kind.LOANER).update(
            status=Card.Status.BLOCKED, status_reason=status_reason
        )
        Card.objects.filter(holder=locked, kind=Card.Kind.LOANER, expires_at__gt=timezone.now()).update(
            expires_at=timezone.now()
        )
        holder_closed(holder=locked)  # meal subscription and unpaid orders end on leaving
        audit_record(
            actor=left_by,
            action="holder.left",
            target=locked,
            institution=locked.institution,
            reason=text,
            details={"left_on": locked.left_at.isoformat(), "cards_blocked": blocked},
        )
    holder.refresh_from_db()
    return holder
