"""Forms of the cards back office, and what its pages share. The forms check shape and scope (every
choice is the user's own institutions' rows); the services in cards.services and cards.issuance
decide the rest."""

import datetime as dt
from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import QuerySet
from django.forms import Form
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, User
from cards.issuance import OFFICE_KINDS, OPEN_ORDER_STATUSES
from cards.models import Card, Cardholder, CardIssuance, ReplacementOrder
from cards.scoping import OFFICE_ROLES, request_institutions, staff_users
from cardsystem.errors import DomainError
from cardsystem.forms import MoneyField

REASON_MAX_LENGTH = 300


def request_user(request: HttpRequest) -> User:
    return cast(User, request.user)


def office_institutions(request: HttpRequest) -> QuerySet[Institution]:
    """Where the user registers pupils and hands out cards (viewing is wider: cards.scoping)."""
    return request_institutions(request, OFFICE_ROLES)


def form_errors_add(form: Form, error: DomainError) -> None:
    """A service's refusal shown on the form: on its field when the form has one."""
    if error.fields:
        for name, problems in error.fields.items():
            for problem in problems:
                form.add_error(name if name in form.fields else None, problem)
    else:
        form.add_error(None, error.message)


def office_reader_url() -> str | None:
    try:
        return reverse("office_reader:latest")
    except NoReverseMatch:  # the office reader is not mounted: UIDs are typed
        return None


def admin_page_context(model_admin: admin.ModelAdmin, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "has_view_permission": model_admin.has_view_permission(request),
        **extra,
    }


class CardChangeForm(forms.ModelForm):
    """What changes on a card after it is handed out: its daily limit (the rest is read-only)."""

    daily_limit_cents = MoneyField(
        label=_("daily limit"), required=False, min_cents=0, help_text=_("Leave empty for no limit.")
    )

    class Meta:
        model = Card
        fields = ["daily_limit_cents"]


class HolderAddForm(forms.ModelForm):
    guardian_email = forms.EmailField(
        label=_("guardian's e-mail address"),
        required=False,
        help_text=_("Optional. A guardian who has signed up with this address is linked at once."),
    )

    class Meta:
        model = Cardholder
        fields = ["name", "institution", "group", "price_category", "photo", "allergy_note"]


class HolderMoveForm(forms.Form):
    institution = forms.ModelChoiceField(
        label=_("move to"),
        queryset=Institution.objects.all(),
        help_text=_("Any institution of the municipality: the balances move with the pupil."),
    )
    group = forms.CharField(label=_("new class"), max_length=40, required=False)
    replace_cards = forms.BooleanField(
        label=_("replace the cards"),
        required=False,
        initial=True,
        help_text=_(
            "The cards in use are blocked for good and a free replacement waits in the new institution's queue."
        ),
    )
    reason = forms.CharField(label=_("reason"), max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))


class HolderLeaveForm(forms.Form):
    left_on = forms.DateField(
        label=_("left on"), initial=timezone.localdate, widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(label=_("reason"), max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))


