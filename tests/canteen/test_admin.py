"""The canteen admin: prices typed as decimal strings, sales read-only with a link to the receipt."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Institution
from canteen.models import Product, ProductCategory, Sale
from canteen.services import LineRequest, purchase_create
from tests.factories import InstitutionFactory, ProductCategoryFactory, ProductFactory, card_with_balances

pytestmark = pytest.mark.django_db

PRODUCT_ADD = "admin:canteen_product_add"


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory()


@pytest.fixture
def food(school: Institution) -> ProductCategory:
    return ProductCategoryFactory(institution=school)


def product_form(school: Institution, category: ProductCategory, price: str) -> dict[str, Any]:
    return {
        "institution": school.pk,
        "category": category.pk,
        "name": "Sandwich",
        "price_cents": price,
        "is_active": "on",
        "position": 0,
    }


@pytest.fixture
def sale(school: Institution) -> Sale:
    product = ProductFactory(institution=school, name="Sandwich", price_cents=2500)
    card = card_with_balances(extra=5000, institution=school)
    return purchase_create(
        institution=school, card=card, lines=[LineRequest(product_id=product.pk, quantity=1)], place="Canteen 1"
    )


@pytest.mark.parametrize(("typed", "cents"), [("12.50", 1250), ("12,50", 1250), ("12", 1200), ("0.01", 1)])
def test_product_price_typed_as_a_decimal_string_is_stored_in_minor_units(
    admin_client: Client, school: Institution, food: ProductCategory, typed: str, cents: int
) -> None:
    response = admin_client.post(reverse(PRODUCT_ADD), product_form(school, food, typed))
    assert response.status_code == 302
    assert Product.objects.get().price_cents == cents


@pytest.mark.parametrize(
    ("typed", "code"),
    [("12.505", "invalid"), ("0", "min_value"), ("-5.00", "min_value"), ("1e3", "invalid"), ("1,000", "invalid")],
)
def test_product_price_that_is_not_positive_with_two_decimals_is_refused_beside_the_field(
    admin_client: Client, school: Institution, food: ProductCategory, typed: str, code: str
) -> None:
    response = admin_client.post(reverse(PRODUCT_ADD), product_form(school, food, typed))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert [error.code for error in form.errors.as_data()["price_cents"]] == [code]
    assert 'class="form-row errors field-price_cents"' in response.content.decode()
    assert not Product.objects.exists()


def test_product_change_page_shows_the_price_as_a_decimal_string(admin_client: Client, school: Institution) -> None:
    product = ProductFactory(institution=school, price_cents=2500)
    response = admin_client.get(reverse("admin:canteen_product_change", args=[product.pk]))
    assert 'value="25.00"' in response.content.decode()


def test_product_category_of_another_institution_is_refused(admin_client: Client, food: ProductCategory) -> None:
    other = InstitutionFactory()
    response = admin_client.post(reverse(PRODUCT_ADD), product_form(other, food, "12.50"))
    assert "category" in response.context["adminform"].form.errors
    assert not Product.objects.exists()


def test_product_changelist_shows_the_price_as_a_decimal_string(admin_client: Client, school: Institution) -> None:
    ProductFactory(institution=school, price_cents=1250)
    response = admin_client.get(reverse("admin:canteen_product_changelist"))
    assert '<td class="field-price">12.50</td>' in response.content.decode()


def test_sale_changelist_renders_and_links_the_receipt(admin_client: Client, sale: Sale) -> None:
    response = admin_client.get(reverse("admin:canteen_sale_changelist"))
    assert response.status_code == 200
    content = response.content.decode()
    assert reverse("canteen:receipt", args=[sale.receipt_token]) in content
    assert sale.receipt_number in content and '<td class="field-total">25.00</td>' in content


def test_sale_page_renders_its_lines_and_links_the_receipt(admin_client: Client, sale: Sale) -> None:
    response = admin_client.get(reverse("admin:canteen_sale_change", args=[sale.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Sandwich" in content and reverse("canteen:receipt", args=[sale.receipt_token]) in content


def test_sale_admin_has_no_add_change_or_delete(admin_client: Client, sale: Sale) -> None:
    assert admin_client.get(reverse("admin:canteen_sale_add")).status_code == 403
    assert admin_client.post(reverse("admin:canteen_sale_delete", args=[sale.pk]), {"post": "yes"}).status_code == 403
    response = admin_client.post(reverse("admin:canteen_sale_change", args=[sale.pk]), {"place": "edited"})
    assert response.status_code == 403
    sale.refresh_from_db()
    assert sale.place == "Canteen 1"
