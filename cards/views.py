"""Guardian portal page for linking a new cardholder with a card number and activation code.

The overview of the guardian's cardholders is `payments.views.overview` (it shows balances).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.models import User
from cards.errors import ActivationInvalid
from cards.forms import LinkForm
from cards.services import guardianship_link

# Failed linking attempts allowed per guardian in LINK_WINDOW_SECONDS: enough for typing errors,
# far too few to guess activation codes.
LINK_FAILURES_ALLOWED = 10
LINK_WINDOW_SECONDS = 60 * 60


def _failures_key(user: User) -> str:
    return f"cards:link-failures:{user.pk}"


def _failure_count(user: User) -> int:
    return int(cache.get(_failures_key(user), 0))


def _failure_record(user: User) -> None:
    key = _failures_key(user)
    # add() starts the window with the first failure; incr() keeps its expiry.
    if not cache.add(key, 1, timeout=LINK_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=LINK_WINDOW_SECONDS)


@login_required
@require_http_methods(["GET", "POST"])
def link(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = LinkForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if _failure_count(user) >= LINK_FAILURES_ALLOWED:
            form.is_valid()
            form.add_error(None, _("Too many wrong attempts. Try again in an hour, or ask the office."))
            status = 429
        elif form.is_valid():
            try:
                guardianship = guardianship_link(
                    guardian=user,
                    card_number=form.cleaned_data["card_number"],
                    activation_code=form.cleaned_data["activation_code"],
                )
            except ActivationInvalid as error:
                _failure_record(user)
                form.add_error("activation_code", error.message)
                status = 400
            else:
                messages.success(request, _("%(name)s is now linked to your account.") % {"name": guardianship.holder})
                return redirect("portal:home")
        else:
            status = 400
    return render(request, "cards/link.html", {"form": form}, status=status)
