"""The double-entry ledger.

Amounts are credit-positive: what the system owes grows positive (a cardholder's balance, revenue),
what it holds or is owed grows negative (cash in the drawer, money the provider will settle), so
every transaction's entries sum to zero. Only `payments.ledger` writes these rows.
"""

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, User
from cards.models import Cardholder


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        MAIN = "main", _("Main balance")
        EXTRA = "extra", _("Extra balance")
        PROVIDER_CLEARING = "provider_clearing", _("Payment provider clearing")
        REVENUE = "revenue", _("Institution revenue")
        CARD_FEES = "card_fees", _("Card fees")
        PAYOUT_CLEARING = "payout_clearing", _("Payout clearing")
        PAYOUT_SENT = "payout_sent", _("Payouts sent to the bank")
        BANK = "bank", _("Bank (paid out)")
        PAYOUT_COSTS = "payout_costs", _("Payout costs")
        CASH = "cash", _("Cash")
        CORRECTIONS = "corrections", _("Corrections")

    HOLDER_KINDS = (Kind.MAIN, Kind.EXTRA)

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    holder = models.ForeignKey(
        Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_accounts"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_accounts"
    )
    # Cached for cardholder accounts only; a system account's balance is the sum of its entries,
    # because one row updated by every sale would serialise all the tills.
    balance_cents = models.BigIntegerField(_("balance (minor units)"), default=0)
    floor_cents = models.BigIntegerField(_("lowest allowed balance (minor units)"), default=0)
    # Set when the low-balance e-mail went out; cleared when the balance is back at or above the level,
    # so a guardian gets one e-mail per crossing.
    low_balance_alerted = models.BooleanField(_("low-balance e-mail sent"), default=False)
    # Copies of the levels set elsewhere (kept by `payments.balance_watch.balance_watch_refresh`), so the
    # ledger sees a balance fall below one from the row it already locks, without another query:
    # the guardian's alert level, and the highest level anyone watches (the alert or an automatic top-up).
    alert_below_cents = models.BigIntegerField(_("low-balance alert level (minor units)"), null=True, blank=True)
    watch_below_cents = models.BigIntegerField(_("watched level (minor units)"), null=True, blank=True)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance_cents__gte=models.F("floor_cents")), name="ledger_account_above_floor"
            ),
            models.CheckConstraint(condition=models.Q(floor_cents__lte=0), name="ledger_account_floor_not_positive"),
            models.CheckConstraint(
                condition=~models.Q(kind="extra") | models.Q(floor_cents=0), name="ledger_account_extra_no_overdraft"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=["main", "extra"], holder__isnull=False)
                    | (~models.Q(kind__in=["main", "extra"]) & models.Q(holder__isnull=True, balance_cents=0))
                ),
                name="ledger_account_holder_kinds",
            ),
            models.UniqueConstraint(
                fields=["holder", "kind"],
                condition=models.Q(holder__isnull=False),
                name="ledger_account_one_per_holder_kind",
            ),
            models.UniqueConstraint(
                fields=["kind", "institution"],
                condition=models.Q(holder__isnull=True, institution__isnull=False),
                name="ledger_account_one_per_institution_kind",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(holder__isnull=True, institution__isnull=True),
                name="ledger_account_one_global_kind",
            ),
        ]

    def __str__(self) -> str:
        owner = self.holder or self.institution or _("system")
        return f"{self.get_kind_display()} · {owner}"


class AppendOnlyModel(models.Model):
    """Ledger rows are never changed or removed; a mistake is mended by a compensating transaction.

    PostgreSQL enforces this with triggers too; this guard catches it earlier in Python.
    """

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} rows are append-only")


class LedgerTransaction(AppendOnlyModel):
    class Kind(models.TextChoices):
        SALE = "sale", _("Purchase")
        CASH_SALE = "cash_sale", _("Cash purchase")
        TOPUP = "topup", _("Top-up")
        MEAL = "meal", _("Meal")
        TRANSFER = "transfer", _("Transfer")
        CORRECTION = "correction", _("Correction")
        FEE = "fee", _("Fee")
        REFUND = "refund", _("Refund")
        OPENING = "opening", _("Opening balance")
        WEBSHOP = "webshop", _("Webshop purchase")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"


class LedgerEntry(AppendOnlyModel):
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount_cents = models.BigIntegerField(_("amount (minor units)"))
    # The holder account's balance right after this entry (history shows it); null on system accounts.
    balance_after_cents = models.BigIntegerField(_("balance after (minor units)"), null=True, blank=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [models.CheckConstraint(condition=~models.Q(amount_cents=0), name="ledger_entry_not_zero")]
        indexes = [models.Index(fields=["account", "transaction"], name="ledger_entry_account_txn")]

    def __str__(self) -> str:
        return f"{self.account}: {self.amount_cents}"


class IdempotencyRecord(models.Model):
    """The first answer to a money-moving request, replayed for the same caller and key."""

    caller = models.CharField(max_length=40)
    key = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="idempotency_caller_key_unique")]

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"


