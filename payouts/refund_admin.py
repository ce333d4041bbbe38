"""Back office for refund requests: office staff enter, approve and reject them; finance reads them.

Scoped by staff membership (superusers see all): a request is listed for the office, finance and
administrator staff of its institution; only office and administrator staff of that institution
enter, approve or reject. Another institution's request is not listed and cannot be opened (the
admin answers as for a deleted row).

The payee's CPR number appears masked (DDMMYY-****), never in clear. Nothing is edited here: a
request is entered through `refund_request_create` (the add page), decided through the approve
and reject actions (`refund_approve`, `refund_reject`) with a mandatory note, and each writes its
audit entry.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, Role, User
from cards.models import Cardholder
from cardsystem.errors import DomainError
from cardsystem.forms import errors_beside_fields
from cardsystem.money import cents_to_str
from payouts.models import RefundRequest
from payouts.refunds import (
    PAYEE_NAME_MAX_LENGTH,
    refund_approve,
    refund_paid_another_way,
    refund_payee_masked,
    refund_reject,
    refund_request_create,
    refund_returned_correct,
)

# Who sees an institution's refund requests, and who decides them.
VIEW_ROLES = (Role.OFFICE, Role.FINANCE, Role.ADMIN)
DECIDE_ROLES = (Role.OFFICE, Role.ADMIN)


def refund_institutions(*, user: User, roles: tuple[str, ...]) -> QuerySet[Institution]:
    """The institutions where the user holds one of the roles (every institution for a superuser)."""
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(memberships__user=user, memberships__role__in=roles).distinct()


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


class RefundInstitutionFilter(admin.SimpleListFilter):
    """Filter by institution, offering only the user's own."""

    title = _("institution")
    parameter_name = "institution"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        institutions = refund_institutions(user=_user(request), roles=VIEW_ROLES)
        return [(str(pk), name) for pk, name in institutions.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(institution_id=int(value))
        return queryset


class RefundAddForm(forms.Form):
    """What the office types for a refund asked at the counter; the service checks the rest."""

    holder = forms.ModelChoiceField(label=_("cardholder"), queryset=Cardholder.objects.none())
    payee_name = forms.CharField(label=_("payee name"), max_length=PAYEE_NAME_MAX_LENGTH)
    payee_cpr = forms.CharField(
        label=_("payee's CPR number"),
        max_length=20,
        required=False,
        help_text=_("DDMMYY-XXXX. The money will be paid to the payee's NemKonto."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    payee_iban = forms.CharField(
        label=_("IBAN"),
        max_length=50,
        required=False,
        help_text=_("Only for a payee without a NemKonto: leave the CPR number empty."),
    )
    payee_bic = forms.CharField(label=_("BIC"), max_length=20, required=False)

    def __init__(self, *args: Any, holders: QuerySet[Cardholder], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["holder"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = holders


class DecisionForm(forms.Form):
    note = forms.CharField(
        label=_("reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required: it is kept in the audit trail."),
    )


@admin.register(RefundRequest)
class RefundRequestAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "created_at",
        "holder",
        "institution",
        "payee_name",
        "payee",
        "status",
        "amount",
        "requested_by",
        "decided_by",
    ]
    list_display_links = ["pk", "created_at"]
    list_filter = [RefundInstitutionFilter, "status", "payee_kind"]
    list_select_related = ["holder", "institution", "requested_by", "decided_by"]
    search_fields = ["holder__name", "payee_name", "=holder__cards__number"]
    date_hierarchy = "created_at"
    # Never the token itself, never the number: the payee is shown masked.
    fields = readonly_fields = (
        "holder",
        "institution",
        "requested_by",
        "created_at",
        "status",
        "payee_name",
        "payee_kind",
        "payee",
        "payee_iban",
        "payee_bic",
        "balance",
        "cost",
        "amount",
        "ledger_transaction",
        "decided_by",
        "decided_at",
        "decision_note",
    )
    actions = ["approve", "reject", "pay_again", "paid_another_way"]

    # --- scope and permissions --------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[RefundRequest]:
        queryset = super().get_queryset(request)
        user = _user(request)
        if user.is_superuser:
            return queryset
        return queryset.filter(institution__in=refund_institutions(user=user, roles=VIEW_ROLES))

    def _decides_somewhere(self, request: HttpRequest, permission: str) -> bool:
        user = _user(request)
        return user.has_perm(f"payouts.{permission}_refundrequest") and (
            user.is_superuser or refund_institutions(user=user, roles=DECIDE_ROLES).exists()
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._decides_somewhere(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: RefundRequest | None = None) -> bool:
        # Nothing is edited: decisions go through the actions.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RefundRequest | None = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return self._decides_somewhere(request, "change")

    def has_view_permission(self, request: HttpRequest, obj: RefundRequest | None = None) -> bool:
        user = _user(request)
        return (user.has_perm("payouts.view_refundrequest") or user.has_perm("payouts.change_refundrequest")) and (
            user.is_superuser or refund_institutions(user=user, roles=VIEW_ROLES).exists()
        )

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description=_("payee"))
    def payee(self, obj: RefundRequest) -> str:
        return refund_payee_masked(refund=obj)

    @admin.display(description=_("balance"), ordering="balance_cents")
    def balance(self, obj: RefundRequest) -> str:
        return "" if obj.balance_cents is None else cents_to_str(obj.balance_cents)

    @admin.display(description=_("payout cost"), ordering="cost_cents")
    def cost(self, obj: RefundRequest) -> str:
        return "" if obj.cost_cents is None else cents_to_str(obj.cost_cents)

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: RefundRequest) -> str:
        return "" if obj.amount_cents is None else cents_to_str(obj.amount_cents)

    # --- entering a request -----------------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A request asked for at the office: calls `refund_request_create` for the holder chosen."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        user = _user(request)
        holders = (
            Cardholder.objects.filter(
                institution__in=refund_institutions(user=user, roles=DECIDE_ROLES), anonymised_at__isnull=True
            )
            .select_related("institution")
            .order_by("name", "pk")
        )
        form = RefundAddForm(request.POST or None, holders=holders)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = refund_request_create(
                    holder=data["holder"],
                    requested_by=user,
                    payee_name=data["payee_name"],
                    payee_cpr=data["payee_cpr"] or None,
                    payee_iban=data["payee_iban"] or None,
                    payee_bic=data["payee_bic"],
                )
            except DomainError as error:
                errors_beside_fields(form, error)
            else:
                self.message_user(
                    request,
                    gettext("Refund request #%(id)s for %(holder)s entered.")
                    % {"id": result.refund.pk, "holder": data["holder"].name},
                    messages.SUCCESS,
                )
                if result.warning:
                    self.message_user(request, result.warning, messages.WARNING)
                return HttpResponseRedirect(reverse("admin:payouts_refundrequest_change", args=[result.refund.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Enter a refund request"),
            "form": form,
            "opts": self.model._meta,
            "submit_label": gettext("Enter the request"),
            "intro": gettext(
                "The cardholder's remaining balance is paid to the payee's NemKonto (CPR number), or to an "
                "IBAN for a payee without one. Approving it afterwards returns the cards and moves the money."
            ),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/payouts/refundrequest/refund_form.html", context)

    # --- decisions --------------------------------------------------------------------------------

    def _decide(
        self,
        request: HttpRequest,
        queryset: QuerySet[RefundRequest],
        *,
        action: str,
        title: str,
        submit_label: str,
    ) -> HttpResponse | None:
        """The intermediate page asking for the note, then one service call per selected request."""
        form = DecisionForm(request.POST if request.POST.get("post") else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "opts": self.model._meta,
                "queryset": queryset,
                "rows": [(refund, refund_payee_masked(refund=refund)) for refund in queryset],
                "action": action,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "submit_label": submit_label,
            }
            return TemplateResponse(request, "admin/payouts/refundrequest/refund_decide.html", context)

        user = _user(request)
        note = form.cleaned_data["note"]
        allowed = set(refund_institutions(user=user, roles=DECIDE_ROLES).values_list("pk", flat=True))
        done, refused = 0, []
        for refund in queryset.select_related("holder"):
            if not user.is_superuser and refund.institution_id not in allowed:
                # Finance of this institution may see the request but not decide it.
                refused.append(gettext("#%(id)s: not yours to decide.") % {"id": refund.pk})
                continue
            try:
                if action == "approve":
                    refund_approve(refund=refund, approved_by=user, note=note)
                elif action == "pay_again":
                    refund_returned_correct(refund=refund, corrected_by=user, note=note)
                elif action == "paid_another_way":
                    refund_paid_another_way(refund=refund, paid_by=user, note=note)
                else:
                    refund_reject(refund=refund, rejected_by=user, note=note)
            except DomainError as error:
                refused.append(f"#{refund.pk}: {error.message}")
            else:
                done += 1
        if done:
            message = {
                "approve": ngettext("%(count)s refund request approved.", "%(count)s refund requests approved.", done),
                "reject": ngettext("%(count)s refund request rejected.", "%(count)s refund requests rejected.", done),
            }.get(action, ngettext("%(count)s refund updated.", "%(count)s refunds updated.", done))
            self.message_user(request, message % {"count": done}, messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.ERROR)
        return None

    @admin.action(description=_("Approve the selected refund requests"), permissions=["decide"])
    def approve(self, request: HttpRequest, queryset: QuerySet[RefundRequest]) -> HttpResponse | None:
        return self._decide(
            request,
            queryset,
            action="approve",
            title=gettext("Approve refund requests"),
            submit_label=gettext("Approve: return the cards and move the money"),
        )

    @admin.action(description=_("Reject the selected refund requests"), permissions=["decide"])
    def reject(self, request: HttpRequest, queryset: QuerySet[RefundRequest]) -> HttpResponse | None:
        return self._decide(
            request, queryset, action="reject", title=gettext("Reject refund requests"), submit_label=gettext("Reject")
        )

    @admin.action(description=_("Pay the selected returned refunds again (in the next batch)"), permissions=["decide"])
    def pay_again(self, request: HttpRequest, queryset: QuerySet[RefundRequest]) -> HttpResponse | None:
        return self._decide(
            request,
            queryset,
            action="pay_again",
            title=gettext("Pay returned refunds again"),
            submit_label=gettext("Pay again in the next batch"),
        )

    @admin.action(description=_("Mark the selected returned refunds as paid another way"), permissions=["decide"])
    def paid_another_way(self, request: HttpRequest, queryset: QuerySet[RefundRequest]) -> HttpResponse | None:
        return self._decide(
            request,
            queryset,
            action="paid_another_way",
            title=gettext("Returned refunds paid another way"),
            submit_label=gettext("Paid another way"),
        )