class HolderImportForm(forms.Form):
    institution = forms.ModelChoiceField(label=_("institution"), queryset=Institution.objects.none())
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Columns: name, group, price_category (the category's code), allergy_note, guardian_email "
            "(optional). UTF-8; commas or semicolons."
        ),
    )

    def __init__(self, *args: Any, institutions: QuerySet[Institution], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions  # type: ignore[attr-defined]


def _holder_search(field: forms.ModelChoiceField, admin_site: admin.AdminSite) -> None:
    """Pick the cardholder by searching, through the cardholder admin (which lists only the user's
    institutions' pupils); the field's own queryset still decides what is accepted."""
    widget = AutocompleteSelect(Card._meta.get_field("holder"), admin_site)
    widget.choices = field.choices
    field.widget = widget


class CardIssueForm(forms.Form):
    """A new card handed out at the office, with the identity check for the register."""

    institution = forms.ModelChoiceField(
        label=_("institution"),
        queryset=Institution.objects.none(),
        required=False,
        help_text=_("Where the card is handed out. Empty: the cardholder's institution."),
    )
    kind = forms.ChoiceField(
        label=_("kind"), choices=[(kind.value, kind.label) for kind in OFFICE_KINDS], initial=Card.Kind.REGULAR
    )
    holder = forms.ModelChoiceField(
        label=_("cardholder"),
        queryset=Cardholder.objects.none(),
        required=False,
        help_text=_("For a regular card."),
    )
    staff_user = forms.ModelChoiceField(
        label=_("member of staff"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("For a teacher or cashier card."),
    )
    uid = forms.CharField(
        label=_("chip UID"),
        max_length=40,
        help_text=_("Hold the card to the office reader, or type the UID (hex)."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    number = forms.CharField(label=_("printed number"), max_length=20, help_text=_("The number printed on the card."))
    document_type = forms.ChoiceField(label=_("identity document checked"), choices=CardIssuance.Document.choices)
    checked_by = forms.ModelChoiceField(
        label=_("identity checked by"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Empty: you."),
    )
    received_by = forms.CharField(
        label=_("received by"),
        max_length=200,
        required=False,
        help_text=_("Who collects the card and signs the register; empty: the cardholder."),
    )
    replacement_order = forms.ModelChoiceField(
        label=_("replacement order"),
        queryset=ReplacementOrder.objects.none(),
        required=False,
        help_text=_("Empty: the cardholder's oldest open order, if there is one."),
    )
    daily_limit_cents = MoneyField(
        label=_("daily limit"),
        required=False,
        min_cents=0,
        help_text=_("Empty: the limit of the cardholder's last card."),
    )

    def __init__(
        self, *args: Any, institutions: QuerySet[Institution], admin_site: admin.AdminSite, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["institution"].queryset = institutions
        fields["holder"].queryset = Cardholder.objects.filter(institution__in=institutions, left_at__isnull=True)
        _holder_search(fields["holder"], admin_site)
        fields["staff_user"].queryset = staff_users(institutions=institutions)
        fields["checked_by"].queryset = staff_users(institutions=institutions)
        fields["replacement_order"].queryset = ReplacementOrder.objects.filter(
            holder__institution__in=institutions, status__in=OPEN_ORDER_STATUSES
        ).select_related("holder", "old_card")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, holder, staff = cleaned.get("kind"), cleaned.get("holder"), cleaned.get("staff_user")
        if kind == Card.Kind.REGULAR:
            if holder is None and "holder" not in self.errors:
                self.add_error("holder", _("A regular card belongs to a cardholder."))
            elif holder is not None and cleaned.get("institution") is None:
                cleaned["institution"] = holder.institution
        elif kind:
            if staff is None and "staff_user" not in self.errors:
                self.add_error("staff_user", _("A teacher or cashier card belongs to a member of staff."))
            if cleaned.get("institution") is None and "institution" not in self.errors:
                self.add_error("institution", _("Choose the institution where the member of staff works."))
        return cleaned


class LoanerLendForm(forms.Form):
    institution = forms.ModelChoiceField(label=_("institution"), queryset=Institution.objects.none())
    holder = forms.ModelChoiceField(label=_("pupil"), queryset=Cardholder.objects.none())
    uid = forms.CharField(
        label=_("chip UID"),
        max_length=40,
        help_text=_("Hold the loaner card to the office reader, or type the UID (hex)."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    number = forms.CharField(
        label=_("printed number"),
        max_length=20,
        required=False,
        help_text=_("Only for a loaner card used for the first time."),
    )
    document_type = forms.ChoiceField(
        label=_("identity document checked"),
        choices=CardIssuance.Document.choices,
        initial=CardIssuance.Document.KNOWN_PERSONALLY,
    )

    def __init__(
        self, *args: Any, institutions: QuerySet[Institution], admin_site: admin.AdminSite, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["institution"].queryset = institutions
        fields["holder"].queryset = Cardholder.objects.filter(institution__in=institutions, left_at__isnull=True)
        _holder_search(fields["holder"], admin_site)


class RegisterForm(forms.Form):
    institution = forms.ModelChoiceField(label=_("institution"), queryset=Institution.objects.none())
    first = forms.DateField(label=_("first day"), widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label=_("last day"), widget=forms.DateInput(attrs={"type": "date"}))

    MAX_DAYS = 366

    def __init__(self, *args: Any, institutions: QuerySet[Institution], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, last = cleaned.get("first"), cleaned.get("last")
        if isinstance(first, dt.date) and isinstance(last, dt.date):
            if last < first:
                self.add_error("last", _("The last day comes before the first."))
            elif (last - first).days >= self.MAX_DAYS:
                self.add_error("last", _("At most a year at a time."))
        return cleaned
