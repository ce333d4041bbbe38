"""Shapes of `POST /api/v1/terminal/class-meals` (API.md). The input serializer validates; the output ones document."""

from typing import Any

from rest_framework import serializers

from canteen.class_meals import MAX_PUPILS, Outcome
from cardsystem.api import MoneyField, StrictSerializer
from terminals.serializers import UidField


class ClassMealInput(StrictSerializer):
    teacher_uid = UidField(help_text="The chip UID of the teacher card confirming the meal.")
    group = serializers.CharField(max_length=40, help_text='The class, e.g. "5B".')
    served = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=MAX_PUPILS,
        help_text="The ids of the pupils of the class who had the meal.",
    )


class ClassMealPupilOutput(serializers.Serializer[Any]):
    holder = serializers.IntegerField()
    name = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=[outcome.value for outcome in Outcome],
        help_text="charged: paid now; paid_before: the order was paid at the deadline; already_served: the lunch "
        "line served the pupil, nothing done; debt_limit_reached: not served.",
    )
    served = serializers.BooleanField(help_text="Served by this confirmation (charged or paid_before).")
    price = MoneyField(help_text="The meal's price for the pupil's category.")
    charged_main = MoneyField(help_text="Taken from the main balance now, including `debt`.")
    charged_extra = MoneyField(help_text="Taken from the extra balance now.")
    debt = MoneyField(help_text="The part of `charged_main` taken below zero.")
    blocked = serializers.BooleanField(help_text="At the debt limit: the pupil's cards are blocked for debt.")


class ClassMealOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    group = serializers.CharField()
    date = serializers.DateField()
    confirmed_at = serializers.DateTimeField()
    receipt_url = serializers.CharField()
    receipt_pdf_url = serializers.CharField()
    currency = serializers.CharField()
    pupils = ClassMealPupilOutput(many=True)