class PaymentMandate(models.Model):
    """A guardian's saved permission to charge their payment card later (automatic top-up)."""

    guardian = models.ForeignKey(User, on_delete=models.CASCADE, related_name="payment_mandates")
    provider = models.CharField(_("provider"), max_length=20)
    reference = models.CharField(_("provider's reference"), max_length=64, unique=True)
    label = models.CharField(_("card"), max_length=60, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment mandate")
        verbose_name_plural = _("payment mandates")

    def __str__(self) -> str:
        return self.label or self.reference


class AutoTopUp(models.Model):
    """Refill one balance with `amount_cents` when it falls below `threshold_cents`."""

    holder = models.ForeignKey(Cardholder, on_delete=models.CASCADE, related_name="auto_topups")
    balance = models.CharField(
        _("balance"), max_length=10, choices=[(k.value, k.label) for k in LedgerAccount.HOLDER_KINDS]
    )
    threshold_cents = models.BigIntegerField(_("below (minor units)"))
    amount_cents = models.BigIntegerField(_("amount (minor units)"))
    mandate = models.ForeignKey(PaymentMandate, on_delete=models.CASCADE, related_name="auto_topups")
    guardian = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auto_topups")
    active = models.BooleanField(_("active"), default=True)
    # Set while a refund is requested (payouts), so money is not paid in and out at once.
    paused_reason = models.CharField(_("paused because"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("automatic top-up")
        verbose_name_plural = _("automatic top-ups")
        constraints = [
            models.UniqueConstraint(fields=["holder", "balance"], name="auto_topup_one_per_balance"),
            models.CheckConstraint(
                condition=models.Q(threshold_cents__gte=0), name="auto_topup_threshold_not_negative"
            ),
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="auto_topup_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.holder} · {self.balance}"


class Payment(models.Model):
    """One payment at the provider: a top-up (split over cardholders' balances), a card fee or a webshop purchase.

    Money moves only when the provider's signed callback says it succeeded; a payment leaves
    `pending` once, under a row lock, so a repeated callback credits nothing twice.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Paid")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    class Purpose(models.TextChoices):
        TOPUP = "topup", _("Top-up")
        AUTO_TOPUP = "auto_topup", _("Automatic top-up")
        CARD_FEE = "card_fee", _("Replacement card fee")
        WEBSHOP = "webshop", _("Webshop purchase")

    guardian = models.ForeignKey(User, on_delete=models.PROTECT, related_name="payments")
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    amount_cents = models.BigIntegerField(_("amount (minor units)"))
    provider = models.CharField(_("provider"), max_length=20)
    # Our public id of the payment at the provider (random: it appears in URLs).
    reference = models.CharField(_("reference"), max_length=64, unique=True)
    save_mandate = models.BooleanField(_("save the card for automatic top-up"), default=False)
    mandate = models.ForeignKey(
        PaymentMandate, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    auto_topup = models.ForeignKey(AutoTopUp, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments")
    replacement = models.ForeignKey(
        "cards.ReplacementOrder", on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="payment"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    # The e-mail about the outcome went out (set in the same statement that claims sending it).
    guardian_notified = models.BooleanField(_("guardian e-mailed"), default=False)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="payment_amount_positive"),
            models.UniqueConstraint(
                fields=["auto_topup"],
                condition=models.Q(status="pending", auto_topup__isnull=False),
                name="payment_one_pending_per_auto_topup",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="payment_status_expiry")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_purpose_display()} {self.get_status_display()}"


class PaymentAllocation(models.Model):
    """The part of a top-up meant for one cardholder's balance."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="payment_allocations")
    balance = models.CharField(
        _("balance"), max_length=10, choices=[(k.value, k.label) for k in LedgerAccount.HOLDER_KINDS]
    )
    amount_cents = models.BigIntegerField(_("amount (minor units)"))

    class Meta:
        verbose_name = _("top-up allocation")
        verbose_name_plural = _("top-up allocations")
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="payment_allocation_positive"),
            models.UniqueConstraint(fields=["payment", "holder", "balance"], name="payment_allocation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.holder} {self.balance} {self.amount_cents}"


class Correction(models.Model):
    """An office correction of one cardholder balance [PZ]: a top-up the system missed is credited, a
    mistaken one taken back, after the receipt was checked.

    Up to CORRECTION_FOUR_EYES_ABOVE_CENTS (either way) it is applied when asked; above it, it waits
    until a different office user approves it (four eyes). Applied, it is one ledger movement between
    the corrections account and the balance (`payments.corrections`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    holder = models.ForeignKey(
        Cardholder, on_delete=models.PROTECT, related_name="corrections", verbose_name=_("cardholder")
    )
    # The holder's institution when asked: who may approve it (a pupil may move meanwhile).
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("institution")
    )
    balance = models.CharField(
        _("balance"), max_length=10, choices=[(k.value, k.label) for k in LedgerAccount.HOLDER_KINDS]
    )
    # Positive: money credited to the balance; negative: money taken from it.
    amount_cents = models.BigIntegerField(_("amount (minor units)"))
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name=_("asked by"))
    requested_at = models.DateTimeField(_("asked"), default=timezone.now, db_index=True)
    # The second office user who approved or rejected it; empty when it was applied at once.
    decided_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("decided by")
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=300, blank=True)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="correction"
    )

    class Meta:
        verbose_name = _("correction")
        verbose_name_plural = _("corrections")
        ordering = ["-requested_at", "-pk"]
        permissions = [
            ("approve_correction", _("Can approve or reject a correction")),
            ("move_main_to_extra", _("Can move money from a main to an extra balance")),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount_cents=0), name="correction_amount_not_zero"),
            models.CheckConstraint(condition=~models.Q(reason=""), name="correction_reason_given"),
            # Four eyes: whoever decides is not who asked.
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True) | ~models.Q(decided_by=models.F("requested_by")),
                name="correction_four_eyes",
            ),
            # Applied exactly when its movement exists.
            models.CheckConstraint(
                condition=models.Q(status="applied", ledger_transaction__isnull=False)
                | (~models.Q(status="applied") & models.Q(ledger_transaction__isnull=True)),
                name="correction_applied_has_movement",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.holder} · {self.get_status_display()}"
