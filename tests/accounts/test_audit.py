"""The audit trail: written by the services, read in the back office by the institution's staff,
changed by nobody (the admin offers nothing; PostgreSQL refuses UPDATE and DELETE)."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse

from accounts.audit import audit_record
from accounts.models import AuditEntry, Institution, Role, StaffMembership, User
from accounts.services import membership_grant
from tests.factories import CardholderFactory, InstitutionFactory, UserFactory


@pytest.fixture
def ours() -> Institution:
    return InstitutionFactory(name="Our School")


@pytest.fixture
def theirs() -> Institution:
    return InstitutionFactory(name="Their School")


def staff(institution: Institution, role: str = Role.OFFICE) -> User:
    user = UserFactory()
    membership_grant(user=user, institution=institution, role=role)
    # What the role's group is to carry (see accounts.services.ROLE_PERMISSIONS); given directly here.
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="view_auditentry"))
    return user


def client_for(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:accounts_auditentry_{name}", args=args)


def entry_at(institution: Institution | None, *, reason: str, action: str = "correction.applied") -> AuditEntry:
    holder = CardholderFactory(institution=institution) if institution else None
    return audit_record(actor=None, action=action, target=holder, institution=institution, reason=reason)


@pytest.mark.django_db
def test_an_entry_names_the_actor_the_action_the_target_and_the_reason(ours: Institution) -> None:
    actor = UserFactory()
    holder = CardholderFactory(institution=ours)

    entry = audit_record(
        actor=actor, action="balance.main_to_extra", target=holder, institution=ours, reason="asked", details={"a": 1}
    )

    entry.refresh_from_db()
    assert (entry.actor, entry.action, entry.institution, entry.reason) == (
        actor,
        "balance.main_to_extra",
        ours,
        "asked",
    )
    assert (entry.target_type, entry.target_id, entry.details) == ("cards.cardholder", str(holder.pk), {"a": 1})
    assert entry.at is not None


@pytest.mark.django_db
def test_office_staff_read_their_institutions_entries_only(ours: Institution, theirs: Institution) -> None:
    entry_at(ours, reason="OUR-REASON")
    entry_at(theirs, reason="THEIR-REASON")
    entry_at(None, reason="NOBODYS-REASON")

    page = client_for(staff(ours)).get(url("changelist")).content.decode()

    assert "OUR-REASON" in page
    assert "THEIR-REASON" not in page
    assert "NOBODYS-REASON" not in page


@pytest.mark.django_db
def test_another_institutions_entry_cannot_be_opened(ours: Institution, theirs: Institution) -> None:
    theirs_entry = entry_at(theirs, reason="r")
    ours_entry = entry_at(ours, reason="r")
    client = client_for(staff(ours))

    assert client.get(url("change", ours_entry.pk)).status_code == 200
    assert client.get(url("change", theirs_entry.pk)).status_code == 302  # the admin's answer for a missing row


@pytest.mark.django_db
def test_superusers_read_every_entry(ours: Institution, theirs: Institution) -> None:
    entry_at(ours, reason="OUR-REASON")
    entry_at(None, reason="NOBODYS-REASON")
    root = UserFactory(is_superuser=True, is_staff=True)

    page = client_for(root).get(url("changelist")).content.decode()

    assert "OUR-REASON" in page
    assert "NOBODYS-REASON" in page


@pytest.mark.django_db
def test_staff_without_the_view_permission_see_nothing(ours: Institution) -> None:
    entry_at(ours, reason="r")
    # A membership without the role's group: back-office access, no permission on the trail.
    user = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=user, institution=ours, role=Role.OFFICE)

    assert client_for(user).get(url("changelist")).status_code == 403


@pytest.mark.django_db
def test_the_admin_never_adds_changes_or_deletes_an_entry(ours: Institution) -> None:
    entry = entry_at(ours, reason="original")
    root = UserFactory(is_superuser=True, is_staff=True)
    client = client_for(root)

    assert client.get(url("add")).status_code == 403
    assert client.post(url("change", entry.pk), {"reason": "edited", "action": "x"}).status_code == 403
    assert client.get(url("delete", entry.pk)).status_code == 403
    assert client.post(url("delete", entry.pk), {"post": "yes"}).status_code == 403
    response = client.post(url("changelist"), {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert response.status_code in (200, 302)
    entry.refresh_from_db()
    assert entry.reason == "original"
    assert AuditEntry.objects.count() == 1


@pytest.mark.django_db
def test_the_list_filters_by_action_and_institution(ours: Institution) -> None:
    entry_at(ours, reason="MOVE-REASON", action="balance.main_to_extra")
    entry_at(ours, reason="CORRECTION-REASON", action="correction.applied")
    client = client_for(staff(ours))

    by_action = client.get(url("changelist"), {"action": "balance.main_to_extra"}).content.decode()
    by_institution = client.get(url("changelist"), {"institution": str(ours.pk)}).content.decode()

    assert "MOVE-REASON" in by_action
    assert "CORRECTION-REASON" not in by_action
    assert "MOVE-REASON" in by_institution
    assert "CORRECTION-REASON" in by_institution


@pytest.mark.django_db
def test_the_list_finds_the_entries_about_one_target(ours: Institution) -> None:
    wanted = entry_at(ours, reason="WANTED-REASON")
    entry_at(ours, reason="OTHER-REASON")

    page = (
        client_for(staff(ours)).get(url("changelist"), {"q": f"cards.cardholder {wanted.target_id}"}).content.decode()
    )

    assert "WANTED-REASON" in page
    assert "OTHER-REASON" not in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE accounts_auditentry SET reason = 'edited' WHERE id = %s", "DELETE FROM accounts_auditentry WHERE id = %s"],
)
def test_postgresql_refuses_to_update_or_delete_an_entry(ours: Institution, statement: str) -> None:
    entry = entry_at(ours, reason="original")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [entry.pk])

    entry.refresh_from_db()
    assert entry.reason == "original"
