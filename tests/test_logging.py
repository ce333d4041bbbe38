"""Structured logs: a request id on every line and in the response, JSON lines, no CPR numbers."""

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from cardsystem.logging import JsonFormatter, cpr_mask
from payouts.models import RefundRequest
from tests.factories import InstitutionFactory, ProductFactory, UserFactory, card_with_balances, terminal_with_token
from tests.payouts.test_refunds import CPR_IMPOSSIBLE_DATE, CPR_VALID, guardian_holder


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every record at INFO and above, written as production writes it (settings.LOGGING's handler)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    for name in settings.LOGGING["handlers"]["console"]["filters"]:
        handler.addFilter(logging.config.DictConfigurator({}).resolve(settings.LOGGING["filters"][name]["()"])())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_response_carries_a_new_request_id() -> None:
    response = Client().get("/accounts/login/")

    assert len(response["X-Request-ID"]) == 32


def test_the_proxys_request_id_is_kept() -> None:
    response = Client(headers={"X-Request-ID": "edge-7f3a.1"}).get("/accounts/login/")

    assert response["X-Request-ID"] == "edge-7f3a.1"


def test_a_request_id_unfit_for_logs_is_replaced() -> None:
    response = Client(headers={"X-Request-ID": "evil\nline"}).get("/accounts/login/")

    assert response["X-Request-ID"] != "evil\nline"


@pytest.mark.django_db
def test_a_log_line_of_a_request_carries_its_request_id(log_lines: io.StringIO) -> None:
    Client(headers={"X-Request-ID": "req-123"}).get("/api/v1/me/holders/no-such-holder")

    assert [(line["logger"], line["request_id"]) for line in records(log_lines)] == [("django.request", "req-123")]


def test_a_line_outside_a_request_has_no_request_id(log_lines: io.StringIO) -> None:
    logging.getLogger("payments.tasks").info("ledger is consistent")

    assert records(log_lines)[0]["request_id"] is None


def test_a_json_line_names_time_level_logger_message_and_extra_fields(log_lines: io.StringIO) -> None:
    logging.getLogger("payouts").info("refund %s requested", 12, extra={"refund_id": 12, "amount_cents": 5000})

    line = records(log_lines)[0]
    assert {key: line[key] for key in ("level", "logger", "message", "refund_id", "amount_cents")} == {
        "level": "INFO",
        "logger": "payouts",
        "message": "refund 12 requested",
        "refund_id": 12,
        "amount_cents": 5000,
    }
    assert line["time"].endswith("+00:00")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("payee 070761-4285 refused", "payee 070761-**** refused"),
        ("payee 0707614285 refused", "payee 070761-**** refused"),
        ("payee 070761 4285 refused", "payee 070761-**** refused"),
        ("order 12345 of 5000 cents", "order 12345 of 5000 cents"),
        ("account 12345678901234", "account 12345678901234"),
    ],
)
def test_cpr_shaped_numbers_are_masked(text: str, masked: str) -> None:
    assert cpr_mask(text) == masked


def test_a_cpr_number_in_a_log_argument_is_masked(log_lines: io.StringIO) -> None:
    logging.getLogger("payouts").warning("payee %s rejected by the registry", CPR_VALID)

    assert records(log_lines)[0]["message"] == "payee 070761-**** rejected by the registry"


def test_a_cpr_number_in_an_extra_field_or_exception_is_masked(log_lines: io.StringIO) -> None:
    try:
        raise ValueError(f"bad payee {CPR_VALID}")
    except ValueError:
        logging.getLogger("payouts").exception("refund failed", extra={"payee": CPR_VALID})

    output = log_lines.getvalue()
    assert "4285" not in output
    assert "070761-****" in output


@pytest.mark.django_db
def test_a_refund_requests_log_lines_contain_no_cpr_digits(log_lines: io.StringIO) -> None:
    guardian = UserFactory()
    holder = guardian_holder(guardian, InstitutionFactory(), main=10000, extra=5000)
    client = Client()
    client.force_login(guardian)
    refused = client.post(
        "/api/v1/me/refunds",
        {"holder": holder.pk, "payee_name": "Maja", "payee_cpr": CPR_IMPOSSIBLE_DATE},
        "application/json",
    )

    response = client.post(
        "/api/v1/me/refunds", {"holder": holder.pk, "payee_name": "Maja", "payee_cpr": CPR_VALID}, "application/json"
    )

    assert (refused.status_code, response.status_code) == (400, 201)
    assert RefundRequest.objects.count() == 1
    output = log_lines.getvalue()
    assert output  # the refused request was logged
    for digits in (CPR_VALID, CPR_VALID.replace("-", ""), "4285", CPR_IMPOSSIBLE_DATE, "3201871234"):
        assert digits not in output


def test_the_console_handler_masks_and_tags_every_record() -> None:
    console = settings.LOGGING["handlers"]["console"]

    assert console["filters"] == ["request_id", "mask_cpr"]
    assert settings.LOGGING["filters"]["request_id"]["()"] == "cardsystem.logging.RequestIdFilter"
    assert settings.LOGGING["filters"]["mask_cpr"]["()"] == "cardsystem.logging.MaskCprFilter"


@pytest.mark.django_db(transaction=True)
def test_a_sale_at_the_till_logs_one_money_line_with_ids_and_amount_but_no_name(log_lines: io.StringIO) -> None:
    card = card_with_balances(extra=5000, institution=InstitutionFactory())
    assert card.holder is not None
    card.holder.name = "Maja Sørensen"
    card.holder.save()
    sandwich = ProductFactory(institution=card.holder.institution, price_cents=2500)
    _terminal, token = terminal_with_token(institution=card.holder.institution)
    log_lines.seek(0)
    log_lines.truncate()
    response = Client().post(
        "/api/v1/terminal/purchases",
        {"uid": card.uid, "lines": [{"product": sandwich.pk, "quantity": 1}]},
        "application/json",
        headers={"authorization": f"Bearer {token}", "idempotency-key": "k1"},
    )
    assert response.status_code == 201
    money = [json.loads(line) for line in log_lines.getvalue().splitlines() if '"cardsystem.money"' in line]
    assert [(m["money_kind"], m["amount_cents"], m["movements"]) for m in money] == [("sale", 2500, 1)]
    assert "Maja" not in log_lines.getvalue() and card.uid not in log_lines.getvalue()
