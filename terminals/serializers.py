"""Shapes of the terminal API (API.md). Input serializers validate; output ones document."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from canteen.models import Sale
from cards.uids import InvalidUid, normalize_uid
from cardsystem.api import BalancesOutput, CardOutput, MoneyField, StrictSerializer


class UidField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        try:
            return normalize_uid(text)
        except InvalidUid as error:
            raise serializers.ValidationError(str(error), code="invalid_uid") from error


class ScanInput(StrictSerializer):
    uid = UidField()
    sequence = serializers.IntegerField(
        required=False, min_value=0, help_text="The terminal's gap-free read counter; a repeated one is recorded once."
    )
    read_at = serializers.DateTimeField(
        required=False, help_text="When the card was read (a queued read is sent later)."
    )


class PurchaseLineInput(StrictSerializer):
    product = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=99)


class PurchaseInput(StrictSerializer):
    uid = UidField(required=False)
    lines = serializers.ListField(child=PurchaseLineInput(), allow_empty=False, max_length=50)
    payment = serializers.ChoiceField(choices=Sale.Payment.choices, default=Sale.Payment.CARD)
    cashier_uid = UidField(required=False, help_text="A cashier card recording who took the cash.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("payment") == Sale.Payment.CARD and not attrs.get("uid"):
            raise serializers.ValidationError({"uid": [_("A card payment needs the card's UID.")]})
        return attrs


class MealTodayOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    option = serializers.IntegerField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=["ordered", "paid", "unpaid"])
    served = serializers.BooleanField()


class MealServeInput(StrictSerializer):
    uid = UidField()
    sequence = serializers.IntegerField(required=False, min_value=0, help_text="The terminal's read counter.")
    read_at = serializers.DateTimeField(
        required=False,
        help_text="When the card was read: a read queued while the server was unreachable is served as of "
        "then (the serving window and the day), if it is from the last 12 hours and not in the future.",
    )


class ServedMealOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField(help_text="The meal order's id.")
    date = serializers.DateField()
    description = serializers.CharField(help_text="The menu of the option served.")
    allergens = serializers.CharField()
    holder = serializers.IntegerField()
    name = serializers.CharField()


class MealServeOutput(serializers.Serializer[Any]):
    meal = ServedMealOutput()
    option = serializers.IntegerField(help_text="1 or 2: what the kitchen hands out.")
    charged = MoneyField(help_text="Paid now; 0.00 when the order was paid at the deadline.")
    currency = serializers.CharField()
    balances = BalancesOutput()


class HolderOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    group = serializers.CharField()
    institution = serializers.CharField()
    photo_url = serializers.CharField(allow_null=True)
    allergies = serializers.CharField()


class ScanOutput(serializers.Serializer[Any]):
    card = CardOutput()
    holder = HolderOutput(allow_null=True)
    balances = BalancesOutput(allow_null=True)
    currency = serializers.CharField()
    daily_limit = MoneyField(allow_null=True)
    spent_today = MoneyField()
    can_buy = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    meal_today = MealTodayOutput(allow_null=True, help_text="Today's ordered meal, or null.")


class ProductOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    category = serializers.CharField()
    price = MoneyField()


class ProductListOutput(serializers.Serializer[Any]):
    currency = serializers.CharField()
    products = ProductOutput(many=True)


class PurchaseOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    receipt_number = serializers.CharField()
    total = MoneyField()
    currency = serializers.CharField()
    balances = BalancesOutput(allow_null=True)
    receipt_url = serializers.CharField()
