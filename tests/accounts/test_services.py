import pytest
from django.test import Client

from accounts.models import Role
from accounts.services import membership_grant
from tests.factories import InstitutionFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_office_staff_get_the_back_office_and_the_permission_to_issue_terminal_tokens() -> None:
    user = UserFactory()
    membership_grant(user=user, institution=InstitutionFactory(), role=Role.OFFICE)
    user.refresh_from_db()
    assert user.is_staff
    assert user.has_perm("terminals.add_terminaltoken")
    assert not user.has_perm("payments.change_ledgerentry")


def test_canteen_staff_do_not_enter_the_back_office() -> None:
    user = UserFactory()
    membership_grant(user=user, institution=InstitutionFactory(), role=Role.CANTEEN)
    user.refresh_from_db()
    assert not user.is_staff


def test_finance_staff_read_the_ledger_in_the_admin_but_cannot_change_cards() -> None:
    user = UserFactory()
    membership_grant(user=user, institution=InstitutionFactory(), role=Role.FINANCE)
    client = Client()
    client.force_login(user)
    assert client.get("/admin/payments/ledgertransaction/").status_code == 200
    assert not user.has_perm("cards.change_card")


def test_granting_twice_gives_one_membership_and_one_group() -> None:
    user, school = UserFactory(), InstitutionFactory()
    membership_grant(user=user, institution=school, role=Role.OFFICE)
    membership_grant(user=user, institution=school, role=Role.OFFICE)
    assert user.memberships.count() == 1
    assert list(user.groups.values_list("name", flat=True)) == ["role:office"]
