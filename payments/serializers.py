"""Shapes of the guardian API (API.md). Input serializers validate; output ones document."""

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cardsystem.api import BalancesOutput, CardOutput, MoneyField, StrictSerializer
from cardsystem.money import InvalidAmount, cents_to_str, str_to_cents


@extend_schema_field(OpenApiTypes.STR)
class AmountField(serializers.Field):
    """A non-negative amount as a decimal string ("25.00") in, integer minor units inside."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str):
            raise serializers.ValidationError(_("Enter an amount with at most two decimals, for example 25.00."))
        try:
            cents = str_to_cents(data)
        except InvalidAmount:
            raise serializers.ValidationError(
                _("Enter an amount with at most two decimals, for example 25.00.")
            ) from None
        if cents < 0:
            raise serializers.ValidationError(_("The amount cannot be negative."))
        return cents

    def to_representation(self, value: int) -> str:
        return cents_to_str(value)


class HolderLimitsInput(StrictSerializer):
    daily_limit = AmountField(
        required=False, allow_null=True, help_text="What each of the holder's cards may spend a day; null: no limit."
    )
    low_balance_alert = AmountField(
        required=False, allow_null=True, help_text="Alert when the main balance falls below this; null: no alert."
    )


class PasswordInput(StrictSerializer):
    password = serializers.CharField(
        trim_whitespace=False, max_length=200, help_text="The guardian's password, confirmed again."
    )


class ReplaceInput(PasswordInput):
    paid_with = serializers.ChoiceField(
        choices=["balance", "provider"],
        default="balance",
        help_text="balance: from the extra balance now; provider: pay at payment_url, then the card is printed.",
    )


class TransactionQuery(serializers.Serializer[Any]):
    # "from" is a Python keyword: the field is declared under its query name below.
    to = serializers.DateField(required=False, help_text="Last day (YYYY-MM-DD) in the institution's time zone.")
    page = serializers.IntegerField(required=False, min_value=1, default=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if start and end and start > end:
            raise serializers.ValidationError({"to": [_("The last day cannot be before the first day.")]})
        return attrs


TransactionQuery._declared_fields["from"] = serializers.DateField(
    required=False, help_text="First day (YYYY-MM-DD) in the institution's time zone."
)


class GuardianHolderOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    institution = serializers.CharField()
    group = serializers.CharField()
    balances = BalancesOutput()
    daily_limit = MoneyField(allow_null=True)
    low_balance_alert = MoneyField(allow_null=True)
    cards = CardOutput(many=True)


class HolderListOutput(serializers.Serializer[Any]):
    currency = serializers.CharField()
    holders = GuardianHolderOutput(many=True)


class SaleLineOutput(serializers.Serializer[Any]):
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    price = MoneyField()


class TransactionOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    amount = MoneyField()
    balance = MoneyField(allow_null=True)
    place = serializers.CharField()
    lines = SaleLineOutput(many=True)


class TransactionPageOutput(serializers.Serializer[Any]):
    results = TransactionOutput(many=True)
    next = serializers.CharField(allow_null=True)


class CardStatusOutput(serializers.Serializer[Any]):
    number = serializers.CharField()
    status = serializers.CharField()


class ReplacementOrderOutput(serializers.Serializer[Any]):
    order = serializers.IntegerField(help_text="The replacement order's id.")
    fee = MoneyField(help_text="The fee charged.")
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=["awaiting_payment", "ordered", "issued", "cancelled"])
    paid_with = serializers.ChoiceField(choices=["balance", "provider", "free"])
    payment_url = serializers.URLField(
        required=False, help_text="Only when paid_with is provider: the provider's page for the fee."
    )
