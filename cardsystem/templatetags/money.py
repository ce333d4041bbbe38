"""`{% load money %}{{ balance_cents|money }}`: minor units shown in the user's locale with the currency.

Pages show money the way the reader writes it ("1.234,50 DKK" in Danish, "1,234.50 DKK" in
English); the API keeps the fixed "1234.50" of API.md.
"""

from decimal import Decimal

from django import template
from django.utils.formats import number_format
from django.utils.translation import get_language_bidi

from cardsystem.money import currency

register = template.Library()

NBSP = "\u00a0"
# In a right-to-left language the figure and the currency code are two left-to-right runs that the
# bidi algorithm would swap ("DKK 100,00"): a left-to-right isolate keeps "100,00 DKK" together.
LRI, PDI = "\u2066", "\u2069"


@register.filter
def amount(cents: int | None) -> str:
    """The amount alone, localised: for tables whose header names the currency."""
    if cents is None or cents == "":
        return ""
    return number_format(Decimal(int(cents)).scaleb(-2), decimal_pos=2, use_l10n=True, force_grouping=True)


@register.filter
def money(cents: int | None) -> str:
    """The amount with the deployment's currency, kept on one line."""
    if cents is None or cents == "":
        return ""
    text = f"{amount(cents)}{NBSP}{currency()}"
    return f"{LRI}{text}{PDI}" if get_language_bidi() else text
