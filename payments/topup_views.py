"""Portal pages for paying in: a top-up split over cardholders, its outcome, automatic top-ups."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from cardsystem.errors import DomainError
from payments.auto_topups import auto_topup_set, auto_topup_stop
from payments.models import AutoTopUp, PaymentMandate
from payments.providers import provider_get
from payments.selectors import holder_list_with_balances_for_guardian
from payments.topup_forms import AutoTopUpForm, TopUpForm
from payments.topups import guardian_payment_get, topup_create


def _guardian(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
@require_http_methods(["GET", "POST"])
def topup_new(request: HttpRequest) -> HttpResponse:
    guardian = _guardian(request)
    holders = list(holder_list_with_balances_for_guardian(user=guardian))
    if not holders:
        messages.info(request, _("Link a cardholder before topping up."))
        return redirect("cards:link")
    form = TopUpForm(request.POST if request.method == "POST" else None, holders=holders)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                payment = topup_create(
                    guardian=guardian, allocations=form.allocations(), save_mandate=form.cleaned_data["save_card"]
                )
            except DomainError as error:
                form.add_error(form.first_amount_field(), error.message)
            else:
                provider = provider_get(payment.provider)
                return redirect(provider.payment_page_url(payment=payment, base_url=request.build_absolute_uri("/")))
    context = {"form": form, "minimum": settings.TOPUP_MINIMUM_CENTS}
    return render(request, "payments/topup.html", context, status=status)


@login_required
def topup_status(request: HttpRequest, payment_id: int) -> HttpResponse:
    payment = guardian_payment_get(guardian=_guardian(request), payment_id=payment_id)
    return render(request, "payments/topup_status.html", {"payment": payment})


@login_required
@require_http_methods(["GET", "POST"])
def auto_topups(request: HttpRequest) -> HttpResponse:
    guardian = _guardian(request)
    holders = list(holder_list_with_balances_for_guardian(user=guardian))
    mandates = list(PaymentMandate.objects.filter(guardian=guardian, revoked_at__isnull=True).order_by("-created_at"))
    form = AutoTopUpForm(request.POST if request.method == "POST" else None, holders=holders, mandates=mandates)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                auto_topup_set(
                    guardian=guardian,
                    holder_id=form.cleaned_data["holder"],
                    balance=form.cleaned_data["balance"],
                    threshold_cents=form.cleaned_data["threshold"],
                    amount_cents=form.cleaned_data["amount"],
                    mandate_id=form.cleaned_data["mandate"],
                )
            except DomainError as error:
                form.add_error("amount" if error.code == "below_minimum" else None, error.message)
            else:
                messages.success(request, _("Automatic top-up is on."))
                return redirect("topups:auto")
    rules = AutoTopUp.objects.filter(holder__in=[h.pk for h in holders], active=True).select_related(
        "holder", "mandate"
    )
    context = {"form": form, "rules": rules, "has_mandate": bool(mandates)}
    return render(request, "payments/auto_topups.html", context, status=status)


@login_required
@require_POST
def auto_topup_stop_view(request: HttpRequest, rule_id: int) -> HttpResponse:
    auto_topup_stop(guardian=_guardian(request), rule_id=rule_id)
    messages.success(request, _("Automatic top-up is stopped."))
    return redirect("topups:auto")
