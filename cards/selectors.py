from functools import cache

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts.models import Institution, User
from cards.models import Card, Cardholder
from cards.uids import InvalidUid, normalize_uid
from cardsystem.errors import NotFound
from cardsystem.rawsql import column_count, instance, select_columns


class CardUnknown(NotFound):
    code = "card_unknown"
    default_message = _lazy("No card has this UID.")


@cache
def _card_sql() -> str:
    return (
        f"SELECT {select_columns(Card, 'c')}, {select_columns(Cardholder, 'h')}, {select_columns(Institution, 'i')} "  # noqa: S608 - columns from model metadata
        "FROM cards_card c "
        "LEFT JOIN cards_cardholder h ON h.id = c.holder_id "
        "LEFT JOIN accounts_institution i ON i.id = h.institution_id "
        "WHERE c.uid = %s"
    )


def card_get_by_uid(*, uid: str) -> Card:
    """The card with the UID, with its holder and the holder's institution; raises CardUnknown.

    The UID is normalised first. Every scan and purchase asks this, so it is one fixed statement
    (cardsystem.rawsql); a staff card's user is loaded only when asked for.
    """
    normalized = normalize_uid(uid)
    with connection.cursor() as cursor:
        cursor.execute(_card_sql(), [normalized])
        row = cursor.fetchone()
    if row is None:
        raise CardUnknown()
    card_end = column_count(Card)
    holder_end = card_end + column_count(Cardholder)
    card = instance(Card, row[:card_end])
    if card.holder_id is not None:
        holder = instance(Cardholder, row[card_end:holder_end])
        holder.institution = instance(Institution, row[holder_end:])
        card.holder = holder
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
