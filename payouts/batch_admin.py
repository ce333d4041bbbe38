"""Back office for finance: payout batches, their payments and the bank's return files [NK].

Importing this module registers the whole finance back office: the batches here, the payments and
return files in `payouts.payout_admin`, with what they share in `payouts.finance_admin`.

Finance staff and administrators only: the pages need a finance or administrator role (or a
superuser) on top of the model permissions, and show every batch (batches are municipality-wide).
Nothing is added, changed or deleted through the model forms: every step is an action or a tool
calling one service of `payouts.batches`, which writes the audit trail.

- Batches: build one now (tool), approve (four eyes; password asked again), export (password asked
  again; answers with a zip of the bank files), mark sent, the files again, the summary PDF.
- Payments: search by reference, payee or cardholder name, payment date (the date drill-down) and
  the payee's CPR number (decrypted candidates of the other filters: narrow by date first); stop a
  pending payment before its batch is exported, with a reason.
- Return files: import one (tool); the files read so far and what each did.

Permissions (the finance role's group carries them): view/add/change payout batch (add: build,
change: approve, export, mark sent, files), view/change payout (change: stop), view/add return file
(add: import).
"""

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_record
from cardsystem.errors import DomainError
from cardsystem.money import cents_to_str
from payments.admin import ReadOnlyModelAdmin
from payouts import payout_admin  # noqa: F401 - registers the payments and return files pages too
from payouts.batch_files import BatchFile, BatchFileMismatch, batch_files_check, batch_files_render, batch_files_zip
from payouts.batch_pdf import batch_summary_pdf
from payouts.batches import (
    payment_date_next,
    payout_batch_approve,
    payout_batch_build,
    payout_batch_export,
    payout_batch_mark_sent,
    return_file_import,
)
from payouts.finance_admin import ConfirmForm, FinanceOnly, action_page, password_confirmed, request_user
from payouts.models import PayoutBatch, ReturnFileImport

# A return file bigger than this is not a return file (10,000 lines are well under 1 MB).
RETURN_FILE_MAX_BYTES = 20 * 1024 * 1024
EXPORTABLE = (PayoutBatch.Status.EXPORTED, PayoutBatch.Status.SENT, PayoutBatch.Status.SETTLED)


class BuildForm(forms.Form):
    payment_date = forms.DateField(
        label=_("Payment date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Empty: the next weekday."),
    )

    def clean_payment_date(self) -> dt.date | None:
        day: dt.date | None = self.cleaned_data["payment_date"]
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError(gettext("A payment date in the past cannot be paid."))
        return day


class ReturnFileForm(forms.Form):
    file = forms.FileField(label=_("Return file"), help_text=_("The bank's CSV return file."))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > RETURN_FILE_MAX_BYTES:
            raise forms.ValidationError(gettext("The file is too large for a return file."))
        return upload


# --- batches -------------------------------------------------------------------------------------


