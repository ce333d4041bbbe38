import enum
import hmac

from django.db import transaction

from accounts.models import Institution, User
from cards.errors import ActivationInvalid, CardNotReopenable, CardReplaced
from cards.models import Card, Cardholder, Guardianship, PriceCategory
from cards.uids import normalize_uid


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
