"""The cards admin: cardholders with their balances, cards issued but never deleted."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Institution
from cards.models import Card, Cardholder
from tests.factories import CardFactory, InstitutionFactory, card_with_balances, holder_with_balances

pytestmark = pytest.mark.django_db

HOLDERS = "admin:cards_cardholder_changelist"

MaxQueries = Callable[..., AbstractContextManager[Any]]


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory()


def test_cardholder_changelist_shows_main_and_extra_balances(admin_client: Client, school: Institution) -> None:
    holder_with_balances(main=10000, extra=1250, institution=school)
    content = admin_client.get(reverse(HOLDERS)).content.decode()
    assert '<td class="field-main_balance">100.00</td>' in content
    assert '<td class="field-extra_balance">12.50</td>' in content


def test_cardholder_changelist_makes_no_query_per_row(
    admin_client: Client, school: Institution, django_assert_max_num_queries: MaxQueries
) -> None:
    card_with_balances(main=100, extra=200, institution=school)
    with CaptureQueriesContext(connection) as one_row:
        assert admin_client.get(reverse(HOLDERS)).status_code == 200
    for _ in range(15):
        card_with_balances(main=100, extra=200, institution=school)
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        response = admin_client.get(reverse(HOLDERS))
    assert response.content.decode().count('<td class="field-extra_balance">2.00</td>') == 16


def test_cardholder_search_by_card_number_finds_the_holder_with_unmultiplied_balances(
    admin_client: Client, school: Institution
) -> None:
    card = card_with_balances(main=500, extra=700, institution=school)
    assert card.holder is not None
    CardFactory(holder=card.holder, status=Card.Status.REPLACED)
    holder_with_balances(extra=900, institution=school)
    content = admin_client.get(reverse(HOLDERS), {"q": card.number}).content.decode()
    assert card.holder.name in content
    assert '<td class="field-extra_balance">7.00</td>' in content
    assert "9.00" not in content


def test_cardholder_search_by_name_shows_the_balances_of_a_holder_with_two_cards_once(
    admin_client: Client, school: Institution
) -> None:
    card = card_with_balances(main=500, extra=700, institution=school)
    assert card.holder is not None
    CardFactory(holder=card.holder, status=Card.Status.REPLACED)
    content = admin_client.get(reverse(HOLDERS), {"q": card.holder.name}).content.decode()
    assert '<td class="field-extra_balance">7.00</td>' in content


def test_cardholder_change_page_shows_balances_and_cards(admin_client: Client, school: Institution) -> None:
    card = card_with_balances(main=300, extra=400, institution=school)
    content = admin_client.get(reverse("admin:cards_cardholder_change", args=[card.holder_id])).content.decode()
    assert '<div class="readonly">3.00</div>' in content and '<div class="readonly">4.00</div>' in content
    assert card.number in content


def test_cards_cannot_be_deleted(admin_client: Client) -> None:
    card = CardFactory()
    response = admin_client.post(reverse("admin:cards_card_delete", args=[card.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Card.objects.filter(pk=card.pk).exists()


def test_cards_cannot_be_deleted_as_a_bulk_action(admin_client: Client) -> None:
    card = CardFactory()
    admin_client.post(
        reverse("admin:cards_card_changelist"),
        {"action": "delete_selected", "_selected_action": [card.pk], "post": "yes"},
    )
    assert Card.objects.filter(pk=card.pk).exists()


def test_cardholders_cannot_be_deleted(admin_client: Client) -> None:
    holder = holder_with_balances()
    response = admin_client.post(reverse("admin:cards_cardholder_delete", args=[holder.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Cardholder.objects.filter(pk=holder.pk).exists()


def test_card_added_through_the_admin_is_issued_with_a_normalised_uid(
    admin_client: Client, school: Institution
) -> None:
    holder = holder_with_balances(institution=school)
    response = admin_client.post(
        reverse("admin:cards_card_add"),
        {
            "uid": "04:a1:b2:c3",
            "number": "700001",
            "kind": Card.Kind.REGULAR,
            "holder": holder.pk,
            "daily_limit_cents": "40",
            "document_type": "passport",  # the identity check is recorded with every card issued
        },
    )
    assert response.status_code == 302
    card = Card.objects.get(number="700001")
    assert (card.uid, card.holder, card.daily_limit_cents) == ("04A1B2C3", holder, 4000)


def test_card_search_finds_a_uid_typed_with_separators(admin_client: Client) -> None:
    card = CardFactory(uid="04A1B2C3D4E5F6")
    other = CardFactory()
    content = admin_client.get(reverse("admin:cards_card_changelist"), {"q": "04 a1 b2 c3 d4 e5 f6"}).content.decode()
    assert card.number in content and other.number not in content


def test_card_change_page_keeps_the_chip_and_number_read_only(admin_client: Client) -> None:
    card = CardFactory(uid="04A1B2C3D4E5F6", number="700002")
    admin_client.post(
        reverse("admin:cards_card_change", args=[card.pk]),
        {"uid": "04FFFFFF", "number": "999999", "daily_limit_cents": "25.00"},
    )
    card.refresh_from_db()
    assert (card.uid, card.number, card.daily_limit_cents) == ("04A1B2C3D4E5F6", "700002", 2500)
