"""The teacher's info-terminal screen (session sign-in): teacher card, class, pupils, confirmation, receipt [PZ].

Plain forms and redirects, so every step works without script; `class_meal.js` adds the card
reader (a card laid on the terminal's reader is taken as the teacher's, as the till takes a
pupil's) and the count of ticked pupils. The teacher card is remembered for this terminal in the
session for a few idle minutes, so a teacher can confirm several classes with one scan and the
next person at the terminal cannot use it.

Confirming goes through the same service and idempotency record as the API: the form carries a key,
so a double tap or a reload confirms once.
"""

import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from canteen.class_meal_receipts import class_meal_receipt_context, class_meal_receipt_pdf
from canteen.class_meals import (
    ClassMealConfirmed,
    Outcome,
    class_meal_confirm,
    class_meal_groups,
    class_meal_pupils,
    class_meal_receipt_get,
)
from canteen.errors import NotASchoolDay
from canteen.meal_calendar import local_today, school_day_get
from canteen.models import ClassMeal
from cards.models import Card
from cardsystem.errors import DomainError, NotFound
from payments.idempotency import idempotent_run, request_fingerprint
from terminals.class_meal_apis import class_meal_body
from terminals.class_meal_screen import (
    InfoTerminalNotFound,
    class_meal_user_is_teacher,
    info_terminal_get,
    info_terminal_newest_card,
    info_terminals_for_staff,
    teacher_card_find,
    teacher_card_get,
)
from terminals.models import Terminal

ViewFunction = Callable[..., HttpResponse]
TEACHER_KEY = "class_meal_teacher"
RESULT_KEY = "class_meal_result"
# How long a teacher card stays on the terminal without anything happening.
TEACHER_IDLE_SECONDS = 5 * 60


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _teacher_page(view: ViewFunction) -> ViewFunction:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not class_meal_user_is_teacher(user=_user(request)):
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except InfoTerminalNotFound:
            raise Http404 from None

    return wrapped


def _json_error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


# --- the teacher card remembered for the terminal -------------------------------------------------


def _remember(request: HttpRequest, terminal: Terminal, card: Card) -> None:
    request.session[TEACHER_KEY] = {
        "terminal": terminal.pk,
        "card": card.pk,
        "until": time.time() + TEACHER_IDLE_SECONDS,
    }


def _forget(request: HttpRequest) -> None:
    request.session.pop(TEACHER_KEY, None)
    request.session.pop(RESULT_KEY, None)


def _teacher_card(request: HttpRequest, terminal: Terminal) -> Card | None:
    """The teacher card laid on this terminal, if still valid; each use restarts the idle time."""
    data = request.session.get(TEACHER_KEY)
    if not isinstance(data, dict) or data.get("terminal") != terminal.pk or data.get("until", 0) < time.time():
        _forget(request)
        return None
    try:
        card = teacher_card_get(terminal=terminal, card_id=int(data["card"]))
    except DomainError:  # blocked or no longer a teacher's since it was read
        _forget(request)
        return None
    _remember(request, terminal, card)
    return card


def _card_first(request: HttpRequest, terminal: Terminal) -> HttpResponse:
    messages.info(request, _("Lay your teacher card on the reader, or type its number."))
    return redirect("class_meals:screen", terminal.pk)


# --- pages ------------------------------------------------------------------------------------------


@require_GET
@_teacher_page
def home(request: HttpRequest) -> HttpResponse:
    terminals = list(info_terminals_for_staff(user=_user(request)))
    return render(request, "terminals/class_meal_home.html", {"terminals": terminals})


