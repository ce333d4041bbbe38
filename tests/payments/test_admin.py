"""The ledger admin is for reading: nobody, superusers included, adds, changes or deletes rows."""

import pytest
from django.contrib import admin
from django.db import models
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import User
from payments.ledger import holder_accounts_get
from payments.models import IdempotencyRecord, LedgerAccount, LedgerEntry, LedgerTransaction
from tests.factories import holder_with_balances

pytestmark = pytest.mark.django_db

LEDGER_MODELS = [LedgerAccount, LedgerTransaction, LedgerEntry, IdempotencyRecord]


def admin_url(model: type[models.Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def ledger() -> LedgerAccount:
    """A cardholder with 12.50 on the extra balance: one opening transaction, two entries."""
    holder = holder_with_balances(extra=1250)
    IdempotencyRecord.objects.create(caller="terminal:1", key="k1", fingerprint="f", status_code=201, body={})
    return holder_accounts_get(holder_id=holder.pk).extra


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_ledger_admin_grants_no_add_change_or_delete_even_to_a_superuser(
    model: type[models.Model], admin_user: User, rf: RequestFactory
) -> None:
    request = rf.get("/admin/")
    request.user = admin_user
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_ledger_add_page_is_forbidden_to_a_superuser(model: type[models.Model], admin_client: Client) -> None:
    assert admin_client.get(admin_url(model, "add")).status_code == 403


def test_ledger_entry_cannot_be_deleted_through_the_admin(admin_client: Client, ledger: LedgerAccount) -> None:
    entry = LedgerEntry.objects.filter(account=ledger).get()
    response = admin_client.post(admin_url(LedgerEntry, "delete", entry.pk), {"post": "yes"})
    assert response.status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_ledger_transaction_posted_to_its_change_page_is_not_changed(
    admin_client: Client, ledger: LedgerAccount
) -> None:
    txn = LedgerTransaction.objects.get()
    response = admin_client.post(admin_url(LedgerTransaction, "change", txn.pk), {"reason": "edited", "kind": "fee"})
    assert response.status_code == 403
    txn.refresh_from_db()
    assert (txn.kind, txn.reason) == (LedgerTransaction.Kind.OPENING, "test")


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_ledger_changelist_renders(model: type[models.Model], admin_client: Client, ledger: LedgerAccount) -> None:
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_ledger_detail_page_renders_read_only(
    model: type[models.Model], admin_client: Client, ledger: LedgerAccount
) -> None:
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None
    response = admin_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


def test_ledger_account_changelist_shows_the_balance_as_a_decimal_string(
    admin_client: Client, ledger: LedgerAccount
) -> None:
    response = admin_client.get(admin_url(LedgerAccount, "changelist"))
    assert '<td class="field-balance">12.50</td>' in response.content.decode()


def test_system_account_page_shows_the_sum_of_its_entries(admin_client: Client, ledger: LedgerAccount) -> None:
    corrections = LedgerAccount.objects.get(kind=LedgerAccount.Kind.CORRECTIONS)
    response = admin_client.get(admin_url(LedgerAccount, "change", corrections.pk))
    assert '<div class="readonly">-12.50</div>' in response.content.decode()


def test_ledger_transaction_page_lists_its_entries_with_decimal_amounts(
    admin_client: Client, ledger: LedgerAccount
) -> None:
    txn = LedgerTransaction.objects.get()
    content = admin_client.get(admin_url(LedgerTransaction, "change", txn.pk)).content.decode()
    assert "<p>12.50</p>" in content and "<p>-12.50</p>" in content
