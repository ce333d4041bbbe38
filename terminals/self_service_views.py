"""The canteen's self-service screen: a pupil holds their card to the reader and picks option 1 or 2
(or no meal) for the coming school days that are still open [SL].

The screen runs on a terminal signed in by canteen staff, like the till screen, and learns of card
reads the same way: the terminal's reader posts them to `POST /api/v1/terminal/scans`, and the
page asks for the terminal's newest scan. A card number or UID can also be typed (or typed by a
USB reader that acts as a keyboard). Only the terminal's newest scan, for a few minutes, may
order: the next pupil's card, or the back button, never reaches the previous pupil's meals.
"""

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from canteen.meal_orders import meal_order_cancel, meal_order_place
from canteen.meal_selectors import holder_meal_days_open
from canteen.models import MealOrder
from cards.models import Card
from cards.selectors import card_find
from cardsystem.errors import DomainError
from terminals.models import Scan, Terminal
from terminals.till import (
    TerminalNotFound,
    scan_record_card,
    till_newest_scan_id,
    till_terminal_get,
    till_terminals_for_staff,
    till_user_is_staff,
)

ViewFunction = Callable[..., HttpResponse]

OPEN_DAYS = 5
# A pupil's choices are accepted this long after their card was read; then the card is read again.
SCAN_VALID_FOR = dt.timedelta(minutes=3)
# The pupil's page goes back to the waiting screen after this long without a tap.
IDLE_SECONDS = 60
POLL_MS = 400
RETRY_MS = 2000
MAX_ID = 2**63 - 1
CANCEL = "cancel"
# A debt-blocked card may still order: the meal is paid at the deadline if the debt is paid by then.
ORDERING_STATUSES = (Card.Status.ACTIVE, Card.Status.DEBT_BLOCKED)


class MealChoiceForm(forms.Form):
    date = forms.DateField(input_formats=["%Y-%m-%d"])
    choice = forms.ChoiceField(choices=[("1", "1"), ("2", "2"), (CANCEL, CANCEL)])


class CardTextForm(forms.Form):
    text = forms.CharField(max_length=64, strip=True)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _staff_page(view: ViewFunction) -> ViewFunction:
    """Pages for canteen staff only, as the till's: another institution's terminal is a 404."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not till_user_is_staff(user=_user(request)):
            raise PermissionDenied
        if any(isinstance(value, int) and value > MAX_ID for value in kwargs.values()):
            raise Http404
        try:
            return view(request, *args, **kwargs)
        except TerminalNotFound:
            raise Http404 from None

    return wrapped


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _poll_config(terminal: Terminal, after: int) -> dict[str, Any]:
    return {
        "latestUrl": reverse("self_service:scans_latest", args=[terminal.pk]),
        "after": after,
        "pollMs": POLL_MS,
        "retryMs": RETRY_MS,
    }


def _newest_scan_id(terminal: Terminal) -> int:
    return terminal.scans.order_by("-pk").values_list("pk", flat=True).first() or 0


def _pupil_url(terminal: Terminal, scan_id: int, anchor: str = "") -> str:
    url = reverse("self_service:pupil", args=[terminal.pk, scan_id])
    return f"{url}#{anchor}" if anchor else url


def self_service_scan_get(*, terminal: Terminal, scan_id: int, now: dt.datetime | None = None) -> Scan | None:
    """The scan if it may still order: the terminal's newest, and read less than SCAN_VALID_FOR ago."""
    moment = now or timezone.now()
    if scan_id != _newest_scan_id(terminal):
        return None
    return (
        Scan.objects.select_related("card__holder__institution")
        .filter(terminal=terminal, pk=scan_id, created_at__gt=moment - SCAN_VALID_FOR)
        .first()
    )


def self_service_refusal(*, terminal: Terminal, card: Card) -> str | None:
    """Why this card cannot order meals at this terminal, as the pupil should read it; None if it can."""
    if card.holder is None:
        return _("This card cannot order meals.")
    if card.status not in ORDERING_STATUSES:
        return _("This card is blocked. Ask at the office.")
    if card.holder.institution_id != terminal.institution_id:
        return _("Meals for %(school)s are ordered there or on the web.") % {"school": card.holder.institution.name}
    return None


@_staff_page
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    terminals = list(till_terminals_for_staff(user=_user(request)))
    return render(request, "terminals/self_service_home.html", {"terminals": terminals})


def _waiting(request: HttpRequest, terminal: Terminal, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "terminal": terminal,
        "error": error,
        # Scans from before the page opened belong to earlier pupils.
        "config": _poll_config(terminal, _newest_scan_id(terminal)),
    }
    return render(request, "terminals/self_service.html", context, status=status)


