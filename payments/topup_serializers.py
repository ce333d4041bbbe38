"""Shapes of the top-up endpoints of the guardian API (API.md)."""

from typing import Any

from rest_framework import serializers

from cardsystem.api import MoneyField, StrictSerializer
from payments.models import LedgerAccount
from payments.serializers import AmountField

BALANCES = [kind.value for kind in LedgerAccount.HOLDER_KINDS]


class AllocationInput(StrictSerializer):
    holder = serializers.IntegerField(min_value=1)
    balance = serializers.ChoiceField(choices=BALANCES)
    amount = AmountField(help_text='More than zero, at most two decimals: "100.00".')


class TopUpInput(StrictSerializer):
    allocations = AllocationInput(many=True, allow_empty=False, max_length=40)  # type: ignore[call-arg]
    save_card = serializers.BooleanField(
        required=False, default=False, help_text="Keep the payment card for automatic top-ups."
    )


class AllocationOutput(serializers.Serializer[Any]):
    holder = serializers.IntegerField()
    balance = serializers.ChoiceField(choices=BALANCES)
    amount = MoneyField()


class TopUpCreatedOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    total = MoneyField()
    currency = serializers.CharField()
    payment_url = serializers.URLField()


class TopUpOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed", "expired"])
    total = MoneyField()
    currency = serializers.CharField()
    allocations = AllocationOutput(many=True)
    created_at = serializers.DateTimeField()
    payment_url = serializers.URLField(allow_null=True)
