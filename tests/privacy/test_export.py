"""The guardian's download of everything held about the family: all of theirs, nothing of anyone
else's, no secrets."""

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEntry, PersonalToken
from privacy.export import family_data_export
from tests.factories import UserFactory
from tests.privacy.conftest import CPR, Family
from tests.webshop.factories import item_for_groups
from webshop.orders import order_create

pytestmark = pytest.mark.django_db

EXPORT_URL = "/portal/privacy/export.json"


def download(family: Family) -> tuple[Any, str]:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(family.guardian)
    response = client.get(EXPORT_URL)
    assert response.status_code == 200
    text = response.content.decode()
    return json.loads(text), text


def only_holder(data: dict[str, Any]) -> dict[str, Any]:
    [holder] = data["cardholders"]
    return holder


def test_the_download_is_a_json_attachment_not_kept_in_caches(anna: Family) -> None:
    client = Client()
    client.force_login(anna.guardian)

    response = client.get(EXPORT_URL)

    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    assert "no-store" in response["Cache-Control"]


def test_signed_out_visitors_are_sent_to_sign_in(anna: Family) -> None:
    response = Client().get(EXPORT_URL)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_export_holds_the_guardians_account_and_token_names(anna: Family) -> None:
    data, _text = download(anna)

    assert data["format"] == "cardsystem-family-export"
    assert data["currency"] == "DKK"
    assert data["account"]["email"] == "anna-parent@example.com"
    assert data["account"]["full_name"] == "Anna's parent"
    assert [token["name"] for token in data["personal_tokens"]] == ["Anna's home script"]
    assert data["payment_cards"][0]["label"] == "Visa •••• 4242"


def test_the_export_holds_the_cardholder_with_cards_and_balances(anna: Family) -> None:
    holder = only_holder(download(anna)[0])

    assert (holder["id"], holder["name"], holder["institution"]) == (anna.holder.pk, "Anna", "Our School")
    assert holder["allergy_note"] == "nuts"
    assert [card["number"] for card in holder["cards"]] == ["100001"]
    # 100.00 + 15.00 correction on main; 50.00 - 25.00 sandwich on extra.
    assert holder["balances"] == {"main": "115.00", "extra": "25.00"}


def test_the_export_holds_every_ledger_entry_of_the_cardholder(anna: Family) -> None:
    holder = only_holder(download(anna)[0])

    entries = [(entry["kind"], entry["balance"], entry["amount"]) for entry in holder["ledger_entries"]]
    assert entries == [
        ("opening", "main", "100.00"),
        ("opening", "extra", "50.00"),
        ("sale", "extra", "-25.00"),
        ("correction", "main", "15.00"),
    ]


def test_the_export_holds_sales_with_their_lines_and_meal_orders(anna: Family) -> None:
    holder = only_holder(download(anna)[0])

    [sale] = holder["sales"]
    assert sale["receipt_number"] == anna.sale.receipt_number
    assert sale["total"] == "25.00"
    assert sale["lines"] == [{"name": "Anna's sandwich", "unit_price": "25.00", "quantity": 1, "total": "25.00"}]
    [order] = holder["meal_orders"]
    assert (order["date"], order["price"]) == ("2026-12-07", "28.00")


def test_the_export_holds_payments_auto_top_ups_corrections_and_refunds(anna: Family) -> None:
    data, _text = download(anna)
    holder = only_holder(data)

    [payment] = data["payments"]
    assert payment["amount"] == "100.00"
    assert payment["allocations"] == [{"cardholder": anna.holder.pk, "balance": "main", "amount": "100.00"}]
    [auto] = holder["auto_topups"]
    assert (auto["below"], auto["amount"], auto["set_up_by_you"]) == ("20.00", "50.00", True)
    [correction] = holder["corrections"]
    assert (correction["amount"], correction["reason"]) == ("15.00", "Anna missed")
    [refund] = holder["refund_requests"]
    assert refund["payee_cpr"] == "070761-****"


def test_the_export_holds_the_audit_entries_about_the_family_without_naming_staff(anna: Family) -> None:
    data, _text = download(anna)

    [entry] = [entry for entry in data["audit_entries"] if entry["action"] == "correction.applied"]
    assert entry["reason"] == "Anna missed"
    assert entry["by"] == "staff"


def test_the_export_holds_no_secrets(anna: Family) -> None:
    _data, text = download(anna)
    token = PersonalToken.objects.get(user=anna.guardian)

    for secret in (
        CPR,
        "070761-4285",
        anna.card.uid,
        anna.card.activation_code,
        anna.token_raw,
        token.digest,
        anna.guardian.password,
        anna.sale.receipt_token,
        anna.payment.reference,
        "mandate-Anna-secret",
    ):
        assert secret not in text, secret


def test_the_export_holds_nothing_of_another_family(anna: Family, carl: Family) -> None:
    data, text = download(anna)

    assert [holder["name"] for holder in data["cardholders"]] == ["Anna"]
    for theirs in ("Carl", carl.card.number, carl.sale.receipt_number, "carl-parent@example.com"):
        assert theirs not in text, theirs
    assert len(data["payments"]) == 1


def test_a_guardian_without_cardholders_gets_their_account_only(anna: Family, carl: Family) -> None:
    lonely = UserFactory(email="lonely@example.com")

    data = family_data_export(guardian=lonely)

    assert data["cardholders"] == []
    assert data["payments"] == []
    assert [entry["action"] for entry in data["audit_entries"]] == []


def test_the_download_is_recorded_in_the_audit_trail(anna: Family) -> None:
    download(anna)

    entry = AuditEntry.objects.get(action="privacy.export")
    assert entry.actor == anna.guardian
    assert (entry.target_type, entry.target_id) == ("accounts.user", str(anna.guardian.pk))


def test_the_privacy_page_explains_and_links_the_download(anna: Family) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(anna.guardian)

    response = client.get("/portal/privacy/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="{EXPORT_URL}"' in page
    assert "5 years after leaving" in page


def test_the_export_holds_the_webshop_orders_with_their_choice(anna: Family) -> None:
    trip = item_for_groups(
        anna.holder.group, institution=anna.holder.institution, name="Zoo", options=("M",), choice_label="Size"
    )
    order_create(
        guardian=anna.guardian,
        item_id=trip.pk,
        holder_id=anna.holder.pk,
        option_id=trip.options.get().pk,
        paid_with="provider",
    )
    [order] = only_holder(download(anna)[0])["webshop_orders"]
    assert (order["item"], order["choice"], order["price"], order["status"]) == ("Zoo", "M", "150.00", "pending")
