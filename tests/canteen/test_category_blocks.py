"""The guardian's controls for one cardholder: limits, alert and blocked product categories."""

import json
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Institution, User
from canteen.category_blocks import holder_category_blocks_set, holder_category_choices
from canteen.models import HolderCategoryBlock, ProductCategory
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from cardsystem.errors import InvalidRequest
from tests.factories import (
    CardFactory,
    InstitutionFactory,
    ProductCategoryFactory,
    ProductFactory,
    UserFactory,
    holder_with_balances,
    terminal_with_token,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory()


@pytest.fixture
def sweets(school: Institution) -> ProductCategory:
    category = ProductCategoryFactory(institution=school, code="sweets", name="Sweets")
    ProductFactory(institution=school, category=category, name="Chocolate bar", price_cents=1200)
    return category


@pytest.fixture
def drinks(school: Institution) -> ProductCategory:
    category = ProductCategoryFactory(institution=school, code="drinks", name="Drinks")
    ProductFactory(institution=school, category=category, name="Milk", price_cents=500)
    return category


@pytest.fixture
def guardian() -> User:
    return UserFactory()


@pytest.fixture
def ward(guardian: User, school: Institution) -> Cardholder:
    holder = holder_with_balances(extra=10000, institution=school, name="Ada")
    guardianship_create(guardian=guardian, holder=holder)
    return holder


@pytest.fixture
def client(guardian: User) -> Client:
    # English pages, so the texts asserted on do not change when translations arrive.
    client = Client(headers={"accept-language": "en"})
    client.force_login(guardian)
    return client


def settings_url(holder: Cardholder) -> str:
    return f"/portal/holders/{holder.pk}/settings/"


def blocked(holder: Cardholder) -> set[str]:
    return set(HolderCategoryBlock.objects.filter(holder=holder).values_list("category_code", flat=True))


def limits(holder: Cardholder) -> list[int | None]:
    return list(Card.objects.filter(holder=holder).order_by("number").values_list("daily_limit_cents", flat=True))


# --- the service ---------------------------------------------------------------------------


def test_setting_blocks_makes_the_given_codes_exactly_the_blocked_ones(ward, guardian, sweets, drinks) -> None:  # type: ignore[no-untyped-def]
    HolderCategoryBlock.objects.create(holder=ward, category_code="drinks")

    result = holder_category_blocks_set(holder=ward, categories=["sweets"], set_by=guardian)

    assert result == ["sweets"]
    assert blocked(ward) == {"sweets"}


def test_an_unknown_category_code_is_refused_and_changes_nothing(ward, guardian, sweets) -> None:  # type: ignore[no-untyped-def]
    HolderCategoryBlock.objects.create(holder=ward, category_code="sweets")

    with pytest.raises(InvalidRequest) as raised:
        holder_category_blocks_set(holder=ward, categories=["drinks-that-do-not-exist"], set_by=guardian)

    assert "categories" in (raised.value.fields or {})
    assert blocked(ward) == {"sweets"}


def test_a_category_of_another_institution_can_be_blocked_as_the_code_holds_everywhere(ward, guardian) -> None:  # type: ignore[no-untyped-def]
    ProductCategoryFactory(institution=InstitutionFactory(), code="energy-drinks", name="Energy drinks")

    holder_category_blocks_set(holder=ward, categories=["energy-drinks"], set_by=guardian)

    assert blocked(ward) == {"energy-drinks"}


def test_the_choices_are_the_categories_on_sale_at_the_holders_school_and_those_already_blocked(  # type: ignore[no-untyped-def]
    ward, school, sweets
) -> None:
    retired = ProductCategoryFactory(institution=school, code="retired", name="Retired")
    ProductFactory(institution=school, category=retired, is_active=False)
    elsewhere = ProductCategoryFactory(institution=InstitutionFactory(), code="fruit", name="Fruit")
    ProductFactory(institution=elsewhere.institution, category=elsewhere)
    ProductCategoryFactory(institution=InstitutionFactory(), code="soda", name="Soda")
    HolderCategoryBlock.objects.create(holder=ward, category_code="soda")

    choices = holder_category_choices(holder=ward)

    assert [(choice.code, choice.name) for choice in choices] == [("soda", "Soda"), ("sweets", "Sweets")]


# --- the page ------------------------------------------------------------------------------


def test_the_page_shows_the_current_limits_and_a_ticked_box_per_blocked_category(client, ward, sweets, drinks) -> None:  # type: ignore[no-untyped-def]
    CardFactory(holder=ward, daily_limit_cents=4000)
    ward.low_balance_alert_cents = 2000
    ward.save()
    HolderCategoryBlock.objects.create(holder=ward, category_code="sweets")

    response = client.get(settings_url(ward))

    assert response.status_code == 200
    form = response.context["form"]
    assert form["daily_limit"].value() == "40.00" and 'value="40.00"' in response.text
    assert 'value="20.00"' in response.text
    assert form["categories"].value() == ["sweets"]
    assert '<input type="checkbox" name="categories" value="sweets"' in response.text
    assert 'value="drinks"' in response.text and "checked" in response.text


def test_saving_sets_the_limit_on_every_card_the_alert_and_the_blocks(client, ward, sweets, drinks) -> None:  # type: ignore[no-untyped-def]
    CardFactory(holder=ward)
    CardFactory(holder=ward, daily_limit_cents=9000)

    response = client.post(
        settings_url(ward), {"daily_limit": "40,00", "low_balance_alert": "25.00", "categories": ["sweets", "drinks"]}
    )

    assert response.status_code == 302 and response["Location"] == settings_url(ward)
    assert limits(ward) == [4000, 4000]
    ward.refresh_from_db()
    assert ward.low_balance_alert_cents == 2500
    assert blocked(ward) == {"sweets", "drinks"}
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["The settings for Ada are saved."]


def test_empty_amounts_remove_the_limit_and_turn_the_alert_off(client, ward, sweets) -> None:  # type: ignore[no-untyped-def]
    CardFactory(holder=ward, daily_limit_cents=4000)
    ward.low_balance_alert_cents = 2000
    ward.save()

    response = client.post(settings_url(ward), {"daily_limit": "", "low_balance_alert": ""})

    assert response.status_code == 302
    assert limits(ward) == [None]
    ward.refresh_from_db()
    assert ward.low_balance_alert_cents is None


def test_unticking_every_box_lifts_every_block(client, ward, sweets) -> None:  # type: ignore[no-untyped-def]
    HolderCategoryBlock.objects.create(holder=ward, category_code="sweets")

    client.post(settings_url(ward), {"daily_limit": "", "low_balance_alert": ""})

    assert blocked(ward) == set()


def test_a_limit_left_as_shown_keeps_a_different_limit_the_office_set_on_another_card(client, ward, sweets) -> None:  # type: ignore[no-untyped-def]
    CardFactory(holder=ward, number="800001", daily_limit_cents=4000)
    CardFactory(holder=ward, number="800002", daily_limit_cents=9000)

    client.post(settings_url(ward), {"daily_limit": "40.00", "low_balance_alert": "", "categories": ["sweets"]})

    assert limits(ward) == [4000, 9000]
    assert blocked(ward) == {"sweets"}


@pytest.mark.parametrize(
    ("field", "value"), [("daily_limit", "abc"), ("daily_limit", "-5.00"), ("low_balance_alert", "1.234")]
)
def test_a_bad_amount_is_shown_beside_its_field_and_nothing_is_saved(client, ward, sweets, field, value) -> None:  # type: ignore[no-untyped-def]
    CardFactory(holder=ward, daily_limit_cents=4000)
    data = {"daily_limit": "10.00", "low_balance_alert": "5.00", "categories": ["sweets"], field: value}

    response = client.post(settings_url(ward), data)

    assert response.status_code == 400
    assert response.context["form"].errors.keys() == {field}
    assert f'id="id_{field}_errors"' in response.text
    assert limits(ward) == [4000]
    ward.refresh_from_db()
    assert ward.low_balance_alert_cents is None
    assert blocked(ward) == set()


def test_a_category_not_offered_is_an_error_beside_the_boxes_and_nothing_is_saved(client, ward, sweets) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        settings_url(ward), {"daily_limit": "10.00", "low_balance_alert": "", "categories": ["sweets", "nope"]}
    )

    assert response.status_code == 400
    assert "categories" in response.context["form"].errors
    assert blocked(ward) == set()


