"""Forms of the webshop: the guardian's purchase, and staff's refund."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cards.models import Cardholder
from webshop.models import ShopItem, ShopOrder


class _ChoicesForm(forms.Form):
    def _choice(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field


class PurchaseForm(_ChoicesForm):
    holder = forms.TypedChoiceField(label=_("For"), coerce=int)
    option = forms.TypedChoiceField(label=_("Choice"), coerce=int, required=False, empty_value=None)
    paid_with = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, item: ShopItem, holders: list[Cardholder], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choice("holder").choices = [(h.pk, h.name) for h in holders]
        if len(holders) == 1:
            self.fields["holder"].initial = holders[0].pk
        options = list(item.options.all())
        if options:
            self.fields["option"].label = item.choice_label or _("Choice")
            self._choice("option").choices = [("", _("Choose…")), *((o.pk, o.label) for o in options)]
            self.fields["option"].required = True
        else:
            del self.fields["option"]
        methods = [(ShopOrder.PaidWith.PROVIDER.value, _("Payment card"))]
        if item.balance_allowed:
            methods.append((ShopOrder.PaidWith.BALANCE.value, _("The cardholder's extra balance")))
        self._choice("paid_with").choices = methods
        self.fields["paid_with"].initial = ShopOrder.PaidWith.PROVIDER.value


class RefundForm(_ChoicesForm):
    refund_to = forms.ChoiceField(label=_("Refund to"), widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args: Any, order: ShopOrder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(ShopOrder.RefundTo.BALANCE.value, _("The cardholder's extra balance"))]
        if order.paid_with == ShopOrder.PaidWith.PROVIDER:
            choices.insert(0, (ShopOrder.RefundTo.PROVIDER.value, _("The payment card it was paid with")))
        self._choice("refund_to").choices = choices
        self.fields["refund_to"].initial = choices[0][0]
