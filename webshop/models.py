"""The institution webshop [SK]: trips, camps and events that guardians pay for, with or without a card.

An item belongs to one institution and is offered to the cardholders of chosen groups (all of the
institution's when none is chosen). An order buys one place for one cardholder; it is paid at the
payment provider or, where the item allows it, from the cardholder's extra balance. Every paid
order is one ledger movement to the institution's revenue account, and a refund is another.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Institution, User
from cards.models import Cardholder
from payments.models import LedgerTransaction, Payment


class ShopItem(models.Model):
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="shop_items", verbose_name=_("institution")
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    price_cents = models.BigIntegerField(_("price (minor units)"))
    deadline = models.DateTimeField(_("order by"))
    capacity = models.PositiveIntegerField(_("places"), null=True, blank=True, help_text=_("Leave empty for no limit."))
    choice_label = models.CharField(
        _("choice asked"), max_length=100, blank=True, help_text=_("For example “T-shirt size”. Leave empty for none.")
    )
    balance_allowed = models.BooleanField(_("may be paid from the card balance"), default=False)
    active = models.BooleanField(_("on sale"), default=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Set by the statement that claims sending the announcement, so it goes out once.
    announced_at = models.DateTimeField(_("announced"), null=True, blank=True)

    class Meta:
        verbose_name = _("webshop item")
        verbose_name_plural = _("webshop items")
        ordering = ["deadline", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_cents__gt=0), name="shop_item_price_positive"),
            models.CheckConstraint(
                condition=models.Q(capacity__isnull=True) | models.Q(capacity__gt=0), name="shop_item_capacity_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ShopItemGroup(models.Model):
    """A group/class the item is offered to (matches `Cardholder.group` at the item's institution)."""

    item = models.ForeignKey(ShopItem, on_delete=models.CASCADE, related_name="groups")
    group = models.CharField(_("group or class"), max_length=40)

    class Meta:
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        constraints = [models.UniqueConstraint(fields=["item", "group"], name="shop_item_group_unique")]

    def __str__(self) -> str:
        return self.group


class ShopItemOption(models.Model):
    """One answer to the item's choice (e.g. a T-shirt size)."""

    item = models.ForeignKey(ShopItem, on_delete=models.CASCADE, related_name="options")
    # Its own context: the canteen's "option" is a menu dish.
    label = models.CharField(pgettext_lazy("webshop", "option"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = pgettext_lazy("webshop", "option")
        verbose_name_plural = pgettext_lazy("webshop", "options")
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["item", "label"], name="shop_item_option_unique")]

    def __str__(self) -> str:
        return self.label


class ShopOrder(models.Model):
    """One place on an item for one cardholder, bought by a guardian."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting payment")
        PAID = "paid", _("Paid")
        REFUNDED = "refunded", _("Refunded")

    class PaidWith(models.TextChoices):
        PROVIDER = "provider", _("Payment card")
        BALANCE = "balance", _("Extra balance")

    class RefundTo(models.TextChoices):
        BALANCE = "balance", _("Extra balance")
        PROVIDER = "provider", _("Payment card")

    item = models.ForeignKey(ShopItem, on_delete=models.PROTECT, related_name="orders", verbose_name=_("item"))
    holder = models.ForeignKey(
        Cardholder, on_delete=models.PROTECT, related_name="shop_orders", verbose_name=_("cardholder")
    )
    guardian = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="shop_orders", verbose_name=_("bought by")
    )
    option = models.ForeignKey(
        ShopItemOption, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("choice")
    )
    price_cents = models.BigIntegerField(_("price (minor units)"))
    paid_with = models.CharField(_("paid with"), max_length=10, choices=PaidWith.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="shop_order")
    sale_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="shop_sale"
    )
    created_at = models.DateTimeField(_("ordered"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    # A refund: where the money went, who decided, and its movement.
    refund_to = models.CharField(_("refunded to"), max_length=10, choices=RefundTo.choices, blank=True)
    refund_reason = models.CharField(_("reason for the refund"), max_length=300, blank=True)
    refunded_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("refunded by")
    )
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)
    refund_reference = models.CharField(_("provider's refund reference"), max_length=100, blank=True)
    refund_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="shop_refund"
    )
    receipt_mailed = models.BooleanField(_("receipt e-mailed"), default=False)

    class Meta:
        verbose_name = _("webshop order")
        verbose_name_plural = _("webshop orders")
        ordering = ["-created_at", "-pk"]
        permissions = [("refund_shoporder", _("Can refund a webshop order"))]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_cents__gt=0), name="shop_order_price_positive"),
            # One place per cardholder and item: a second paid order cannot exist.
            models.UniqueConstraint(
                fields=["item", "holder"], condition=models.Q(status="paid"), name="shop_order_one_paid_per_holder"
            ),
            # Paid or refunded exactly when the sale's movement exists; refunded exactly with its refund.
            models.CheckConstraint(
                condition=models.Q(status="pending", sale_transaction__isnull=True)
                | (~models.Q(status="pending") & models.Q(sale_transaction__isnull=False)),
                name="shop_order_paid_has_sale",
            ),
            models.CheckConstraint(
                condition=models.Q(status="refunded", refund_transaction__isnull=False)
                | (~models.Q(status="refunded") & models.Q(refund_transaction__isnull=True)),
                name="shop_order_refunded_has_refund",
            ),
            models.CheckConstraint(
                condition=models.Q(paid_with="balance") | models.Q(payment__isnull=False),
                name="shop_order_provider_has_payment",
            ),
        ]
        indexes = [models.Index(fields=["item", "status"], name="shop_order_item_status")]

    def __str__(self) -> str:
        return f"{self.item} · {self.holder}"

    @property
    def receipt_number(self) -> str:
        return f"W{self.pk:06d}"
