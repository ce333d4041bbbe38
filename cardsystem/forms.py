"""Form fields shared by the apps: money typed as a decimal string, kept as integer minor units."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cardsystem.errors import DomainError
from cardsystem.money import InvalidAmount, cents_to_str, str_to_cents


class MoneyField(forms.CharField):
    """Staff type "25.00" (or "25,00", or "25"); the form cleans it to 2500 minor units.

    More than two decimals, exponents and anything else that is not a plain amount are refused,
    never rounded. `min_cents` is the smallest amount accepted (1 for a price: more than zero).
    The initial value (an int of minor units, from the model) is shown as "25.00".
    """

    default_error_messages = {
        "invalid": _("Enter an amount with at most two decimals, for example 25.00."),
        "min_value": _("Enter an amount of at least %(minimum)s."),
    }

    def __init__(self, *, min_cents: int | None = None, **kwargs: Any) -> None:
        self.min_cents = min_cents
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("maxlength", "20")

    def prepare_value(self, value: Any) -> Any:
        # An int comes from the model (initial); a str is what was typed and is shown back as typed.
        if isinstance(value, int) and not isinstance(value, bool):
            return cents_to_str(value)
        return value

    def to_python(self, value: Any | None) -> int | None:  # type: ignore[override]
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text in self.empty_values:
            return None
        if text.count(",") == 1 and "." not in text:
            # A decimal comma, as typed in Danish; "1,000" still has three decimals and is refused.
            text = text.replace(",", ".")
        try:
            return str_to_cents(text)
        except InvalidAmount as error:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from error

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None and self.min_cents is not None and value < self.min_cents:
            raise ValidationError(
                self.error_messages["min_value"],
                code="min_value",
                params={"minimum": cents_to_str(self.min_cents)},
            )


def errors_beside_fields(form: forms.Form, error: DomainError, *, rename: dict[str, str] | None = None) -> None:
    """Show a service's refusal beside the fields it names (`rename` maps a service's name for a
    field to the form's), or above the form when it names none of them."""
    placed = False
    for name, field_messages in (error.fields or {}).items():
        field = (rename or {}).get(name, name)
        if field in form.fields:
            for message in field_messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)
