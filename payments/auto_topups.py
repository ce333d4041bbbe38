"""Automatic top-up: when a balance falls below the guardian's level, charge a set amount to a saved card.

The trigger is the ledger's balance watch (payments.balance_watch): a debit that takes a watched
balance below its level queues `auto_topups_trigger` after the commit. At most one payment per rule
is pending (a partial unique index), so a burst of purchases charges once. A rule is paused while a
refund is requested. The guardian is e-mailed about every charge (payments.payment_mails).
"""

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from cardsystem.errors import InvalidRequest, NotFound
from payments.models import AutoTopUp, LedgerAccount, Payment, PaymentAllocation, PaymentMandate
from payments.providers import provider_get
from payments.topups import BelowMinimum, payment_reference_new


def _watch_refresh(holder: Cardholder) -> None:
    from payments.balance_watch import balance_watch_refresh

    balance_watch_refresh(holder=holder)


def auto_topup_set(
    *,
    guardian: User,
    holder_id: int,
    balance: str,
    threshold_cents: int,
    amount_cents: int,
    mandate_id: int,
) -> AutoTopUp:
    """Create or change the rule for one of the guardian's cardholders' balances."""
    holder = holder_list_for_guardian(user=guardian).filter(pk=holder_id).first()
    mandate = PaymentMandate.objects.filter(pk=mandate_id, guardian=guardian, revoked_at__isnull=True).first()
    if holder is None or mandate is None:
        raise NotFound()
    if balance not in LedgerAccount.HOLDER_KINDS:
        raise InvalidRequest(fields={"balance": [_("A balance is main or extra.")]})
    if threshold_cents < 0:
        raise InvalidRequest(fields={"threshold": [_("The level cannot be negative.")]})
    if amount_cents < settings.TOPUP_MINIMUM_CENTS:
        raise BelowMinimum()
    with transaction.atomic():
        rule, _created = AutoTopUp.objects.update_or_create(
            holder=holder,
            balance=balance,
            defaults={
                "threshold_cents": threshold_cents,
                "amount_cents": amount_cents,
                "mandate": mandate,
                "guardian": guardian,
                "active": True,
            },
        )
        _watch_refresh(holder)
        # Already below the level: top up now rather than wait for the next purchase.
        account_id = (
            LedgerAccount.objects.filter(holder=holder, kind=balance, balance_cents__lt=threshold_cents)
            .values_list("pk", flat=True)
            .first()
        )
        if account_id is not None:
            transaction.on_commit(lambda: auto_topups_trigger(account_ids=[account_id]))
    return rule


def auto_topup_stop(*, guardian: User, rule_id: int) -> None:
    rule = AutoTopUp.objects.filter(pk=rule_id, holder__in=holder_list_for_guardian(user=guardian)).first()
    if rule is None:
        raise NotFound()
    with transaction.atomic():
        rule.active = False
        rule.save(update_fields=["active"])
        _watch_refresh(rule.holder)


def auto_topups_pause(*, holder: Cardholder, reason: str) -> int:
    """Pause the holder's rules (a refund is requested); returns how many were paused."""
    with transaction.atomic():
        count = AutoTopUp.objects.filter(holder=holder, paused_reason="").update(paused_reason=reason)
        _watch_refresh(holder)
    return count


def auto_topups_resume(*, holder: Cardholder) -> int:
    with transaction.atomic():
        count = AutoTopUp.objects.filter(holder=holder).exclude(paused_reason="").update(paused_reason="")
        _watch_refresh(holder)
    return count


def auto_topups_trigger(*, account_ids: Iterable[int]) -> list[Payment]:
    """Start a mandate payment for every active rule whose balance is below its level now."""
    started = []
    for account in LedgerAccount.objects.filter(pk__in=list(account_ids), holder__isnull=False):
        rule = (
            AutoTopUp.objects.filter(
                holder_id=account.holder_id,
                balance=account.kind,
                active=True,
                paused_reason="",
                threshold_cents__gt=account.balance_cents,
                mandate__revoked_at__isnull=True,
            )
            .select_related("mandate", "guardian")
            .first()
        )
        if rule is None:
            continue
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    guardian=rule.guardian,
                    purpose=Payment.Purpose.AUTO_TOPUP,
                    amount_cents=rule.amount_cents,
                    provider=settings.PAYMENT_PROVIDER,
                    reference=payment_reference_new(),
                    mandate=rule.mandate,
                    auto_topup=rule,
                    expires_at=timezone.now() + dt.timedelta(minutes=settings.PAYMENT_EXPIRY_MINUTES),
                )
                PaymentAllocation.objects.create(
                    payment=payment, holder_id=rule.holder_id, balance=rule.balance, amount_cents=rule.amount_cents
                )
        except IntegrityError:
            continue  # a payment for this rule is already pending: one at a time
        started.append(payment)
        provider_get(payment.provider).mandate_charge(payment=payment)
    return started
