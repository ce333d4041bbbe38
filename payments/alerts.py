"""Low-balance e-mails: one per crossing of the guardian's level, on the main and the extra balance alike.

`LedgerAccount.low_balance_alerted` is the "told" flag. It is set by one UPDATE that also checks
the balance is still below the alert level and the flag was not set yet, so a crossing reported
twice (by the ledger's hook and by the sweep, or by two workers) is mailed once. The ledger clears
the flag when a credit brings the balance back to the level (`payments.ledger.movement_post`);
the sweep does it for anything that slipped past.

Call these outside a transaction: the flags commit before the mail server is asked, so no ledger
row stays locked while it answers. When sending fails, the flags of the accounts not yet mailed are
cleared again and the error raised: the next sweep retries them.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import mail
from django.db import connection
from django.template.loader import render_to_string
from django.utils import translation

from accounts.language import user_language
from accounts.models import User
from cards.models import Guardianship
from payments.models import LedgerAccount

logger = logging.getLogger(__name__)

# Flags found accounts as told, in the same statement that finds them (RETURNING: PostgreSQL, SQLite ≥ 3.35).
_FLAG = (
    "UPDATE payments_ledgeraccount SET low_balance_alerted = TRUE "
    "WHERE NOT low_balance_alerted AND alert_below_cents IS NOT NULL AND balance_cents < alert_below_cents{only} "
    "RETURNING id, holder_id, kind, balance_cents, alert_below_cents"
)
_REARM_ALL = (
    "UPDATE payments_ledgeraccount SET low_balance_alerted = FALSE "
    "WHERE low_balance_alerted AND (alert_below_cents IS NULL OR balance_cents >= alert_below_cents)"
)
# The guardian portal's home (README), where balances are topped up and alerts changed.
PORTAL_PATH = "/portal/"
_CHUNK = 900  # ids per statement: under SQLite's limit of bound parameters


@dataclass(frozen=True)
class LowBalance:
    account_id: int
    holder_id: int
    kind: str
    balance_cents: int
    level_cents: int


def low_balance_alerts_send(*, account_ids: Sequence[int]) -> int:
    """Mail the guardians of each of these accounts that is below its alert level and not told yet.

    Returns how many accounts were newly flagged (each mailed to every guardian of its holder).
    """
    found: list[LowBalance] = []
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        only = " AND id IN ({})".format(", ".join(["%s"] * len(chunk)))
        found += _flag(_FLAG.format(only=only), chunk)
    _mail(found)
    return len(found)


def low_balance_sweep() -> tuple[int, int]:
    """The safety net (Celery beat): re-arm every told account back at or above its level, then mail
    every account below its level and not told yet. Two set-based statements whatever the number
    of cardholders. Returns (re-armed, mailed)."""
    with connection.cursor() as cursor:
        cursor.execute(_REARM_ALL)
        rearmed = cursor.rowcount
    found = _flag(_FLAG.format(only=""), [])
    _mail(found)
    if found or rearmed:
        logger.info("low-balance sweep: %s accounts re-armed, %s mailed", rearmed, len(found))
    return rearmed, len(found)


def _flag(sql: str, params: Sequence[Any]) -> list[LowBalance]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [LowBalance(*row) for row in cursor.fetchall()]


def _message(low: LowBalance, *, holder_name: str, guardian: User, portal_url: str) -> mail.EmailMessage:
    with translation.override(user_language(guardian)):
        context = {
            "holder_name": holder_name,
            "balance_label": str(LedgerAccount.Kind(low.kind).label),
            "balance_cents": low.balance_cents,
            "level_cents": low.level_cents,
            "portal_url": portal_url,
        }
        subject = " ".join(render_to_string("payments/email/low_balance_subject.txt", context).split())
        body = render_to_string("payments/email/low_balance_body.txt", context)
    return mail.EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [guardian.email])


def _mail(found: Sequence[LowBalance]) -> None:
    """One e-mail per account and guardian of its holder (each guardian sees only their own address)."""
    if not found:
        return
    guardians: dict[int, list[Guardianship]] = defaultdict(list)
    holder_ids = sorted({low.holder_id for low in found})
    for start in range(0, len(holder_ids), _CHUNK):
        for link in Guardianship.objects.filter(
            holder_id__in=holder_ids[start : start + _CHUNK], guardian__is_active=True
        ).select_related("guardian", "holder"):
            guardians[link.holder_id].append(link)
    portal_url = settings.SITE_URL.rstrip("/") + PORTAL_PATH
    sent = 0
    try:
        with mail.get_connection() as smtp:
            for low in found:
                messages = [
                    _message(low, holder_name=link.holder.name, guardian=link.guardian, portal_url=portal_url)
                    for link in guardians[low.holder_id]
                ]
                if messages:
                    smtp.send_messages(messages)
                sent += 1
    except Exception:
        _unflag([low.account_id for low in found[sent:]])
        raise


def _unflag(account_ids: Sequence[int]) -> None:
    """Clear the flags of accounts whose mail did not go out, so the next sweep tries again."""
    for start in range(0, len(account_ids), _CHUNK):
        LedgerAccount.objects.filter(pk__in=account_ids[start : start + _CHUNK]).update(low_balance_alerted=False)
