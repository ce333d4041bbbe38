"""What the finance back office pages share: who may see them, and the page between choosing an
action and doing it (the password asked again, or a reason).

Finance staff and administrators only: the pages need a finance or administrator role (or a
superuser) on top of the model permissions. Payout batches are municipality-wide: finance sees all.
"""

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.reauth import reauth_check
from cardsystem.errors import DomainError
from payouts.batches import finance_user_is


def finance_admin(request: HttpRequest) -> bool:
    """The signed-in user works on payouts: finance staff or an administrator."""
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff and finance_user_is(user=cast(User, user)))


def request_user(request: HttpRequest) -> User:
    return cast(User, request.user)


class FinanceOnly:
    """Mixin for a read-only ModelAdmin: visible to finance staff and administrators holding the
    model's view permission; the actions check their own permission (`has_<name>_permission`)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return finance_admin(request) and super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return finance_admin(request) and super().has_view_permission(request, obj)  # type: ignore[misc]

    def _perm(self, request: HttpRequest, codename: str) -> bool:
        return finance_admin(request) and request.user.has_perm(f"payouts.{codename}")


class ConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Money leaves the municipality's account: confirm it is you."),
    )


class StopForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


def action_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action: str,
    title: str,
    form: forms.Form,
    button: str,
    intro: str,
) -> TemplateResponse:
    """The page between choosing an action and doing it (a password or a reason)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "objects": list(queryset[:100]),
        "count": queryset.count(),
        "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
        "action": action,
        "form": form,
        "button": button,
        "opts": model_admin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/payouts/action_confirm.html", context)


def password_confirmed(request: HttpRequest, form: ConfirmForm) -> bool:
    if "apply" not in request.POST or not form.is_valid():
        return False
    try:
        reauth_check(user=request_user(request), password=form.cleaned_data["password"])
    except DomainError as error:
        form.add_error("password", error.message)
        return False
    return True
