"""Forms of the guardian portal's money pages: they check shape only; payments.transfers decides."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from cardsystem.forms import MoneyField
from payments.models import LedgerAccount

BALANCE_CHOICES = [(kind.value, kind.label) for kind in LedgerAccount.HOLDER_KINDS]


class TransferForm(forms.Form):
    """Move an amount from one of the guardian's cardholders' balances to another's."""

    source_holder = forms.ModelChoiceField(queryset=Cardholder.objects.none(), label=_("From"), empty_label=None)
    source_balance = forms.ChoiceField(
        label=_("From balance"), choices=BALANCE_CHOICES, initial=LedgerAccount.Kind.EXTRA
    )
    target_holder = forms.ModelChoiceField(queryset=Cardholder.objects.none(), label=_("To"), empty_label=None)
    target_balance = forms.ChoiceField(label=_("To balance"), choices=BALANCE_CHOICES, initial=LedgerAccount.Kind.EXTRA)
    amount = MoneyField(label=_("Amount"), min_cents=1, help_text=_("For example 25.00."))

    def __init__(self, *args: Any, guardian: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the guardian's own cardholders can be chosen; another family's id is not a choice.
        holders = holder_list_for_guardian(user=guardian).order_by("name", "pk")
        self.fields["source_holder"].queryset = holders  # type: ignore[attr-defined]
        self.fields["target_holder"].queryset = holders  # type: ignore[attr-defined]
        if not self.is_bound:
            first_two = list(holders.values_list("pk", flat=True)[:2])
            if len(first_two) == 2:
                self.initial.setdefault("source_holder", first_two[0])
                self.initial.setdefault("target_holder", first_two[1])
