"""Back office for chip cards: handing them out after an identity check, loaner cards for the day,
activation letters, and the issuance register (see cards.admin for the whole back office).

Every list, form choice and page shows only the user's institutions (cards.scoping).
"""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_record
from accounts.models import Institution, User
from cards.admin_forms import (
    CardChangeForm,
    CardIssueForm,
    LoanerLendForm,
    RegisterForm,
    admin_page_context,
    form_errors_add,
    office_institutions,
    office_reader_url,
    request_user,
)
from cards.issuance import activation_code_renew, card_office_issue, loaner_lend, loaner_return, loaners_lent_today
from cards.letters import activation_letters_pdf, issuance_register_pdf, register_filename
from cards.models import Card, Cardholder, CardIssuance
from cards.scoping import InstitutionFilter, InstitutionScoped
from cards.uids import InvalidUid, normalize_uid
from cardsystem.errors import DomainError
from cardsystem.money import cents_to_str

CHANGE_READONLY_FIELDS = ("number", "uid", "kind", "status", "status_reason", "holder", "staff_user", "issued_at")


@admin.register(Card)
class CardAdmin(InstitutionScoped, admin.ModelAdmin):
    list_display = ["number", "uid", "kind", "status", "holder", "staff_user", "expires_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["holder", "staff_user"]
    search_fields = ["=number", "=uid", "holder__name"]
    form = CardChangeForm
    change_form_template = "admin/cards/card/change_form.html"
    change_list_template = "admin/cards/card/change_list.html"
    actions = ["print_letters", "renew_codes"]

    def scope_q(self, institutions: QuerySet[Institution]) -> Q:
        # A teacher or cashier card has no holder: it is in scope through its member of staff.
        staff = User.objects.filter(memberships__institution__in=institutions)
        return Q(holder__institution__in=institutions) | Q(staff_user__in=staff)

    def get_fields(self, request: HttpRequest, obj: Card | None = None) -> tuple[str, ...]:
        return (*CHANGE_READONLY_FIELDS, "expires_at", "daily_limit_cents")

    def get_readonly_fields(self, request: HttpRequest, obj: Card | None = None) -> tuple[str, ...]:
        # A card's chip, number and owner never change (a replacement is a new card), and its
        # status changes only through the card services.
        return (*CHANGE_READONLY_FIELDS, "expires_at")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Card], search_term: str
    ) -> tuple[QuerySet[Card], bool]:
        # A UID is typed with spaces, colons or lower case; look it up as stored too.
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            uid = normalize_uid(search_term)
        except InvalidUid:
            return results, may_have_duplicates
        return results | queryset.filter(uid=uid), may_have_duplicates

    def save_model(self, request: HttpRequest, obj: Card, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        holder = obj.holder
        audit_record(
            actor=request_user(request),
            action="card.changed",
            target=obj,
            institution=holder.institution if holder else None,
            details={"fields": sorted(form.changed_data), "daily_limit_cents": obj.daily_limit_cents},
        )

    def has_delete_permission(self, request: HttpRequest, obj: Card | None = None) -> bool:
        return False

    def has_issue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("cards.add_cardissuance")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Adding a card is handing it out: the issuing form, with its identity check.
        return self.has_issue_permission(request)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("loaners/", view(self.loaners_view), name="cards_card_loaners"),
            path("loaners/<int:card_id>/return/", view(self.loaner_return_view), name="cards_card_loaner_return"),
            path("<int:card_id>/letter/", view(self.letter_view), name="cards_card_letter"),
            *super().get_urls(),
        ]

    def _scoped_card(self, request: HttpRequest, card_id: int) -> Card:
        card = self.get_queryset(request).select_related("holder__institution").filter(pk=card_id).first()
        if card is None:
            raise Http404
        return card

    # --- handing out a new card -------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        """The issuing form: identity check, UID from the office reader or typed, fee by the rules."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        institutions = office_institutions(request)
        initial: dict[str, Any] = {"checked_by": request.user}
        holder_id = request.GET.get("holder", "")
        if holder_id.isdigit():
            holder = Cardholder.objects.filter(pk=int(holder_id), institution__in=institutions).first()
            if holder is not None:
                initial.update(holder=holder, institution=holder.institution_id, received_by="")
        for name in ("replacement_order", "kind", "institution"):
            if request.GET.get(name):
                initial.setdefault(name, request.GET[name])
        if institutions.count() == 1:
            initial.setdefault("institution", institutions.get())
        form = CardIssueForm(
            request.POST or None, institutions=institutions, admin_site=self.admin_site, initial=initial
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    issuance = card_office_issue(
                        institution=data["institution"],
                        uid=data["uid"],
                        number=data["number"],
                        kind=data["kind"],
                        holder=data["holder"] if data["kind"] == Card.Kind.REGULAR else None,
                        staff_user=data["staff_user"] if data["kind"] != Card.Kind.REGULAR else None,
                        issued_by=request_user(request),
                        checked_by=data["checked_by"] or request_user(request),
                        document_type=data["document_type"],
                        received_by=data["received_by"],
                        replacement_order=data["replacement_order"],
                        daily_limit_cents=data["daily_limit_cents"],
                    )
            except DomainError as error:
                form_errors_add(form, error)
            else:
                card = issuance.card
                fee = (
                    gettext("a fee of %(fee)s was taken from the extra balance")
                    % {"fee": cents_to_str(issuance.fee_cents)}
                    if issuance.fee_cents
                    else gettext("free of charge")
                )
                self.message_user(
                    request,
                    format_html(
                        "{} <a href='{}'>{}</a>",
                        gettext("Card %(number)s was handed out, %(fee)s.") % {"number": card.number, "fee": fee},
                        reverse("admin:cards_card_letter", args=[card.pk]),
                        gettext("Print the activation letter"),
                    )
                    if card.kind == Card.Kind.REGULAR
                    else gettext("Card %(number)s was handed out.") % {"number": card.number},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:cards_card_change", args=[card.pk]))
        context = admin_page_context(
            self,
            request,
            gettext("Hand out a card"),
            form=form,
            media=self.media + form.media,
            reader_url=office_reader_url(),
            since=timezone.now().isoformat(),
            fee=cents_to_str(int(settings.CARD_REPLACEMENT_FEE_CENTS)),
        )
        return TemplateResponse(request, "admin/cards/card/issue.html", context)

    # --- letters --------------------------------------------------------------------------------

    def letter_view(self, request: HttpRequest, card_id: int) -> HttpResponse:
        if not self.has_issue_permission(request):
            raise PermissionDenied
        card = self._scoped_card(request, card_id)
        try:
            pdf = activation_letters_pdf(cards=[card], printed_by=request_user(request))
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:cards_card_change", args=[card.pk]))
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="activation-letter-{card.number}.pdf"'
        return response

    @admin.action(description=_("Print activation letters"), permissions=["issue"])
    def print_letters(self, request: HttpRequest, queryset: QuerySet[Card]) -> HttpResponse | None:
        cards = list(
            queryset.filter(kind=Card.Kind.REGULAR, holder__isnull=False)
            .exclude(activation_code="")
            .select_related("holder__institution")
        )
        if not cards:
            self.message_user(
                request,
                gettext("None of these cards has an unused activation code: make new codes first."),
                messages.WARNING,
            )
            return None
        response = HttpResponse(
            activation_letters_pdf(cards=cards, printed_by=request_user(request)), content_type="application/pdf"
        )
        response["Content-Disposition"] = 'inline; filename="activation-letters.pdf"'
        return response

    @admin.action(description=_("Make new activation codes"), permissions=["issue"])
    def renew_codes(self, request: HttpRequest, queryset: QuerySet[Card]) -> None:
        count = 0
        for card in queryset.filter(kind=Card.Kind.REGULAR, holder__isnull=False):
            activation_code_renew(card=card, renewed_by=request_user(request))
            count += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d card has a new activation code; the old one no longer works.",
                "%(count)d cards have new activation codes; the old ones no longer work.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    # --- loaner cards ---------------------------------------------------------------------------

    def loaners_view(self, request: HttpRequest) -> HttpResponse:
        """Today's loaner cards, and the form to lend one to a pupil who forgot theirs [SL]."""
        if not self.has_issue_permission(request):
            raise PermissionDenied
        institutions = office_institutions(request)
        initial: dict[str, Any] = {}
        if institutions.count() == 1:
            initial["institution"] = institutions.get()
        form = LoanerLendForm(
            request.POST or None, institutions=institutions, admin_site=self.admin_site, initial=initial
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                issuance = loaner_lend(
                    institution=data["institution"],
                    uid=data["uid"],
                    number=data["number"],
                    holder=data["holder"],
                    document_type=data["document_type"],
                    lent_by=request_user(request),
                )
            except DomainError as error:
                form_errors_add(form, error)
            else:
                self.message_user(
                    request,
                    gettext("Loaner card %(number)s is lent to %(name)s until the end of the day.")
                    % {"number": issuance.card.number, "name": issuance.holder},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:cards_card_loaners"))
        now = timezone.now()
        loans = [
            {"issuance": issuance, "active": _still_lent(issuance, now)}
            for issuance in loaners_lent_today(institutions=institutions, now=now)
        ]
        context = admin_page_context(
            self,
            request,
            gettext("Loaner cards today"),
            form=form,
            loans=loans,
            media=self.media + form.media,
            reader_url=office_reader_url(),
            since=now.isoformat(),
        )
        return TemplateResponse(request, "admin/cards/card/loaners.html", context)

    def loaner_return_view(self, request: HttpRequest, card_id: int) -> HttpResponse:
        if not self.has_issue_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:cards_card_loaners"))
        card = self._scoped_card(request, card_id)
        try:
            loaner_return(card=card, returned_by=request_user(request))
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(
                request, gettext("Loaner card %(number)s was handed back.") % {"number": card.number}, messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:cards_card_loaners"))


def _still_lent(issuance: CardIssuance, now: Any) -> bool:
    """Whether this lending is the card's current one and has not ended (handed back or expired)."""
    card = issuance.card
    return card.holder_id == issuance.holder_id and card.expires_at is not None and card.expires_at > now


# --- the issuance register -------------------------------------------------------------------------


@admin.register(CardIssuance)
class CardIssuanceAdmin(InstitutionScoped, admin.ModelAdmin):
    """Every card handed out, for reading; the register for signatures is printed from here."""

    list_display = [
        "issued_at",
        "card",
        "kind",
        "holder",
        "received_by",
        "document_type",
        "checked_by",
        "issued_by",
        "fee",
    ]
    list_filter = [InstitutionFilter, "document_type", "card__kind"]
    list_select_related = ["card", "holder", "checked_by", "issued_by"]
    search_fields = ["=card__number", "holder__name", "received_by"]
    date_hierarchy = "issued_at"
    change_list_template = "admin/cards/cardissuance/change_list.html"
    fields = readonly_fields = (
        "card",
        "institution",
        "holder",
        "received_by",
        "document_type",
        "checked_by",
        "issued_by",
        "issued_at",
        "fee",
        "replacement_order",
    )

    @admin.display(description=_("kind"), ordering="card__kind")
    def kind(self, obj: CardIssuance) -> str:
        return obj.card.get_kind_display()

    @admin.display(description=_("fee"), ordering="fee_cents")
    def fee(self, obj: CardIssuance) -> str:
        return cents_to_str(obj.fee_cents) if obj.fee_cents else gettext("free")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a card is handed out through the card form, which writes this row

    def has_change_permission(self, request: HttpRequest, obj: CardIssuance | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CardIssuance | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        register = path("register/", self.admin_site.admin_view(self.register_view), name="cards_cardissuance_register")
        return [register, *super().get_urls()]

    def register_view(self, request: HttpRequest) -> HttpResponse:
        """The issuance register of a day or a period as a PDF, with a column for signatures."""
        if not request.user.has_perm("cards.view_cardissuance"):
            raise PermissionDenied
        institutions = office_institutions(request)
        today = timezone.localdate()
        initial: dict[str, Any] = {"first": today, "last": today}
        if institutions.count() == 1:
            initial["institution"] = institutions.get()
        bound = "institution" in request.GET
        form = RegisterForm(request.GET if bound else None, institutions=institutions, initial=initial)
        if bound and form.is_valid():
            data = form.cleaned_data
            pdf = issuance_register_pdf(
                institution=data["institution"],
                first=data["first"],
                last=data["last"],
                printed_by=request_user(request),
            )
            response = HttpResponse(pdf, content_type="application/pdf")
            filename = register_filename(institution=data["institution"], first=data["first"], last=data["last"])
            response["Content-Disposition"] = f'inline; filename="{filename}"'
            return response
        context = admin_page_context(self, request, gettext("Card issuance register"), form=form)
        return TemplateResponse(request, "admin/cards/cardissuance/register.html", context)
