"""The guardian portal's controls for one cardholder: daily limit, low-balance alert and the
product categories the card may not buy [SK].

Every query starts from `holder_list_for_guardian`, so another family's holder is a 404.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from accounts.models import User
from canteen.category_blocks import (
    CategoryChoice,
    holder_blocked_category_codes,
    holder_category_blocks_set,
    holder_category_choices,
)
from cards.models import Card, Cardholder
from cards.selectors import holder_list_for_guardian
from cards.services import UNCHANGED, Unchanged
from cardsystem.errors import DomainError
from cardsystem.forms import MoneyField, errors_beside_fields
from payments.balance_watch import holder_settings_save
from payments.selectors import GUARDIAN_CARD_KINDS, LIMIT_CARD_STATUSES


class HolderSettingsForm(forms.Form):
    """Shape only: amounts typed as "40.00" (empty means none) and category codes from the choices."""

    daily_limit = MoneyField(
        label=_lazy("Daily spending limit"),
        required=False,
        min_cents=0,
        help_text=_lazy("What each card may spend a day at the canteen. Leave empty for no limit."),
    )
    low_balance_alert = MoneyField(
        label=_lazy("Low-balance alert"),
        required=False,
        min_cents=0,
        help_text=_lazy("You get an e-mail when the main balance falls below this. Leave empty for no alert."),
    )
    categories = forms.MultipleChoiceField(
        label=_lazy("Blocked product categories"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_lazy("The card cannot buy products of a ticked category at the canteen."),
    )

    def __init__(self, *args: Any, choices: list[CategoryChoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = [(choice.code, choice.name) for choice in choices]  # type: ignore[attr-defined]


def _holder_daily_limit(holder: Cardholder) -> int | None:
    # The limit is set on all the holder's cards together; the API shows the first card's too.
    return (
        Card.objects.filter(holder=holder, kind__in=GUARDIAN_CARD_KINDS, status__in=LIMIT_CARD_STATUSES)
        .order_by("number")
        .values_list("daily_limit_cents", flat=True)
        .first()
    )


def _if_changed(form: HolderSettingsForm, name: str) -> int | Unchanged | None:
    # A limit left as shown stays as it is, so saving only the blocks never overwrites a
    # different limit the office set on one of the cards.
    value: int | None = form.cleaned_data[name]
    return value if name in form.changed_data else UNCHANGED


@login_required
@require_http_methods(["GET", "POST"])
def holder_settings(request: HttpRequest, holder_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    holder = get_object_or_404(holder_list_for_guardian(user=user).select_related("institution"), pk=holder_id)
    initial = {
        "daily_limit": _holder_daily_limit(holder),
        "low_balance_alert": holder.low_balance_alert_cents,
        "categories": holder_blocked_category_codes(holder=holder),
    }
    choices = holder_category_choices(holder=holder)
    form = HolderSettingsForm(request.POST if request.method == "POST" else None, initial=initial, choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                with transaction.atomic():
                    holder_settings_save(
                        holder=holder,
                        daily_limit_cents=_if_changed(form, "daily_limit"),
                        low_balance_alert_cents=_if_changed(form, "low_balance_alert"),
                    )
                    holder_category_blocks_set(holder=holder, categories=form.cleaned_data["categories"], set_by=user)
            except DomainError as error:
                errors_beside_fields(form, error)
                status = 400
            else:
                messages.success(request, _("The settings for %(name)s are saved.") % {"name": holder.name})
                return redirect("controls:holder_settings", holder_id=holder.pk)
        else:
            status = 400
    return render(request, "canteen/holder_settings.html", {"holder": holder, "form": form}, status=status)
