"""The ledger, for reading only.

Ledger rows are append-only and written by `payments.ledger` alone: nobody, superusers included,
adds, changes or deletes them here. A mistake is mended by a compensating transaction.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from cardsystem.money import cents_to_str
from payments.models import IdempotencyRecord, LedgerAccount, LedgerEntry, LedgerTransaction


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Viewable by whoever holds the view permission; never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyTabularInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any) -> bool:  # type: ignore[override]
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _money(cents: int | None) -> str | None:
    return None if cents is None else cents_to_str(cents)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyModelAdmin):
    list_display = ["__str__", "kind", "holder", "institution", "balance", "floor"]
    list_filter = ["kind"]
    list_select_related = ["holder", "institution"]
    search_fields = ["holder__name", "institution__name"]
    fields = readonly_fields = (
        "kind",
        "holder",
        "institution",
        "current_balance",
        "floor",
        "entries_link",
        "office_tools",
    )

    @admin.display(description=_("balance"))
    def balance(self, obj: LedgerAccount) -> str | None:
        """A cardholder account's cached balance. A system account keeps none (DESIGN.md): its
        balance, the sum of its entries, is shown on its own page, not once per row of the list."""
        return cents_to_str(obj.balance_cents) if obj.holder_id is not None else None

    @admin.display(description=_("balance"))
    def current_balance(self, obj: LedgerAccount) -> str:
        if obj.holder_id is not None:
            return cents_to_str(obj.balance_cents)
        total = obj.entries.aggregate(total=Sum("amount_cents"))["total"]
        return cents_to_str(total or 0)

    @admin.display(description=_("lowest allowed balance"))
    def floor(self, obj: LedgerAccount) -> str | None:
        return cents_to_str(obj.floor_cents) if obj.holder_id is not None else None

    @admin.display(description=_("entries"))
    def entries_link(self, obj: LedgerAccount) -> SafeString:
        url = reverse("admin:payments_ledgerentry_changelist") + f"?account={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Entries of this account"))

    @admin.display(description=_("office"))
    def office_tools(self, obj: LedgerAccount) -> SafeString | str:
        """Links to the office's money forms for this cardholder balance (they check who may use them)."""
        if obj.holder_id is None:
            return ""
        correct = reverse("admin:payments_correction_add") + f"?holder={obj.holder_id}&balance={obj.kind}"
        links = format_html('<a href="{}">{}</a>', correct, _("Correct this balance"))
        if obj.kind == LedgerAccount.Kind.MAIN:
            move = reverse("admin:payments_correction_move") + f"?holder={obj.holder_id}"
            links = format_html('{} · <a href="{}">{}</a>', links, move, _("Move money to extra"))
        return links


class LedgerEntryInline(ReadOnlyTabularInline):
    model = LedgerEntry
    fields = readonly_fields = ("account", "amount", "balance_after")

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEntry]:
        return super().get_queryset(request).select_related("account__holder", "account__institution")

    @admin.display(description=_("amount"))
    def amount(self, obj: LedgerEntry) -> str:
        return cents_to_str(obj.amount_cents)

    @admin.display(description=_("balance after"))
    def balance_after(self, obj: LedgerEntry) -> str | None:
        return _money(obj.balance_after_cents)


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyModelAdmin):
    list_display = ["__str__", "kind", "created_at", "institution", "created_by", "reason"]
    list_filter = ["kind"]
    list_select_related = ["institution", "created_by"]
    fields = readonly_fields = ("kind", "created_at", "institution", "created_by", "reason")
    inlines = [LedgerEntryInline]
    # Counting every transaction on each page view costs more than the page itself.
    show_full_result_count = False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["pk", "transaction", "account", "amount", "balance_after", "created_at"]
    list_filter = ["account__kind"]
    list_select_related = ["transaction", "account__holder", "account__institution"]
    fields = readonly_fields = ("transaction", "account", "amount", "balance_after", "created_at")
    show_full_result_count = False

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: LedgerEntry) -> str:
        return cents_to_str(obj.amount_cents)

    @admin.display(description=_("balance after"))
    def balance_after(self, obj: LedgerEntry) -> str | None:
        return _money(obj.balance_after_cents)

    @admin.display(description=_("time"), ordering="transaction__created_at")
    def created_at(self, obj: LedgerEntry) -> Any:
        return obj.transaction.created_at


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyModelAdmin):
    list_display = ["caller", "key", "status_code", "created_at"]
    search_fields = ["=caller", "=key"]
    fields = readonly_fields = ("caller", "key", "fingerprint", "status_code", "body", "created_at")
    show_full_result_count = False


# Registered here so that the admin finds them when it imports this module.
from payments import correction_admin  # noqa: E402,F401
