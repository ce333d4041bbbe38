import pytest
from django.test import Client

from accounts.models import Role
from tests.factories import InstitutionFactory, UserFactory, staff_user

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_canteen_staff_start_at_the_till() -> None:
    user = staff_user(institution=InstitutionFactory(), role=Role.CANTEEN)
    assert signed_in(user).get("/")["Location"] == "/till/"


@pytest.mark.parametrize("role", [Role.OFFICE, Role.FINANCE])
def test_office_and_finance_staff_start_in_the_back_office(role: str) -> None:
    user = staff_user(institution=InstitutionFactory(), role=role)
    assert signed_in(user).get("/")["Location"] == "/admin/"


def test_anonymous_visitors_are_asked_to_sign_in() -> None:
    assert Client().get("/")["Location"].startswith("/accounts/login/")


def test_a_signed_in_person_without_a_staff_role_starts_in_the_guardian_portal() -> None:
    assert signed_in(UserFactory()).get("/")["Location"] == "/portal/"


def test_teachers_start_at_the_class_meal_screen() -> None:
    user = staff_user(institution=InstitutionFactory(), role=Role.TEACHER)
    assert signed_in(user).get("/")["Location"] == "/class-meals/"
