"""Back office of the webshop: items (with their groups and choices), who has paid, and refunds.

Office staff create items for their own institutions; the list of who has paid and who has not
is per item and group, on screen, as CSV and as PDF; a paid order is refunded from its page.
Everything is scoped to the staff member's institutions (cards.scoping).
"""

import csv
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from cards.scoping import InstitutionFilter, InstitutionScoped
from cardsystem.csv_cells import csv_text_cell
from cardsystem.errors import DomainError
from cardsystem.forms import MoneyField, errors_beside_fields
from cardsystem.money import cents_to_str
from webshop.forms import RefundForm
from webshop.mails import item_announce_queue
from webshop.models import ShopItem, ShopItemGroup, ShopItemOption, ShopOrder
from webshop.orders import order_refund, places_taken
from webshop.selectors import PaidListRow, item_paid_list


class ShopItemForm(forms.ModelForm):
    price_cents = MoneyField(label=_("price"), min_cents=1, help_text=_("For example 250.00."))

    class Meta:
        model = ShopItem
        fields = [
            "institution", "name", "description", "price_cents", "deadline", "capacity", "choice_label",
            "balance_allowed", "active",
        ]  # fmt: skip


class ShopItemGroupInline(admin.TabularInline):
    model = ShopItemGroup
    extra = 1
    verbose_name_plural = _("groups (none: every cardholder of the institution)")


class ShopItemOptionInline(admin.TabularInline):
    model = ShopItemOption
    extra = 1
    verbose_name_plural = _("options of the choice")


