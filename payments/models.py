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
