"""The staff till screen: picking a till, scans on screen, typed cards, sales and the customer display."""

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Institution, Role, User
from canteen.models import Product, Sale
from cards.models import Card
from payments.ledger import holder_accounts_get
from payments.selectors import ledger_mismatches
from terminals.models import Scan, Terminal
from terminals.services import display_update
from tests.factories import (
    InstitutionFactory,
    ProductFactory,
    TerminalFactory,
    UserFactory,
    card_with_balances,
    staff_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(name="North School")


@pytest.fixture
def terminal(school: Institution) -> Terminal:
    return TerminalFactory(institution=school, name="Canteen 1")


@pytest.fixture
def cook(school: Institution) -> User:
    return staff_user(institution=school, role=Role.CANTEEN)


@pytest.fixture
def till_client(cook: User) -> Client:
    client = Client()
    client.force_login(cook)
    return client


@pytest.fixture
def sandwich(school: Institution) -> Product:
    return ProductFactory(institution=school, name="Sandwich", price_cents=2500)


def url(terminal: Terminal, rest: str = "") -> str:
    return f"/till/{terminal.pk}/{rest}"


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def extra_of(card: Card) -> int:
    return holder_accounts_get(holder_id=card.holder_id).extra.balance_cents


def sell(client: Client, terminal: Terminal, body: dict[str, Any], key: str | None = "sale-1") -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(url(terminal, "sales"), data=json.dumps(body), content_type="application/json", headers=headers)


def scan_of(terminal: Terminal, card: Card) -> Scan:
    return Scan.objects.create(terminal=terminal, card=card)


# --- picking a till ------------------------------------------------------------------------


def test_picking_lists_only_the_tills_of_the_users_institutions(till_client: Client, terminal: Terminal) -> None:
    elsewhere = TerminalFactory(institution=InstitutionFactory(name="South School"), name="South till")
    TerminalFactory(institution=terminal.institution, name="Lunch reader", kind=Terminal.Kind.LUNCH_LINE)
    response = till_client.get("/till/")
    assert response.status_code == 200
    assert [t.pk for t in response.context["terminals"]] == [terminal.pk]
    assert elsewhere.name not in response.content.decode()


def test_an_administrator_may_pick_the_tills_of_their_institution(terminal: Terminal) -> None:
    client = Client()
    client.force_login(staff_user(institution=terminal.institution, role=Role.ADMIN))
    assert [t.pk for t in client.get("/till/").context["terminals"]] == [terminal.pk]


def test_signing_in_is_required_to_pick_a_till() -> None:
    response = Client().get("/till/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_without_a_canteen_role_is_forbidden(terminal: Terminal) -> None:
    client = Client()
    client.force_login(staff_user(institution=terminal.institution, role=Role.TEACHER))
    assert client.get("/till/").status_code == 403
    assert client.get(url(terminal)).status_code == 403


def test_a_guardian_is_forbidden_the_latest_scan_endpoint(terminal: Terminal) -> None:
    client = Client()
    client.force_login(UserFactory())
    response = client.get(url(terminal, "scans/latest?after=0"))
    assert (response.status_code, error_code(response)) == (403, "forbidden")


def test_another_institutions_till_is_not_found(till_client: Client) -> None:
    foreign = TerminalFactory(institution=InstitutionFactory(name="South School"))
    assert till_client.get(url(foreign)).status_code == 404
    assert till_client.get(url(foreign, "display/")).status_code == 404
    response = till_client.get(url(foreign, "scans/latest?after=0"))
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_the_till_screen_offers_the_institutions_products(
    till_client: Client, terminal: Terminal, sandwich: Product
) -> None:
    ProductFactory(institution=InstitutionFactory(name="South School"), name="Foreign cake")
    page = till_client.get(url(terminal)).content.decode()
    assert f'data-product="{sandwich.pk}"' in page and "Foreign cake" not in page


# --- scans on the screen -------------------------------------------------------------------


def test_latest_scan_returns_the_newest_scan_after_the_given_id(till_client: Client, terminal: Terminal) -> None:
    card = card_with_balances(extra=5000, institution=terminal.institution)
    first = scan_of(terminal, card)
    newest = scan_of(terminal, card)
    response = till_client.get(url(terminal, f"scans/latest?after={first.pk}"))
    assert response.status_code == 200
    body = response.json()
    assert body["scan_id"] == newest.pk
    assert (body["holder"]["name"], body["balances"]["extra"], body["can_buy"]) == (card.holder.name, "50.00", True)


def test_latest_scan_returns_nothing_when_none_is_newer(till_client: Client, terminal: Terminal) -> None:
    scan = scan_of(terminal, card_with_balances(institution=terminal.institution))
    response = till_client.get(url(terminal, f"scans/latest?after={scan.pk}"))
    assert response.status_code == 204 and response.content == b""


def test_latest_scan_ignores_scans_at_other_tills(till_client: Client, terminal: Terminal) -> None:
    other = TerminalFactory(institution=terminal.institution)
    scan_of(other, card_with_balances(institution=terminal.institution))
    assert till_client.get(url(terminal, "scans/latest?after=0")).status_code == 204


def test_latest_scan_costs_one_query_beyond_the_session(till_client: Client, terminal: Terminal) -> None:
    scan = scan_of(terminal, card_with_balances(institution=terminal.institution))
    with CaptureQueriesContext(connection) as queries:
        till_client.get(url(terminal, f"scans/latest?after={scan.pk}"))
    own = [q["sql"] for q in queries.captured_queries if "django_session" not in q["sql"]]
    # The session row and the signed-in user, then one query for access and the newest scan.
    assert len(own) == 2, own


def test_typing_a_printed_card_number_records_a_scan(till_client: Client, terminal: Terminal) -> None:
    card = card_with_balances(extra=5000, institution=terminal.institution, number="100001")
    response = till_client.post(url(terminal, "scan"), data={"text": " 100001 "}, content_type="application/json")
    assert response.status_code == 200
    scan = Scan.objects.get()
    assert (scan.terminal, scan.card) == (terminal, card)
    assert response.json()["scan_id"] == scan.pk


def test_typing_a_uid_as_a_reader_does_records_a_scan(till_client: Client, terminal: Terminal) -> None:
    card = card_with_balances(institution=terminal.institution, uid="04A1B2C3D4E5F6")
    response = till_client.post(url(terminal, "scan"), data={"text": "04a1b2c3d4e5f6"})
    assert response.status_code == 200 and Scan.objects.get().card == card


def test_typing_an_unknown_number_is_card_unknown_and_records_nothing(till_client: Client, terminal: Terminal) -> None:
    response = till_client.post(url(terminal, "scan"), data={"text": "999999"}, content_type="application/json")
    assert (response.status_code, error_code(response)) == (404, "card_unknown")
    assert not Scan.objects.exists()


def test_typing_at_another_institutions_till_records_nothing(till_client: Client) -> None:
    foreign = TerminalFactory(institution=InstitutionFactory(name="South School"))
    card = card_with_balances(institution=foreign.institution)
    response = till_client.post(url(foreign, "scan"), data={"text": card.number}, content_type="application/json")
    assert response.status_code == 404 and not Scan.objects.exists()


# --- sales ---------------------------------------------------------------------------------


def test_a_sale_sells_and_moves_money(till_client: Client, cook: User, terminal: Terminal, sandwich: Product) -> None:
    card = card_with_balances(main=10000, extra=6000, institution=terminal.institution)
    scan = scan_of(terminal, card)
    response = sell(till_client, terminal, {"scan": scan.pk, "lines": [{"product": sandwich.pk, "quantity": 2}]})
    assert response.status_code == 201
    sale = Sale.objects.get()
    assert response.json()["balances"] == {"main": "100.00", "extra": "10.00"}
    assert response.json()["receipt_url"] == f"/receipts/{sale.receipt_token}/"
    assert extra_of(card) == 1000
    assert (sale.card, sale.sold_by, sale.place, sale.terminal_id) == (card, cook, "Canteen 1", terminal.pk)
    assert ledger_mismatches() == []


def test_a_sale_with_insufficient_funds_is_refused_and_moves_nothing(
    till_client: Client, terminal: Terminal, sandwich: Product
) -> None:
    card = card_with_balances(main=10000, extra=2000, institution=terminal.institution)
    scan = scan_of(terminal, card)
    response = sell(till_client, terminal, {"scan": scan.pk, "lines": [{"product": sandwich.pk, "quantity": 1}]})
    assert (response.status_code, error_code(response)) == (409, "insufficient_funds")
    assert extra_of(card) == 2000 and not Sale.objects.exists()


def test_a_sale_with_a_blocked_card_is_refused_card_blocked(
    till_client: Client, terminal: Terminal, sandwich: Product
) -> None:
    card = card_with_balances(extra=10000, institution=terminal.institution, status=Card.Status.BLOCKED)
    response = sell(till_client, terminal, {"scan": scan_of(terminal, card).pk, "lines": [{"product": sandwich.pk}]})
    assert (response.status_code, error_code(response)) == (409, "card_blocked")
    assert extra_of(card) == 10000


def test_the_same_idempotency_key_twice_sells_once(till_client: Client, terminal: Terminal, sandwich: Product) -> None:
    card = card_with_balances(extra=10000, institution=terminal.institution)
    body = {"scan": scan_of(terminal, card).pk, "lines": [{"product": sandwich.pk, "quantity": 1}]}
    first = sell(till_client, terminal, body, key="double-tap")
    second = sell(till_client, terminal, body, key="double-tap")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert Sale.objects.count() == 1 and extra_of(card) == 7500


def test_a_sale_without_an_idempotency_key_is_invalid(
    till_client: Client, terminal: Terminal, sandwich: Product
) -> None:
    card = card_with_balances(extra=10000, institution=terminal.institution)
    response = sell(
        till_client, terminal, {"scan": scan_of(terminal, card).pk, "lines": [{"product": sandwich.pk}]}, None
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert not Sale.objects.exists()


def test_a_cash_sale_leaves_the_balance_alone(till_client: Client, terminal: Terminal, sandwich: Product) -> None:
    card = card_with_balances(extra=0, institution=terminal.institution)
    body = {"scan": scan_of(terminal, card).pk, "lines": [{"product": sandwich.pk, "quantity": 1}], "payment": "cash"}
    response = sell(till_client, terminal, body)
    assert response.status_code == 201 and response.json()["payment"] == "cash"
    assert extra_of(card) == 0 and Sale.objects.get().card == card


def test_a_sale_to_a_card_read_at_another_till_is_invalid(
    till_client: Client, terminal: Terminal, sandwich: Product
) -> None:
    card = card_with_balances(extra=10000, institution=terminal.institution)
    elsewhere = scan_of(TerminalFactory(institution=terminal.institution), card)
    response = sell(till_client, terminal, {"scan": elsewhere.pk, "lines": [{"product": sandwich.pk}]})
    assert (response.status_code, error_code(response)) == (400, "invalid_request")
    assert extra_of(card) == 10000


def test_a_sale_without_a_csrf_token_is_refused(cook: User, terminal: Terminal, sandwich: Product) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(cook)
    card = card_with_balances(extra=10000, institution=terminal.institution)
    response = sell(client, terminal, {"scan": scan_of(terminal, card).pk, "lines": [{"product": sandwich.pk}]})
    assert response.status_code == 403 and not Sale.objects.exists()


# --- the customer display ------------------------------------------------------------------


def test_the_display_endpoint_returns_the_pushed_payload_and_version(till_client: Client, terminal: Terminal) -> None:
    pushed = {
        "state": "order",
        "first_name": "Anna",
        "lines": [{"name": "Sandwich", "quantity": 1, "total": "25.00"}],
        "total": "25.00",
    }
    push = till_client.post(url(terminal, "display/state"), data=pushed, content_type="application/json")
    assert push.status_code == 200
    body = till_client.get(url(terminal, "display/state")).json()
    assert body["version"] == push.json()["version"] == 1
    assert body["payload"] == {**pushed, "balance": None}


def test_the_display_endpoint_answers_nothing_while_the_version_is_current(
    till_client: Client, terminal: Terminal
) -> None:
    state = display_update(terminal=terminal, payload={"state": "idle"})
    assert till_client.get(url(terminal, f"display/state?version={state.version}")).status_code == 204


def test_the_display_shows_only_the_first_name_never_class_or_allergies(
    till_client: Client, terminal: Terminal
) -> None:
    pushed = {"state": "done", "first_name": "Anna Berg", "group": "2A", "allergies": "Nuts", "balance": "25.00"}
    till_client.post(url(terminal, "display/state"), data=pushed, content_type="application/json")
    payload = till_client.get(url(terminal, "display/state")).json()["payload"]
    assert payload["first_name"] == "Anna"
    assert "group" not in payload and "allergies" not in payload


def test_the_display_of_another_institutions_till_is_not_found(till_client: Client) -> None:
    foreign = TerminalFactory(institution=InstitutionFactory(name="South School"))
    response = till_client.post(url(foreign, "display/state"), data={"state": "idle"}, content_type="application/json")
    assert response.status_code == 404
