"""Back office for cardholders and their chip cards, scoped to the staff member's institutions.

Cards are never deleted (a lost or replaced card is blocked), and neither are cardholders: their
cards, sales and ledger accounts point at them. Balances are read from the holder's ledger
accounts through the reverse relation by name, so this module does not import `payments`
(which sits above `cards`); the services reach the ledger through `cards.ledger_port`.

What the office does here, each through a service that writes an audit entry:
- registers pupils one by one or from a CSV file (dry run, then confirm), moves a pupil to another
  institution and marks one as left (actions with a mandatory reason);
- hands out cards after an identity check ("Add card" is the issuing form; the UID comes from the
  office reader or is typed), prints the guardian's activation letter and the issuance register,
  lends loaner cards for the day and takes them back (cards.card_admin);
- works through the queue of replacement cards the guardians ordered.
Every list, form choice and page shows only the user's institutions (cards.scoping).
"""

import base64
import binascii
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_record
from accounts.models import Institution
from cards.admin_forms import (
    HolderAddForm,
    HolderImportForm,
    HolderLeaveForm,
    HolderMoveForm,
    admin_page_context,
    form_errors_add,
    office_institutions,
    request_user,
)
from cards.imports import ImportReport, holders_import, holders_template_csv
from cards.issuance import OPEN_ORDER_STATUSES
from cards.models import Card, Cardholder, PriceCategory, ReplacementOrder
from cards.scoping import InstitutionFilter, InstitutionScoped
from cards.services import holder_enrol, holder_guardian_add, holder_leave, holder_move
from cardsystem.errors import DomainError
from cardsystem.money import cents_to_str

IMPORT_SALT = "cards.holder-import"
IMPORT_MAX_AGE = 60 * 60


@admin.register(PriceCategory)
class PriceCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


def _balance(kind: str) -> Subquery:
    """The cached balance of the holder's `kind` ledger account, as a correlated subquery."""
    return Subquery(
        Cardholder.objects.filter(pk=OuterRef("pk"), ledger_accounts__kind=kind).values(
            "ledger_accounts__balance_cents"
        )[:1]
    )


class CardInline(admin.TabularInline):
    """The holder's cards, for reading; a card is issued, blocked or replaced from its own page."""

    model = Card
    fk_name = "holder"
    extra = 0
    fields = readonly_fields = ("number", "uid", "kind", "status", "status_reason", "expires_at", "issued_at")
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Cardholder | None) -> bool:  # type: ignore[override]
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Cardholder | None = None) -> bool:
        return False