def test_another_familys_holder_is_not_found(client, school, sweets) -> None:  # type: ignore[no-untyped-def]
    stranger = holder_with_balances(institution=school)
    CardFactory(holder=stranger, daily_limit_cents=4000)

    assert client.get(settings_url(stranger)).status_code == 404
    response = client.post(settings_url(stranger), {"daily_limit": "1.00", "categories": ["sweets"]})

    assert response.status_code == 404
    assert limits(stranger) == [4000]
    assert blocked(stranger) == set()


def test_the_page_asks_a_visitor_to_sign_in(ward) -> None:  # type: ignore[no-untyped-def]
    response = Client().get(settings_url(ward))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- at the till ---------------------------------------------------------------------------


def buy(token: str, uid: str, product_id: int) -> Any:
    body = {"uid": uid, "lines": [{"product": product_id, "quantity": 1}], "payment": "card"}
    return Client().post(
        "/api/v1/terminal/purchases",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_category_blocked_on_the_page_is_refused_at_the_till_and_sold_again_once_lifted(  # type: ignore[no-untyped-def]
    client, ward, school, sweets
) -> None:
    card = CardFactory(holder=ward)
    chocolate = sweets.products.get()
    _terminal, token = terminal_with_token(institution=school)
    client.post(settings_url(ward), {"daily_limit": "", "low_balance_alert": "", "categories": ["sweets"]})

    refused = buy(token, card.uid, chocolate.pk)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "category_blocked"
    client.post(settings_url(ward), {"daily_limit": "", "low_balance_alert": ""})
    assert buy(token, card.uid, chocolate.pk).status_code == 201
