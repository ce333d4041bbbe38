"""Forms of the guardian portal: they check shape only; cards.services decides."""

from django import forms
from django.utils.translation import gettext_lazy as _


class LinkForm(forms.Form):
    """A guardian types the printed card number and the one-time activation code from the office."""

    card_number = forms.CharField(
        label=_("Card number"),
        max_length=20,
        help_text=_("The number printed on the card."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric", "autocapitalize": "none"}),
    )
    activation_code = forms.CharField(
        label=_("Activation code"),
        max_length=40,
        help_text=_("The one-time code the office gave you with the card."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autocapitalize": "characters"}),
    )
