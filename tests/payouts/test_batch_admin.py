"""The payout batch back office: finance staff (and administrators) only; build, approve and export
(password asked again), mark sent, files again, summary PDF, stop, import a return file, and search
payments by reference, name, date and CPR number, the number always shown masked."""

import datetime as dt
import io
import zipfile
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, Institution, Role, User
from accounts.services import membership_grant
from payouts.batches import payout_batch_approve, payout_batch_build, payout_batch_export
from payouts.models import Payout, PayoutBatch, RefundRequest, ReturnFileImport
from payouts.return_file import return_file_write
from tests.factories import PASSWORD, InstitutionFactory, UserFactory
from tests.payouts.batch_factories import CPR, CPR_OTHER, IBAN, approved_refund

pytestmark = pytest.mark.django_db

# What the finance role needs here (the role's group is to carry these: accounts.services.ROLE_PERMISSIONS);
# given to the test users directly.
FINANCE_BATCH_PERMISSIONS = [
    "view_payoutbatch",
    "add_payoutbatch",
    "change_payoutbatch",
    "view_payout",
    "change_payout",
    "view_returnfileimport",
    "add_returnfileimport",
]
PAY_DAY = dt.date(2026, 12, 3)


@pytest.fixture
def town() -> Institution:
    return InstitutionFactory(name="Town Hall")


def staff(institution: Institution, role: str, **kwargs: Any) -> User:
    user = UserFactory(**kwargs)
    membership_grant(user=user, institution=institution, role=role)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="payouts", codename__in=FINANCE_BATCH_PERMISSIONS)
    )
    return user


def signed_in(user: User) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


@pytest.fixture
def builder(town: Institution) -> User:
    return staff(town, Role.FINANCE, full_name="Birgit Builder")


@pytest.fixture
def approver(town: Institution) -> User:
    return staff(town, Role.FINANCE, full_name="Anders Approver")


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:payouts_{name}", args=args)


def act(client: Client, model: str, action: str, objects: list[Any], **extra: str) -> Any:
    data = {"action": action, "_selected_action": [str(obj.pk) for obj in objects], **extra}
    return client.post(url(f"{model}_changelist"), data)


def refused(response: Any) -> bool:
    """Forbidden, or (for a user who is not back-office staff) sent to the admin's sign-in page."""
    return response.status_code == 403 or (response.status_code == 302 and "/login/" in response["Location"])


def draft(builder: User) -> PayoutBatch:
    (batch,) = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    return batch


def exported(builder: User, approver: User) -> PayoutBatch:
    batch = draft(builder)
    payout_batch_approve(batch=batch, approved_by=approver)
    payout_batch_export(batch=batch, exported_by=approver)
    return batch


# --- who -----------------------------------------------------------------------------------------


def test_finance_staff_see_the_batches(builder: User) -> None:
    approved_refund()
    batch = draft(builder)
    response = signed_in(builder).get(url("payoutbatch_changelist"))
    assert response.status_code == 200
    assert str(batch) in response.content.decode()


