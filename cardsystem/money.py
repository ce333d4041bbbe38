"""Money at the edges: integer minor units inside, a decimal string with two places outside."""

import re
from decimal import Decimal

from django.conf import settings

_AMOUNT = re.compile(r"^-?\d{1,12}(\.\d{1,2})?$")


class InvalidAmount(ValueError):
    pass


def cents_to_str(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def str_to_cents(text: str) -> int:
    """Parse "25", "25.5" or "25.50"; anything else (floats' exponents, 3 decimals) is refused."""
    if not isinstance(text, str) or not _AMOUNT.match(text.strip()):
        raise InvalidAmount(f"Not an amount with at most two decimals: {text!r}")
    return int(Decimal(text.strip()) * 100)


def currency() -> str:
    return str(settings.CURRENCY)
