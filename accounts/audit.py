"""The audit trail: every money or back-office action writes one entry (who, when, what, why)."""

from typing import Any

from django.db import models

from accounts.models import AuditEntry, Institution, User


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    institution: Institution | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one entry in the caller's transaction, so the entry exists exactly when the action does.

    `details` must hold no personal numbers: pass a masked CPR (`payouts.crypto.cpr_masked`), never
    the number.
    """
    return AuditEntry.objects.create(
        actor=actor,
        institution=institution,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        reason=reason,
        details=details or {},
    )
