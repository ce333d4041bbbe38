"""Staff till screens: pick a till, ring up sales, and the customer display (session sign-in).

Pages answer like pages (sign-in redirect, 403, 404); the JSON endpoints the pages call answer
like the API, `{"error": {"code", "message"}}`, so the page can show every refusal.
"""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from canteen.models import Sale
from canteen.selectors import product_list_for_institution
from canteen.services import LineRequest
from cards.selectors import card_find
from cardsystem.errors import DomainError, InvalidRequest
from cardsystem.money import cents_to_str, currency
from payments.idempotency import idempotent_run, request_fingerprint
from terminals.models import Terminal
from terminals.presenters import purchase_body, scan_body
from terminals.services import display_update
from terminals.till import (
    TerminalNotFound,
    scan_record_card,
    till_display_get,
    till_newest_scan_id,
    till_sale_create,
    till_scan_get,
    till_terminal_get,
    till_terminals_for_staff,
    till_user_is_staff,
)

ViewFunction = Callable[..., HttpResponse]
MAX_QUANTITY = 99


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _staff_page(view: ViewFunction) -> ViewFunction:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not till_user_is_staff(user=_user(request)):
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except TerminalNotFound:
            raise Http404 from None

    return wrapped


def _staff_json(view: ViewFunction) -> ViewFunction:
    """For the endpoints the till page calls: JSON errors instead of redirects and error pages."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _error("unauthorized", _("You are signed out."), 401)
        try:
            return view(request, *args, **kwargs)
        except TerminalNotFound:
            # Checked only when access fails, so the frequent polls pay for one query, not two.
            if not till_user_is_staff(user=_user(request)):
                return _error("forbidden", _("Only canteen staff may use the till."), 403)
            return _error("not_found", _("Not found."), 404)
        except DomainError as error:
            return JsonResponse(error.as_body(), status=error.status)

    return wrapped


def _body(request: HttpRequest) -> dict[str, Any]:
    """The request's fields, sent as JSON by the page's script or as a plain form."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise InvalidRequest(_("The body is not valid JSON.")) from None
        if not isinstance(data, dict):
            raise InvalidRequest(_("The body must be a JSON object."))
        return data
    return {key: request.POST.getlist(key) if key == "product" else request.POST.get(key) for key in request.POST}