def test_an_administrator_sees_the_batches(town: Institution, builder: User) -> None:
    approved_refund()
    draft(builder)
    response = signed_in(staff(town, Role.ADMIN)).get(url("payoutbatch_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("role", [Role.OFFICE, Role.CANTEEN, Role.TEACHER])
def test_other_staff_cannot_open_the_batches_even_with_the_permissions(
    town: Institution, builder: User, role: str
) -> None:
    approved_refund()
    batch = draft(builder)
    client = signed_in(staff(town, role))
    for page in (
        url("payoutbatch_changelist"),
        url("payout_changelist"),
        url("returnfileimport_changelist"),
        url("payoutbatch_summary", batch.pk),
        url("payoutbatch_build"),
        url("payoutbatch_import_return"),
    ):
        assert refused(client.get(page)), page


def test_other_staff_cannot_approve_by_posting_the_action(town: Institution, builder: User) -> None:
    approved_refund()
    batch = draft(builder)
    office = staff(town, Role.OFFICE)
    response = act(signed_in(office), "payoutbatch", "approve_batches", [batch], apply="1", password=PASSWORD)
    assert refused(response)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DRAFT


def test_a_guardian_is_sent_to_the_sign_in_page(builder: User) -> None:
    approved_refund()
    draft(builder)
    response = signed_in(UserFactory()).get(url("payoutbatch_changelist"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_office_staff_even_with_the_view_permission_cannot_see_or_approve_batches(
    town: Institution, builder: User
) -> None:
    reader = UserFactory()
    membership_grant(user=reader, institution=town, role=Role.OFFICE)  # the finance role may change batches
    reader.user_permissions.add(Permission.objects.get(content_type__app_label="payouts", codename="view_payoutbatch"))
    approved_refund()
    batch = draft(builder)
    client = signed_in(reader)
    assert client.get(url("payoutbatch_changelist")).status_code == 403
    act(client, "payoutbatch", "approve_batches", [batch], apply="1", password=PASSWORD)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DRAFT


def test_batches_are_never_added_changed_or_deleted_through_forms(builder: User) -> None:
    approved_refund()
    batch = draft(builder)
    client = signed_in(builder)
    assert client.get(url("payoutbatch_add")).status_code == 403
    client.post(url("payoutbatch_change", batch.pk), {"status": "settled"})
    client.post(url("payoutbatch_delete", batch.pk), {"post": "yes"})
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DRAFT


# --- build, approve, export, send ----------------------------------------------------------------


def test_the_batch_list_offers_the_tools_and_every_page_opens(builder: User, approver: User) -> None:
    approved_refund()
    batch = exported(builder, approver)
    client = signed_in(builder)
    page = client.get(url("payoutbatch_changelist")).content.decode()
    assert url("payoutbatch_build") in page
    assert url("payoutbatch_import_return") in page
    assert url("payoutbatch_summary", batch.pk) in page
    assert url("payoutbatch_files", batch.pk) in page
    for address in (
        url("payoutbatch_build"),
        url("payoutbatch_import_return"),
        url("payoutbatch_change", batch.pk),
        url("payout_change", batch.payouts.get().pk),
        url("returnfileimport_changelist"),
    ):
        assert client.get(address).status_code == 200, address


def test_finance_builds_a_batch_with_the_tool(builder: User) -> None:
    refund = approved_refund()
    response = signed_in(builder).post(url("payoutbatch_build"), {"payment_date": "2030-01-07"})
    assert response.status_code == 302
    batch = PayoutBatch.objects.get()
    assert (batch.built_by, batch.payment_date) == (builder, dt.date(2030, 1, 7))
    assert batch.payouts.get().refund == refund


def test_the_approve_action_asks_for_the_password_first(builder: User, approver: User) -> None:
    approved_refund()
    batch = draft(builder)
    response = act(signed_in(approver), "payoutbatch", "approve_batches", [batch])
    assert response.status_code == 200
    assert "password" in response.context["form"].fields
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DRAFT


def test_a_wrong_password_approves_nothing(builder: User, approver: User) -> None:
    approved_refund()
    batch = draft(builder)
    response = act(signed_in(approver), "payoutbatch", "approve_batches", [batch], apply="1", password="wrong")
    assert response.context["form"].errors["password"]
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DRAFT


def test_a_second_finance_user_approves_with_their_password(builder: User, approver: User) -> None:
    approved_refund()
    batch = draft(builder)
    response = act(signed_in(approver), "payoutbatch", "approve_batches", [batch], apply="1", password=PASSWORD)
    assert response.status_code == 302
    batch.refresh_from_db()
    assert (batch.status, batch.approved_by) == (PayoutBatch.Status.APPROVED, approver)


def test_the_builder_is_told_they_cannot_approve(builder: User) -> None:
    approved_refund()
    batch = draft(builder)
    response = act(signed_in(builder), "payoutbatch", "approve_batches", [batch], apply="1", password=PASSWORD)
    messages = [str(m) for m in response.wsgi_request._messages]  # type: ignore[attr-defined]
    assert any("four eyes" in message for message in messages)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.DRAFT


def test_the_export_action_answers_with_a_zip_of_the_bank_files(builder: User, approver: User) -> None:
    approved_refund(cpr=CPR)
    batch = draft(builder)
    payout_batch_approve(batch=batch, approved_by=approver)
    response = act(signed_in(approver), "payoutbatch", "export_batches", [batch], apply="1", password=PASSWORD)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    (name,) = archive.namelist()
    assert name.startswith(f"nemkonto-batch{batch.pk}-")
    assert CPR.encode() in archive.read(name)
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.EXPORTED
    assert AuditEntry.objects.filter(action="payout_batch.download", actor=approver).count() == 1


def test_the_files_are_downloaded_again_from_the_list(builder: User, approver: User) -> None:
    approved_refund()
    approved_refund(iban=IBAN)
    batches = payout_batch_build(built_by=builder, payment_date=PAY_DAY)
    for batch in batches:
        payout_batch_approve(batch=batch, approved_by=approver)
        first = payout_batch_export(batch=batch, exported_by=approver)
        response = signed_in(approver).get(url("payoutbatch_files", batch.pk))
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert [archive.read(file.name) for file in first] == [file.content for file in first]


def test_no_files_before_the_export(builder: User) -> None:
    approved_refund()
    batch = draft(builder)
    assert signed_in(builder).get(url("payoutbatch_files", batch.pk)).status_code == 404


def test_an_exported_batch_is_marked_sent(builder: User, approver: User) -> None:
    approved_refund()
    batch = exported(builder, approver)
    act(signed_in(builder), "payoutbatch", "mark_sent_batches", [batch])
    batch.refresh_from_db()
    assert batch.status == PayoutBatch.Status.SENT


def test_the_summary_pdf_is_served(builder: User, approver: User) -> None:
    approved_refund()
    batch = exported(builder, approver)
    response = signed_in(builder).get(url("payoutbatch_summary", batch.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


# --- payments: stop, search ----------------------------------------------------------------------


def test_stopping_asks_for_a_reason_then_stops(builder: User) -> None:
    refund = approved_refund()
    batch = draft(builder)
    payout = batch.payouts.get()
    client = signed_in(builder)
    response = act(client, "payout", "stop_payouts", [payout])
    assert "reason" in response.context["form"].fields
    assert Payout.objects.get(pk=payout.pk).status == Payout.Status.PENDING
    act(client, "payout", "stop_payouts", [payout], apply="1", reason="The payee asked to wait")
    assert Payout.objects.get(pk=payout.pk).status == Payout.Status.STOPPED
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.APPROVED


def test_an_exported_payment_is_not_stopped(builder: User, approver: User) -> None:
    approved_refund()
    batch = exported(builder, approver)
    payout = batch.payouts.get()
    act(signed_in(builder), "payout", "stop_payouts", [payout], apply="1", reason="Too late")
    assert Payout.objects.get(pk=payout.pk).status == Payout.Status.EXPORTED


def test_payments_are_found_by_reference_and_by_payee_name(builder: User) -> None:
    approved_refund(payee_name="Jens Hansen")
    approved_refund(payee_name="Mette Kjær")
    batch = draft(builder)
    first, second = batch.payouts.order_by("pk")
    client = signed_in(builder)
    by_reference = client.get(url("payout_changelist"), {"q": second.reference})
    assert list(by_reference.context["cl"].result_list) == [second]
    by_name = client.get(url("payout_changelist"), {"q": "hansen"})
    assert list(by_name.context["cl"].result_list) == [first]


def test_payments_are_found_by_cpr_number_within_a_date_and_shown_masked(builder: User) -> None:
    mine = approved_refund(cpr=CPR)
    approved_refund(cpr=CPR_OTHER)
    draft(builder)
    response = signed_in(builder).get(
        url("payout_changelist"),
        {
            "q": "070761-4285",
            "batch__payment_date__year": "2026",
            "batch__payment_date__month": "12",
            "batch__payment_date__day": "3",
        },
    )
    assert [payout.refund_id for payout in response.context["cl"].result_list] == [mine.pk]
    page = response.content.decode()
    assert "070761-****" in page
    assert CPR not in page.replace("070761-4285", "")  # only the search box repeats what was typed
    assert AuditEntry.objects.filter(action="payout.trace", actor=builder).exists()


# --- return files --------------------------------------------------------------------------------


def test_a_return_file_is_imported_by_upload(builder: User, approver: User) -> None:
    refund = approved_refund()
    batch = exported(builder, approver)
    content = return_file_write([(batch.payouts.get().reference, "completed", "", "")])
    upload = SimpleUploadedFile("return.csv", content, content_type="text/csv")
    response = signed_in(approver).post(url("payoutbatch_import_return"), {"file": upload})
    assert response.status_code == 302
    refund.refresh_from_db()
    assert refund.status == RefundRequest.Status.PAID
    record = ReturnFileImport.objects.get()
    assert (record.filename, record.imported_by) == ("return.csv", approver)
    assert signed_in(approver).get(url("returnfileimport_changelist")).status_code == 200


def test_a_malformed_return_file_is_shown_on_the_form(builder: User) -> None:
    upload = SimpleUploadedFile("return.csv", b"not,a,return\nfile,,,\n", content_type="text/csv")
    response = signed_in(builder).post(url("payoutbatch_import_return"), {"file": upload})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ReturnFileImport.objects.exists()
