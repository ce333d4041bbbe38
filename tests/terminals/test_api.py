"""The terminal API of API.md: scans, products, purchases and their error bodies."""

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from canteen.models import HolderCategoryBlock, Sale
from cards.models import Card
from payments.ledger import holder_accounts_get
from payments.models import LedgerAccount
from payments.selectors import ledger_mismatches
from terminals.models import Scan, TerminalToken
from terminals.services import scan_sequence_gaps, terminal_token_revoke
from tests.factories import (
    InstitutionFactory,
    ProductCategoryFactory,
    ProductFactory,
    UserFactory,
    card_with_balances,
    terminal_with_token,
)

pytestmark = pytest.mark.django_db


class Till:
    def __init__(self, token: str) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def post(self, path: str, body: Any, key: str | None = None, raw: str | None = None) -> Any:
        headers = dict(self.headers)
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data=data, content_type="application/json", **headers)

    def get(self, path: str) -> Any:
        return self.client.get(path, **self.headers)

    def buy(self, uid: str, product_id: int, quantity: int = 1, key: str | None = None, **extra: Any) -> Any:
        body = {"uid": uid, "lines": [{"product": product_id, "quantity": quantity}], **extra}
        return self.post("/api/v1/terminal/purchases", body, key=key)


@pytest.fixture
def school():  # type: ignore[no-untyped-def]
    return InstitutionFactory()


@pytest.fixture
def till(school):  # type: ignore[no-untyped-def]
    terminal, token = terminal_with_token(institution=school, name="Canteen 1")
    result = Till(token)
    result.terminal = terminal  # type: ignore[attr-defined]
    return result


@pytest.fixture
def sandwich(school):  # type: ignore[no-untyped-def]
    return ProductFactory(institution=school, name="Sandwich", price_cents=2500)


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def extra_of(card: Card) -> int:
    return holder_accounts_get(holder_id=card.holder_id).extra.balance_cents


# --- scans ---------------------------------------------------------------------------------


