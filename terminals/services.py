import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.tokens import token_digest, token_generate
from canteen.meal_calendar import meal_today
from canteen.models import MealOrder
from canteen.selectors import card_spent_today_fact
from canteen.services import card_refusal
from cards.models import Card
from cards.selectors import card_get_by_uid
from cardsystem.errors import DomainError, InvalidRequest
from cardsystem.money import InvalidAmount, str_to_cents
from cardsystem.rawsql import adapt_datetime
from payments.ledger import HolderAccounts, holder_accounts_get
from terminals.models import DisplayState, Scan, Terminal, TerminalToken


def terminal_token_issue(*, terminal: Terminal) -> str:
    """Issue a new token and return it; only its digest is kept, so this is the one time it is seen."""
    token = token_generate()
    TerminalToken.objects.create(terminal=terminal, digest=token_digest(token), prefix=token[:8])
    return token


def terminal_token_revoke(*, token: TerminalToken) -> TerminalToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


@dataclass(frozen=True)
class ScanResult:
    """What a till shows for a scanned card."""

    scan: Scan
    card: Card
    balances: HolderAccounts | None
    spent_today_cents: int
    reason: str | None
    meal_today: MealOrder | None = None

    @property
    def can_buy(self) -> bool:
        return self.reason is None


def scan_describe(*, card: Card, scan: Scan) -> ScanResult:
    refusal = card_refusal(card=card)
    balances = spent = None
    if card.holder is not None:
        balances = holder_accounts_get(
            holder_id=card.holder.pk,
            facts={"spent_today": card_spent_today_fact(card=card, zone=card.holder.institution.zone)},
        )
        spent = balances.facts["spent_today"]
    reason = refusal.code if refusal else None
    if reason is None and balances is not None:
        main = balances.main
        if main.floor_cents < 0 and main.balance_cents <= main.floor_cents:
            reason = "debt_limit_reached"
        elif card.daily_limit_cents is not None and spent is not None and spent >= card.daily_limit_cents:
            reason = "daily_limit_exceeded"
        elif balances.extra.balance_cents <= 0:
            reason = "insufficient_funds"
    meal = meal_today(holder=card.holder) if card.holder is not None else None
    return ScanResult(
        scan=scan, card=card, balances=balances, spent_today_cents=spent or 0, reason=reason, meal_today=meal
    )


class SequenceReused(DomainError):
    code = "sequence_reused"
    default_message = _("This read number was already used for another card; the terminal's counter was reset.")


def scan_record(
    *, terminal: Terminal, uid: str, sequence: int | None = None, read_at: dt.datetime | None = None
) -> ScanResult:
    """Record a card read at the terminal, so its staff screen shows the cardholder.

    A read with a sequence number is recorded once: sent again (an agent retrying, or emptying
    its offline queue), it answers as the first time and records nothing.
    """
    card = card_get_by_uid(uid=uid)
    if sequence is None:
        return scan_describe(card=card, scan=scan_insert(terminal=terminal, card=card))
    try:
        with transaction.atomic():
            scan = scan_insert(terminal=terminal, card=card, sequence=sequence, read_at=read_at)
    except IntegrityError:
        scan = Scan.objects.get(terminal=terminal, sequence=sequence)
        if scan.card_id != card.pk:
            raise SequenceReused() from None
    return scan_describe(card=card, scan=scan)


def scan_insert(
    *, terminal: Terminal, card: Card, sequence: int | None = None, read_at: dt.datetime | None = None
) -> Scan:
    """Record a card read: a fixed statement, as every card held to a reader makes one (cardsystem.rawsql)."""
    scan = Scan(terminal=terminal, card=card, sequence=sequence, read_at=read_at)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO terminals_scan (terminal_id, card_id, created_at, sequence, read_at) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            [
                terminal.pk,
                card.pk,
                adapt_datetime(scan.created_at),
                sequence,
                adapt_datetime(read_at) if read_at else None,
            ],
        )
        scan.pk = cursor.fetchone()[0]
    scan._state.adding = False
    scan._state.db = connection.alias
    return scan


def scan_sequence_gaps(*, terminal: Terminal, since: dt.datetime) -> list[int]:
    """Read numbers missing between the terminal's lowest and highest since then: reads lost on the way."""
    numbers = sorted(
        n
        for n in Scan.objects.filter(terminal=terminal, sequence__isnull=False, created_at__gte=since).values_list(
            "sequence", flat=True
        )
        if n is not None
    )
    present = set(numbers)
    return [n for n in range(numbers[0], numbers[-1]) if n not in present] if numbers else []


DISPLAY_STATES = ("idle", "order", "done", "refused")
DISPLAY_MAX_LINES = 50


def _money(value: Any, field: str) -> str | None:
    if value is None:
        return None
    try:
        str_to_cents(value)
    except InvalidAmount:
        raise InvalidRequest(fields={field: [_("Not an amount.")]}) from None
    return str(value).strip()


def display_payload_clean(payload: Any) -> dict[str, Any]:
    """Keep only what a customer may see: first name, the order, the total and the balance.

    The display faces the queue, so class, allergies and the full name never reach it, whatever
    the till sends.
    """
    if not isinstance(payload, dict):
        raise InvalidRequest(fields={"payload": [_("Expected an object.")]})
    state = payload.get("state")
    if state not in DISPLAY_STATES:
        raise InvalidRequest(fields={"state": [_("Unknown display state.")]})
    name = payload.get("first_name") or ""
    if not isinstance(name, str):
        raise InvalidRequest(fields={"first_name": [_("Expected text.")]})
    first_name = name.split()[0][:60] if name.split() else ""
    raw_lines = payload.get("lines") or []
    if not isinstance(raw_lines, list) or len(raw_lines) > DISPLAY_MAX_LINES:
        raise InvalidRequest(fields={"lines": [_("Expected a list of lines.")]})
    lines = []
    for line in raw_lines:
        if not isinstance(line, dict) or not isinstance(line.get("name"), str):
            raise InvalidRequest(fields={"lines": [_("Every line needs a name.")]})
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 999:
            raise InvalidRequest(fields={"lines": [_("Every quantity must be at least 1.")]})
        lines.append({"name": line["name"][:100], "quantity": quantity, "total": _money(line.get("total"), "lines")})
    return {
        "state": state,
        "first_name": first_name,
        "lines": lines,
        "total": _money(payload.get("total"), "total"),
        "balance": _money(payload.get("balance"), "balance"),
    }


def display_update(*, terminal: Terminal, payload: Any) -> DisplayState:
    """Replace what the till's customer display shows; the version lets the display notice.

    The payload is cleaned here, whoever calls, so nothing but what a queue may see reaches it.
    """
    payload = display_payload_clean(payload)
    with transaction.atomic():
        state, _created = DisplayState.objects.select_for_update().get_or_create(terminal=terminal)
        state.version += 1
        state.payload = payload
        state.updated_at = timezone.now()
        state.save()
    return state