@admin.register(PayoutBatch)
class PayoutBatchAdmin(FinanceOnly, ReadOnlyModelAdmin):
    change_list_template = "admin/payouts/payoutbatch/change_list.html"
    list_display = [
        "__str__",
        "kind",
        "status",
        "payment_date",
        "payments",
        "total",
        "builder",
        "approved_by",
        "built_at",
        "exported_at",
        "documents",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["built_by", "approved_by"]
    date_hierarchy = "payment_date"
    actions = ["approve_batches", "export_batches", "mark_sent_batches"]
    fields = readonly_fields = (
        "kind",
        "status",
        "payment_date",
        "builder",
        "built_at",
        "approved_by",
        "approved_at",
        "exported_at",
        "sent_at",
        "settled_at",
        "payments",
        "total",
        "documents",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PayoutBatch]:
        return (
            super()
            .get_queryset(request)
            .annotate(payout_count=Count("payouts"), payout_total=Sum("payouts__amount_cents"))
        )

    # --- permissions of the actions and tools

    def has_build_permission(self, request: HttpRequest) -> bool:
        return self._perm(request, "add_payoutbatch")

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return self._perm(request, "change_payoutbatch")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self._perm(request, "change_payoutbatch")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self._perm(request, "add_returnfileimport")

    # --- columns

    @admin.display(description=_("payments"), ordering="payout_count")
    def payments(self, obj: PayoutBatch) -> SafeString:
        url = reverse("admin:payouts_payout_changelist") + f"?batch__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, getattr(obj, "payout_count", 0))

    @admin.display(description=_("total"), ordering="payout_total")
    def total(self, obj: PayoutBatch) -> str:
        return cents_to_str(getattr(obj, "payout_total", None) or 0)

    @admin.display(description=_("built by"))
    def builder(self, obj: PayoutBatch) -> str:
        return str(obj.built_by) if obj.built_by else gettext("the schedule")

    @admin.display(description=_("documents"))
    def documents(self, obj: PayoutBatch) -> SafeString:
        pdf = format_html(
            '<a href="{}">{}</a>', reverse("admin:payouts_payoutbatch_summary", args=[obj.pk]), gettext("Summary PDF")
        )
        if obj.status not in EXPORTABLE:
            return pdf
        files = format_html(
            '<a href="{}">{}</a>', reverse("admin:payouts_payoutbatch_files", args=[obj.pk]), gettext("Bank files")
        )
        return format_html("{} · {}", pdf, files)

    # --- actions

    @admin.action(description=_("Approve the selected batches (four eyes)"), permissions=["approve"])
    def approve_batches(self, request: HttpRequest, queryset: QuerySet[PayoutBatch]) -> HttpResponse | None:
        form = ConfirmForm(request.POST if "apply" in request.POST else None)
        if not password_confirmed(request, form):
            return action_page(
                self,
                request,
                queryset,
                action="approve_batches",
                title=gettext("Approve payout batches"),
                form=form,
                button=gettext("Approve"),
                intro=gettext("The batches are approved for export. You cannot approve a batch you built."),
            )
        for batch in queryset.order_by("pk"):
            try:
                payout_batch_approve(batch=batch, approved_by=request_user(request))
            except DomainError as error:
                self.message_user(request, f"{batch}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, gettext("%(batch)s approved.") % {"batch": batch}, messages.SUCCESS)
        return None

    @admin.action(description=_("Export the selected batches (bank files)"), permissions=["export"])
    def export_batches(self, request: HttpRequest, queryset: QuerySet[PayoutBatch]) -> HttpResponse | None:
        form = ConfirmForm(request.POST if "apply" in request.POST else None)
        if not password_confirmed(request, form):
            return action_page(
                self,
                request,
                queryset,
                action="export_batches",
                title=gettext("Export payout batches"),
                form=form,
                button=gettext("Export and download the files"),
                intro=gettext(
                    "The payments are written to the bank's files and their money moves to payouts sent. "
                    "Pending payments can no longer be stopped."
                ),
            )
        exported: list[tuple[PayoutBatch, list[BatchFile]]] = []
        for batch in queryset.order_by("pk"):
            try:
                files = payout_batch_export(batch=batch, exported_by=request_user(request))
            except DomainError as error:
                self.message_user(request, f"{batch}: {error.message}", messages.ERROR)
            else:
                exported.append((batch, files))
        if not exported:
            return None
        return self._zip_response(request, exported)

    @admin.action(description=_("Mark the selected batches as sent to the bank"), permissions=["export"])
    def mark_sent_batches(self, request: HttpRequest, queryset: QuerySet[PayoutBatch]) -> None:
        for batch in queryset.order_by("pk"):
            try:
                payout_batch_mark_sent(batch=batch, sent_by=request_user(request))
            except DomainError as error:
                self.message_user(request, f"{batch}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, gettext("%(batch)s marked as sent.") % {"batch": batch}, messages.SUCCESS)

    def _zip_response(self, request: HttpRequest, exported: list[tuple[PayoutBatch, list[BatchFile]]]) -> HttpResponse:
        for batch, files in exported:
            # The files hold CPR numbers in clear: every copy handed out is in the audit trail.
            audit_record(
                actor=request_user(request),
                action="payout_batch.download",
                target=batch,
                details={"files": [file.as_record() for file in files]},
            )
        names = "-".join(str(batch.pk) for batch, _files in exported)
        response = HttpResponse(batch_files_zip(batches=exported), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="payout-batches-{names}.zip"'
        return response

    # --- tools

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("build/", view(self.build_view), name="payouts_payoutbatch_build"),
            path("import-return/", view(self.import_view), name="payouts_payoutbatch_import_return"),
            path("<int:pk>/files/", view(self.files_view), name="payouts_payoutbatch_files"),
            path("<int:pk>/summary.pdf", view(self.summary_view), name="payouts_payoutbatch_summary"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {
            **(extra_context or {}),
            "has_build_permission": self.has_build_permission(request),
            "has_import_permission": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra)

    def _tool_page(
        self, request: HttpRequest, *, title: str, form: forms.Form, button: str, intro: str
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "form": form,
            "button": button,
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/payouts/tool_form.html", context)

    def build_view(self, request: HttpRequest) -> HttpResponse:
        """Build batches now from the approved refunds, as the schedule does at the cut-off."""
        if not self.has_build_permission(request):
            raise PermissionDenied
        form = BuildForm(request.POST or None, initial={"payment_date": payment_date_next()})
        if request.method == "POST" and form.is_valid():
            try:
                batches = payout_batch_build(
                    built_by=request_user(request), payment_date=form.cleaned_data["payment_date"]
                )
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                if batches:
                    self.message_user(
                        request,
                        ngettext(
                            "%(count)s batch built: %(batches)s. Another finance user approves it.",
                            "%(count)s batches built: %(batches)s. Another finance user approves them.",
                            len(batches),
                        )
                        % {"count": len(batches), "batches": ", ".join(str(batch) for batch in batches)},
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(request, gettext("No approved refund is waiting: no batch built."))
                return HttpResponseRedirect(reverse("admin:payouts_payoutbatch_changelist"))
        return self._tool_page(
            request,
            title=gettext("Build a payout batch now"),
            form=form,
            button=gettext("Build"),
            intro=gettext(
                "Every approved refund not yet in a batch goes into a new batch: NemKonto for CPR payees, "
                "SEPA for IBAN payees. The schedule does this every morning at %(time)s."
            )
            % {"time": _cutoff()},
        )

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Read in a bank return file (the same file twice changes nothing)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ReturnFileForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                record = return_file_import(
                    content=upload.read(), filename=upload.name, imported_by=request_user(request)
                )
            except DomainError as error:
                form.add_error("file", error.message)
            else:
                self.message_user(request, _import_message(record), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:payouts_returnfileimport_changelist"))
        return self._tool_page(
            request,
            title=gettext("Import a return file"),
            form=form,
            button=gettext("Import"),
            intro=gettext(
                "The bank's answers: received, completed, or rejected (7: no NemKonto, 9: bank error). "
                "The money of a rejected payment goes back to payout clearing and its refund back to the office."
            ),
        )

    def files_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The bank files of an exported batch again (written anew, checked against the export's)."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(PayoutBatch, pk=pk, status__in=EXPORTABLE)
        files = batch_files_render(batch=batch)
        try:
            batch_files_check(batch=batch, files=files)
        except BatchFileMismatch:
            self.message_user(
                request,
                gettext(
                    "%(batch)s: the files written now differ from the files exported (a setting or a payee changed "
                    "since). They are not handed out: ask the bank for the file it received."
                )
                % {"batch": batch},
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:payouts_payoutbatch_changelist"))
        return self._zip_response(request, [(batch, files)])

    def summary_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(PayoutBatch.objects.select_related("built_by", "approved_by"), pk=pk)
        response = HttpResponse(batch_summary_pdf(batch=batch), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="payout-batch-{batch.pk}.pdf"'
        return response


def _cutoff() -> str:
    return str(settings.PAYOUT_CUTOFF)


def _import_message(record: ReturnFileImport) -> str:
    summary = record.summary
    return gettext(
        "%(file)s: %(received)s received, %(completed)s completed, %(rejected)s rejected, "
        "%(already)s already done, %(unknown)s unknown references."
    ) % {
        "file": record.filename,
        "received": summary.get("received", 0),
        "completed": summary.get("completed", 0),
        "rejected": summary.get("rejected", 0),
        "already": summary.get("already_done", 0),
        "unknown": summary.get("unknown", 0),
    }
