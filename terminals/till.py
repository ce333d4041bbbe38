"""The staff till screen: which tills a member of staff may use, typed card reads, sales, the customer display.

Every query for a till starts from the user's canteen (or admin) memberships, so another
institution's till is never reachable: not found and not yours look the same.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from accounts.models import Role, User
from accounts.selectors import institutions_for_staff
from canteen.models import Sale
from canteen.services import LineRequest, purchase_create
from cards.models import Card
from cardsystem.errors import InvalidRequest, NotFound
from terminals.models import Scan, Terminal
from terminals.services import ScanResult, scan_describe, scan_insert


class TerminalNotFound(NotFound):
    pass


def till_user_is_staff(*, user: User) -> bool:
    """Whether the user serves at any canteen: only they may open the till screens."""
    return institutions_for_staff(user=user, role=Role.CANTEEN).exists()


def till_terminals_for_staff(*, user: User) -> QuerySet[Terminal]:
    """The active tills at the institutions where the user is canteen staff or administrator."""
    return Terminal.objects.filter(
        kind=Terminal.Kind.TILL,
        is_active=True,
        institution__in=institutions_for_staff(user=user, role=Role.CANTEEN),
    ).select_related("institution")


def till_terminal_get(*, user: User, terminal_id: int) -> Terminal:
    terminal = till_terminals_for_staff(user=user).filter(pk=terminal_id).first()
    if terminal is None:
        raise TerminalNotFound()
    return terminal


def till_newest_scan_id(*, user: User, terminal_id: int, after: int) -> int | None:
    """The id of the till's newest scan if it is newer than `after`, else None.

    The till screen asks this several times a second, so the access check and the look-up are one
    query, and the look-up walks the (terminal, -id) index from its newest end.
    """
    newest = Scan.objects.filter(terminal=OuterRef("pk"), pk__gt=after).order_by("-pk").values("pk")[:1]
    row = (
        till_terminals_for_staff(user=user)
        .filter(pk=terminal_id)
        .annotate(newest=Subquery(newest))
        .values_list("pk", "newest")
        .first()
    )
    if row is None:
        raise TerminalNotFound()
    return row[1]


def till_scan_get(*, terminal_id: int, scan_id: int) -> ScanResult:
    """A scan made at this till, described as the staff screen shows it."""
    scan = Scan.objects.select_related("card__holder__institution").filter(terminal_id=terminal_id, pk=scan_id).first()
    if scan is None:
        raise NotFound()
    return scan_describe(card=scan.card, scan=scan)


def scan_record_card(*, terminal: Terminal, card: Card) -> ScanResult:
    """Record a card typed in at the till (by hand, or by a USB reader acting as a keyboard)."""
    return scan_describe(card=card, scan=scan_insert(terminal=terminal, card=card))


def till_sale_create(
    *, terminal: Terminal, user: User, scan_id: int | None, lines: Sequence[LineRequest], payment: str
) -> Sale:
    """Sell at the till to the card of one of its scans (a cash sale may have no card).

    The card is taken from a scan at this very till, so the sale goes to the pupil the staff saw.
    """
    card = None
    if scan_id is not None:
        scan = Scan.objects.select_related("card__holder__institution").filter(terminal=terminal, pk=scan_id).first()
        if scan is None:
            raise InvalidRequest(fields={"scan": [_("No such card read at this till.")]})
        card = scan.card
    return purchase_create(
        institution=terminal.institution,
        card=card,
        lines=lines,
        payment=payment,
        place=terminal.name,
        terminal_id=terminal.pk,
        sold_by=user,
    )


@dataclass(frozen=True)
class DisplayView:
    version: int
    payload: dict[str, Any]


def till_display_get(*, user: User, terminal_id: int) -> DisplayView:
    """What the till's customer display shows now; one query, as the display asks often."""
    row = (
        till_terminals_for_staff(user=user)
        .filter(pk=terminal_id)
        .values_list("pk", "display__version", "display__payload")
        .first()
    )
    if row is None:
        raise TerminalNotFound()
    _pk, version, payload = row
    return DisplayView(version=version or 0, payload=payload or {})
