"""The buffet: products, sales and their receipts."""

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, User
from cards.models import Card, Cardholder
from payments.models import LedgerTransaction


class ProductCategory(models.Model):
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="product_categories")
    name = models.CharField(_("name"), max_length=100)
    # The code is shared across institutions, so that a guardian's block on "sweets" holds everywhere.
    code = models.SlugField(_("code"), max_length=40)

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="category_code_unique")]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="products")
    category = models.ForeignKey(ProductCategory, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(_("name"), max_length=100)
    price_cents = models.BigIntegerField(_("price (minor units)"))
    is_active = models.BooleanField(_("on sale"), default=True)
    position = models.PositiveSmallIntegerField(_("position on the till"), default=0)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["position", "name"]
        constraints = [models.CheckConstraint(condition=models.Q(price_cents__gt=0), name="product_price_positive")]

    def __str__(self) -> str:
        return self.name


class HolderCategoryBlock(models.Model):
    """A product category a guardian does not allow a cardholder to buy with the card."""

    holder = models.ForeignKey(Cardholder, on_delete=models.CASCADE, related_name="category_blocks")
    category_code = models.SlugField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["holder", "category_code"], name="category_block_unique")]

    def __str__(self) -> str:
        return f"{self.holder} · {self.category_code}"


def new_receipt_token() -> str:
    return secrets.token_urlsafe(16)


class Sale(models.Model):
    class Payment(models.TextChoices):
        CARD = "card", _("Card")
        CASH = "cash", _("Cash")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="sales")
    place = models.CharField(_("place"), max_length=100, help_text=_("The till's name."))
    terminal_id = models.BigIntegerField(null=True, blank=True)
    card = models.ForeignKey(Card, on_delete=models.PROTECT, null=True, blank=True, related_name="sales")
    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, null=True, blank=True, related_name="sales")
    payment = models.CharField(_("payment"), max_length=10, choices=Payment.choices)
    total_cents = models.BigIntegerField(_("total (minor units)"))
    extra_after_cents = models.BigIntegerField(null=True, blank=True)
    main_after_cents = models.BigIntegerField(null=True, blank=True)
    sold_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cashier_card = models.ForeignKey(Card, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    ledger_transaction = models.OneToOneField(LedgerTransaction, on_delete=models.PROTECT, related_name="sale")
    receipt_token = models.CharField(max_length=32, unique=True, default=new_receipt_token)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("sale")
        verbose_name_plural = _("sales")
        constraints = [models.CheckConstraint(condition=models.Q(total_cents__gt=0), name="sale_total_positive")]
        indexes = [
            models.Index(fields=["card", "created_at"], name="sale_card_day"),
            models.Index(fields=["institution", "created_at"], name="sale_institution_day"),
        ]

    def __str__(self) -> str:
        return self.receipt_number

    @property
    def receipt_number(self) -> str:
        """Unique per institution: the institution's number, then the sale's own id.

        Derived rather than counted, so no counter row serialises the tills of a school.
        """
        prefix = self.institution.school_number or f"I{self.institution_id}"
        return f"{prefix}-{self.pk:07d}"


class SaleLine(models.Model):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    unit_price_cents = models.BigIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="sale_line_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"

    @property
    def line_total_cents(self) -> int:
        return self.unit_price_cents * self.quantity
