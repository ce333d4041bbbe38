import hmac

from django.db import transaction

from accounts.models import Institution, User
from cards.errors import ActivationInvalid
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
        locked = Card.objects.select_for_update().get(pk=card.pk)
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
        card = Card.objects.select_for_update().filter(number=number, holder__isnull=False).first()
        stored = card.activation_code.strip().upper() if card is not None else ""
        # Compare even without a card, so an unknown number takes as long as a wrong code.
        matches = hmac.compare_digest((stored or "\0").encode(), code.encode())
        if card is None or not stored or not code or not matches:
            raise ActivationInvalid()
        card.activation_code = ""
        card.save(update_fields=["activation_code"])
        assert card.holder is not None
        return guardianship_create(guardian=guardian, holder=card.holder)
