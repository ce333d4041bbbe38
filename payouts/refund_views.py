"""The guardian portal's refund page: ask for a cardholder's remaining balance to be paid out, and
follow the request.

The cardholder is looked up from `holder_list_with_balances_for_guardian`, so another family's holder
is a 404. The form checks shape only; `payouts.refunds.refund_request_create` decides, and its
refusals are shown beside the field they concern.
"""

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from accounts.models import User
from cards.models import Cardholder
from cardsystem.errors import DomainError
from cardsystem.forms import errors_beside_fields
from payments.models import LedgerAccount
from payments.selectors import holder_list_with_balances_for_guardian
from payouts.models import RefundRequest
from payouts.refunds import OPEN_STATUSES, PAYEE_NAME_MAX_LENGTH, refund_payee_masked, refund_request_create


class RefundForm(forms.Form):
    payee_name = forms.CharField(
        label=_lazy("Payee's name"),
        max_length=PAYEE_NAME_MAX_LENGTH,
        help_text=_lazy("The person the money is paid to."),
    )
    payee_cpr = forms.CharField(
        label=_lazy("Payee's CPR number"),
        max_length=20,
        required=False,
        help_text=_lazy("The money will be paid to your NemKonto."),
        widget=forms.TextInput(attrs={"placeholder": "DDMMYY-XXXX", "autocomplete": "off", "inputmode": "numeric"}),
    )
    payee_iban = forms.CharField(
        label=_lazy("IBAN (only without a NemKonto)"),
        max_length=50,
        required=False,
        help_text=_lazy("For a payee without a NemKonto, for example living abroad: leave the CPR number empty."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    payee_bic = forms.CharField(
        label=_lazy("BIC (optional)"),
        max_length=20,
        required=False,
        help_text=_lazy("The bank's BIC, with an IBAN only."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


@dataclass(frozen=True)
class RefundRow:
    refund: RefundRequest
    payee: str  # masked


def _holder(request: HttpRequest, holder_id: int) -> Cardholder:
    assert isinstance(request.user, User)
    holder = holder_list_with_balances_for_guardian(user=request.user).filter(pk=holder_id).first()
    if holder is None:
        raise Http404
    return holder


@login_required
@require_http_methods(["GET", "POST"])
def refund_page(request: HttpRequest, holder_id: int) -> HttpResponse:
    holder = _holder(request, holder_id)
    user: User = request.user  # type: ignore[assignment]
    form = RefundForm(request.POST if request.method == "POST" else None, initial={"payee_name": user.full_name})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = refund_request_create(
                    holder=holder,
                    requested_by=user,
                    payee_name=data["payee_name"],
                    payee_cpr=data["payee_cpr"] or None,
                    payee_iban=data["payee_iban"] or None,
                    payee_bic=data["payee_bic"],
                )
            except DomainError as error:
                errors_beside_fields(form, error)
                status = 400
            else:
                messages.success(
                    request,
                    _(
                        "The refund for %(name)s is requested. The office handles it; "
                        "the payment follows within 20 working days."
                    )
                    % {"name": holder.name},
                )
                if result.warning:
                    messages.warning(request, result.warning)
                return redirect("portal_refund", holder_id=holder.pk)
        else:
            status = 400
    balances = {account.kind: account.balance_cents for account in holder.holder_accounts}  # type: ignore[attr-defined]
    refunds = [
        RefundRow(refund=refund, payee=refund_payee_masked(refund=refund))
        for refund in RefundRequest.objects.filter(holder=holder).order_by("-created_at", "-pk")
    ]
    context = {
        "holder": holder,
        "form": form,
        "refunds": refunds,
        "open_refund": next((row for row in refunds if row.refund.status in OPEN_STATUSES), None),
        "main_cents": balances.get(LedgerAccount.Kind.MAIN, 0),
        "extra_cents": balances.get(LedgerAccount.Kind.EXTRA, 0),
        "cost_cents": settings.PAYOUT_COST_CENTS,
    }
    return render(request, "payouts/refund.html", context, status=status)
