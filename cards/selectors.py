from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from cards.models import Card, Cardholder
from cards.uids import InvalidUid, normalize_uid
from cardsystem.errors import NotFound


class CardUnknown(NotFound):
    code = "card_unknown"
    default_message = "No card has this UID."


def card_get_by_uid(*, uid: str) -> Card:
    """The card with the UID, with its holder; raises CardUnknown. The UID is normalised first."""
    normalized = normalize_uid(uid)
    card = (
        Card.objects.select_related("holder__institution", "holder__price_category", "staff_user")
        .filter(uid=normalized)
        .first()
    )
    if card is None:
        raise CardUnknown()
    return card


def holder_list_for_guardian(*, user: User) -> QuerySet[Cardholder]:
    """Every guardian query starts here, so another family's holder is never reachable."""
    return Cardholder.objects.filter(guardianships__guardian=user)


def card_find(*, text: str) -> Card:
    """A card by chip UID or by printed number, as a member of staff types either at a till."""
    try:
        return card_get_by_uid(uid=text)
    except (CardUnknown, InvalidUid):
        pass
    card = (
        Card.objects.select_related("holder__institution", "holder__price_category", "staff_user")
        .filter(number=text.strip())
        .first()
    )
    if card is None:
        raise CardUnknown(_("No card has this number or UID."))
    return card
