"""The portal's top-up and automatic top-up forms: shape only; payments.topups decides."""

from collections.abc import Iterable
from typing import Any

from django import forms
from django.forms import BoundField
from django.utils.translation import gettext_lazy as _

from cards.models import Cardholder
from cardsystem.forms import MoneyField
from payments.models import LedgerAccount, PaymentMandate
from payments.topups import AllocationRequest

BALANCE_LABELS = {
    LedgerAccount.Kind.MAIN: _("Main balance (meals)"),
    LedgerAccount.Kind.EXTRA: _("Extra balance (buffet)"),
}


def amount_field_name(holder_id: int, balance: str) -> str:
    return f"amount_{holder_id}_{balance}"


class TopUpForm(forms.Form):
    """One amount per cardholder and balance; empty means nothing for that balance."""

    save_card = forms.BooleanField(
        label=_("Save my payment card for automatic top-ups"),
        required=False,
    )

    def __init__(self, *args: Any, holders: Iterable[Cardholder], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holders = list(holders)
        self.row_names: list[tuple[Cardholder, list[str]]] = []
        save_card = self.fields.pop("save_card")
        for holder in self.holders:
            names = []
            for balance in LedgerAccount.HOLDER_KINDS:
                name = amount_field_name(holder.pk, balance)
                self.fields[name] = MoneyField(
                    label=f"{holder.name}: {BALANCE_LABELS[balance]}", required=False, min_cents=1
                )
                self.fields[name].widget.attrs["placeholder"] = "0.00"
                names.append(name)
            self.row_names.append((holder, names))
        self.fields["save_card"] = save_card

    def rows(self) -> list[tuple[Cardholder, list[tuple[BoundField, int]]]]:
        """Per cardholder: each balance's amount field with the balance now (for the page)."""
        result = []
        for holder, names in self.row_names:
            now = {a.kind: a.balance_cents for a in getattr(holder, "holder_accounts", [])}
            result.append((holder, [(self[name], now.get(name.rsplit("_", 1)[1], 0)) for name in names]))
        return result

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.allocations():
            raise forms.ValidationError(_("Enter an amount for at least one balance."), code="empty")
        return cleaned

    def allocations(self) -> list[AllocationRequest]:
        found = []
        for holder in self.holders:
            for balance in LedgerAccount.HOLDER_KINDS:
                cents = self.cleaned_data.get(amount_field_name(holder.pk, balance))
                if cents:
                    found.append(AllocationRequest(holder_id=holder.pk, balance=balance, amount_cents=cents))
        return found

    def first_amount_field(self) -> str:
        for allocation in self.allocations():
            return amount_field_name(allocation.holder_id, allocation.balance)
        return amount_field_name(self.holders[0].pk, LedgerAccount.Kind.MAIN)


class AutoTopUpForm(forms.Form):
    holder = forms.TypedChoiceField(label=_("Cardholder"), coerce=int)
    balance = forms.ChoiceField(label=_("Balance"), choices=list(BALANCE_LABELS.items()))
    threshold = MoneyField(label=_("When the balance falls below"), min_cents=0)
    amount = MoneyField(label=_("Top up with"), min_cents=1)
    mandate = forms.TypedChoiceField(label=_("Payment card"), coerce=int)

    def __init__(
        self, *args: Any, holders: Iterable[Cardholder], mandates: Iterable[PaymentMandate], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["holder"].choices = [(h.pk, h.name) for h in holders]  # type: ignore[attr-defined]
        self.fields["mandate"].choices = [(m.pk, str(m)) for m in mandates]  # type: ignore[attr-defined]
