"""Refunds of remaining balances and the payout batches that pay them [SK][PZ][NK].

A refund request names the cardholder and the payee: a CPR number (paid to the payee's NemKonto)
or an IBAN (a SEPA transfer). The CPR is stored encrypted (`payouts.crypto`), never in clear.
Office staff approve it: the balance moves to payout clearing less the payout cost. Finance builds
batches of approved refunds, a second finance user approves each batch (four eyes), it is exported
as a file for the bank, sent, and settled by the bank's return file; a rejected payment's money
goes back to clearing and the refund back to the office.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, User
from cards.models import Cardholder
from payments.models import LedgerTransaction


class PayeeKind(models.TextChoices):
    CPR = "cpr", _("CPR number (NemKonto)")
    IBAN = "iban", _("IBAN")


class RefundRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved: awaiting payout")
        REJECTED = "rejected", _("Rejected")
        IN_BATCH = "in_batch", _("In a payout batch")
        PAID = "paid", _("Paid")
        RETURNED = "returned", _("Returned by the bank: to correct")
        NOTHING_TO_PAY = "nothing_to_pay", _("Nothing to pay after costs")

    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="refund_requests")
    # The holder's institution when asked, for scoping staff (a pupil may move later).
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="refund_requests")
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="refund_requests")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.REQUESTED)
    payee_name = models.CharField(_("payee name"), max_length=200)
    payee_kind = models.CharField(_("paid by"), max_length=10, choices=PayeeKind.choices)
    # MultiFernet token of the CPR number (payouts.crypto); empty for an IBAN payee.
    payee_cpr_token = models.TextField(blank=True)
    payee_iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    payee_bic = models.CharField(_("BIC"), max_length=11, blank=True)
    # Set when approved: the balance moved, the cost kept, what is paid out.
    balance_cents = models.BigIntegerField(null=True, blank=True)
    cost_cents = models.BigIntegerField(null=True, blank=True)
    amount_cents = models.BigIntegerField(null=True, blank=True)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="refund"
    )
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)

    class Meta:
        verbose_name = _("refund request")
        verbose_name_plural = _("refund requests")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(payee_kind="cpr", payee_iban="") | models.Q(payee_kind="iban", payee_cpr_token=""),
                name="refund_one_kind_of_payee",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__isnull=True) | models.Q(amount_cents__gte=0),
                name="refund_amount_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder} · {self.get_status_display()}"


class PayoutBatch(models.Model):
    class Kind(models.TextChoices):
        NEMKONTO = "nemkonto", _("NemKonto")
        SEPA = "sepa", _("SEPA credit transfer")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")
        EXPORTED = "exported", _("Exported")
        SENT = "sent", _("Sent")
        SETTLED = "settled", _("Settled")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    payment_date = models.DateField(_("payment date"))
    built_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    built_at = models.DateTimeField(_("built"), default=timezone.now)
    approved_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("payout batch")
        verbose_name_plural = _("payout batches")
        ordering = ["-built_at", "-pk"]
        constraints = [
            # Four eyes [NK]: the approver is not the builder (a batch built by the schedule has no builder).
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True)
                | models.Q(built_by__isnull=True)
                | ~models.Q(approved_by=models.F("built_by")),
                name="payout_batch_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.payment_date.isoformat()} #{self.pk}"


class Payout(models.Model):
    """One payment of a batch: a refund's amount to its payee. A refund paid again after a return
    gets a new payout in a new batch."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        STOPPED = "stopped", _("Stopped")
        EXPORTED = "exported", _("Exported")
        RECEIVED = "received", _("Received by the bank")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected")

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="payouts")
    refund = models.ForeignKey(RefundRequest, on_delete=models.PROTECT, related_name="payouts")
    amount_cents = models.BigIntegerField()
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    # The end-to-end reference in the bank file and its return file.
    reference = models.CharField(_("reference"), max_length=35, unique=True)
    return_code = models.CharField(_("return code"), max_length=10, blank=True)
    return_text = models.CharField(_("return reason"), max_length=200, blank=True)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        ordering = ["batch", "pk"]
        constraints = [models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="payout_amount_positive")]

    def __str__(self) -> str:
        return self.reference


class ReturnFileImport(models.Model):
    """A bank return file read in; the same file again (by its digest) changes nothing."""

    sha256 = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=200)
    imported_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    imported_at = models.DateTimeField(default=timezone.now)
    summary = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("return file")
        verbose_name_plural = _("return files")
        ordering = ["-imported_at"]

    def __str__(self) -> str:
        return self.filename