def _int(value: Any, field: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidRequest(fields={field: [_("Expected a whole number.")]}) from None
    if number < minimum or (maximum is not None and number > maximum):
        raise InvalidRequest(fields={field: [_("The number is out of range.")]})
    return number


def _messages() -> dict[str, str]:
    """Every text the page's script shows, translated here: the script holds no text of its own."""
    return {
        "card_blocked": _("The card is blocked."),
        "debt_limit_reached": _("The debt limit is reached: the debt must be paid before buying."),
        "daily_limit_exceeded": _("The card's daily limit is reached."),
        "insufficient_funds": _("The extra balance does not cover the purchase."),
        "category_blocked": _("A guardian has blocked this kind of product for the cardholder."),
        "card_unknown": _("No card has this number or UID."),
        "invalid_request": _("The sale could not be made. Check the order and try again."),
        "idempotency_key_reused": _("The sale could not be made. Check the order and try again."),
        "not_found": _("This till is not available."),
        "forbidden": _("Only canteen staff may use the till."),
        "unauthorized": _("You are signed out. Reload the page to sign in again."),
        "network": _("No connection to the server. Try again."),
        "error": _("Something went wrong. Try again."),
        "new_scan": _("Card read: %(name)s, %(group)s."),
        "new_scan_refused": _("Card read: %(name)s. Cannot pay by card: %(reason)s"),
        "allergy_announce": _("Allergy or diet: %(note)s."),
        "paid": _("Paid %(total)s. New extra balance: %(balance)s."),
        "cash_recorded": _("Cash sale of %(total)s recorded."),
        "refused": _("Not sold: %(reason)s"),
        "no_limit": _("No daily limit"),
        "of_limit": _("Daily limit %(limit)s"),
        "remove": _("Remove %(name)s"),
        "receipt": _("Receipt %(number)s"),
        "staff_card": _("Staff card"),
        "cart_empty": _("No products yet."),
    }


@_staff_page
def till_home(request: HttpRequest) -> HttpResponse:
    terminals = list(till_terminals_for_staff(user=_user(request)))
    return render(request, "terminals/till_home.html", {"terminals": terminals})


def _newest_scan_id(terminal: Terminal) -> int:
    newest = terminal.scans.order_by("-pk").values_list("pk", flat=True).first()
    return newest or 0


@_staff_page
def till_screen(request: HttpRequest, terminal_id: int) -> HttpResponse:
    terminal = till_terminal_get(user=_user(request), terminal_id=terminal_id)
    products = list(product_list_for_institution(institution=terminal.institution))
    config = {
        "latestUrl": reverse("till:scans_latest", args=[terminal.pk]),
        "scanUrl": reverse("till:scan", args=[terminal.pk]),
        "salesUrl": reverse("till:sales", args=[terminal.pk]),
        "displayUrl": reverse("till:display_state", args=[terminal.pk]),
        # Scans from before the page opened belong to earlier customers.
        "after": _newest_scan_id(terminal),
        "currency": currency(),
        "messages": _messages(),
    }
    return render(
        request,
        "terminals/till.html",
        {
            "terminal": terminal,
            "products": [(product, cents_to_str(product.price_cents)) for product in products],
            "currency": currency(),
            "config": config,
        },
    )


@_staff_page
def display_screen(request: HttpRequest, terminal_id: int) -> HttpResponse:
    terminal = till_terminal_get(user=_user(request), terminal_id=terminal_id)
    config = {
        "stateUrl": reverse("till:display_state", args=[terminal.pk]),
        "currency": currency(),
        "messages": {
            "welcome": _("Welcome!"),
            "your_order": _("Your order"),
            "hello": _("Hello %(name)s!"),
            "thanks": _("Thank you!"),
            "thanks_name": _("Thank you, %(name)s!"),
        },
    }
    return render(request, "terminals/display.html", {"terminal": terminal, "config": config})


@require_GET
@_staff_json
def scans_latest(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """The till's newest scan if newer than `?after=`; 204 while there is none, which is most of the time."""
    after = _int(request.GET.get("after", 0), "after")
    newest = till_newest_scan_id(user=_user(request), terminal_id=terminal_id, after=after)
    if newest is None:
        return HttpResponse(status=204)
    return JsonResponse(scan_body(till_scan_get(terminal_id=terminal_id, scan_id=newest)))


@require_POST
@_staff_json
def scan_typed(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """A card number or UID typed at the till, by hand or by a USB reader that types like a keyboard."""
    terminal = till_terminal_get(user=_user(request), terminal_id=terminal_id)
    text = _body(request).get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        raise InvalidRequest(fields={"text": [_("Type a card number or UID.")]})
    result = scan_record_card(terminal=terminal, card=card_find(text=text))
    return JsonResponse(scan_body(result))


def _sale_input(data: dict[str, Any]) -> dict[str, Any]:
    payment = data.get("payment") or Sale.Payment.CARD
    if payment not in Sale.Payment.values:
        raise InvalidRequest(fields={"payment": [_("Pay by card or in cash.")]})
    scan = data.get("scan")
    scan_id = None if scan in (None, "") else _int(scan, "scan", minimum=1)
    if "lines" in data:
        raw_lines = data["lines"]
        if not isinstance(raw_lines, list) or not raw_lines:
            raise InvalidRequest(fields={"lines": [_("At least one line is needed.")]})
        quantities: dict[int, int] = {}
        for line in raw_lines:
            if not isinstance(line, dict):
                raise InvalidRequest(fields={"lines": [_("Every line needs a product and a quantity.")]})
            product = _int(line.get("product"), "lines", minimum=1)
            quantity = _int(line.get("quantity", 1), "lines", minimum=1, maximum=MAX_QUANTITY)
            quantities[product] = quantities.get(product, 0) + quantity
    else:
        # A plain form names one product per unit sold.
        quantities = {}
        for value in data.get("product") or []:
            product = _int(value, "product", minimum=1)
            quantities[product] = quantities.get(product, 0) + 1
    if not quantities:
        raise InvalidRequest(fields={"lines": [_("At least one line is needed.")]})
    lines = [{"product": product, "quantity": quantity} for product, quantity in sorted(quantities.items())]
    return {"scan": scan_id, "lines": lines, "payment": payment}


def _idempotency_key(request: HttpRequest) -> str:
    key = request.headers.get("Idempotency-Key") or request.POST.get("idempotency_key") or ""
    if not 1 <= len(key) <= 64:
        raise InvalidRequest(fields={"Idempotency-Key": [_("Each sale needs a key of 1 to 64 characters.")]})
    return key


@require_POST
@_staff_json
def sale_create(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """Sell the order; the page sends one key per sale, so a double tap or a retry sells once."""
    user = _user(request)
    terminal = till_terminal_get(user=user, terminal_id=terminal_id)
    key = _idempotency_key(request)
    data = _sale_input(_body(request))

    def run() -> tuple[int, dict[str, Any]]:
        sale = till_sale_create(
            terminal=terminal,
            user=user,
            scan_id=data["scan"],
            lines=[LineRequest(product_id=line["product"], quantity=line["quantity"]) for line in data["lines"]],
            payment=data["payment"],
        )
        return 201, purchase_body(sale)

    fingerprint = request_fingerprint(method="POST", path=request.path, body=data)
    status, body = idempotent_run(caller=f"user:{user.pk}", key=key, fingerprint=fingerprint, run=run)
    return JsonResponse(body, status=status)


@require_http_methods(["GET", "POST"])
@_staff_json
def display_state(request: HttpRequest, terminal_id: int) -> HttpResponse:
    """GET: what the customer display shows (204 if still `?version=`); POST: the till shows a new state."""
    user = _user(request)
    if request.method == "POST":
        terminal = till_terminal_get(user=user, terminal_id=terminal_id)
        state = display_update(terminal=terminal, payload=_body(request))
        return JsonResponse({"version": state.version}, status=200)
    known = request.GET.get("version")
    shown = till_display_get(user=user, terminal_id=terminal_id)
    if known is not None and _int(known, "version") == shown.version:
        return HttpResponse(status=204)
    return JsonResponse({"version": shown.version, "currency": currency(), "payload": shown.payload})