@admin.register(ShopItem)
class ShopItemAdmin(InstitutionScoped, admin.ModelAdmin):
    form = ShopItemForm
    inlines = [ShopItemGroupInline, ShopItemOptionInline]
    list_display = ["name", "institution", "price", "deadline", "places", "active", "paid_list"]
    list_filter = [InstitutionFilter, "active"]
    list_select_related = ["institution"]
    search_fields = ["name"]
    date_hierarchy = "deadline"

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: ShopItem) -> str:
        return cents_to_str(obj.price_cents)

    @admin.display(description=_("places taken"))
    def places(self, obj: ShopItem) -> str:
        taken = places_taken(item=obj)
        return f"{taken} / {obj.capacity}" if obj.capacity is not None else str(taken)

    @admin.display(description=_("who has paid"))
    def paid_list(self, obj: ShopItem) -> SafeString:
        return format_html('<a href="{}">{}</a>', reverse("admin:webshop_shopitem_paid", args=[obj.pk]), _("List"))

    def save_model(self, request: HttpRequest, obj: ShopItem, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        item_announce_queue(item=form.instance)  # after the groups: they decide who is told

    def get_urls(self) -> list[URLPattern]:
        paid = path("<int:item_id>/paid/", self.admin_site.admin_view(self.paid_view), name="webshop_shopitem_paid")
        return [paid, *super().get_urls()]

    def paid_view(self, request: HttpRequest, item_id: int) -> HttpResponse:
        """Who has paid and who has not, per group: on screen, `?format=csv` or `?format=pdf`."""
        item = self.get_queryset(request).filter(pk=item_id).first()
        if item is None or not self.has_view_permission(request, item):
            raise Http404()
        groups = sorted(
            set(item.groups.values_list("group", flat=True))
            or set(item.institution.cardholders.exclude(group="").values_list("group", flat=True))
        )
        group = request.GET.get("group") or None
        if group is not None and group not in groups:
            group = None
        rows = item_paid_list(item=item, group=group)
        paid = sum(1 for row in rows if row.paid)
        context: dict[str, Any] = {
            "item": item,
            "rows": rows,
            "groups": groups,
            "group": group,
            "paid_count": paid,
            "unpaid_count": len(rows) - paid,
            "generated_at": timezone.localtime(timezone.now(), item.institution.zone),
        }
        output = request.GET.get("format")
        if output == "csv":
            return _paid_csv(item=item, rows=rows)
        if output == "pdf":
            from weasyprint import HTML  # loading pango is slow: only when a PDF is asked for

            html = render_to_string("webshop/paid_list_pdf.html", context)
            response = HttpResponse(bytes(HTML(string=html).write_pdf()), content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="paid-{item.pk}.pdf"'
            return response
        context |= {**self.admin_site.each_context(request), "opts": self.model._meta, "title": item.name}
        return TemplateResponse(request, "admin/webshop/shopitem/paid_list.html", context)


def _status_label(row: PaidListRow) -> str:
    if row.order is None:
        return gettext("Not paid")
    if row.order.status == ShopOrder.Status.PENDING:
        return gettext("Not paid")
    return str(row.order.get_status_display())


def _paid_csv(*, item: ShopItem, rows: list[PaidListRow]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="paid-{item.pk}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [gettext("Cardholder"), gettext("Group"), gettext("Status"), item.choice_label or gettext("Choice"),
         gettext("Price"), gettext("Paid with"), gettext("Paid"), gettext("Receipt number")]
    )  # fmt: skip
    for row in rows:
        order = row.order if row.order is not None and row.order.status != ShopOrder.Status.PENDING else None
        writer.writerow(
            [
                csv_text_cell(row.holder.name),
                csv_text_cell(row.holder.group),
                _status_label(row),
                csv_text_cell(order.option.label) if order and order.option else "",
                cents_to_str(order.price_cents) if order else "",
                order.get_paid_with_display() if order else "",
                timezone.localtime(order.paid_at).isoformat(timespec="minutes") if order and order.paid_at else "",
                order.receipt_number if order else "",
            ]
        )
    return response


@admin.register(ShopOrder)
class ShopOrderAdmin(InstitutionScoped, admin.ModelAdmin):
    institution_field = "item__institution"
    list_display = ["receipt", "item", "holder", "status", "price", "paid_with", "paid_at", "guardian"]
    list_filter = ["status", "paid_with"]
    list_select_related = ["item", "holder", "guardian"]
    search_fields = ["holder__name", "item__name", "guardian__email"]
    fields = readonly_fields = (
        "item", "holder", "guardian", "option", "price", "paid_with", "status", "payment", "paid_at",
        "refund_to", "refund_reason", "refunded_by", "refunded_at", "refund_reference", "refund_link",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webshop.refund_shoporder")

    @admin.display(description=_("receipt"), ordering="pk")
    def receipt(self, obj: ShopOrder) -> str:
        return obj.receipt_number

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: ShopOrder) -> str:
        return cents_to_str(obj.price_cents)

    @admin.display(description=_("refund"))
    def refund_link(self, obj: ShopOrder) -> SafeString | str:
        if obj.status != ShopOrder.Status.PAID:
            return "—"
        url = reverse("admin:webshop_shoporder_refund", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Refund…"))

    def get_urls(self) -> list[URLPattern]:
        refund = path(
            "<int:order_id>/refund/", self.admin_site.admin_view(self.refund_view), name="webshop_shoporder_refund"
        )
        return [refund, *super().get_urls()]

    def refund_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        """Refund a paid order to the extra balance or through the provider (`order_refund`)."""
        if not self.has_refund_permission(request):
            raise PermissionDenied
        order = get_object_or_404(
            self.get_queryset(request).select_related("item__institution", "payment"), pk=order_id
        )
        form = RefundForm(request.POST or None, order=order)
        if request.method == "POST" and form.is_valid():
            assert isinstance(request.user, User)
            try:
                order_refund(
                    order=order,
                    refund_to=form.cleaned_data["refund_to"],
                    reason=form.cleaned_data["reason"],
                    by=request.user,
                )
            except DomainError as error:
                errors_beside_fields(form, error)
            else:
                self.message_user(request, gettext("The order is refunded."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:webshop_shoporder_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Refund %(receipt)s") % {"receipt": order.receipt_number},
            "intro": gettext("%(item)s for %(holder)s, %(price)s paid with %(paid_with)s.")
            % {
                "item": order.item.name,
                "holder": order.holder.name,
                "price": cents_to_str(order.price_cents),
                "paid_with": order.get_paid_with_display(),
            },
            "form": form,
            "button": gettext("Refund"),
            "opts": self.model._meta,
            "has_view_permission": True,
        }
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(request, "admin/payouts/tool_form.html", context, status=status)
