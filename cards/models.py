"""Cardholders, their guardians, and the chip cards they carry."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, User


class PriceCategory(models.Model):
    """The meal price category of a cardholder, e.g. grades 1–4 or low-income grades 5–9 [SL]."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("price category")
        verbose_name_plural = _("price categories")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Cardholder(models.Model):
    """A pupil, resident, or guardian with a card of their own; owns a main and an extra balance."""

    name = models.CharField(_("name"), max_length=200)
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="cardholders", verbose_name=_("institution")
    )
    group = models.CharField(_("group or class"), max_length=40, blank=True)
    photo = models.ImageField(_("photo"), upload_to="photos/", blank=True)
    allergy_note = models.CharField(_("allergy or diet note"), max_length=300, blank=True)
    price_category = models.ForeignKey(
        PriceCategory, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("price category")
    )
    guardians = models.ManyToManyField(User, through="Guardianship", related_name="wards", blank=True)
    low_balance_alert_cents = models.BigIntegerField(
        _("low balance alert (minor units)"),
        null=True,
        blank=True,
        help_text=_("Guardians are told when the main balance falls below this."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the office when the pupil leaves; after the retention period the holder is anonymised
    # (name and photo gone, the ledger's sums kept).
    left_at = models.DateField(_("left on"), null=True, blank=True)
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True)

    class Meta:
        verbose_name = _("cardholder")
        verbose_name_plural = _("cardholders")
        ordering = ["name"]
        indexes = [models.Index(fields=["institution", "group"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(low_balance_alert_cents__isnull=True) | models.Q(low_balance_alert_cents__gte=0),
                name="cardholder_low_balance_alert_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Guardianship(models.Model):
    guardian = models.ForeignKey(User, on_delete=models.CASCADE, related_name="guardianships")
    holder = models.ForeignKey(Cardholder, on_delete=models.CASCADE, related_name="guardianships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["guardian", "holder"], name="guardianship_unique")]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.holder}"


class Card(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")
        DEBT_BLOCKED = "debt_blocked", _("Blocked for debt")
        REPLACED = "replaced", _("Replaced")
        LOST = "lost", _("Lost")
        RETURNED = "returned", _("Returned")

    class Kind(models.TextChoices):
        REGULAR = "regular", _("Regular")
        TEACHER = "teacher", _("Teacher")
        CASHIER = "cashier", _("Cashier")
        LOANER = "loaner", _("Loaner")

    uid = models.CharField(_("chip UID"), max_length=20, unique=True, help_text=_("Upper-case hex."))
    number = models.CharField(_("printed number"), max_length=20, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.REGULAR)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(_("reason for the status"), max_length=200, blank=True)
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="cards")
    staff_user = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff_cards",
        help_text=_("The member of staff a teacher or cashier card belongs to."),
    )
    daily_limit_cents = models.BigIntegerField(_("daily limit (minor units)"), null=True, blank=True)
    activation_code = models.CharField(_("activation code"), max_length=40, blank=True)
    # A loaner card lent for a forgotten one works until this moment (the end of the school day) [SL].
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    issued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(daily_limit_cents__isnull=True) | models.Q(daily_limit_cents__gte=0),
                name="card_daily_limit_not_negative",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=["regular", "loaner"], holder__isnull=False)
                    | models.Q(kind__in=["teacher", "cashier"], staff_user__isnull=False)
                ),
                name="card_belongs_to_holder_or_staff",
            ),
            models.CheckConstraint(condition=~models.Q(uid=""), name="card_uid_not_empty"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.ACTIVE


class ReplacementOrder(models.Model):
    """A guardian's order for a new card; the office's print queue. The old card is blocked for good
    when the order is made, whatever happens to the fee."""

    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
        ORDERED = "ordered", _("Ordered: to be printed")
        ISSUED = "issued", _("Issued")
        CANCELLED = "cancelled", _("Cancelled")

    class PaidWith(models.TextChoices):
        BALANCE = "balance", _("Extra balance")
        PROVIDER = "provider", _("Payment")
        FREE = "free", _("No fee")

    old_card = models.OneToOneField(Card, on_delete=models.PROTECT, related_name="replacement_order")
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="replacement_orders")
    ordered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="replacement_orders")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    fee_cents = models.BigIntegerField(_("fee (minor units)"))
    paid_with = models.CharField(_("paid with"), max_length=10, choices=PaidWith.choices)
    new_card = models.OneToOneField(
        Card, on_delete=models.PROTECT, null=True, blank=True, related_name="replacing_order"
    )
    created_at = models.DateTimeField(_("ordered at"), auto_now_add=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)

    class Meta:
        verbose_name = _("replacement card order")
        verbose_name_plural = _("replacement card orders")
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(fee_cents__gte=0), name="replacement_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.holder} · {self.old_card}"


class CardIssuance(models.Model):
    """A card handed out at an institution's office after an identity check [SE][PZ].

    One row each time a card is handed out: a new card once, a loaner card every time it is lent
    (its holder changes from one day to the next, so the row keeps whom it was lent to). The
    issuance register prints these rows for signatures.
    """

    class Document(models.TextChoices):
        PASSPORT = "passport", _("Passport")
        NATIONAL_ID = "national_id", _("National identity card")
        DRIVING_LICENCE = "driving_licence", _("Driving licence")
        HEALTH_CARD = "health_card", _("Health insurance card")
        RESIDENCE_PERMIT = "residence_permit", _("Residence permit")
        PUPIL_ID = "pupil_id", _("Pupil or student identity card")
        KNOWN_PERSONALLY = "known_personally", _("Known personally by the member of staff")

    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="issuances", verbose_name=_("card"))
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="card_issuances", verbose_name=_("institution")
    )
    # The cardholder the card was handed out for (empty for a teacher or cashier card).
    holder = models.ForeignKey(
        Cardholder,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="card_issuances",
        verbose_name=_("cardholder"),
    )
    received_by = models.CharField(
        _("received by"),
        max_length=200,
        help_text=_("The person who collected the card and signs the register: the cardholder or a guardian."),
    )
    document_type = models.CharField(_("identity document"), max_length=20, choices=Document.choices)
    checked_by = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("identity checked by")
    )
    issued_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name=_("issued by"))
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    # 0: handed out free (a first card, a loaner, a replacement already paid); else the fee taken.
    fee_cents = models.BigIntegerField(_("fee (minor units)"), default=0)
    replacement_order = models.OneToOneField(
        ReplacementOrder,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="issuance",
        verbose_name=_("replacement order"),
    )

    class Meta:
        verbose_name = _("card issuance")
        verbose_name_plural = _("card issuances")
        ordering = ["issued_at", "pk"]
        indexes = [models.Index(fields=["institution", "issued_at"], name="card_issuance_register")]
        constraints = [
            models.CheckConstraint(condition=models.Q(fee_cents__gte=0), name="card_issuance_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.card} · {self.received_by}"

    @property
    def charged(self) -> bool:
        return self.fee_cents > 0
