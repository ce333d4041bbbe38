"""The guardian portal's card page: block, reopen, or order a replacement, each confirmed with the password.

In payments rather than cards because ordering a replacement charges a fee (payments.replacements),
and cards may not import payments. The card comes from `guardian_card_get`, so another family's
card is a 404; wrong passwords count towards the lock-out of `accounts.reauth`.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from accounts.reauth import ReauthFailed, TooManyAttempts, reauth_check
from cards.models import Card, ReplacementOrder
from cards.services import card_block, card_unblock
from cardsystem.errors import DomainError
from cardsystem.templatetags.money import money
from payments.ledger import holder_accounts_get
from payments.providers import provider_get
from payments.replacements import (
    REPLACEABLE_STATUSES,
    card_replacement_order,
    replacement_fee_cents,
    replacement_fee_payment,
)
from payments.selectors import guardian_card_get

BLOCK, REOPEN, REPLACE = "block", "reopen", "replace"
PASSWORD_LABELS = {
    BLOCK: gettext_lazy("Your password, to block the card"),
    REOPEN: gettext_lazy("Your password, to reopen the card"),
    REPLACE: gettext_lazy("Your password, to order a replacement"),
}


class CardActionForm(forms.Form):
    """The guardian's password, asked again before a change to a card."""

    password = forms.CharField(
        strip=False,
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(
        self, *args: Any, action: str, fee_choices: tuple[list[tuple[str, str]], str] | None = None, **kwargs: Any
    ) -> None:
        # The prefix keeps the three forms' ids apart on one page.
        kwargs["prefix"] = action
        super().__init__(*args, **kwargs)
        self.fields["password"].label = PASSWORD_LABELS[action]
        if action == REPLACE and fee_choices:
            choices, initial = fee_choices
            # Not required: left out (an old page, a script), the fee comes from the balance, as in the API.
            self.fields["paid_with"] = forms.ChoiceField(
                label=gettext_lazy("Pay the fee"),
                choices=choices,
                initial=initial,
                required=False,
                widget=forms.RadioSelect,
            )
            self.order_fields(["paid_with", "password"])


class BlockNotPossible(DomainError):
    default_message = gettext_lazy("Only an active card can be blocked.")


def _block(user: User, card: Card, data: dict[str, Any]) -> str:
    # card_block leaves a card that is not active as it is; say so rather than claim it blocked.
    if card.status != Card.Status.ACTIVE:
        raise BlockNotPossible()
    card_block(card=card, reason=_("Blocked by a guardian."))
    return _("Card %(number)s is blocked. It cannot pay until you reopen it.") % {"number": card.number}


def _reopen(user: User, card: Card, data: dict[str, Any]) -> str:
    card_unblock(card=card)
    return _("Card %(number)s is open again and can pay.") % {"number": card.number}


def _replace(user: User, card: Card, data: dict[str, Any]) -> str:
    paid_with = data.get("paid_with") or ReplacementOrder.PaidWith.BALANCE
    order = card_replacement_order(guardian=user, card=card, paid_with=paid_with)
    if order.status == ReplacementOrder.Status.AWAITING_PAYMENT:
        return _("Card %(number)s no longer works. Pay the fee of %(fee)s and the office prints the new card.") % {
            "number": card.number,
            "fee": money(order.fee_cents),
        }
    if order.fee_cents:
        return _(
            "A new card is ordered for %(name)s; the fee of %(fee)s was paid from the extra balance. "
            "Card %(number)s no longer works."
        ) % {"name": order.holder.name, "fee": money(order.fee_cents), "number": card.number}
    return _("A new card is ordered for %(name)s. Card %(number)s no longer works.") % {
        "name": order.holder.name,
        "number": card.number,
    }


ACTIONS: dict[str, Callable[[User, Card, dict[str, Any]], str]] = {BLOCK: _block, REOPEN: _reopen, REPLACE: _replace}


def _card_or_404(user: User, number: str) -> Card:
    card = guardian_card_get(user=user, number=number)
    if card is None:
        raise Http404
    return card


@login_required
@require_http_methods(["GET", "POST"])
def card_detail(request: HttpRequest, number: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    card = _card_or_404(user, number)
    fee_choices = _fee_choices(card)
    forms_by_action = {action: CardActionForm(action=action, fee_choices=fee_choices) for action in ACTIONS}
    posted = request.POST.get("action") if request.method == "POST" else None
    status = 200
    if posted is not None:
        if posted not in ACTIONS:
            return HttpResponseBadRequest()
        form = CardActionForm(request.POST, action=posted, fee_choices=fee_choices)
        forms_by_action[posted] = form
        if form.is_valid():
            try:
                reauth_check(user=user, password=form.cleaned_data["password"])
                message = ACTIONS[posted](user, card, form.cleaned_data)
            except TooManyAttempts as error:
                form.add_error("password", error.message)
                status = 429
            except ReauthFailed as error:
                form.add_error("password", error.message)
                status = 400
            except DomainError as error:
                form.add_error(None, error.message)
                status = 400
            else:
                messages.success(request, message)
                order = ReplacementOrder.objects.filter(old_card=card).first()
                if order is not None and order.status == ReplacementOrder.Status.AWAITING_PAYMENT:
                    return _fee_payment_redirect(request, user, order)
                return redirect("cardpages:detail", number=card.number)
        else:
            status = 400
        # Show the card as it is now, whatever the refused request found.
        card = _card_or_404(user, number)
    return render(request, "payments/card_detail.html", _context(card, forms_by_action, posted), status=status)


def _fee_choices(card: Card) -> tuple[list[tuple[str, str]], str] | None:
    """How the replacement fee can be paid, and the choice made beforehand: the extra balance when
    it covers the fee, else a payment by card."""
    fee = replacement_fee_cents()
    if fee == 0 or card.holder is None:
        return None
    extra = holder_accounts_get(holder_id=card.holder.pk).extra.balance_cents
    balance, provider = str(ReplacementOrder.PaidWith.BALANCE), str(ReplacementOrder.PaidWith.PROVIDER)
    choices = [
        (balance, _("From the extra balance (now %(extra)s)") % {"extra": money(extra)}),
        (provider, _("Pay %(fee)s by card now") % {"fee": money(fee)}),
    ]
    return choices, balance if extra >= fee else provider


def _fee_payment_redirect(request: HttpRequest, user: User, order: ReplacementOrder) -> HttpResponse:
    payment = replacement_fee_payment(guardian=user, order=order)
    provider = provider_get(payment.provider)
    return redirect(provider.payment_page_url(payment=payment, base_url=request.build_absolute_uri("/")))


@login_required
@require_POST
def card_fee_pay(request: HttpRequest, number: str) -> HttpResponse:
    """Pay (again) the fee of a replacement awaiting payment: back to the provider's page."""
    user: User = request.user  # type: ignore[assignment]
    card = _card_or_404(user, number)
    order = ReplacementOrder.objects.filter(old_card=card, status=ReplacementOrder.Status.AWAITING_PAYMENT).first()
    if order is None:
        messages.info(request, _("There is no fee to pay for this card."))
        return redirect("cardpages:detail", number=card.number)
    return _fee_payment_redirect(request, user, order)


def _context(card: Card, forms_by_action: dict[str, CardActionForm], posted: str | None) -> dict[str, Any]:
    holder = card.holder
    assert holder is not None  # guardian_card_get returns holders' cards only
    order = ReplacementOrder.objects.filter(old_card=card).first()
    can_replace = card.kind == Card.Kind.REGULAR and card.status in REPLACEABLE_STATUSES and order is None
    fee = replacement_fee_cents()
    extra = holder_accounts_get(holder_id=holder.pk).extra.balance_cents
    return {
        "card": card,
        "holder": holder,
        "order": order,
        "forms": forms_by_action,
        "posted": posted,
        # A section stays on the page after a refused request, so its error shows beside its field.
        "show_block": card.status == Card.Status.ACTIVE or posted == BLOCK,
        "show_reopen": card.status == Card.Status.BLOCKED or posted == REOPEN,
        "show_replace": can_replace or posted == REPLACE,
        "fee_cents": fee,
        "extra_cents": extra,
        "fee_not_covered": fee > extra,
        "awaiting_payment": order is not None and order.status == ReplacementOrder.Status.AWAITING_PAYMENT,
    }