class LeftFilter(admin.SimpleListFilter):
    title = _("attendance")
    parameter_name = "left"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", gettext("Attending")), ("yes", gettext("Left"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Cardholder]) -> QuerySet[Cardholder]:
        if self.value() == "no":
            return queryset.filter(left_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(left_at__isnull=False)
        return queryset


@admin.register(Cardholder)
class CardholderAdmin(InstitutionScoped, admin.ModelAdmin):
    list_display = ["name", "institution", "group", "price_category", "main_balance", "extra_balance", "left_at"]
    list_filter = [InstitutionFilter, LeftFilter, "group"]
    list_select_related = ["institution", "price_category"]
    search_fields = ["name", "=cards__number"]
    change_list_template = "admin/cards/cardholder/change_list.html"
    change_form_template = "admin/cards/cardholder/change_form.html"
    fields = [
        "name",
        "institution",
        "group",
        "price_category",
        "photo",
        "allergy_note",
        "main_balance",
        "extra_balance",
        "left_at",
        "created_at",
    ]
    readonly_fields = ["institution", "main_balance", "extra_balance", "left_at", "created_at"]
    inlines = [CardInline]
    actions = ["move_holders", "mark_left"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cardholder]:
        # Two correlated subqueries rather than a join and SUM: the card-number search joins the
        # cards, which would multiply an aggregate over a join by the number of matching cards.
        return (
            super()
            .get_queryset(request)
            .annotate(main_balance_cents=_balance("main"), extra_balance_cents=_balance("extra"))
        )

    @admin.display(description=_("main balance"), ordering="main_balance_cents")
    def main_balance(self, obj: Cardholder) -> str:
        cents = getattr(obj, "main_balance_cents", None)
        return "" if cents is None else cents_to_str(cents)

    @admin.display(description=_("extra balance"), ordering="extra_balance_cents")
    def extra_balance(self, obj: Cardholder) -> str:
        cents = getattr(obj, "extra_balance_cents", None)
        return "" if cents is None else cents_to_str(cents)

    # --- registering one pupil --------------------------------------------------------------------

    def get_form(self, request: HttpRequest, obj: Cardholder | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = HolderAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Cardholder | None = None) -> Any:
        if obj is None:
            return ["name", "institution", "group", "price_category", "photo", "allergy_note", "guardian_email"]
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Cardholder | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Cardholder | None) -> Any:
        return [] if obj is None else self.inlines  # a pupil being registered has no cards yet

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Institution:
            kwargs["queryset"] = office_institutions(request)
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Cardholder, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            audit_record(
                actor=request_user(request),
                action="holder.changed",
                target=obj,
                institution=obj.institution,
                details={"fields": sorted(form.changed_data)},
            )
            return
        data = form.cleaned_data
        with transaction.atomic():
            holder = holder_enrol(
                name=data["name"],
                institution=data["institution"],
                group=data.get("group", ""),
                allergy_note=data.get("allergy_note", ""),
                price_category=data.get("price_category"),
                registered_by=request_user(request),
            )
            if data.get("photo"):
                holder.photo = data["photo"]
                holder.save(update_fields=["photo"])
            email = data.get("guardian_email")
            if email and holder_guardian_add(holder=holder, email=email, added_by=request_user(request)) is None:
                self.message_user(
                    request,
                    gettext("Nobody has signed up as %(email)s: give the guardian the activation letter.")
                    % {"email": data["guardian_email"]},
                    messages.WARNING,
                )
        # The admin goes on with `obj` (log entry, redirect): make it the registered holder.
        obj.pk = holder.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def has_delete_permission(self, request: HttpRequest, obj: Cardholder | None = None) -> bool:
        return False

    # --- moving and leaving -----------------------------------------------------------------------

    def has_move_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("cards.change_cardholder")

    def _action_page(
        self,
        request: HttpRequest,
        queryset: QuerySet[Cardholder],
        form: Form,
        *,
        action: str,
        title: str,
        submit: str,
    ) -> TemplateResponse:
        context = admin_page_context(
            self,
            request,
            title,
            form=form,
            holders=queryset,
            action=action,
            submit=submit,
            action_checkbox_name=ACTION_CHECKBOX_NAME,
        )
        return TemplateResponse(request, "admin/cards/cardholder/action_form.html", context)

    @admin.action(description=_("Move to another institution"), permissions=["move"])
    def move_holders(self, request: HttpRequest, queryset: QuerySet[Cardholder]) -> TemplateResponse | None:
        form = HolderMoveForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            data = form.cleaned_data
            moved = 0
            for holder in queryset:
                try:
                    holder_move(
                        holder=holder,
                        institution=data["institution"],
                        moved_by=request_user(request),
                        reason=data["reason"],
                        group=data["group"],
                        replace_cards=data["replace_cards"],
                    )
                except DomainError as error:
                    self.message_user(request, f"{holder}: {error.message}", messages.ERROR)
                else:
                    moved += 1
            if moved:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d cardholder was moved to %(institution)s.",
                        "%(count)d cardholders were moved to %(institution)s.",
                        moved,
                    )
                    % {"count": moved, "institution": data["institution"]},
                    messages.SUCCESS,
                )
            return None
        return self._action_page(
            request,
            queryset,
            form,
            action="move_holders",
            title=gettext("Move to another institution"),
            submit=gettext("Move"),
        )

    @admin.action(description=_("Mark as left"), permissions=["move"])
    def mark_left(self, request: HttpRequest, queryset: QuerySet[Cardholder]) -> TemplateResponse | None:
        form = HolderLeaveForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            data = form.cleaned_data
            done = 0
            for holder in queryset:
                try:
                    holder_leave(
                        holder=holder, left_by=request_user(request), reason=data["reason"], left_on=data["left_on"]
                    )
                except DomainError as error:
                    self.message_user(request, f"{holder}: {error.message}", messages.ERROR)
                else:
                    done += 1
            self.message_user(
                request,
                ngettext(
                    "%(count)d cardholder was marked as left; their cards are blocked.",
                    "%(count)d cardholders were marked as left; their cards are blocked.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )
            return None
        return self._action_page(
            request, queryset, form, action="mark_left", title=gettext("Mark as left"), submit=gettext("Mark as left")
        )

    # --- the CSV import ---------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="cards_cardholder_import"),
            path("import/example.csv", view(self.import_example_view), name="cards_cardholder_import_example"),
            *super().get_urls(),
        ]

    def import_example_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        response = HttpResponse(holders_template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="pupils.csv"'
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload → dry run with the report → confirm. Nothing is written before the confirmation,
        and nothing at all if a row is bad (cards.imports)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        institutions = office_institutions(request)
        report: ImportReport | None = None
        payload = ""
        chosen: Institution | None = None
        if request.method == "POST" and "confirm" in request.POST:
            try:
                signed = signing.loads(request.POST.get("payload", ""), salt=IMPORT_SALT, max_age=IMPORT_MAX_AGE)
                chosen = institutions.get(pk=signed["institution"])
                data = base64.b64decode(signed["data"])
            except (signing.BadSignature, Institution.DoesNotExist, KeyError, TypeError, binascii.Error):
                self.message_user(request, gettext("The checked file has expired: upload it again."), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:cards_cardholder_import"))
            try:
                report = holders_import(data=data, institution=chosen, imported_by=request_user(request), dry_run=False)
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:cards_cardholder_import"))
            if report.imported:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d pupil was registered at %(institution)s.",
                        "%(count)d pupils were registered at %(institution)s.",
                        len(report.rows),
                    )
                    % {"count": len(report.rows), "institution": chosen},
                    messages.SUCCESS,
                )
                changelist = reverse("admin:cards_cardholder_changelist")
                return HttpResponseRedirect(f"{changelist}?{urlencode({'institution': chosen.pk})}")
            form = HolderImportForm(institutions=institutions, initial={"institution": chosen})
        else:
            form = HolderImportForm(request.POST or None, request.FILES or None, institutions=institutions)
            if request.method == "POST" and form.is_valid():
                chosen = form.cleaned_data["institution"]
                data = form.cleaned_data["file"].read()
                try:
                    report = holders_import(
                        data=data, institution=chosen, imported_by=request_user(request), dry_run=True
                    )
                except DomainError as error:
                    form_errors_add(form, error)
                else:
                    if report.valid:
                        payload = signing.dumps(
                            {"institution": chosen.pk, "data": base64.b64encode(data).decode()},
                            salt=IMPORT_SALT,
                            compress=True,
                        )
        context = admin_page_context(
            self,
            request,
            gettext("Import pupils"),
            form=form,
            report=report,
            payload=payload,
            institution=chosen,
        )
        return TemplateResponse(request, "admin/cards/cardholder/import.html", context)


# --- the replacement queue -------------------------------------------------------------------------


@admin.register(ReplacementOrder)
class ReplacementOrderAdmin(InstitutionScoped, admin.ModelAdmin):
    """The office's queue of replacement cards to hand out, oldest first.

    Orders come from guardians (payments.replacements), whose old card is blocked for good, and
    from moves to another institution (free). Nothing is added, changed or deleted here: handing
    out the new card (the card form) marks the order issued, and takes the fee at the desk if the
    guardian has not paid it yet.
    """

    institution_field = "holder__institution"
    list_display = ["created_at", "holder", "old_card", "status", "paid_with", "fee", "new_card", "hand_out"]
    list_filter = [InstitutionFilter, "status", "paid_with"]
    list_select_related = ["holder", "old_card", "new_card"]
    search_fields = ["holder__name", "=old_card__number"]
    ordering = ["created_at", "pk"]
    fields = readonly_fields = (
        "holder",
        "old_card",
        "ordered_by",
        "created_at",
        "fee",
        "paid_with",
        "status",
        "new_card",
        "issued_at",
    )

    @admin.display(description=_("fee"), ordering="fee_cents")
    def fee(self, obj: ReplacementOrder) -> str:
        return cents_to_str(obj.fee_cents)

    @admin.display(description=_("new card"))
    def hand_out(self, obj: ReplacementOrder) -> SafeString | str:
        if obj.status not in OPEN_ORDER_STATUSES:
            return ""
        query = urlencode({"holder": obj.holder_id, "replacement_order": obj.pk})
        return format_html(
            '<a class="button" href="{}?{}">{}</a>', reverse("admin:cards_card_add"), query, gettext("Hand out")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ReplacementOrder | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ReplacementOrder | None = None) -> bool:
        return False


# The cards' own pages (handing out, loaners, letters, the register) are registered there.
from cards import card_admin  # noqa: E402, F401
