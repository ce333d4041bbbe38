"""The refund back office: scoped to the staff member's institutions, the CPR number masked, requests
entered by the office through the service, approved and rejected by actions with a mandatory note;
finance reads only."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, Institution, Role, User
from accounts.services import membership_grant
from cards.models import Card, Cardholder
from payouts.models import RefundRequest
from tests.factories import InstitutionFactory, UserFactory
from tests.payouts.test_refunds import CPR_IMPOSSIBLE_DATE, CPR_VALID, guardian_holder, request_refund

pytestmark = pytest.mark.django_db

# What each role needs here (the role's group is to carry these: accounts.services.ROLE_PERMISSIONS);
# given to the test users directly.
ROLE_REFUND_PERMISSIONS = {
    Role.OFFICE: ["view_refundrequest", "add_refundrequest", "change_refundrequest"],
    Role.FINANCE: ["view_refundrequest"],
}
Status = RefundRequest.Status


def staff(institution: Institution, role: str) -> User:
    user = UserFactory()
    membership_grant(user=user, institution=institution, role=role)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="payouts", codename__in=ROLE_REFUND_PERMISSIONS[role])
    )
    return user


def signed_in(user: User) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:payouts_refundrequest_{name}", args=args)


@pytest.fixture
def ours() -> Institution:
    return InstitutionFactory(name="Our School")


@pytest.fixture
def theirs() -> Institution:
    return InstitutionFactory(name="Their School")


@pytest.fixture
def guardian() -> User:
    return UserFactory()


@pytest.fixture
def holder(guardian: User, ours: Institution) -> Cardholder:
    return guardian_holder(guardian, ours, main=10000, extra=5000, name="Anna Ours")


@pytest.fixture
def refund(holder: Cardholder, guardian: User) -> RefundRequest:
    return request_refund(holder, guardian)


@pytest.fixture
def their_refund(theirs: Institution) -> RefundRequest:
    parent = UserFactory()
    return request_refund(guardian_holder(parent, theirs, extra=2000, name="Carl Theirs"), parent)


@pytest.fixture
def office(ours: Institution) -> User:
    return staff(ours, Role.OFFICE)


def act(client: Client, action: str, refunds: list[RefundRequest], **extra: str) -> Any:
    data = {"action": action, "_selected_action": [str(r.pk) for r in refunds], **extra}
    return client.post(url("changelist"), data, follow=True)


# --- scope and masking -----------------------------------------------------------------------------


def test_the_list_shows_our_institutions_requests_only(
    office: User, refund: RefundRequest, their_refund: RefundRequest
) -> None:
    response = signed_in(office).get(url("changelist"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Anna Ours" in html
    assert "Carl Theirs" not in html
    assert 'value="approve"' in html


def test_another_institutions_request_cannot_be_opened(office: User, their_refund: RefundRequest) -> None:
    response = signed_in(office).get(url("change", their_refund.pk))

    # The admin answers as for a deleted row: back to the index with a message.
    assert response.status_code == 302
    assert "Carl Theirs" not in signed_in(office).get(url("change", their_refund.pk), follow=True).content.decode()


def test_the_cpr_number_is_shown_masked_never_in_clear(office: User, refund: RefundRequest) -> None:
    client = signed_in(office)
    for page in (url("changelist"), url("change", refund.pk)):
        html = client.get(page).content.decode()
        assert "070761-****" in html
        assert "4285" not in html
        assert refund.payee_cpr_token not in html


def test_staff_without_a_role_at_any_institution_see_nothing(refund: RefundRequest) -> None:
    nobody = staff(refund.institution, Role.OFFICE)
    nobody.memberships.all().delete()

    assert signed_in(nobody).get(url("changelist")).status_code == 403


# --- approving and rejecting -----------------------------------------------------------------------


def test_the_approve_action_first_asks_for_the_note(office: User, refund: RefundRequest) -> None:
    response = act(signed_in(office), "approve", [refund])

    assert 'name="note"' in response.content.decode()
    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED


def test_approving_without_a_note_changes_nothing(office: User, refund: RefundRequest) -> None:
    response = act(signed_in(office), "approve", [refund], post="yes", note="  ")

    assert "This field is required" in response.content.decode()
    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED


def test_approving_with_a_note_calls_the_service(office: User, refund: RefundRequest, holder: Cardholder) -> None:
    act(signed_in(office), "approve", [refund], post="yes", note="Pupil left the school")

    refund.refresh_from_db()
    assert refund.status == Status.APPROVED
    assert refund.decided_by == office
    assert refund.amount_cents == 15000
    assert Card.objects.get(holder=holder).status == Card.Status.RETURNED
    entry = AuditEntry.objects.get(action="refund.approved")
    assert (entry.actor, entry.reason) == (office, "Pupil left the school")


def test_rejecting_with_a_note_calls_the_service(office: User, refund: RefundRequest) -> None:
    act(signed_in(office), "reject", [refund], post="yes", note="Payee unknown")

    refund.refresh_from_db()
    assert (refund.status, refund.decision_note) == (Status.REJECTED, "Payee unknown")
    assert AuditEntry.objects.filter(action="refund.rejected", actor=office).count() == 1


def test_a_refusal_of_the_service_is_shown_and_changes_nothing(
    office: User, refund: RefundRequest, holder: Cardholder
) -> None:
    act(signed_in(office), "reject", [refund], post="yes", note="Asked twice")

    response = act(signed_in(office), "approve", [refund], post="yes", note="Approve anyway")

    assert "already decided" in response.content.decode()
    refund.refresh_from_db()
    assert refund.status == Status.REJECTED


def test_another_institutions_request_cannot_be_approved(office: User, their_refund: RefundRequest) -> None:
    act(signed_in(office), "approve", [their_refund], post="yes", note="Not mine")

    their_refund.refresh_from_db()
    assert their_refund.status == Status.REQUESTED


def test_finance_sees_the_requests_but_cannot_decide_them(ours: Institution, refund: RefundRequest) -> None:
    finance = staff(ours, Role.FINANCE)
    client = signed_in(finance)

    html = client.get(url("changelist")).content.decode()
    assert "Anna Ours" in html
    assert 'value="approve"' not in html
    act(client, "approve", [refund], post="yes", note="Finance approves")
    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED


def test_finance_with_change_permission_still_cannot_decide(ours: Institution, refund: RefundRequest) -> None:
    finance = staff(ours, Role.FINANCE)
    finance.user_permissions.add(Permission.objects.get(codename="change_refundrequest"))

    act(signed_in(finance), "approve", [refund], post="yes", note="Finance approves")

    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED


# --- entering a request ----------------------------------------------------------------------------


def test_the_office_enters_a_request_through_the_service(office: User, holder: Cardholder) -> None:
    response = signed_in(office).post(
        url("add"), {"holder": holder.pk, "payee_name": "Maja Jensen", "payee_cpr": CPR_VALID}
    )

    refund = RefundRequest.objects.get()
    assert response.status_code == 302
    assert (refund.holder, refund.requested_by, refund.status) == (holder, office, Status.REQUESTED)
    assert AuditEntry.objects.filter(action="refund.requested", actor=office).count() == 1


def test_an_impossible_cpr_number_is_shown_beside_its_field_in_the_back_office(
    office: User, holder: Cardholder
) -> None:
    response = signed_in(office).post(
        url("add"), {"holder": holder.pk, "payee_name": "Maja Jensen", "payee_cpr": CPR_IMPOSSIBLE_DATE}
    )

    assert response.status_code == 200
    assert "errors field-payee_cpr" in response.content.decode()
    assert not RefundRequest.objects.exists()


def test_another_institutions_holder_is_not_offered(office: User, theirs: Institution) -> None:
    stranger = guardian_holder(UserFactory(), theirs, extra=2000, name="Carl Theirs")
    client = signed_in(office)

    assert "Carl Theirs" not in client.get(url("add")).content.decode()
    client.post(url("add"), {"holder": stranger.pk, "payee_name": "X", "payee_cpr": CPR_VALID})
    assert not RefundRequest.objects.exists()


def test_finance_cannot_enter_requests(ours: Institution) -> None:
    finance = staff(ours, Role.FINANCE)

    assert signed_in(finance).get(url("add")).status_code == 403


def test_a_returned_refund_is_paid_again_from_the_admin(office: User, refund: RefundRequest) -> None:
    act(signed_in(office), "approve", [refund], post="yes", note="Pupil left the school")
    RefundRequest.objects.filter(pk=refund.pk).update(status=Status.RETURNED)  # as the bank's return file does

    act(signed_in(office), "pay_again", [refund], post="yes", note="The payee has a NemKonto now")

    refund.refresh_from_db()
    assert (refund.status, refund.decision_note) == (Status.APPROVED, "The payee has a NemKonto now")
    assert AuditEntry.objects.filter(action="refund.corrected", actor=office).count() == 1


def test_a_refund_not_returned_is_not_paid_again(office: User, refund: RefundRequest) -> None:
    response = act(signed_in(office), "pay_again", [refund], post="yes", note="By mistake")

    assert "returned" in response.content.decode()
    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED
