"""Pieces every API of the project shares: strict input, the error body's schema, validation."""

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class StrictSerializer(serializers.Serializer[Any]):
    """Refuses fields it does not know, so a misspelt field is an error rather than ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


class MoneyField(serializers.CharField):
    """Documentation only: money is a decimal string with two places."""


class BalancesOutput(serializers.Serializer[Any]):
    main = MoneyField()
    extra = MoneyField()


class CardOutput(serializers.Serializer[Any]):
    number = serializers.CharField()
    status = serializers.CharField()


class ErrorDetail(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ErrorOutput(serializers.Serializer[Any]):
    error = ErrorDetail()


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The schema of the error body (API.md) for each of these HTTP statuses."""
    return {code: OpenApiResponse(ErrorOutput) for code in codes}


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
