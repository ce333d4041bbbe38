"""`manage.py seed_demo` loads exactly the demo data of API.md, and only once."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from accounts.models import Role, StaffMembership, User
from canteen.models import Product
from cards.models import Card, Cardholder
from payments.ledger import holder_accounts_get
from payments.selectors import ledger_mismatches
from webshop.selectors import items_for_holder

pytestmark = pytest.mark.django_db


def balances(number: str) -> tuple[int, int]:
    card = Card.objects.get(number=number)
    accounts = holder_accounts_get(holder_id=card.holder_id)
    return accounts.main.balance_cents, accounts.extra.balance_cents


@pytest.fixture
def seeded() -> None:
    call_command("seed_demo", "--force")


def test_seed_demo_refuses_to_run_with_debug_off_without_force() -> None:
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="--force"):
        call_command("seed_demo")
    assert not User.objects.exists()


def test_demo_cards_have_the_uids_numbers_groups_and_balances_of_the_contract(seeded) -> None:  # type: ignore[no-untyped-def]
    anna = Card.objects.get(uid="04A1B2C3D4E5F6")
    bo = Card.objects.get(uid="04B2C3D4E5F607")
    carl = Card.objects.get(uid="04C3D4E5F60718")
    assert (anna.number, anna.holder.name, anna.holder.group) == ("100001", "Anna", "2A")
    assert (bo.number, bo.holder.name, bo.holder.group) == ("100002", "Bo", "5B")
    assert (carl.number, carl.holder.name) == ("100003", "Carl")
    assert balances("100001") == (10000, 5000)
    assert balances("100002") == (0, 0)
    assert balances("100003")[1] == 2000
    assert anna.activation_code == "DEMO-100001"
    assert anna.holder.institution.school_number == "101"


def test_demo_guardians_hold_their_own_children(seeded) -> None:  # type: ignore[no-untyped-def]
    parent = User.objects.get(email="parent@example.com")
    other = User.objects.get(email="other@example.com")
    assert sorted(parent.wards.values_list("name", flat=True)) == ["Anna", "Bo"]
    assert list(other.wards.values_list("name", flat=True)) == ["Carl"]


def test_demo_staff_have_their_roles_and_the_teacher_card(seeded) -> None:  # type: ignore[no-untyped-def]
    roles = dict(StaffMembership.objects.values_list("user__email", "role"))
    assert roles["canteen@example.com"] == Role.CANTEEN and roles["finance2@example.com"] == Role.FINANCE
    teacher_card = Card.objects.get(uid="04D4E5F6071829")
    assert (teacher_card.kind, teacher_card.staff_user.email) == ("teacher", "teacher@example.com")


def test_demo_passwords_sign_in(seeded) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    assert client.login(email="parent@example.com", password="demo-parent-1")
    assert client.login(email="canteen@example.com", password="demo-staff-1")


def test_demo_products_and_terminal_token_work_through_the_api(seeded) -> None:  # type: ignore[no-untyped-def]
    prices = dict(Product.objects.values_list("name", "price_cents"))
    assert prices == {"Sandwich": 2500, "Milk": 500, "Apple": 400, "Chocolate bar": 1200}
    assert Product.objects.get(name="Chocolate bar").category.code == "sweets"
    response = Client().get("/api/v1/terminal/products", HTTP_AUTHORIZATION="Bearer demo-terminal-token")
    assert response.status_code == 200 and len(response.json()["products"]) == 4


def test_seed_demo_twice_changes_nothing(seeded) -> None:  # type: ignore[no-untyped-def]
    counts = (User.objects.count(), Card.objects.count(), Product.objects.count())
    call_command("seed_demo", "--force")
    assert (User.objects.count(), Card.objects.count(), Product.objects.count()) == counts
    assert balances("100001") == (10000, 5000)
    assert ledger_mismatches() == []


def test_demo_office_staff_can_open_the_terminal_admin(seeded) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(User.objects.get(email="office@example.com"))
    assert client.get("/admin/terminals/terminal/").status_code == 200


def test_the_demo_zoo_trip_is_offered_to_bos_class_only(seeded) -> None:  # type: ignore[no-untyped-def]
    bo, anna = Cardholder.objects.get(name="Bo"), Cardholder.objects.get(name="Anna")
    assert list(items_for_holder(holder=bo).values_list("name", "price_cents", "capacity")) == [
        ("Trip to the zoo", 15000, 25)
    ]
    assert not items_for_holder(holder=anna).exists()
