"""The guardian portal's transfer page: move money between the guardian's own cardholders.

The form offers only the guardian's cardholders (from `holder_list_for_guardian`);
`payments.transfers.transfer_create` checks ownership again and decides everything else.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.models import User
from cardsystem.errors import DomainError, NotFound
from cardsystem.forms import errors_beside_fields
from cardsystem.templatetags.money import money
from payments.forms import TransferForm
from payments.models import LedgerAccount
from payments.selectors import holder_list_with_balances_for_guardian
from payments.transfers import transfer_create


@login_required
@require_http_methods(["GET", "POST"])
def transfer_new(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TransferForm(request.POST if request.method == "POST" else None, guardian=user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                transfer_create(
                    guardian=user,
                    source_holder=data["source_holder"],
                    source_balance=data["source_balance"],
                    target_holder=data["target_holder"],
                    target_balance=data["target_balance"],
                    amount_cents=data["amount"],
                )
            except NotFound as error:
                raise Http404 from error
            except DomainError as error:
                errors_beside_fields(form, error)
                status = 400
            else:
                messages.success(
                    request,
                    _("Moved %(amount)s from %(source)s (%(source_balance)s) to %(target)s (%(target_balance)s).")
                    % {
                        "amount": money(data["amount"]),
                        "source": data["source_holder"].name,
                        "source_balance": LedgerAccount.Kind(data["source_balance"]).label.lower(),
                        "target": data["target_holder"].name,
                        "target_balance": LedgerAccount.Kind(data["target_balance"]).label.lower(),
                    },
                )
                return redirect("portal:home")
        else:
            status = 400
    holders = holder_list_with_balances_for_guardian(user=user)
    rows = [
        (holder, {account.kind: account.balance_cents for account in holder.holder_accounts})  # type: ignore[attr-defined]
        for holder in holders
    ]
    return render(request, "payments/transfer.html", {"form": form, "rows": rows}, status=status)
