"""Back office for meals: rules, prices per category, the school calendar with its menus, and the
orders, subscriptions and class meals to read.

Every list and form is scoped to the institutions where the user is office, canteen or
administrator staff (superusers see all): another institution's rows are not listed, cannot be
opened (the admin answers as for a deleted row), and are not offered in a choice.
Orders and class meals are written by the meal services (ordering, the deadline job, the lunch
line, the teacher's confirmation): here they are only read.
"""

import datetime as dt
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, Role
from canteen.meal_admin_services import MAX_RANGE_DAYS, school_days_add
from canteen.meal_orders import meal_subscription_set
from canteen.models import ClassMeal, MealOrder, MealPolicy, MealPrice, MealSubscription, SchoolDay
from cards import scoping as cards_scoping
from cards.scoping import InstitutionFilter, request_institutions
from cardsystem.errors import InvalidRequest
from cardsystem.forms import MoneyField
from cardsystem.money import cents_to_str
from payments.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline

# The roles whose institutions a member of staff works on in the meal back office.
SCOPE_ROLES = (Role.OFFICE, Role.CANTEEN, Role.ADMIN)


def admin_institutions(request: HttpRequest) -> QuerySet[Institution]:
    """The institutions the signed-in member of staff may see and change here."""
    return request_institutions(request, SCOPE_ROLES)


class InstitutionScoped(cards_scoping.InstitutionScoped):
    """The cards back office's scoping, with canteen staff's institutions too."""

    scope_roles = SCOPE_ROLES


# --- rules and prices ----------------------------------------------------------------------------


@admin.register(MealPolicy)
class MealPolicyAdmin(InstitutionScoped, admin.ModelAdmin):
    list_display = [
        "institution",
        "order_deadline",
        "serving_start",
        "serving_end",
        "option2_minimum",
        "walk_ins_allowed",
        "kitchen_email",
    ]
    list_filter = [InstitutionFilter]
    list_select_related = ["institution"]
    fields = [
        "institution",
        "order_deadline",
        "serving_start",
        "serving_end",
        "option2_minimum",
        "walk_ins_allowed",
        "kitchen_email",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: MealPolicy | None = None) -> tuple[str, ...]:
        return ("institution",) if obj is not None else ()


class MealPriceForm(forms.ModelForm):
    # Zero is a price: a free meal (e.g. low-income grades in some municipalities).
    price_cents = MoneyField(label=_("price"), min_cents=0, help_text=_("For example 25.00."))

    class Meta:
        model = MealPrice
        fields = ["institution", "price_category", "price_cents"]


@admin.register(MealPrice)
class MealPriceAdmin(InstitutionScoped, admin.ModelAdmin):
    form = MealPriceForm
    list_display = ["price_category", "institution", "price"]
    list_filter = [InstitutionFilter, "price_category"]
    list_select_related = ["institution", "price_category"]
    ordering = ["institution__name", "price_category__name"]

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: MealPrice) -> str:
        return cents_to_str(obj.price_cents)


# --- the calendar --------------------------------------------------------------------------------


class MonthFilter(admin.SimpleListFilter):
    """The months that have school days (of the user's institutions)."""

    title = _("month")
    parameter_name = "month"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        months = model_admin.get_queryset(request).dates("date", "month", order="DESC")
        return [(month.strftime("%Y-%m"), formats.date_format(month, "YEAR_MONTH_FORMAT")) for month in months]

    def queryset(self, request: HttpRequest, queryset: QuerySet[SchoolDay]) -> QuerySet[SchoolDay]:
        value = self.value()
        if value and re.fullmatch(r"[0-9]{4}-[0-9]{2}", value):
            year, month = (int(part) for part in value.split("-"))
            return queryset.filter(date__year=year, date__month=month)
        return queryset


