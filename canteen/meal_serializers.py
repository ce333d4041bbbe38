"""Shapes of the guardian meal API (API.md). Input serializers validate; output ones document."""

import datetime as dt
import re
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from cardsystem.api import MoneyField, StrictSerializer

# Ids are 64-bit in the database: a larger number is refused as bad input, not sent to it.
MAX_ID = 2**63 - 1
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Both neighbours of a month must exist too, for the previous and next links.
FIRST_YEAR, LAST_YEAR = 1000, 9998


def month_parse(text: str) -> dt.date:
    """The first day of "YYYY-MM"; ValueError for anything else."""
    match = MONTH.match(text)
    if match is None:
        raise ValueError(text)
    year, month = int(match.group(1)), int(match.group(2))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(text)
    return dt.date(year, month, 1)


class IdField(serializers.IntegerField):
    """An id as a JSON integer: not a string, a fraction or a boolean (which DRF would take for 1)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class MealOrderInput(StrictSerializer):
    holder = IdField(min_value=1, max_value=MAX_ID, help_text="One of the guardian's cardholders.")
    date = serializers.DateField(input_formats=["%Y-%m-%d"], help_text="The school day (YYYY-MM-DD).")
    option = serializers.ChoiceField(choices=[1, 2], help_text="Menu option 1 or 2.")


class MealMonthQuery(serializers.Serializer[Any]):
    month = serializers.CharField(
        required=False,
        max_length=7,
        help_text="YYYY-MM; the current month at the holder's institution when left out.",
    )

    def validate_month(self, value: str) -> dt.date:
        try:
            return month_parse(value)
        except ValueError:
            raise serializers.ValidationError(_("Enter a month as YYYY-MM, for example 2026-12.")) from None


class MealOrderOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    holder = serializers.IntegerField()
    date = serializers.DateField()
    option = serializers.IntegerField(help_text="1 or 2.")
    status = serializers.ChoiceField(
        choices=["ordered", "cancelled", "paid", "unpaid"],
        help_text="ordered: until the deadline; then paid, or unpaid when the debt limit stopped the payment.",
    )
    deadline = serializers.DateTimeField(help_text="Orders and cancellations for the day close at this moment.")
    open = serializers.BooleanField(help_text="Whether the order can still be changed or cancelled.")
    source = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.source
        help_text="guardian, terminal, subscription, walk_in or class_meal."
    )
    served = serializers.BooleanField()
    moved_from_option2 = serializers.BooleanField(
        help_text="Option 2 had too few orders at the deadline and was not cooked: this order got option 1."
    )
    price = MoneyField(allow_null=True, help_text="What the meal cost, once paid.")


class MenuOptionOutput(serializers.Serializer[Any]):
    name = serializers.CharField()
    allergens = serializers.CharField()


class MenuOutput(serializers.Serializer[Any]):
    option1 = MenuOptionOutput()
    option2 = MenuOptionOutput(allow_null=True, help_text="null: no second option that day (or not cooked).")


class MealDayOutput(serializers.Serializer[Any]):
    date = serializers.DateField()
    deadline = serializers.DateTimeField()
    open = serializers.BooleanField(help_text="Whether the day's meal can still be ordered or cancelled.")
    menu = MenuOutput()
    option2_dropped = serializers.BooleanField(help_text="Option 2 had too few orders and is not cooked.")
    order = MealOrderOutput(allow_null=True, help_text="The holder's own order (or cancellation) for the day.")
    option = serializers.IntegerField(allow_null=True, help_text="The option the holder gets; null: no meal.")
    state = serializers.ChoiceField(
        choices=["not_ordered", "subscription", "ordered", "cancelled", "paid", "unpaid", "served"],
        help_text="subscription: no order of their own, option 1 by the subscription.",
    )


class MealMonthOutput(serializers.Serializer[Any]):
    holder = serializers.IntegerField()
    month = serializers.CharField(help_text="YYYY-MM.")
    currency = serializers.CharField()
    price = MoneyField(allow_null=True, help_text="What one meal costs this holder; null: no price category set.")
    subscribed = serializers.BooleanField(help_text="Option 1 on every school day unless ordered otherwise.")
    option2_minimum = serializers.IntegerField(help_text="Option 2 is cooked only with at least this many orders.")
    days = MealDayOutput(many=True, help_text="The month's school days; weekends and holidays are left out.")
