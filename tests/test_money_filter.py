"""Pages show money in the reader's locale with the deployment's currency."""

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.utils import translation


def rendered(cents: int, language: str) -> str:
    with translation.override(language):
        return Template("{% load money %}{{ cents|money }}").render(Context({"cents": cents}))


def test_danish_uses_a_decimal_comma_and_dots_for_thousands() -> None:
    assert rendered(123450, "da") == "1.234,50\u00a0DKK"


def test_english_uses_a_decimal_point_and_commas_for_thousands() -> None:
    assert rendered(123450, "en") == "1,234.50\u00a0DKK"


def test_a_debt_keeps_its_sign() -> None:
    assert rendered(-2550, "en") == "-25.50\u00a0DKK"


@override_settings(CURRENCY="EUR")
def test_the_currency_is_the_deployments() -> None:
    assert rendered(500, "en") == "5.00\u00a0EUR"


@pytest.mark.parametrize("value", [None, ""])
def test_nothing_shows_as_nothing(value: object) -> None:
    assert Template("{% load money %}{{ v|money }}").render(Context({"v": value})) == ""


def test_in_arabic_the_figure_and_currency_are_isolated_left_to_right() -> None:
    # Without the isolate, a right-to-left page would show "DKK 1,234.50" read from the right.
    assert rendered(123450, "ar") == "\u20661234,50\u00a0DKK\u2069"  # Django's Arabic number format