@require_http_methods(["GET", "POST"])
@_teacher_page
def card_step(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """Step 1: the teacher card, read by the terminal's reader or typed (number or UID)."""
    terminal = info_terminal_get(user=_user(request), terminal_id=terminal_id)
    error, status, text = None, 200, ""
    if request.method == "POST":
        text = (request.POST.get("text") or "").strip()
        if not text or len(text) > 64:
            error, status = _("Type the teacher card's number or UID."), 400
        else:
            try:
                card = teacher_card_find(terminal=terminal, text=text)
            except DomainError as refusal:
                error, status = refusal.message, refusal.status
            else:
                _remember(request, terminal, card)
                return redirect("class_meals:classes", terminal.pk)
    elif _teacher_card(request, terminal) is not None:
        return redirect("class_meals:classes", terminal.pk)
    newest = terminal.scans.order_by("-pk").values_list("pk", flat=True).first()
    config = {
        "latestUrl": reverse("class_meals:scans_latest", args=[terminal.pk]),
        # Cards read before the page opened belong to someone else.
        "after": newest or 0,
        "messages": {"reading": _("Card read: %(number)s. Checking…"), "network": _("No connection. Trying again…")},
    }
    return render(
        request,
        "terminals/class_meal_card.html",
        {"terminal": terminal, "step": 1, "error": error, "text": text, "config": config},
        status=status,
    )


@require_GET
def scans_latest(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """The terminal's newest card read if newer than `?after=`; 204 while there is none."""
    if not request.user.is_authenticated:
        return _json_error("unauthorized", _("You are signed out."), 401)
    try:
        terminal = info_terminal_get(user=_user(request), terminal_id=terminal_id)
    except InfoTerminalNotFound:
        return _json_error("not_found", _("Not found."), 404)
    try:
        after = int(request.GET.get("after", "0"))
    except ValueError:
        return _json_error("invalid_request", _("Expected a whole number."), 400)
    newest = info_terminal_newest_card(terminal=terminal, after=after)
    if newest is None:
        return HttpResponse(status=204)
    return JsonResponse({"scan_id": newest[0], "number": newest[1]})


@require_GET
@_teacher_page
def classes(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """Step 2: the class, each with today's confirmation if it has one."""
    terminal = info_terminal_get(user=_user(request), terminal_id=terminal_id)
    card = _teacher_card(request, terminal)
    if card is None:
        return _card_first(request, terminal)
    today = local_today(institution=terminal.institution)
    try:
        day = school_day_get(institution=terminal.institution, date=today)
    except NotASchoolDay:
        day = None
    rows = class_meal_groups(institution=terminal.institution, date=today) if day else []
    return render(
        request,
        "terminals/class_meal_classes.html",
        {"terminal": terminal, "step": 2, "card": card, "day": day, "today": today, "classes": rows},
    )


@require_http_methods(["GET", "POST"])
@_teacher_page
def pupils(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """Step 3: the pupils of the class, those with an order ticked; the teacher ticks and confirms."""
    terminal = info_terminal_get(user=_user(request), terminal_id=terminal_id)
    card = _teacher_card(request, terminal)
    if card is None:
        return _card_first(request, terminal)
    source = request.POST if request.method == "POST" else request.GET
    group = (source.get("group") or "").strip()
    today = local_today(institution=terminal.institution)
    try:
        day = school_day_get(institution=terminal.institution, date=today)
    except NotASchoolDay:
        messages.error(request, _("No meals are served today."))
        return redirect("class_meals:classes", terminal.pk)
    confirmed = ClassMeal.objects.filter(school_day=day, group=group).values_list("pk", flat=True).first()
    if confirmed is not None and request.method == "GET":
        return redirect("class_meals:done", terminal.pk, confirmed)
    rows = class_meal_pupils(institution=terminal.institution, group=group, date=today)
    if not rows:
        raise Http404
    ticked = {row.holder_id for row in rows if row.ordered and not row.served}
    error, status = None, 200
    if request.method == "POST":
        served = sorted({int(value) for value in request.POST.getlist("served") if value.isdigit()})
        answer_status, body = _confirm(request, terminal=terminal, card=card, group=group, served=served)
        if answer_status == 201:
            request.session[RESULT_KEY] = {"id": body["id"], "pupils": body["pupils"]}
            return redirect("class_meals:done", terminal.pk, body["id"])
        detail = body["error"]
        error = " ".join([detail["message"], *(m for ms in detail.get("fields", {}).values() for m in ms)])
        status, ticked = answer_status, set(served)
    return render(
        request,
        "terminals/class_meal_pupils.html",
        {
            "terminal": terminal,
            "step": 3,
            "card": card,
            "day": day,
            "group": group,
            "rows": [(row, row.holder_id in ticked) for row in rows],
            "ticked": len(ticked),
            # A new key for each form shown: a retry of this form confirms once, a new form is a new try.
            "idempotency_key": uuid.uuid4().hex,
            "error": error,
            "config": {
                "messages": {
                    "count": _("%(ticked)s of %(total)s pupils ticked"),
                    "confirm": _("Confirm %(ticked)s pupils"),
                }
            },
        },
        status=status,
    )


def _confirm(
    request: HttpRequest, *, terminal: Terminal, card: Card, group: str, served: list[int]
) -> tuple[int, dict[str, Any]]:
    key = request.POST.get("idempotency_key") or ""
    if not 1 <= len(key) <= 64:
        key = uuid.uuid4().hex  # a form from elsewhere: confirm it once all the same

    def run() -> tuple[int, dict[str, Any]]:
        confirmed: ClassMealConfirmed = class_meal_confirm(
            institution=terminal.institution,
            teacher_card=card,
            group=group,
            served_holder_ids=served,
            terminal_id=terminal.pk,
            place=terminal.name,
        )
        return 201, class_meal_body(confirmed)

    fingerprint = request_fingerprint(
        method="POST", path=request.path, body={"card": card.pk, "group": group, "served": served}
    )
    return idempotent_run(caller=f"user:{_user(request).pk}", key=key, fingerprint=fingerprint, run=run)


@require_GET
@_teacher_page
def done(request: HttpRequest, terminal_id: int, class_meal_id: int) -> HttpResponse:
    """Step 4: what the confirmation did for each pupil, and the receipt."""
    terminal = info_terminal_get(user=_user(request), terminal_id=terminal_id)
    class_meal = (
        ClassMeal.objects.select_related("institution", "school_day", "teacher_card__staff_user")
        .filter(pk=class_meal_id, institution=terminal.institution)
        .first()
    )
    if class_meal is None:
        raise Http404
    result = request.session.get(RESULT_KEY)
    outcomes: dict[str, list[dict[str, Any]]] = {outcome.value: [] for outcome in Outcome}
    blocked: list[dict[str, Any]] = []
    if isinstance(result, dict) and result.get("id") == class_meal.pk:
        for pupil in result["pupils"]:
            outcomes[pupil["outcome"]].append(pupil)
            if pupil["served"] and pupil["blocked"]:
                blocked.append(pupil)
    return render(
        request,
        "terminals/class_meal_done.html",
        {
            **class_meal_receipt_context(class_meal=class_meal),
            "terminal": terminal,
            "step": 4,
            "card": _teacher_card(request, terminal),
            "charged": outcomes[Outcome.CHARGED],
            "paid_before": outcomes[Outcome.PAID_BEFORE],
            "already_served": outcomes[Outcome.ALREADY_SERVED],
            "refused": outcomes[Outcome.DEBT_LIMIT_REACHED],
            "now_blocked": blocked,
            "has_result": any(outcomes.values()),
        },
    )


@require_POST
@_teacher_page
def finish(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """The teacher takes the card away: the terminal forgets it."""
    terminal = info_terminal_get(user=_user(request), terminal_id=terminal_id)
    _forget(request)
    messages.success(request, _("Done. The teacher card is no longer in use on this terminal."))
    return redirect("class_meals:screen", terminal.pk)


# --- the receipt: a capability link, like the buffet's receipts -----------------------------------


def _receipt_class_meal(token: str) -> ClassMeal:
    try:
        return class_meal_receipt_get(token=token)
    except NotFound:
        raise Http404 from None


@require_GET
def receipt_view(request: HttpRequest, token: str) -> HttpResponse:
    class_meal = _receipt_class_meal(token)
    return render(request, "canteen/class_meal_receipt.html", class_meal_receipt_context(class_meal=class_meal))


@require_GET
def receipt_pdf_view(request: HttpRequest, token: str) -> HttpResponse:
    class_meal = _receipt_class_meal(token)
    response = HttpResponse(class_meal_receipt_pdf(class_meal=class_meal), content_type="application/pdf")
    name = f"class-meal-{class_meal.school_day.date.isoformat()}-{class_meal.pk}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response
