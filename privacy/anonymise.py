"""Cardholders who left are anonymised once RETENTION_DAYS_AFTER_LEAVING have passed.

What identifies the person goes: the name becomes "Anonymised <id>", the photo is deleted, the
allergy note cleared, the guardians unlinked (and their automatic top-ups with them), the cards'
activation codes cleared. The ledger is not touched: its rows are append-only and its sums stay
exactly as they were, so every balance and `ledger_check` are unchanged; the cardholder row stays
for the ledger accounts, sales and meal orders that point at it.
"""

import datetime as dt
import logging

from django.conf import settings
from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from cards.models import Card, Cardholder, Guardianship
from payments.models import AutoTopUp

logger = logging.getLogger(__name__)


def anonymised_name(holder_id: int) -> str:
    # Stored data, not text shown in one language: the same in every language.
    return f"Anonymised {holder_id}"


def holders_anonymise_due(*, now: dt.datetime | None = None) -> int:
    """Anonymise every cardholder who left more than the retention period ago; returns how many.

    Idempotent: an anonymised cardholder is not touched again. Each cardholder in its own
    transaction, so one failure does not hold back the others (the next run retries it).
    """
    moment = now or timezone.now()
    cutoff = timezone.localdate(moment) - dt.timedelta(days=settings.RETENTION_DAYS_AFTER_LEAVING)
    due = Cardholder.objects.filter(left_at__lt=cutoff, anonymised_at__isnull=True).values_list("pk", flat=True)
    count = 0
    for holder_id in list(due):
        try:
            if holder_anonymise(holder_id=holder_id, now=moment):
                count += 1
        except Exception:
            logger.exception("Cardholder %s could not be anonymised", holder_id)
    return count


def holder_anonymise(*, holder_id: int, now: dt.datetime | None = None) -> bool:
    """Anonymise one cardholder; False if it already was (the row is locked and re-read)."""
    moment = now or timezone.now()
    with transaction.atomic():
        holder = (
            Cardholder.objects.select_for_update()
            .select_related("institution")
            .filter(pk=holder_id, anonymised_at__isnull=True)
            .first()
        )
        if holder is None:
            return False
        photo = holder.photo.name
        storage = holder.photo.storage
        holder.name = anonymised_name(holder.pk)
        holder.photo = ""
        holder.allergy_note = ""
        holder.anonymised_at = moment
        holder.save(update_fields=["name", "photo", "allergy_note", "anonymised_at"])
        guardianships, _kinds = Guardianship.objects.filter(holder=holder).delete()
        auto_topups, _kinds = AutoTopUp.objects.filter(holder=holder).delete()
        codes = Card.objects.filter(holder=holder).exclude(activation_code="").update(activation_code="")
        audit_record(
            actor=None,
            action="holder.anonymised",
            target=holder,
            institution=holder.institution,
            reason="retention period after leaving passed",
            details={
                "left_at": holder.left_at.isoformat() if holder.left_at else None,
                "retention_days": settings.RETENTION_DAYS_AFTER_LEAVING,
                "guardianships_removed": guardianships,
                "auto_topups_removed": auto_topups,
                "activation_codes_cleared": codes,
                "photo_deleted": bool(photo),
            },
        )
        if photo:
            # The file goes only once the row no longer names it: a rollback keeps both.
            transaction.on_commit(lambda: _file_delete(storage=storage, name=photo))
    return True


def _file_delete(*, storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        logger.exception("The photo %s could not be deleted", name)
