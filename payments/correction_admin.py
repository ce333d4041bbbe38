"""Back office for the office's money actions: corrections (four eyes above a set amount) and moving
money from main to extra [PZ].

Each form asks for a reason and calls one service of `payments.corrections`; the service's refusal
is shown beside the field it concerns. Everything is scoped to the institutions where the user is
office staff or administrator (superusers see all): another institution's corrections are not
listed and cannot be opened, and its cardholders are not offered.
"""

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, User
from cards.models import Cardholder
from cardsystem.errors import DomainError
from cardsystem.forms import MoneyField, errors_beside_fields
from cardsystem.money import cents_to_str
from cardsystem.templatetags.money import money
from payments.corrections import (
    CORRECTION_ROLES,
    REASON_MAX_LENGTH,
    balance_move_main_to_extra,
    correction_approve,
    correction_reject,
    correction_request,
)
from payments.models import Correction, LedgerAccount

TEMPLATE = "admin/payments/correction/form.html"


def correction_institutions(request: HttpRequest) -> QuerySet[Institution]:
    """The institutions where the signed-in user corrects and moves money."""
    user = request.user
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(
        memberships__user=cast(User, user), memberships__role__in=CORRECTION_ROLES
    ).distinct()


def correction_holders(request: HttpRequest) -> QuerySet[Cardholder]:
    return (
        Cardholder.objects.filter(institution__in=correction_institutions(request), anonymised_at__isnull=True)
        .select_related("institution")
        .order_by("name", "pk")
    )


class HolderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        holder = cast(Cardholder, obj)
        return " · ".join(part for part in (holder.name, holder.group, holder.institution.name) if part)


