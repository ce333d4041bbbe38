"""The guardian API of API.md: holders, their history, limits and cards, for the guardian only."""

import datetime as dt
import json
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.services import personal_token_create, personal_token_revoke
from canteen.services import LineRequest, purchase_create
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from payments.ledger import holder_accounts_get, opening_balance_post
from payments.models import LedgerTransaction
from tests.factories import (
    PASSWORD,
    CardFactory,
    InstitutionFactory,
    ProductFactory,
    UserFactory,
    holder_with_balances,
    terminal_with_token,
)

pytestmark = pytest.mark.django_db


class Guardian:
    def __init__(self) -> None:
        self.user = UserFactory()
        self.client = Client()
        self.client.force_login(self.user)

    def ward(self, **kwargs: Any) -> Cardholder:
        holder = holder_with_balances(**kwargs)
        guardianship_create(guardian=self.user, holder=holder)
        return holder

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(path, data=json.dumps(body), content_type="application/json")

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def guardian() -> Guardian:
    return Guardian()


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def history(holder: Cardholder) -> str:
    return f"/api/v1/me/holders/{holder.pk}/transactions"


# --- holders --------------------------------------------------------------------------------


def test_the_list_shows_only_the_guardians_own_holders_with_balances_and_cards(guardian: Guardian) -> None:
    mine = guardian.ward(main=12000, extra=3050, name="Ada")
    CardFactory(holder=mine, number="700001", daily_limit_cents=4000)
    holder_with_balances(main=500, name="Someone else's")

    response = guardian.get("/api/v1/me/holders")

    assert response.status_code == 200
    body = response.json()
    assert body["currency"] == "DKK"
    assert body["holders"] == [
        {
            "id": mine.pk,
            "name": "Ada",
            "institution": mine.institution.name,
            "group": "5B",
            "balances": {"main": "120.00", "extra": "30.50"},
            "daily_limit": "40.00",
            "low_balance_alert": None,
            "cards": [{"number": "700001", "status": "active"}],
        }
    ]


def _queries_for_list(guardian: Guardian, django_assert_max_num_queries: Any, count: int) -> int:
    for _ in range(count):
        holder = guardian.ward(main=100)
        CardFactory(holder=holder)
        CardFactory(holder=holder)
    with django_assert_max_num_queries(100) as captured:
        assert guardian.get("/api/v1/me/holders").status_code == 200
    return len(captured.captured_queries)


def test_the_list_takes_as_many_queries_for_five_holders_as_for_one(django_assert_max_num_queries: Any) -> None:
    one = _queries_for_list(Guardian(), django_assert_max_num_queries, 1)
    five = _queries_for_list(Guardian(), django_assert_max_num_queries, 5)
    assert one == five


# --- transactions ---------------------------------------------------------------------------


def test_history_shows_a_sale_with_its_lines_place_and_balance_after(guardian: Guardian) -> None:
    school = InstitutionFactory()
    holder = guardian.ward(extra=10000, institution=school)
    card = CardFactory(holder=holder)
    sandwich = ProductFactory(institution=school, name="Sandwich", price_cents=2500)
    with transaction.atomic():
        purchase_create(
            institution=school, card=card, lines=[LineRequest(product_id=sandwich.pk, quantity=2)], place="Canteen 1"
        )

    response = guardian.get(history(holder))

    assert response.status_code == 200
    newest, opening = response.json()["results"]
    assert newest["kind"] == "sale"
    assert newest["amount"] == "-50.00"
    assert newest["balance"] == "50.00"
    assert newest["place"] == "Canteen 1"
    assert newest["lines"] == [{"name": "Sandwich", "quantity": 2, "price": "25.00"}]
    assert dt.datetime.fromisoformat(newest["at"]).utcoffset() is not None
    assert opening["kind"] == "opening"
    assert opening["lines"] == []
    assert opening["place"] == ""
    assert response.json()["next"] is None


def test_history_is_paged_fifty_at_a_time_newest_first(guardian: Guardian) -> None:
    holder = guardian.ward()
    account = holder_accounts_get(holder_id=holder.pk).main
    for amount in range(1, 56):
        opening_balance_post(account=account, amount_cents=amount, reason="test")

    first = guardian.get(history(holder)).json()
    second = guardian.client.get(first["next"]).json()

    assert len(first["results"]) == 50
    assert first["results"][0]["amount"] == "0.55"
    assert "page=2" in first["next"]
    assert [row["amount"] for row in second["results"]] == ["0.05", "0.04", "0.03", "0.02", "0.01"]
    assert second["next"] is None


