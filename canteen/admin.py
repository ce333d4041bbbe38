"""Back office for the buffet: product categories, products, category blocks, and sales to read."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from canteen.models import HolderCategoryBlock, Product, ProductCategory, Sale, SaleLine
from cardsystem.forms import MoneyField
from cardsystem.money import cents_to_str
from payments.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline


@admin.register(ProductCategory)
class ProductCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "institution"]
    list_filter = ["institution"]
    list_select_related = ["institution"]
    search_fields = ["name", "code"]


class ProductForm(forms.ModelForm):
    price_cents = MoneyField(label=_("price"), min_cents=1, help_text=_("For example 25.00."))

    class Meta:
        model = Product
        fields = ["institution", "category", "name", "price_cents", "is_active", "position"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        institution, category = cleaned.get("institution"), cleaned.get("category")
        if institution is not None and category is not None and category.institution_id != institution.pk:
            self.add_error("category", _("Choose a category of the product's own institution."))
        return cleaned


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = ["name", "institution", "category", "price", "is_active", "position"]
    list_filter = ["institution", "is_active"]
    list_select_related = ["institution", "category"]
    search_fields = ["name"]

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: Product) -> str:
        return cents_to_str(obj.price_cents)


@admin.register(HolderCategoryBlock)
class HolderCategoryBlockAdmin(admin.ModelAdmin):
    list_display = ["holder", "category_code"]
    list_select_related = ["holder"]
    search_fields = ["holder__name", "=category_code"]
    autocomplete_fields = ["holder"]


class SaleLineInline(ReadOnlyTabularInline):
    model = SaleLine
    fields = readonly_fields = ("name", "unit_price", "quantity", "line_total")

    @admin.display(description=_("unit price"))
    def unit_price(self, obj: SaleLine) -> str:
        return cents_to_str(obj.unit_price_cents)

    @admin.display(description=_("total"))
    def line_total(self, obj: SaleLine) -> str:
        return cents_to_str(obj.line_total_cents)


@admin.register(Sale)
class SaleAdmin(ReadOnlyModelAdmin):
    """Sales are made at the till by `canteen.services`; here they are only read."""

    list_display = ["receipt_number", "institution", "place", "payment", "total", "created_at", "receipt"]
    list_filter = ["institution", "payment"]
    list_select_related = ["institution"]
    search_fields = ["=card__number", "holder__name"]
    fields = readonly_fields = (
        "receipt_number",
        "institution",
        "place",
        "payment",
        "total",
        "card",
        "holder",
        "extra_after",
        "main_after",
        "sold_by",
        "cashier_card",
        "ledger_transaction",
        "created_at",
        "receipt",
    )
    inlines = [SaleLineInline]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Sale]:
        # The receipt number is derived from the institution's school number.
        return super().get_queryset(request).select_related("institution")

    @admin.display(description=_("receipt number"), ordering="pk")
    def receipt_number(self, obj: Sale) -> str:
        return obj.receipt_number

    @admin.display(description=_("total"), ordering="total_cents")
    def total(self, obj: Sale) -> str:
        return cents_to_str(obj.total_cents)

    @admin.display(description=_("extra balance after"))
    def extra_after(self, obj: Sale) -> str | None:
        return None if obj.extra_after_cents is None else cents_to_str(obj.extra_after_cents)

    @admin.display(description=_("main balance after"))
    def main_after(self, obj: Sale) -> str | None:
        return None if obj.main_after_cents is None else cents_to_str(obj.main_after_cents)

    @admin.display(description=_("receipt"))
    def receipt(self, obj: Sale) -> SafeString:
        url = reverse("canteen:receipt", args=[obj.receipt_token])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, _("Receipt"))


# The meal models' admin lives in its own module; importing it registers it.
from canteen import meal_admin  # noqa: E402, F401
