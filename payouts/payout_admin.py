"""Back office for finance: the payments of the payout batches and the bank's return files [NK].

Imported by `payouts.batch_admin` (which registers the whole finance back office). Payments are
searched by reference, payee or cardholder name, payment date (the date drill-down) and the payee's
CPR number (the candidates of the other filters decrypted: narrow by date first), shown with the
number masked; a pending payment is stopped before its batch is exported, with a reason.
"""

import datetime as dt
import re
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cardsystem.errors import DomainError
from cardsystem.money import cents_to_str
from payments.admin import ReadOnlyModelAdmin
from payouts.batches import payee_masked, payout_cpr_search, payout_stop
from payouts.finance_admin import FinanceOnly, StopForm, action_page, request_user
from payouts.models import Payout, ReturnFileImport
from payouts.return_file import return_code_text

_CPR_SEARCH = re.compile(r"^\s*\d{6}-?\d{4}\s*$")


# --- payments ------------------------------------------------------------------------------------


@admin.register(Payout)
class PayoutAdmin(FinanceOnly, ReadOnlyModelAdmin):
    list_display = [
        "reference",
        "batch",
        "payment_date",
        "status",
        "amount",
        "payee_name",
        "payee",
        "holder",
        "return_reason",
        "updated_at",
    ]
    list_filter = ["status", "batch__kind", "return_code"]
    list_select_related = ["batch", "refund__holder"]
    date_hierarchy = "batch__payment_date"
    search_fields = ["=reference", "refund__payee_name", "refund__holder__name"]
    search_help_text = _(
        "A reference, part of the payee's or the cardholder's name, or the payee's CPR number "
        "(with a date or period chosen above)."
    )
    show_full_result_count = False
    actions = ["stop_payouts"]
    fields = readonly_fields = (
        "reference",
        "batch",
        "payment_date",
        "status",
        "amount",
        "payee_name",
        "payee",
        "holder",
        "refund",
        "return_code",
        "return_reason",
        "ledger_transaction",
        "updated_at",
    )

    def has_stop_permission(self, request: HttpRequest) -> bool:
        return self._perm(request, "change_payout")

    @admin.display(description=_("payment date"), ordering="batch__payment_date")
    def payment_date(self, obj: Payout) -> dt.date:
        return obj.batch.payment_date

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: Payout) -> str:
        return cents_to_str(obj.amount_cents)

    @admin.display(description=_("payee"), ordering="refund__payee_name")
    def payee_name(self, obj: Payout) -> str:
        return obj.refund.payee_name

    @admin.display(description=_("CPR number or IBAN"))
    def payee(self, obj: Payout) -> str:
        refund = obj.refund
        return payee_masked(payee_kind=refund.payee_kind, cpr_token=refund.payee_cpr_token, iban=refund.payee_iban)

    @admin.display(description=_("cardholder"), ordering="refund__holder__name")
    def holder(self, obj: Payout) -> str:
        return obj.refund.holder.name

    @admin.display(description=_("return reason"))
    def return_reason(self, obj: Payout) -> str:
        if not obj.return_code:
            return ""
        meaning = return_code_text(obj.return_code)
        parts = [part for part in (obj.return_code, meaning, obj.return_text) if part]
        return " · ".join(parts)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Payout], search_term: str
    ) -> tuple[QuerySet[Payout], bool]:
        if not _CPR_SEARCH.match(search_term or ""):
            return super().get_search_results(request, queryset, search_term)
        try:
            found = payout_cpr_search(payouts=queryset, cpr=search_term.strip(), searched_by=request_user(request))
        except DomainError as error:
            problems = [message for errors in (error.fields or {}).values() for message in errors] or [error.message]
            self.message_user(request, " ".join(problems), messages.WARNING)
            return queryset.none(), False
        return queryset.filter(pk__in=found), False

    @admin.action(description=_("Stop the selected payments (before export)"), permissions=["stop"])
    def stop_payouts(self, request: HttpRequest, queryset: QuerySet[Payout]) -> HttpResponse | None:
        form = StopForm(request.POST if "apply" in request.POST else None)
        if "apply" not in request.POST or not form.is_valid():
            return action_page(
                self,
                request,
                queryset,
                action="stop_payouts",
                title=gettext("Stop payments"),
                form=form,
                button=gettext("Stop the payments"),
                intro=gettext(
                    "A stopped payment is not exported; its refund waits for the next batch again. "
                    "Only pending payments of batches not yet exported can be stopped."
                ),
            )
        for payout in queryset.order_by("pk"):
            try:
                payout_stop(payout=payout, stopped_by=request_user(request), reason=form.cleaned_data["reason"])
            except DomainError as error:
                self.message_user(request, f"{payout.reference}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request, gettext("%(reference)s stopped.") % {"reference": payout.reference}, messages.SUCCESS
                )
        return None


# --- return files --------------------------------------------------------------------------------


@admin.register(ReturnFileImport)
class ReturnFileImportAdmin(FinanceOnly, ReadOnlyModelAdmin):
    list_display = ["filename", "imported_at", "imported_by", "received", "completed", "rejected", "unknown"]
    list_select_related = ["imported_by"]
    fields = readonly_fields = ("filename", "sha256", "imported_at", "imported_by", "summary")
    change_list_template = "admin/payouts/returnfileimport/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "has_import_permission": self._perm(request, "add_returnfileimport")}
        return super().changelist_view(request, extra)

    @admin.display(description=_("received"))
    def received(self, obj: ReturnFileImport) -> int:
        return int(obj.summary.get("received", 0))

    @admin.display(description=_("completed"))
    def completed(self, obj: ReturnFileImport) -> int:
        return int(obj.summary.get("completed", 0))

    @admin.display(description=_("rejected"))
    def rejected(self, obj: ReturnFileImport) -> int:
        return int(obj.summary.get("rejected", 0))

    @admin.display(description=_("unknown references"))
    def unknown(self, obj: ReturnFileImport) -> int:
        return int(obj.summary.get("unknown", 0))
