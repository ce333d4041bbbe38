from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from canteen.selectors import card_spent_today_fact
from canteen.services import card_refusal
from cards.models import Card
from cards.selectors import card_get_by_uid
from cardsystem.rawsql import adapt_datetime
from payments.ledger import HolderAccounts, holder_accounts_get
from terminals.models import DisplayState, Scan, Terminal, TerminalToken
from terminals.tokens import token_digest, token_generate


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
    return ScanResult(scan=scan, card=card, balances=balances, spent_today_cents=spent or 0, reason=reason)


def scan_record(*, terminal: Terminal, uid: str) -> ScanResult:
    """Record a card read at the terminal, so its staff screen shows the cardholder."""
    card = card_get_by_uid(uid=uid)
    return scan_describe(card=card, scan=scan_insert(terminal=terminal, card=card))


def scan_insert(*, terminal: Terminal, card: Card) -> Scan:
    """Record a card read: a fixed statement, as every card held to a reader makes one (cardsystem.rawsql)."""
    scan = Scan(terminal=terminal, card=card)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO terminals_scan (terminal_id, card_id, created_at) VALUES (%s, %s, %s) RETURNING id",
            [terminal.pk, card.pk, adapt_datetime(scan.created_at)],
        )
        scan.pk = cursor.fetchone()[0]
    scan._state.adding = False
    scan._state.db = connection.alias
    return scan


def display_update(*, terminal: Terminal, payload: dict[str, object]) -> DisplayState:
    """Replace what the till's customer display shows; the version lets the display notice."""
    with transaction.atomic():
        state, _created = DisplayState.objects.select_for_update().get_or_create(terminal=terminal)
        state.version += 1
        state.payload = payload
        state.updated_at = timezone.now()
        state.save()
    return state
