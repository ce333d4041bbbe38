"""Forms of the personal API token pages."""

from django import forms
from django.utils.translation import gettext_lazy as _


class PersonalTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the token is for, for example the app that uses it."),
    )
