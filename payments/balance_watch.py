"""The levels watched on each cardholder balance, copied onto its ledger account.

Two things want to know when a balance falls below a level: the guardian's low-balance e-mail
(`Cardholder.low_balance_alert_cents`, on the main and the extra balance alike) and an automatic
top-up (`AutoTopUp.threshold_cents`, on one balance). `payments.ledger.movement_post` notices a
crossing from the account row it already holds under lock, so the levels live on that row too:

- `alert_below_cents`: the holder's alert level (re-arming the e-mail, the sweep);
- `watch_below_cents`: the highest level anyone watches (the crossing that queues
  `payments.balances_fell`).

Call `balance_watch_refresh` after changing either source, in the same transaction.
"""

from django.db import transaction
from django.db.models import Case, F, Value, When

from cards.models import Cardholder
from cards.services import UNCHANGED, Unchanged, holder_limits_set
from payments.models import AutoTopUp, LedgerAccount


def balance_watch_refresh(*, holder: Cardholder) -> None:
    """Recompute both accounts' levels from the holder's alert and its active, unpaused top-ups.

    An account whose balance is at or above the new alert level (or that has no alert any more)
    is re-armed, so its next fall below the level sends an e-mail again. One below a level newly
    set above it stays as it is; the sweep mails it if it was not told yet.
    """
    alert = Cardholder.objects.filter(pk=holder.pk).values_list("low_balance_alert_cents", flat=True).get()
    thresholds = dict(
        AutoTopUp.objects.filter(holder_id=holder.pk, active=True, paused_reason="").values_list(
            "balance", "threshold_cents"
        )
    )
    with transaction.atomic():
        for kind in LedgerAccount.HOLDER_KINDS:
            levels = [level for level in (alert, thresholds.get(kind)) if level is not None]
            alerted: Case | Value = (
                Value(False)
                if alert is None
                else Case(When(balance_cents__gte=alert, then=Value(False)), default=F("low_balance_alerted"))
            )
            LedgerAccount.objects.filter(holder_id=holder.pk, kind=kind).update(
                alert_below_cents=alert, watch_below_cents=max(levels) if levels else None, low_balance_alerted=alerted
            )


def holder_settings_save(
    *,
    holder: Cardholder,
    daily_limit_cents: int | Unchanged | None = UNCHANGED,
    low_balance_alert_cents: int | Unchanged | None = UNCHANGED,
) -> Cardholder:
    """Set a cardholder's daily limit and low-balance alert (None removes one, UNCHANGED keeps it),
    and the levels the ledger watches, in one transaction. Use this, not `holder_limits_set` alone."""
    with transaction.atomic():
        holder_limits_set(
            holder=holder, daily_limit_cents=daily_limit_cents, low_balance_alert_cents=low_balance_alert_cents
        )
        balance_watch_refresh(holder=holder)
    return holder
