"""Receipts show card number, provider, school number, date and time, items, prices and balance [PZ]."""

import io

import pytest
from django.test import Client
from pypdf import PdfReader

from canteen.models import Sale
from canteen.services import LineRequest, purchase_create
from tests.factories import InstitutionFactory, ProductFactory, card_with_balances

pytestmark = pytest.mark.django_db


@pytest.fixture
def sale() -> Sale:
    school = InstitutionFactory(name="Nørre Skole", school_number="101", canteen_provider="Kantine ApS")
    card = card_with_balances(extra=5000, institution=school, number="100001")
    sandwich = ProductFactory(institution=school, name="Sandwich", price_cents=2500)
    milk = ProductFactory(institution=school, name="Milk", price_cents=500)
    return purchase_create(
        institution=school,
        card=card,
        lines=[LineRequest(product_id=sandwich.pk, quantity=1), LineRequest(product_id=milk.pk, quantity=2)],
    )


def expected_fields(sale: Sale) -> list[str]:
    local = sale.created_at.astimezone(sale.institution.zone)
    return [
        sale.receipt_number,
        "100001",  # card number
        "Kantine ApS",  # provider
        "101",  # school number
        local.strftime("%Y-%m-%d %H:%M"),
        "Sandwich",
        "25.00",
        "Milk",
        "5.00",
        "10.00",  # 2 × milk
        "35.00",  # total
        "15.00",  # remaining extra balance
    ]


def test_receipt_page_shows_every_field(sale: Sale) -> None:
    response = Client().get(f"/receipts/{sale.receipt_token}/")
    assert response.status_code == 200
    text = response.content.decode()
    for field in expected_fields(sale):
        assert field in text, field


def test_receipt_pdf_shows_every_field(sale: Sale) -> None:
    response = Client().get(f"/receipts/{sale.receipt_token}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for field in expected_fields(sale):
        assert field in text, field
    assert "Nørre Skole" in text


def test_an_unknown_receipt_token_is_404(sale: Sale) -> None:
    assert Client().get("/receipts/not-a-token/").status_code == 404


def test_receipt_time_is_in_the_institutions_time_zone(sale: Sale) -> None:
    sale.institution.time_zone = "America/Godthab"  # Greenland: never the server's zone
    sale.institution.save()
    local = sale.created_at.astimezone(sale.institution.zone)
    text = Client().get(f"/receipts/{sale.receipt_token}/").content.decode()
    assert local.strftime("%Y-%m-%d %H:%M:%S") in text
