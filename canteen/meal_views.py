"""The guardian portal's meal calendar: a cardholder's month of school days, to order option 1 or 2
or cancel until each day's deadline [SL], and the subscription to option 1 on every school day.

Every query starts from `holder_list_for_guardian`, so another family's holder is a 404 and
nothing changes. Each form posts, the service decides, and the page redirects back to the day.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from canteen.meal_calendar import local_today
from canteen.meal_orders import meal_order_cancel, meal_order_place, meal_subscription_set
from canteen.meal_selectors import MealDay, MealMonth, holder_meal_month
from canteen.meal_serializers import FIRST_YEAR, LAST_YEAR, MAX_ID, month_parse
from canteen.models import MealOrder
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from cardsystem.errors import DomainError

CANCEL = "cancel"


class MealChoiceForm(forms.Form):
    """Shape only: which day, and option 1, option 2 or no meal."""

    date = forms.DateField(input_formats=["%Y-%m-%d"])
    choice = forms.ChoiceField(choices=[("1", "1"), ("2", "2"), (CANCEL, CANCEL)])

    def clean_date(self) -> dt.date:
        date: dt.date = self.cleaned_data["date"]
        if not FIRST_YEAR <= date.year <= LAST_YEAR:  # its month's page must exist, with both neighbours
            raise forms.ValidationError(_("No meals are served on this day."))
        return date


class SubscriptionForm(forms.Form):
    subscribed = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda value: value == "1")


@dataclass(frozen=True)
class CalendarCell:
    """A day of the month on the page: a school day with its meal, or a weekday without meals."""

    date: dt.date
    day: MealDay | None
    is_today: bool
    error: str = ""

    @property
    def anchor(self) -> str:
        return f"day-{self.date.isoformat()}"

    @property
    def column(self) -> int:
        return self.date.weekday() + 1


def _guardian(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _holder(request: HttpRequest, holder_id: int) -> Cardholder:
    holder = (
        holder_list_for_guardian(user=_guardian(request)).select_related("institution").filter(pk=holder_id).first()
        if holder_id <= MAX_ID
        else None
    )
    if holder is None:
        raise Http404
    return holder


def _month_value(first: dt.date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def _calendar_url(holder: Cardholder, first: dt.date, anchor: str = "") -> str:
    url = f"{reverse('meals:calendar', args=[holder.pk])}?month={_month_value(first)}"
    return f"{url}#{anchor}" if anchor else url


def _cells(month: MealMonth, errors: dict[dt.date, str]) -> list[CalendarCell]:
    """Every weekday of the month, and a school day that falls at a weekend."""
    by_date = {day.date: day for day in month.days}
    cells = []
    date = month.first
    while date <= month.last:
        day = by_date.get(date)
        if day is not None or date.weekday() < 5:
            cells.append(CalendarCell(date=date, day=day, is_today=date == month.today, error=errors.get(date, "")))
        date += dt.timedelta(days=1)
    return cells


def _render(
    request: HttpRequest,
    holder: Cardholder,
    first: dt.date,
    *,
    errors: dict[dt.date, str] | None = None,
    page_error: str = "",
    status: int = 200,
) -> HttpResponse:
    month = holder_meal_month(holder=holder, year=first.year, month=first.month)
    errors = errors or {}
    cells = _cells(month, errors)
    shown = {cell.date for cell in cells}
    # An error about a day not on the page (a weekend) goes at the top instead.
    page_error = " ".join([page_error, *(message for date, message in errors.items() if date not in shown)]).strip()
    context: dict[str, Any] = {
        "holder": holder,
        "month": month,
        "month_value": _month_value(first),
        "previous_value": _month_value(month.previous),
        "next_value": _month_value(month.next),
        "cells": cells,
        "has_weekend_days": any(cell.date.weekday() >= 5 for cell in cells),
        "page_error": page_error,
    }
    return render(request, "canteen/meal_calendar.html", context, status=status)


def _requested_month(text: str | None, holder: Cardholder) -> dt.date | None:
    """The first day of the month asked for ("YYYY-MM"), this month when none; None when malformed."""
    if not text:
        return local_today(institution=holder.institution).replace(day=1)
    try:
        return month_parse(text)
    except ValueError:
        return None


def _day_label(date: dt.date) -> str:
    return date_format(date, "l j F Y")


@login_required
@require_http_methods(["GET", "POST"])
def meal_calendar(request: HttpRequest, holder_id: int) -> HttpResponse:
    holder = _holder(request, holder_id)
    if request.method == "GET":
        first = _requested_month(request.GET.get("month"), holder)
        if first is None:
            this_month = local_today(institution=holder.institution).replace(day=1)
            message = _("Choose a month as YYYY-MM, for example 2026-12.")
            return _render(request, holder, this_month, page_error=message, status=400)
        return _render(request, holder, first)

    form = MealChoiceForm(request.POST)
    if not form.is_valid():
        date = form.cleaned_data.get("date")
        message = _("The choice could not be read. Try again.")
        if date is None:
            this_month = local_today(institution=holder.institution).replace(day=1)
            return _render(request, holder, this_month, page_error=message, status=400)
        return _render(request, holder, date.replace(day=1), errors={date: message}, status=400)
    date, choice = form.cleaned_data["date"], form.cleaned_data["choice"]
    guardian = _guardian(request)
    try:
        if choice == CANCEL:
            meal_order_cancel(holder=holder, date=date, cancelled_by=guardian)
        else:
            meal_order_place(
                holder=holder, date=date, option=int(choice), source=MealOrder.Source.GUARDIAN, ordered_by=guardian
            )
    except DomainError as error:
        return _render(request, holder, date.replace(day=1), errors={date: error.message}, status=error.status)
    values = {"name": holder.name, "date": _day_label(date), "option": choice}
    if choice == CANCEL:
        message = _("No meal for %(name)s on %(date)s.") % values
    else:
        message = _("Option %(option)s ordered for %(name)s on %(date)s.") % values
    messages.success(request, message)
    return redirect(_calendar_url(holder, date.replace(day=1), f"day-{date.isoformat()}"))


@login_required
@require_POST
def meal_subscription(request: HttpRequest, holder_id: int) -> HttpResponse:
    holder = _holder(request, holder_id)
    first = _requested_month(request.POST.get("month"), holder) or local_today(institution=holder.institution).replace(
        day=1
    )
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        return _render(request, holder, first, page_error=_("The choice could not be read. Try again."), status=400)
    subscribed = meal_subscription_set(
        holder=holder, subscribed=form.cleaned_data["subscribed"], changed_by=_guardian(request)
    )
    if subscribed:
        message = _("%(name)s now gets option 1 on every school day you do not choose otherwise.")
    else:
        message = _("The subscription of %(name)s is stopped: only the meals you order are served.")
    messages.success(request, message % {"name": holder.name})
    return redirect(_calendar_url(holder, first, "subscription"))
