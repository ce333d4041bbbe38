"""Portal pages for personal API tokens: make one (its raw value is shown once) and revoke one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import PersonalTokenForm
from accounts.models import PersonalToken, User
from accounts.services import personal_token_create, personal_token_revoke


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = PersonalTokenForm(request.POST if request.method == "POST" else None)
    raw_token = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _token, raw_token = personal_token_create(user=user, name=form.cleaned_data["name"])
            form = PersonalTokenForm()
            status = 201
        else:
            status = 400
    tokens = PersonalToken.objects.filter(user=user)
    response = render(
        request, "accounts/tokens.html", {"form": form, "tokens": tokens, "raw_token": raw_token}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(PersonalToken, pk=pk, user=request.user)
    personal_token_revoke(token=token)
    messages.success(request, _("The token %(name)s is revoked.") % {"name": token.name})
    return redirect("accounts:tokens")