def test_history_keeps_only_the_days_asked_for(guardian: Guardian, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = guardian.ward()
    account = holder_accounts_get(holder_id=holder.pk).main
    old = timezone.now() - dt.timedelta(days=10)
    # Ledger rows are append-only, so the old one is written with an old time rather than moved.
    monkeypatch.setattr(LedgerTransaction._meta.get_field("created_at"), "_get_default", lambda: old)
    opening_balance_post(account=account, amount_cents=1000, reason="old")
    monkeypatch.undo()
    opening_balance_post(account=account, amount_cents=200, reason="new")
    zone = holder.institution.zone
    today = timezone.localdate(timezone.now(), zone).isoformat()
    old_day = timezone.localdate(old, zone).isoformat()

    recent = guardian.get(history(holder), **{"from": today, "to": today}).json()["results"]
    older = guardian.get(history(holder), to=old_day).json()["results"]

    assert [row["amount"] for row in recent] == ["2.00"]
    assert [row["amount"] for row in older] == ["10.00"]


@pytest.mark.parametrize(
    "params", [{"from": "2026-13-01"}, {"to": "yesterday"}, {"from": "2026-05-02", "to": "2026-05-01"}]
)
def test_history_refuses_bad_dates_with_the_field(guardian: Guardian, params: dict[str, str]) -> None:
    holder = guardian.ward()

    response = guardian.get(history(holder), **params)

    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert set(response.json()["error"]["fields"]) <= {"from", "to"}


def test_another_familys_holder_is_not_found_for_history_and_limits(guardian: Guardian) -> None:
    other = holder_with_balances(main=100)

    history_response = guardian.get(history(other))
    patch_response = guardian.patch(f"/api/v1/me/holders/{other.pk}", {"daily_limit": "1.00"})

    assert (history_response.status_code, error_code(history_response)) == (404, "not_found")
    assert (patch_response.status_code, error_code(patch_response)) == (404, "not_found")


# --- limits ---------------------------------------------------------------------------------


def test_setting_limits_sets_the_daily_limit_on_every_card_and_the_alert(guardian: Guardian) -> None:
    holder = guardian.ward()
    regular, loaner = CardFactory(holder=holder), CardFactory(holder=holder, kind=Card.Kind.LOANER)

    response = guardian.patch(f"/api/v1/me/holders/{holder.pk}", {"daily_limit": "40.00", "low_balance_alert": "20"})

    assert response.status_code == 200
    assert response.json()["daily_limit"] == "40.00"
    assert response.json()["low_balance_alert"] == "20.00"
    assert {Card.objects.get(pk=c.pk).daily_limit_cents for c in (regular, loaner)} == {4000}
    holder.refresh_from_db()
    assert holder.low_balance_alert_cents == 2000


def test_null_removes_a_limit_and_a_missing_field_keeps_it(guardian: Guardian) -> None:
    holder = guardian.ward()
    holder.low_balance_alert_cents = 1500
    holder.save()
    card = CardFactory(holder=holder, daily_limit_cents=3000)

    response = guardian.patch(f"/api/v1/me/holders/{holder.pk}", {"daily_limit": None})

    assert response.status_code == 200
    card.refresh_from_db()
    holder.refresh_from_db()
    assert card.daily_limit_cents is None
    assert holder.low_balance_alert_cents == 1500


@pytest.mark.parametrize("amount", ["-1.00", "1.234", "abc", 12])
def test_bad_amounts_are_refused_with_the_field_and_change_nothing(guardian: Guardian, amount: Any) -> None:
    holder = guardian.ward()
    card = CardFactory(holder=holder, daily_limit_cents=3000)

    response = guardian.patch(f"/api/v1/me/holders/{holder.pk}", {"daily_limit": "10.00", "low_balance_alert": amount})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"low_balance_alert"}
    card.refresh_from_db()
    holder.refresh_from_db()
    assert card.daily_limit_cents == 3000
    assert holder.low_balance_alert_cents is None


# --- cards ----------------------------------------------------------------------------------


def test_blocking_with_a_wrong_password_is_refused_and_the_card_stays_active(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward())

    response = guardian.post(f"/api/v1/me/cards/{card.number}/block", {"password": "wrong"})

    assert (response.status_code, error_code(response)) == (403, "reauth_failed")
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE


def test_a_card_blocked_and_unblocked_is_active_again(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward())

    blocked = guardian.post(f"/api/v1/me/cards/{card.number}/block", {"password": PASSWORD})
    card.refresh_from_db()
    status_between = card.status
    unblocked = guardian.post(f"/api/v1/me/cards/{card.number}/unblock", {"password": PASSWORD})

    assert (blocked.status_code, blocked.json()) == (200, {"number": card.number, "status": "blocked"})
    assert status_between == Card.Status.BLOCKED
    assert (unblocked.status_code, unblocked.json()) == (200, {"number": card.number, "status": "active"})
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE


def test_a_replaced_card_cannot_be_unblocked(guardian: Guardian) -> None:
    card = CardFactory(holder=guardian.ward(), status=Card.Status.REPLACED)

    response = guardian.post(f"/api/v1/me/cards/{card.number}/unblock", {"password": PASSWORD})

    assert (response.status_code, error_code(response)) == (409, "card_replaced")
    card.refresh_from_db()
    assert card.status == Card.Status.REPLACED


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_another_familys_card_is_not_found(guardian: Guardian, action: str) -> None:
    card = CardFactory(status=Card.Status.BLOCKED if action == "unblock" else Card.Status.ACTIVE)
    before = card.status

    response = guardian.post(f"/api/v1/me/cards/{card.number}/{action}", {"password": PASSWORD})

    assert (response.status_code, error_code(response)) == (404, "not_found")
    card.refresh_from_db()
    assert card.status == before


# --- authentication -------------------------------------------------------------------------


def test_a_personal_token_signs_in_to_the_guardian_api() -> None:
    owner = Guardian()
    holder = owner.ward()
    _token, raw = personal_token_create(user=owner.user, name="app")

    response = Client().get("/api/v1/me/holders", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 200
    assert [h["id"] for h in response.json()["holders"]] == [holder.pk]


def test_a_revoked_personal_token_is_refused() -> None:
    token, raw = personal_token_create(user=UserFactory(), name="app")
    personal_token_revoke(token=token)

    response = Client().get("/api/v1/me/holders", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert (response.status_code, error_code(response)) == (401, "unauthorized")


def test_a_terminal_token_is_refused_on_the_guardian_api() -> None:
    _terminal, raw = terminal_with_token()

    response = Client().get("/api/v1/me/holders", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert (response.status_code, error_code(response)) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/me/holders"), ("get", "/api/v1/me/holders/1/transactions"), ("post", "/api/v1/me/cards/1/block")],
)
def test_anonymous_callers_are_refused(method: str, path: str) -> None:
    response = getattr(Client(), method)(path)

    assert response.status_code in (401, 403)
    assert "error" in response.json()