@_staff_page
@require_GET
def screen(request: HttpRequest, terminal_id: int) -> HttpResponse:
    terminal = till_terminal_get(user=_user(request), terminal_id=terminal_id)
    return _waiting(request, terminal)


@_staff_page
@require_POST
def card_typed(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """A card number or UID typed on the screen, by hand or by a reader that types like a keyboard."""
    terminal = till_terminal_get(user=_user(request), terminal_id=terminal_id)
    form = CardTextForm(request.POST)
    if not form.is_valid():
        return _waiting(request, terminal, error=_("Type a card number or UID."), status=400)
    try:
        card = card_find(text=form.cleaned_data["text"])
    except DomainError as error:
        return _waiting(request, terminal, error=error.message, status=error.status)
    result = scan_record_card(terminal=terminal, card=card)
    return redirect(_pupil_url(terminal, result.scan.pk))


@require_GET
def scans_latest(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """The page's question: a card read at this terminal after `?after=`? 204 while none, else where to go."""
    if not request.user.is_authenticated:
        return _error("unauthorized", _("You are signed out."), 401)
    after_text = request.GET.get("after", "0")
    if not after_text.isdigit() or int(after_text) > MAX_ID or terminal_id > MAX_ID:
        return _error("invalid_request", _("The request is not valid."), 400)
    try:
        newest = till_newest_scan_id(user=_user(request), terminal_id=terminal_id, after=int(after_text))
    except TerminalNotFound:
        if not till_user_is_staff(user=_user(request)):
            return _error("forbidden", _("Only canteen staff may open this screen."), 403)
        return _error("not_found", _("Not found."), 404)
    if newest is None:
        return HttpResponse(status=204)
    return JsonResponse({"scan": newest, "url": reverse("self_service:pupil", args=[terminal_id, newest])})


def _day_label(date: dt.date) -> str:
    return date_format(date, "l j F")


def _pupil_page(
    request: HttpRequest,
    terminal: Terminal,
    scan: Scan,
    *,
    errors: dict[dt.date, str] | None = None,
    refusal: str | None = None,
    page_error: str = "",
    status: int = 200,
) -> HttpResponse:
    card = scan.card
    holder = card.holder
    days = holder_meal_days_open(holder=holder, count=OPEN_DAYS) if holder is not None and refusal is None else []
    errors = errors or {}
    listed = {day.date for day in days}
    # An error about a day no longer listed (its deadline passed while the pupil chose) goes at the top.
    page_error = " ".join([page_error, *(message for date, message in errors.items() if date not in listed)]).strip()
    context = {
        "terminal": terminal,
        "scan": scan,
        "first_name": (holder.name.split() or [""])[0] if holder is not None else "",
        "holder": holder,
        "refusal": refusal,
        "page_error": page_error,
        "days": [(day, errors.get(day.date, "")) for day in days],
        "idle_seconds": IDLE_SECONDS,
        "config": _poll_config(terminal, scan.pk),
    }
    return render(request, "terminals/self_service_pupil.html", context, status=status)


@_staff_page
@require_http_methods(["GET", "POST"])
def pupil(request: HttpRequest, terminal_id: int, scan_id: int) -> HttpResponse:
    terminal = till_terminal_get(user=_user(request), terminal_id=terminal_id)
    scan = self_service_scan_get(terminal=terminal, scan_id=scan_id)
    if scan is None:
        messages.info(request, _("Hold your card to the reader again."))
        return redirect("self_service:screen", terminal_id=terminal.pk)
    refusal = self_service_refusal(terminal=terminal, card=scan.card)
    holder = scan.card.holder
    if request.method == "GET" or refusal is not None or holder is None:
        return _pupil_page(request, terminal, scan, refusal=refusal, status=200 if request.method == "GET" else 409)

    form = MealChoiceForm(request.POST)
    if not form.is_valid():
        return _pupil_page(
            request, terminal, scan, page_error=_("The choice could not be read. Try again."), status=400
        )
    date, choice = form.cleaned_data["date"], form.cleaned_data["choice"]
    try:
        if choice == CANCEL:
            meal_order_cancel(holder=holder, date=date, source=MealOrder.Source.TERMINAL)
        else:
            meal_order_place(holder=holder, date=date, option=int(choice), source=MealOrder.Source.TERMINAL)
    except DomainError as error:
        return _pupil_page(request, terminal, scan, errors={date: error.message}, status=error.status)
    if choice == CANCEL:
        messages.success(request, _("No meal on %(date)s.") % {"date": _day_label(date)})
    else:
        messages.success(request, _("Option %(option)s on %(date)s.") % {"option": choice, "date": _day_label(date)})
    return redirect(_pupil_url(terminal, scan.pk, f"day-{date.isoformat()}"))
