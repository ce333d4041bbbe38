"""Shapes of the refund endpoint of the guardian API (API.md)."""

from typing import Any

from rest_framework import serializers

from cardsystem.api import StrictSerializer
from payouts.models import RefundRequest


class RefundInput(StrictSerializer):
    holder = serializers.IntegerField(min_value=1)
    payee_name = serializers.CharField(max_length=200)
    payee_cpr = serializers.CharField(
        required=False, allow_blank=True, max_length=20, help_text='The payee\'s CPR number, "DDMMYY-XXXX".'
    )
    payee_iban = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        help_text="Instead of a CPR number: the payee's IBAN (for a payee without a NemKonto).",
    )
    payee_bic = serializers.CharField(required=False, allow_blank=True, max_length=20, default="")


class RefundCreatedOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RefundRequest.Status.values)
    warning = serializers.CharField(
        required=False, help_text="Present when the CPR number fails the modulus-11 check: accepted, check it."
    )