def _reason_field(help_text: Any) -> forms.CharField:
    return forms.CharField(
        label=_("reason"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=help_text,
        error_messages={"required": _("Give the reason: it is kept in the audit trail.")},
    )


class CorrectionForm(forms.Form):
    holder = HolderChoiceField(label=_("cardholder"), queryset=Cardholder.objects.none())
    balance = forms.ChoiceField(label=_("balance"), choices=[(k.value, k.label) for k in LedgerAccount.HOLDER_KINDS])
    amount = MoneyField(label=_("amount"))
    reason = _reason_field(_("What happened, and which receipt or bank statement was checked."))

    def __init__(self, *args: Any, holders: QuerySet[Cardholder], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["holder"]).queryset = holders
        self.fields["amount"].help_text = _(
            "Positive credits the balance (a top-up the system missed), negative takes money back "
            "(a mistaken one), for example 100.00 or -100.00. Above %(limit)s another office user "
            "approves it before the money moves."
        ) % {"limit": money(settings.CORRECTION_FOUR_EYES_ABOVE_CENTS)}


class MoveForm(forms.Form):
    holder = HolderChoiceField(label=_("cardholder"), queryset=Cardholder.objects.none())
    amount = MoneyField(label=_("amount"), min_cents=1, help_text=_("Moved from main to extra, for example 50.00."))
    reason = _reason_field(_("Who asked for it, and how."))

    def __init__(self, *args: Any, holders: QuerySet[Cardholder], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["holder"]).queryset = holders


class DecideForm(forms.Form):
    note = forms.CharField(
        label=_("note"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Optional when approving; the reason when rejecting."),
    )

    def __init__(self, *args: Any, decision: str | None = None, **kwargs: Any) -> None:
        self.decision = decision
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.decision not in ("approve", "reject"):
            raise forms.ValidationError(gettext("Choose to approve or to reject."))
        if self.decision == "reject" and not cleaned.get("note"):
            self.add_error("note", gettext("Give the reason for rejecting: it is kept in the audit trail."))
        return cleaned


class CorrectionInstitutionFilter(admin.SimpleListFilter):
    title = _("institution")
    parameter_name = "institution"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in correction_institutions(request).values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Correction]) -> QuerySet[Correction]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(institution_id=int(value))
        return queryset


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    """Corrections are asked for with the add form, decided on their own page, never edited."""

    list_display = [
        "requested_at",
        "holder",
        "institution",
        "balance",
        "amount",
        "status",
        "requested_by",
        "decided_by",
    ]
    list_filter = ["status", "balance", CorrectionInstitutionFilter]
    list_select_related = ["holder", "institution", "requested_by", "decided_by"]
    search_fields = ["holder__name", "=holder__cards__number", "reason"]
    fields = readonly_fields = (
        "holder",
        "institution",
        "balance",
        "amount",
        "reason",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "ledger_transaction",
        "decide",
    )
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Correction]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(institution__in=correction_institutions(request))

    def has_change_permission(self, request: HttpRequest, obj: Correction | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Correction | None = None) -> bool:
        return False

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: Correction) -> str:
        return cents_to_str(obj.amount_cents)

    @admin.display(description=_("decision"))
    def decide(self, obj: Correction) -> SafeString | str:
        if obj.status != Correction.Status.PENDING:
            return ""
        url = reverse("admin:payments_correction_decide", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Approve or reject"))

    def get_urls(self) -> list[URLPattern]:
        tools = [
            path(
                "move-main-to-extra/",
                self.admin_site.admin_view(self.move_view),
                name="payments_correction_move",
            ),
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="payments_correction_decide",
            ),
        ]
        return [*tools, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {**(extra_context or {}), "may_move": request.user.has_perm("payments.move_main_to_extra")}
        return super().changelist_view(request, extra_context=extra)

    def _render(self, request: HttpRequest, context: dict[str, Any], status: int = 200) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
            **context,
        }
        return TemplateResponse(request, TEMPLATE, context, status=status)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Ask for a correction: applied at once, or waiting for another office user above the limit."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        user = cast(User, request.user)
        initial = {key: request.GET[key] for key in ("holder", "balance") if key in request.GET}
        form = CorrectionForm(request.POST or None, holders=correction_holders(request), initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                correction = correction_request(
                    holder=data["holder"],
                    balance=data["balance"],
                    amount_cents=data["amount"],
                    requested_by=user,
                    reason=data["reason"],
                )
            except DomainError as error:
                errors_beside_fields(form, error)
            else:
                if correction.status == Correction.Status.APPLIED:
                    text = gettext("The correction of %(amount)s for %(holder)s is applied.")
                else:
                    text = gettext("The correction of %(amount)s for %(holder)s awaits another office user's approval.")
                amount = money(correction.amount_cents)
                self.message_user(request, text % {"amount": amount, "holder": correction.holder}, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:payments_correction_change", args=[correction.pk]))
        return self._render(
            request,
            {"title": gettext("New correction"), "form": form, "submits": [("", gettext("Ask for the correction"))]},
            status=400 if form.is_bound else 200,
        )

    def move_view(self, request: HttpRequest) -> HttpResponse:
        """Move money from a cardholder's main balance to the extra balance, on request [PZ]."""
        if not request.user.has_perm("payments.move_main_to_extra"):
            raise PermissionDenied
        user = cast(User, request.user)
        initial = {"holder": request.GET["holder"]} if "holder" in request.GET else {}
        form = MoveForm(request.POST or None, holders=correction_holders(request), initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                balance_move_main_to_extra(
                    holder=data["holder"], amount_cents=data["amount"], moved_by=user, reason=data["reason"]
                )
            except DomainError as error:
                errors_beside_fields(form, error)
            else:
                self.message_user(
                    request,
                    gettext("Moved %(amount)s from main to extra for %(holder)s.")
                    % {"amount": money(data["amount"]), "holder": data["holder"]},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:payments_correction_changelist"))
        return self._render(
            request,
            {
                "title": gettext("Move money from main to extra"),
                "form": form,
                "submits": [("", gettext("Move the money"))],
            },
            status=400 if form.is_bound else 200,
        )

    def decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Approve or reject a pending correction (a user other than the one who asked)."""
        if not request.user.has_perm("payments.approve_correction"):
            raise PermissionDenied
        correction = self.get_queryset(request).filter(pk=object_id).first()
        if correction is None:
            raise Http404
        user = cast(User, request.user)
        decision = next((name for name in ("approve", "reject") if name in request.POST), None)
        form = DecideForm(request.POST or None, decision=decision)
        if request.method == "POST" and form.is_valid():
            note = form.cleaned_data["note"]
            try:
                if decision == "approve":
                    correction = correction_approve(correction=correction, approved_by=user, note=note)
                    text = gettext("The correction is approved and applied.")
                else:
                    correction = correction_reject(correction=correction, rejected_by=user, reason=note)
                    text = gettext("The correction is rejected; no money moved.")
            except DomainError as error:
                errors_beside_fields(form, error, rename={"reason": "note"})
            else:
                self.message_user(request, text, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:payments_correction_change", args=[correction.pk]))
        return self._render(
            request,
            {
                "title": gettext("Approve or reject a correction"),
                "form": form,
                "correction": correction,
                "amount": money(correction.amount_cents),
                "pending": correction.status == Correction.Status.PENDING,
                "submits": [("approve", gettext("Approve")), ("reject", gettext("Reject"))],
            },
            status=400 if form.is_bound else 200,
        )