def test_scan_answers_holder_balances_and_limits(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(main=10000, extra=5000, institution=school, daily_limit_cents=4000)
    card.holder.allergy_note = "Nuts"
    card.holder.save()
    response = till.post("/api/v1/terminal/scans", {"uid": card.uid.lower()})
    assert response.status_code == 200
    body = response.json()
    assert body["card"] == {"number": card.number, "status": "active", "kind": "regular"}
    assert body["holder"]["name"] == card.holder.name and body["holder"]["allergies"] == "Nuts"
    assert body["balances"] == {"main": "100.00", "extra": "50.00"}
    assert (body["currency"], body["daily_limit"], body["spent_today"]) == ("DKK", "40.00", "0.00")
    assert (body["can_buy"], body["reason"], body["meal_today"]) == (True, None, None)


def test_scan_is_recorded_for_the_terminal_staff_screen(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=100, institution=school)
    till.post("/api/v1/terminal/scans", {"uid": card.uid})
    assert Scan.objects.get().terminal == till.terminal


def test_scan_of_a_blocked_card_says_it_cannot_buy_and_why(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=5000, institution=school, status=Card.Status.BLOCKED)
    body = till.post("/api/v1/terminal/scans", {"uid": card.uid}).json()
    assert (body["can_buy"], body["reason"]) == (False, "card_blocked")


def test_scan_with_an_empty_extra_balance_says_insufficient_funds(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(main=5000, extra=0, institution=school)
    body = till.post("/api/v1/terminal/scans", {"uid": card.uid}).json()
    assert (body["can_buy"], body["reason"]) == (False, "insufficient_funds")


def test_scan_accepts_uids_with_separators(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(institution=school, uid="04A1B2C3D4E5F6")
    response = till.post("/api/v1/terminal/scans", {"uid": "04:a1:b2:c3:d4:e5:f6"})
    assert response.status_code == 200 and response.json()["card"]["number"] == card.number


def test_scan_of_an_unknown_card_is_404_card_unknown(till) -> None:  # type: ignore[no-untyped-def]
    response = till.post("/api/v1/terminal/scans", {"uid": "04FFFFFFFFFFFF"})
    assert (response.status_code, error_code(response)) == (404, "card_unknown")


@pytest.mark.parametrize("uid", ["zz", "04A1B2", "04A1B2C3D4E5F6A", "", "04A1B2C3D4E5F60718A1B2C3", 1234])
def test_scan_of_a_malformed_uid_is_400_invalid_uid(till, uid: Any) -> None:  # type: ignore[no-untyped-def]
    response = till.post("/api/v1/terminal/scans", {"uid": uid})
    assert (response.status_code, error_code(response)) == (400, "invalid_uid")
    assert "uid" in response.json()["error"]["fields"]


def test_malformed_json_is_400_invalid_request(till) -> None:  # type: ignore[no-untyped-def]
    response = till.post("/api/v1/terminal/scans", None, raw='{"uid": ')
    assert (response.status_code, error_code(response)) == (400, "invalid_request")


def test_a_missing_token_is_401(school) -> None:  # type: ignore[no-untyped-def]
    response = Client().post("/api/v1/terminal/scans", {"uid": "04A1B2C3D4E5F6"}, content_type="application/json")
    assert response.status_code == 401


def test_a_revoked_token_is_401(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(institution=school)
    terminal_token_revoke(token=TerminalToken.objects.get(terminal=till.terminal))
    response = till.post("/api/v1/terminal/scans", {"uid": card.uid})
    assert (response.status_code, error_code(response)) == (401, "unauthorized")
    assert not Scan.objects.exists()


def test_tokens_are_stored_only_as_digests(till) -> None:  # type: ignore[no-untyped-def]
    token = till.headers["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    stored = TerminalToken.objects.get(terminal=till.terminal)
    assert token not in (stored.digest, stored.prefix) and len(stored.digest) == 64


def test_a_staff_session_is_not_a_terminal(school) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(UserFactory())
    response = client.post("/api/v1/terminal/scans", {"uid": "04A1B2C3D4E5F6"}, content_type="application/json")
    assert response.status_code in (401, 403)


# --- products --------------------------------------------------------------------------------


def test_products_lists_this_institutions_products_on_sale(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    ProductFactory(institution=InstitutionFactory(), name="Elsewhere")
    ProductFactory(institution=school, name="Retired", is_active=False)
    body = till.get("/api/v1/terminal/products").json()
    assert body == {
        "currency": "DKK",
        "products": [{"id": sandwich.pk, "name": "Sandwich", "category": "food", "price": "25.00"}],
    }


# --- purchases -------------------------------------------------------------------------------


def test_purchase_answers_201_with_receipt_and_new_balances(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(main=10000, extra=5000, institution=school)
    response = till.buy(card.uid, sandwich.pk, key="k-1")
    assert response.status_code == 201
    body = response.json()
    sale = Sale.objects.get()
    assert body["id"] == sale.pk and body["receipt_number"] == sale.receipt_number
    assert (body["total"], body["currency"]) == ("25.00", "DKK")
    assert body["balances"] == {"main": "100.00", "extra": "25.00"}
    assert body["receipt_url"] == f"/receipts/{sale.receipt_token}/"
    assert sale.place == "Canteen 1" and sale.terminal_id == till.terminal.pk


def test_purchase_with_insufficient_funds_is_409_and_moves_nothing(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(main=10000, extra=2000, institution=school)
    response = till.buy(card.uid, sandwich.pk)
    assert (response.status_code, error_code(response)) == (409, "insufficient_funds")
    assert extra_of(card) == 2000 and not Sale.objects.exists()


def test_purchase_over_the_daily_limit_is_409_daily_limit_exceeded(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school, daily_limit_cents=4000)
    assert till.buy(card.uid, sandwich.pk).status_code == 201
    response = till.buy(card.uid, sandwich.pk)
    assert (response.status_code, error_code(response)) == (409, "daily_limit_exceeded")
    assert extra_of(card) == 7500


def test_purchase_with_a_blocked_card_is_409_card_blocked(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school, status=Card.Status.BLOCKED)
    response = till.buy(card.uid, sandwich.pk)
    assert (response.status_code, error_code(response)) == (409, "card_blocked")


def test_purchase_at_the_debt_limit_is_409_debt_limit_reached(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    main = holder_accounts_get(holder_id=card.holder_id).main
    LedgerAccount.objects.filter(pk=main.pk).update(balance_cents=main.floor_cents)
    response = till.buy(card.uid, sandwich.pk)
    assert (response.status_code, error_code(response)) == (409, "debt_limit_reached")


def test_purchase_of_a_blocked_category_is_409_category_blocked(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    chocolate = ProductFactory(institution=school, category=ProductCategoryFactory(institution=school, code="sweets"))
    HolderCategoryBlock.objects.create(holder=card.holder, category_code="sweets")
    response = till.buy(card.uid, chocolate.pk)
    assert (response.status_code, error_code(response)) == (409, "category_blocked")


def test_purchase_with_an_unknown_card_is_404_card_unknown(till, sandwich) -> None:  # type: ignore[no-untyped-def]
    response = till.buy("04FFFFFFFFFFFF", sandwich.pk)
    assert (response.status_code, error_code(response)) == (404, "card_unknown")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uid": "04A1B2C3D4E5F6", "lines": [{"product": 1, "quantity": 0}]}, "lines.0.quantity"),
        ({"uid": "04A1B2C3D4E5F6", "lines": [{"product": 1, "quantity": -2}]}, "lines.0.quantity"),
        ({"uid": "04A1B2C3D4E5F6", "lines": [{"product": 1, "quantity": "x"}]}, "lines.0.quantity"),
        ({"uid": "04A1B2C3D4E5F6", "lines": []}, "lines"),
        ({"uid": "04A1B2C3D4E5F6"}, "lines"),
        ({"uid": "nothex", "lines": [{"product": 1, "quantity": 1}]}, "uid"),
        ({"lines": [{"product": 1, "quantity": 1}]}, "uid"),
        ({"uid": "04A1B2C3D4E5F6", "lines": [{"product": 1, "quantity": 1}], "payment": "iou"}, "payment"),
        ({"uid": "04A1B2C3D4E5F6", "lines": [{"product": 1, "quantity": 1}], "tip": "5.00"}, "tip"),
    ],
)
def test_bad_purchase_input_is_400_with_field_errors_and_moves_nothing(till, school, body, field) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school, uid="04A1B2C3D4E5F6")
    response = till.post("/api/v1/terminal/purchases", body, key="bad-1")
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert field in response.json()["error"]["fields"]
    assert extra_of(card) == 10000 and not Sale.objects.exists()


def test_purchase_of_an_unknown_product_is_400_with_a_lines_error(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    response = till.buy(card.uid, 999999)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert "lines" in response.json()["error"]["fields"]


def test_purchase_of_another_institutions_product_is_400(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    foreign = ProductFactory(institution=InstitutionFactory())
    response = till.buy(card.uid, foreign.pk)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert extra_of(card) == 10000


def test_cash_purchase_is_201_and_leaves_the_card_balance_alone(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=0, institution=school)
    response = till.buy(card.uid, sandwich.pk, payment="cash")
    assert response.status_code == 201 and response.json()["payment"] == "cash"
    assert extra_of(card) == 0 and Sale.objects.get().payment == "cash"


def test_cash_purchase_with_a_cashier_card_records_the_cashier(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    cashier = UserFactory()
    Card.objects.create(uid="04CA5E00000001", number="800001", kind=Card.Kind.CASHIER, staff_user=cashier)
    response = till.post(
        "/api/v1/terminal/purchases",
        {"lines": [{"product": sandwich.pk, "quantity": 1}], "payment": "cash", "cashier_uid": "04CA5E00000001"},
    )
    assert response.status_code == 201
    assert Sale.objects.get().sold_by == cashier


# --- idempotency -----------------------------------------------------------------------------


def test_the_same_key_and_body_answer_the_first_answer_and_debit_once(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    first = till.buy(card.uid, sandwich.pk, key="same")
    second = till.buy(card.uid, sandwich.pk, key="same")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert extra_of(card) == 7500 and Sale.objects.count() == 1


def test_the_same_key_with_another_body_is_422(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    till.buy(card.uid, sandwich.pk, key="same")
    response = till.buy(card.uid, sandwich.pk, quantity=2, key="same")
    assert (response.status_code, error_code(response)) == (422, "idempotency_key_reused")
    assert extra_of(card) == 7500


def test_a_refusal_is_replayed_for_the_same_key(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=2000, institution=school)
    assert error_code(till.buy(card.uid, sandwich.pk, key="r")) == "insufficient_funds"
    LedgerAccount.objects.filter(holder=card.holder, kind="extra").update(balance_cents=2000)  # unchanged; no top-up
    second = till.buy(card.uid, sandwich.pk, key="r")
    assert (second.status_code, error_code(second)) == (409, "insufficient_funds")


def test_keys_are_scoped_to_the_terminal(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    _other_terminal, other_token = terminal_with_token(institution=school)
    till.buy(card.uid, sandwich.pk, key="shared")
    Till(other_token).buy(card.uid, sandwich.pk, key="shared")
    assert Sale.objects.count() == 2 and extra_of(card) == 5000


@pytest.mark.parametrize("key", ["", "x" * 65])
def test_an_idempotency_key_outside_1_to_64_characters_is_400(till, school, sandwich, key: str) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school)
    response = till.buy(card.uid, sandwich.pk, key=key)
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert extra_of(card) == 10000


def test_the_ledger_is_consistent_after_a_mix_of_api_sales(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=6000, institution=school)
    for key in ("a", "b", "c", "a"):
        till.buy(card.uid, sandwich.pk, key=key)
    till.buy(card.uid, sandwich.pk, payment="cash")
    assert extra_of(card) == 1000
    assert ledger_mismatches() == []


def test_scan_after_a_purchase_reports_todays_spending(till, school, sandwich) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=10000, institution=school, daily_limit_cents=6000)
    till.buy(card.uid, sandwich.pk)
    body = till.post("/api/v1/terminal/scans", {"uid": card.uid}).json()
    assert (body["spent_today"], body["daily_limit"], body["balances"]["extra"]) == ("25.00", "60.00", "75.00")


# --- read numbers from terminal agents ------------------------------------------------------


def test_a_scan_sent_again_with_its_sequence_is_recorded_once_and_answered_alike(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(extra=100, institution=school)
    body = {"uid": card.uid, "sequence": 7, "read_at": "2026-11-22T11:30:00+01:00"}
    first = till.post("/api/v1/terminal/scans", body)
    second = till.post("/api/v1/terminal/scans", body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["scan_id"] == second.json()["scan_id"]
    scan = Scan.objects.get()
    assert (scan.sequence, scan.read_at.isoformat()) == (7, "2026-11-22T10:30:00+00:00")


def test_a_sequence_reused_for_another_card_is_409_and_records_nothing(till, school) -> None:  # type: ignore[no-untyped-def]
    anna, bo = card_with_balances(institution=school), card_with_balances(institution=school)
    till.post("/api/v1/terminal/scans", {"uid": anna.uid, "sequence": 1})
    response = till.post("/api/v1/terminal/scans", {"uid": bo.uid, "sequence": 1})
    assert (response.status_code, error_code(response)) == (409, "sequence_reused")
    assert Scan.objects.count() == 1


def test_sequences_are_per_terminal(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(institution=school)
    _other, other_token = terminal_with_token(institution=school)
    till.post("/api/v1/terminal/scans", {"uid": card.uid, "sequence": 1})
    Till(other_token).post("/api/v1/terminal/scans", {"uid": card.uid, "sequence": 1})
    assert Scan.objects.count() == 2


def test_missing_read_numbers_are_found(till, school) -> None:  # type: ignore[no-untyped-def]
    card = card_with_balances(institution=school)
    for sequence in (3, 4, 7, 9):
        till.post("/api/v1/terminal/scans", {"uid": card.uid, "sequence": sequence})
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    assert scan_sequence_gaps(terminal=till.terminal, since=since) == [5, 6, 8]


def test_an_error_in_a_nested_field_is_named_with_dots_and_keeps_the_flat_shape(till, school) -> None:  # type: ignore[no-untyped-def]
    card_with_balances(extra=10000, institution=school, uid="04A1B2C3D4E5F6")
    body = {"uid": "04A1B2C3D4E5F6", "lines": [{"product": 1, "quantity": 1}, {"product": 1, "quantity": 0}]}

    fields = till.post("/api/v1/terminal/purchases", body, key="bad-nested").json()["error"]["fields"]

    assert list(fields) == ["lines.1.quantity"]
    assert isinstance(fields["lines.1.quantity"], list) and all(isinstance(m, str) for m in fields["lines.1.quantity"])


def test_a_path_no_url_takes_under_the_api_answers_the_error_body() -> None:
    response = Client().get("/api/v1/me/holders/not-a-number")

    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json()["error"]["code"] == "not_found"


def test_a_page_no_url_takes_outside_the_api_is_still_a_page() -> None:
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
