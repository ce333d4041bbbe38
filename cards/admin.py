"""Back office for cardholders and their chip cards.

Cards are never deleted (a lost or replaced card is blocked), and neither are cardholders: their
cards, sales and ledger accounts point at them. Balances are read from the holder's ledger
accounts through the reverse relation by name, so this module does not import `payments`
(which sits above `cards`).
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from cards.models import Card, Cardholder, PriceCategory, ReplacementOrder
from cards.services import card_issue
from cards.uids import InvalidUid, normalize_uid
from cardsystem.forms import MoneyField
from cardsystem.money import cents_to_str

STAFF_KINDS = (Card.Kind.TEACHER, Card.Kind.CASHIER)
ADD_FIELDS = ("uid", "number", "kind", "holder", "staff_user", "daily_limit_cents", "activation_code")
CHANGE_READONLY_FIELDS = ("number", "uid", "kind", "status", "status_reason", "holder", "staff_user", "issued_at")


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
    fields = readonly_fields = ("number", "uid", "kind", "status", "status_reason", "issued_at")
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Cardholder | None) -> bool:  # type: ignore[override]
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Cardholder | None = None) -> bool:
        return False


@admin.register(Cardholder)
class CardholderAdmin(admin.ModelAdmin):
    list_display = ["name", "institution", "group", "price_category", "main_balance", "extra_balance"]
    list_filter = ["institution", "group"]
    list_select_related = ["institution", "price_category"]
    search_fields = ["name", "=cards__number"]
    fields = [
        "name",
        "institution",
        "group",
        "price_category",
        "photo",
        "allergy_note",
        "main_balance",
        "extra_balance",
        "created_at",
    ]
    readonly_fields = ["institution", "main_balance", "extra_balance", "created_at"]
    inlines = [CardInline]

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

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new cardholder needs its main and extra ledger accounts opened with it
        # (payments.ledger.holder_accounts_open), which this layer cannot call.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Cardholder | None = None) -> bool:
        return False


class CardForm(forms.ModelForm):
    daily_limit_cents = MoneyField(
        label=_("daily limit"),
        required=False,
        min_cents=0,
        help_text=_("Leave empty for no limit."),
    )

    class Meta:
        model = Card
        fields = ADD_FIELDS

    def clean_uid(self) -> str:
        try:
            return normalize_uid(self.cleaned_data["uid"])
        except InvalidUid as error:
            raise ValidationError(_("The UID must be 4, 7 or 10 bytes of hex digits."), code="invalid_uid") from error

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk is None:
            kind = cleaned.get("kind")
            if kind in STAFF_KINDS and cleaned.get("staff_user") is None:
                self.add_error("staff_user", _("A teacher or cashier card belongs to a member of staff."))
            if kind not in STAFF_KINDS and cleaned.get("holder") is None:
                self.add_error("holder", _("A regular or loaner card belongs to a cardholder."))
        return cleaned


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    form = CardForm
    list_display = ["number", "uid", "kind", "status", "holder", "staff_user"]
    list_filter = ["status", "kind"]
    list_select_related = ["holder", "staff_user"]
    search_fields = ["=number", "=uid"]
    autocomplete_fields = ["holder", "staff_user"]

    def get_fields(self, request: HttpRequest, obj: Card | None = None) -> tuple[str, ...]:
        if obj is None:
            return ADD_FIELDS
        return (*CHANGE_READONLY_FIELDS, "daily_limit_cents")

    def get_readonly_fields(self, request: HttpRequest, obj: Card | None = None) -> tuple[str, ...]:
        # A card's chip, number and owner never change (a replacement is a new card), and its
        # status changes only through the card services.
        return () if obj is None else CHANGE_READONLY_FIELDS

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
        if change:
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        card = card_issue(
            uid=data["uid"],
            number=data["number"],
            holder=data.get("holder"),
            staff_user=data.get("staff_user"),
            kind=data["kind"],
            activation_code=data.get("activation_code", ""),
        )
        if data.get("daily_limit_cents") is not None:
            card.daily_limit_cents = data["daily_limit_cents"]
            card.save(update_fields=["daily_limit_cents"])
        # The admin goes on with `obj` (log entry, redirect): make it the issued card.
        obj.pk = card.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def has_delete_permission(self, request: HttpRequest, obj: Card | None = None) -> bool:
        return False


@admin.register(ReplacementOrder)
class ReplacementOrderAdmin(admin.ModelAdmin):
    """The office's queue of replacement cards to print, oldest first.

    Orders come from guardians (payments.replacements), who have already paid and whose old card is
    blocked for good, so nothing is added or deleted here and the money is read-only; the office
    moves an order on by its status. Issuing the new card is a later back-office step.
    """

    list_display = ["created_at", "holder", "old_card", "status", "paid_with", "fee"]
    list_filter = ["status", "paid_with"]
    list_select_related = ["holder", "old_card"]
    search_fields = ["holder__name", "=old_card__number"]
    ordering = ["created_at", "pk"]
    fields = ["holder", "old_card", "ordered_by", "created_at", "fee", "paid_with", "status", "new_card", "issued_at"]
    readonly_fields = ["holder", "old_card", "ordered_by", "created_at", "fee", "paid_with", "new_card", "issued_at"]

    @admin.display(description=_("fee"), ordering="fee_cents")
    def fee(self, obj: ReplacementOrder) -> str:
        return cents_to_str(obj.fee_cents)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ReplacementOrder | None = None) -> bool:
        return False
