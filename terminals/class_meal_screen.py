"""The teacher's info-terminal screen: which info terminals a member of staff may use, and the teacher
card laid on (or typed at) the terminal.

Every query for a terminal starts from the user's teacher (or administrator) memberships, so
another institution's terminal is never reachable: not found and not yours look the same.
"""

from django.db.models import QuerySet

from accounts.models import Role, User
from accounts.selectors import institutions_for_staff
from canteen.class_meals import class_meal_teacher_check
from cards.models import Card
from cards.selectors import card_find
from cardsystem.errors import NotFound
from terminals.models import Scan, Terminal


class InfoTerminalNotFound(NotFound):
    pass


def class_meal_user_is_teacher(*, user: User) -> bool:
    """Whether the user teaches at any institution: only they may open the class-meal screens."""
    return institutions_for_staff(user=user, role=Role.TEACHER).exists()


def info_terminals_for_staff(*, user: User) -> QuerySet[Terminal]:
    """The active info terminals at the institutions where the user is a teacher or administrator."""
    return Terminal.objects.filter(
        kind=Terminal.Kind.INFO,
        is_active=True,
        institution__in=institutions_for_staff(user=user, role=Role.TEACHER),
    ).select_related("institution")


def info_terminal_get(*, user: User, terminal_id: int) -> Terminal:
    terminal = info_terminals_for_staff(user=user).filter(pk=terminal_id).first()
    if terminal is None:
        raise InfoTerminalNotFound()
    return terminal


def info_terminal_newest_card(*, terminal: Terminal, after: int) -> tuple[int, str] | None:
    """(scan id, card number) of the terminal's newest card read if newer than `after`, else None.

    The terminal's agent reports each card laid on the reader (`POST /api/v1/terminal/scans`); the
    screen asks this about once a second and takes a teacher card it finds as the teacher's.
    """
    row = Scan.objects.filter(terminal=terminal, pk__gt=after).order_by("-pk").values_list("pk", "card__number").first()
    if row is None:
        return None
    return row[0], row[1]


def teacher_card_find(*, terminal: Terminal, text: str) -> Card:
    """The teacher card whose number or UID was typed or read at the terminal; raises CardUnknown or
    NotATeacherCard."""
    card = card_find(text=text)
    class_meal_teacher_check(institution=terminal.institution, card=card)
    return card


def teacher_card_get(*, terminal: Terminal, card_id: int) -> Card:
    """The teacher card remembered for this terminal, checked again (it may have been blocked since)."""
    card = Card.objects.filter(pk=card_id).select_related("staff_user").first()
    if card is None:
        raise NotFound()
    class_meal_teacher_check(institution=terminal.institution, card=card)
    return card