class SchoolDayForm(forms.ModelForm):
    # Set by clean(): the admin warns after saving a day on a Saturday or Sunday.
    weekend_warning = False

    class Meta:
        model = SchoolDay
        fields = ["institution", "date", "option1", "option1_allergens", "option2", "option2_allergens"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        day = self.instance
        if day.pk is not None and day.option2 and not cleaned.get("option2"):
            chosen = day.orders.filter(option=2).exclude(status=MealOrder.Status.CANCELLED).count()
            if chosen:
                self.add_error(
                    "option2",
                    ngettext(
                        "%(count)s order is for option 2: it cannot be taken off the menu.",
                        "%(count)s orders are for option 2: it cannot be taken off the menu.",
                        chosen,
                    )
                    % {"count": chosen},
                )
        if cleaned.get("date") and cleaned["date"].weekday() >= 5:
            # Allowed (a Saturday event day), but most likely a slip of the calendar.
            self.weekend_warning = True
        return cleaned


class SchoolDaysAddForm(forms.Form):
    """The "add school days" tool: a menu for every weekday of a range, holidays left out."""

    institution = forms.ModelChoiceField(label=_("institution"), queryset=Institution.objects.none())
    first = forms.DateField(label=_("first day"), widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(
        label=_("last day"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("At most %(days)s days at a time.") % {"days": MAX_RANGE_DAYS},
    )
    holidays = forms.CharField(
        label=_("holidays"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40}),
        help_text=_(
            "Days without meals, one per line as 2026-12-24, or a period as 2026-12-21..2027-01-01. "
            "Saturdays and Sundays are left out anyway."
        ),
    )
    option1 = forms.CharField(label=_("option 1"), max_length=200)
    option1_allergens = forms.CharField(label=_("option 1 allergens"), max_length=200, required=False)
    option2 = forms.CharField(
        label=_("option 2"), max_length=200, required=False, help_text=_("Empty: no second option.")
    )
    option2_allergens = forms.CharField(label=_("option 2 allergens"), max_length=200, required=False)

    def __init__(self, *args: Any, institutions: QuerySet[Institution], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["institution"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = institutions

    def clean_holidays(self) -> set[dt.date]:
        dates: set[dt.date] = set()
        for item in re.split(r"[\s,;]+", self.cleaned_data["holidays"].strip()):
            if not item:
                continue
            start, _sep, end = item.partition("..")
            try:
                first = dt.date.fromisoformat(start)
                last = dt.date.fromisoformat(end) if end else first
            except ValueError:
                raise forms.ValidationError(
                    gettext("Not a date: %(item)s. Write dates as 2026-12-24."), params={"item": item}, code="invalid"
                ) from None
            if last < first or (last - first).days > MAX_RANGE_DAYS:
                raise forms.ValidationError(gettext("Not a period: %(item)s."), params={"item": item}, code="invalid")
            dates.update(first + dt.timedelta(days=n) for n in range((last - first).days + 1))
        return dates


@admin.register(SchoolDay)
class SchoolDayAdmin(InstitutionScoped, admin.ModelAdmin):
    form = SchoolDayForm
    change_list_template = "admin/canteen/schoolday/change_list.html"
    list_display = ["date", "weekday", "institution", "option1", "option2", "orders", "kitchen"]
    list_display_links = ["date"]
    list_filter = [InstitutionFilter, MonthFilter]
    list_select_related = ["institution"]
    ordering = ["institution__name", "date"]
    search_fields = ["option1", "option2"]
    fields = [
        "institution",
        "date",
        "option1",
        "option1_allergens",
        "option2",
        "option2_allergens",
        "option2_dropped",
        "orders_closed_at",
        "kitchen_notified_at",
    ]
    # Set by the deadline job, each once.
    job_fields = ("option2_dropped", "orders_closed_at", "kitchen_notified_at")

    def get_readonly_fields(self, request: HttpRequest, obj: SchoolDay | None = None) -> tuple[str, ...]:
        # Orders point at the day: it does not move to another date or institution.
        return self.job_fields if obj is None else ("institution", "date", *self.job_fields)

    @admin.display(description=_("weekday"))
    def weekday(self, obj: SchoolDay) -> str:
        return formats.date_format(obj.date, "l")

    @admin.display(description=_("orders"))
    def orders(self, obj: SchoolDay) -> str:
        if obj.orders_closed_at is None:
            return gettext("open")
        return gettext("closed")

    @admin.display(description=_("kitchen"))
    def kitchen(self, obj: SchoolDay) -> SafeString | str:
        try:
            url = reverse("kitchen:day", args=[obj.institution_id, obj.date.isoformat()])
        except NoReverseMatch:  # the kitchen pages are not mounted in this deployment
            return ""
        return format_html('<a href="{}">{}</a>', url, gettext("Meals and allergies"))

    def save_model(self, request: HttpRequest, obj: SchoolDay, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if getattr(form, "weekend_warning", False):
            self.message_user(request, gettext("%(date)s is a weekend day.") % {"date": obj.date}, messages.WARNING)

    def get_urls(self) -> list[URLPattern]:
        tool = path(
            "add-days/",
            self.admin_site.admin_view(self.add_days_view),
            name="canteen_schoolday_add_days",
        )
        return [tool, *super().get_urls()]

    def add_days_view(self, request: HttpRequest) -> HttpResponse:
        """The "add school days" tool: calls `school_days_add` for the range typed in."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        institutions = admin_institutions(request)
        form = SchoolDaysAddForm(request.POST or None, institutions=institutions)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = school_days_add(
                    institution=data["institution"],
                    first=data["first"],
                    last=data["last"],
                    holidays=data["holidays"],
                    option1=data["option1"],
                    option1_allergens=data["option1_allergens"],
                    option2=data["option2"],
                    option2_allergens=data["option2_allergens"],
                )
            except InvalidRequest as error:
                for name, errors in (error.fields or {}).items():
                    for message in errors:
                        form.add_error(name if name in form.fields else None, message)
            else:
                self.message_user(
                    request,
                    gettext(
                        "%(created)s school days added; left out: %(weekends)s weekend days, %(holidays)s holidays, "
                        "%(existing)s days already in the calendar (their menus are kept)."
                    )
                    % {
                        "created": len(result.created),
                        "weekends": result.weekends,
                        "holidays": result.holidays,
                        "existing": len(result.existing),
                    },
                    messages.SUCCESS,
                )
                changelist = reverse("admin:canteen_schoolday_changelist")
                return HttpResponseRedirect(f"{changelist}?institution={data['institution'].pk}")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Add school days"),
            "form": form,
            "opts": self.model._meta,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/canteen/schoolday/add_days.html", context)


# --- orders, subscriptions and class meals --------------------------------------------------------


@admin.register(MealOrder)
class MealOrderAdmin(InstitutionScoped, ReadOnlyModelAdmin):
    institution_field = "school_day__institution"
    list_display = [
        "day",
        "holder",
        "group",
        "option",
        "status",
        "source",
        "price",
        "moved_from_option2",
        "served_at",
    ]
    list_filter = [InstitutionFilter, "status", "option", "source", "moved_from_option2"]
    list_select_related = ["holder", "school_day__institution"]
    date_hierarchy = "school_day__date"
    search_fields = ["holder__name", "=holder__cards__number"]
    show_full_result_count = False
    fields = readonly_fields = (
        "school_day",
        "holder",
        "option",
        "status",
        "source",
        "moved_from_option2",
        "price",
        "ledger_transaction",
        "served_at",
        "class_meal",
        "ordered_by",
        "created_at",
        "updated_at",
    )

    @admin.display(description=_("day"), ordering="school_day__date")
    def day(self, obj: MealOrder) -> dt.date:
        return obj.school_day.date

    @admin.display(description=_("class"), ordering="holder__group")
    def group(self, obj: MealOrder) -> str:
        return obj.holder.group

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: MealOrder) -> str:
        return "" if obj.price_cents is None else cents_to_str(obj.price_cents)


class MealSubscriptionForm(forms.ModelForm):
    class Meta:
        model = MealSubscription
        fields = ["holder"]


@admin.register(MealSubscription)
class MealSubscriptionAdmin(InstitutionScoped, admin.ModelAdmin):
    """Subscribers get option 1 on every school day; added and ended here, never edited."""

    institution_field = "holder__institution"
    form = MealSubscriptionForm
    list_display = ["holder", "group", "institution", "created_by", "created_at"]
    list_filter = [InstitutionFilter]
    list_select_related = ["holder__institution", "created_by"]
    search_fields = ["holder__name", "=holder__cards__number"]
    ordering = ["holder__name"]

    @admin.display(description=_("class"), ordering="holder__group")
    def group(self, obj: MealSubscription) -> str:
        return obj.holder.group

    @admin.display(description=_("institution"), ordering="holder__institution__name")
    def institution(self, obj: MealSubscription) -> Institution:
        return obj.holder.institution

    def has_change_permission(self, request: HttpRequest, obj: MealSubscription | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: MealSubscription, form: Any, change: bool) -> None:
        holder = form.cleaned_data["holder"]
        meal_subscription_set(holder=holder, subscribed=True, changed_by=request.user)  # type: ignore[arg-type]
        # The admin goes on with `obj` (log entry, message): make it the stored subscription.
        obj.pk = MealSubscription.objects.get(holder=holder).pk
        obj.refresh_from_db()
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: MealSubscription) -> None:
        meal_subscription_set(holder=obj.holder, subscribed=False, changed_by=request.user)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MealSubscription]) -> None:
        for subscription in queryset.select_related("holder"):
            self.delete_model(request, subscription)


class ClassMealOrderInline(ReadOnlyTabularInline):
    model = MealOrder
    fk_name = "class_meal"
    fields = readonly_fields = ("holder", "option", "status", "price", "served_at")

    @admin.display(description=_("price"))
    def price(self, obj: MealOrder) -> str:
        return "" if obj.price_cents is None else cents_to_str(obj.price_cents)


@admin.register(ClassMeal)
class ClassMealAdmin(InstitutionScoped, ReadOnlyModelAdmin):
    list_display = ["day", "group", "institution", "teacher_card", "place", "pupils", "confirmed_at"]
    list_filter = [InstitutionFilter]
    list_select_related = ["institution", "school_day", "teacher_card"]
    date_hierarchy = "school_day__date"
    search_fields = ["group", "=teacher_card__number"]
    fields = readonly_fields = ("institution", "school_day", "group", "teacher_card", "place", "confirmed_at")
    inlines = [ClassMealOrderInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClassMeal]:
        return super().get_queryset(request).annotate(pupil_count=Count("orders"))

    @admin.display(description=_("day"), ordering="school_day__date")
    def day(self, obj: ClassMeal) -> dt.date:
        return obj.school_day.date

    @admin.display(description=_("pupils served"), ordering="pupil_count")
    def pupils(self, obj: ClassMeal) -> int:
        return int(getattr(obj, "pupil_count", 0))
