"""The office's money actions: main → extra on request, corrections with four eyes above the limit,
each with a reason and an audit entry, scoped to the office user's institutions."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import AuditEntry, Institution, Role, StaffMembership, User
from cards.models import Card, Cardholder
from cardsystem.errors import InvalidRequest, NotFound
from payments.corrections import (
    CorrectionDecided,
    FourEyesRequired,
    balance_move_main_to_extra,
    correction_approve,
    correction_reject,
    correction_request,
)
from payments.errors import InsufficientFunds
from payments.ledger import holder_accounts_get, system_account
from payments.models import Correction, LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.factories import CardFactory, InstitutionFactory, UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db

MAIN, EXTRA = LedgerAccount.Kind.MAIN, LedgerAccount.Kind.EXTRA
LIMIT = 50000  # CORRECTION_FOUR_EYES_ABOVE_CENTS's default, set explicitly below
# What the office role needs for these pages (the role's group is to carry them: see the report to
# accounts.services.ROLE_PERMISSIONS); given to the test users directly.
OFFICE_PERMISSIONS = ["view_correction", "add_correction", "approve_correction", "move_main_to_extra"]


@pytest.fixture(autouse=True)
def _limit(settings: Any) -> None:
    settings.CORRECTION_FOUR_EYES_ABOVE_CENTS = LIMIT


@pytest.fixture
def ours() -> Institution:
    return InstitutionFactory(name="Our School")


@pytest.fixture
def theirs() -> Institution:
    return InstitutionFactory(name="Their School")


def office_user(institution: Institution, *, role: str = Role.OFFICE, permissions: bool = True) -> User:
    # The membership without the role's group, so that the permissions are exactly those given here.
    user = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=user, institution=institution, role=role)
    if permissions:
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="payments", codename__in=OFFICE_PERMISSIONS)
        )
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def clerk(ours: Institution) -> User:
    return office_user(ours)


@pytest.fixture
def second_clerk(ours: Institution) -> User:
    return office_user(ours)


def balances(holder: Cardholder) -> tuple[int, int]:
    accounts = holder_accounts_get(holder_id=holder.pk)
    return accounts.main.balance_cents, accounts.extra.balance_cents


def corrections_account_sum() -> int:
    account = system_account(kind=LedgerAccount.Kind.CORRECTIONS)
    return sum(LedgerEntry.objects.filter(account=account).values_list("amount_cents", flat=True))


# --- main → extra ------------------------------------------------------------------------------


def test_moving_main_to_extra_moves_the_amount_in_one_movement_with_its_reason(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=10000, extra=500)

    txn = balance_move_main_to_extra(holder=holder, amount_cents=4000, moved_by=clerk, reason="Mother phoned")

    assert balances(holder) == (6000, 4500)
    assert txn.kind == LedgerTransaction.Kind.TRANSFER
    assert txn.reason == "Mother phoned"
    assert txn.created_by == clerk
    assert sorted(txn.entries.values_list("amount_cents", flat=True)) == [-4000, 4000]
    assert ledger_mismatches() == []


def test_moving_main_to_extra_writes_an_audit_entry_saying_who_what_and_why(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=10000)

    txn = balance_move_main_to_extra(holder=holder, amount_cents=4000, moved_by=clerk, reason="Mother phoned")

    entry = AuditEntry.objects.get(action="balance.main_to_extra")
    assert (entry.actor, entry.institution, entry.reason) == (clerk, ours, "Mother phoned")
    assert (entry.target_type, entry.target_id) == ("cards.cardholder", str(holder.pk))
    assert entry.details["amount_cents"] == 4000
    assert entry.details["ledger_transaction"] == txn.pk


def test_moving_more_than_main_holds_is_refused_on_the_amount_and_moves_nothing(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=3000)

    with pytest.raises(InsufficientFunds) as raised:
        balance_move_main_to_extra(holder=holder, amount_cents=3001, moved_by=clerk, reason="asked")

    assert "amount" in (raised.value.fields or {})
    assert balances(holder) == (3000, 0)
    assert not AuditEntry.objects.exists()


def test_moving_is_refused_when_main_is_in_debt_because_only_mains_own_money_moves(
    ours: Institution, clerk: User
) -> None:
    holder = holder_with_balances(institution=ours, main=-2000)

    with pytest.raises(InsufficientFunds):
        balance_move_main_to_extra(holder=holder, amount_cents=100, moved_by=clerk, reason="asked")

    assert balances(holder) == (-2000, 0)


@pytest.mark.parametrize("reason", ["", "   "])
def test_moving_without_a_reason_is_refused_on_the_reason(ours: Institution, clerk: User, reason: str) -> None:
    holder = holder_with_balances(institution=ours, main=3000)

    with pytest.raises(InvalidRequest) as raised:
        balance_move_main_to_extra(holder=holder, amount_cents=100, moved_by=clerk, reason=reason)

    assert "reason" in (raised.value.fields or {})
    assert balances(holder) == (3000, 0)


@pytest.mark.parametrize("amount", [0, -100])
def test_moving_an_amount_not_above_zero_is_refused_on_the_amount(ours: Institution, clerk: User, amount: int) -> None:
    holder = holder_with_balances(institution=ours, main=3000)

    with pytest.raises(InvalidRequest) as raised:
        balance_move_main_to_extra(holder=holder, amount_cents=amount, moved_by=clerk, reason="asked")

    assert "amount" in (raised.value.fields or {})


def test_another_institutions_office_user_cannot_move_money(ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours, main=3000)

    with pytest.raises(NotFound):
        balance_move_main_to_extra(holder=holder, amount_cents=100, moved_by=office_user(theirs), reason="asked")

    assert balances(holder) == (3000, 0)


def test_canteen_staff_of_the_same_institution_cannot_move_money(ours: Institution) -> None:
    holder = holder_with_balances(institution=ours, main=3000)

    with pytest.raises(NotFound):
        balance_move_main_to_extra(
            holder=holder, amount_cents=100, moved_by=office_user(ours, role=Role.CANTEEN), reason="asked"
        )


# --- corrections at or below the limit ---------------------------------------------------------------


def test_a_credit_at_the_limit_is_applied_at_once_from_the_corrections_account(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, extra=1000)

    correction = correction_request(
        holder=holder, balance=EXTRA, amount_cents=LIMIT, requested_by=clerk, reason="Top-up 2026-11-30 missed"
    )

    assert correction.status == Correction.Status.APPLIED
    assert balances(holder) == (0, 1000 + LIMIT)
    assert correction.ledger_transaction is not None
    assert correction.ledger_transaction.kind == LedgerTransaction.Kind.CORRECTION
    assert correction.ledger_transaction.reason == "Top-up 2026-11-30 missed"
    assert corrections_account_sum() == -(1000 + LIMIT)  # the opening balance came from it too
    assert ledger_mismatches() == []


def test_an_applied_correction_is_in_the_audit_trail_with_its_reason(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)

    correction = correction_request(holder=holder, balance=MAIN, amount_cents=2500, requested_by=clerk, reason="why")

    entry = AuditEntry.objects.get(action="correction.applied")
    assert (entry.actor, entry.institution, entry.reason) == (clerk, ours, "why")
    assert (entry.target_type, entry.target_id) == ("payments.correction", str(correction.pk))
    assert entry.details["holder"] == holder.pk
    assert entry.details["amount_cents"] == 2500


def test_a_debit_takes_a_mistaken_top_up_back(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=10000)

    correction_request(holder=holder, balance=MAIN, amount_cents=-7500, requested_by=clerk, reason="paid twice")

    assert balances(holder) == (2500, 0)
    assert ledger_mismatches() == []


def test_a_debit_the_balance_does_not_cover_is_refused_and_leaves_no_correction(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=1000)

    with pytest.raises(InsufficientFunds) as raised:
        correction_request(holder=holder, balance=MAIN, amount_cents=-1001, requested_by=clerk, reason="mistake")

    assert "amount" in (raised.value.fields or {})
    assert balances(holder) == (1000, 0)
    assert not Correction.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_credit_to_extra_pays_mains_debt_first_and_reopens_cards_blocked_for_debt(
    ours: Institution, clerk: User
) -> None:
    holder = holder_with_balances(institution=ours, main=-2000)
    card = CardFactory(holder=holder, status=Card.Status.DEBT_BLOCKED)

    correction_request(holder=holder, balance=EXTRA, amount_cents=5000, requested_by=clerk, reason="missed top-up")

    assert balances(holder) == (0, 3000)
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    assert ledger_mismatches() == []


@pytest.mark.parametrize(
    ("balance", "amount", "field"),
    [("savings", 100, "balance"), (MAIN, 0, "amount")],
)
def test_a_correction_with_a_bad_balance_or_no_amount_is_refused_on_that_field(
    ours: Institution, clerk: User, balance: str, amount: int, field: str
) -> None:
    holder = holder_with_balances(institution=ours)

    with pytest.raises(InvalidRequest) as raised:
        correction_request(holder=holder, balance=balance, amount_cents=amount, requested_by=clerk, reason="why")

    assert field in (raised.value.fields or {})


def test_a_correction_without_a_reason_is_refused(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)

    with pytest.raises(InvalidRequest) as raised:
        correction_request(holder=holder, balance=MAIN, amount_cents=100, requested_by=clerk, reason=" ")

    assert "reason" in (raised.value.fields or {})
    assert not Correction.objects.exists()


def test_another_institutions_office_user_cannot_ask_for_a_correction(ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours)

    with pytest.raises(NotFound):
        correction_request(
            holder=holder, balance=MAIN, amount_cents=100, requested_by=office_user(theirs), reason="why"
        )

    assert not Correction.objects.exists()


def test_a_superuser_may_correct_anywhere(ours: Institution) -> None:
    holder = holder_with_balances(institution=ours)
    root = UserFactory(is_superuser=True, is_staff=True)

    correction_request(holder=holder, balance=MAIN, amount_cents=100, requested_by=root, reason="why")

    assert balances(holder) == (100, 0)


# --- four eyes above the limit ---------------------------------------------------------------------


@pytest.mark.parametrize("amount", [LIMIT + 1, -(LIMIT + 1)])
def test_a_correction_above_the_limit_either_way_waits_and_moves_no_money(
    ours: Institution, clerk: User, amount: int
) -> None:
    holder = holder_with_balances(institution=ours, main=2 * LIMIT)

    correction = correction_request(holder=holder, balance=MAIN, amount_cents=amount, requested_by=clerk, reason="r")

    assert correction.status == Correction.Status.PENDING
    assert correction.ledger_transaction is None
    assert balances(holder) == (2 * LIMIT, 0)
    assert AuditEntry.objects.filter(action="correction.requested", target_id=str(correction.pk)).exists()


def test_the_one_who_asked_cannot_approve_it(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    with pytest.raises(FourEyesRequired):
        correction_approve(correction=correction, approved_by=clerk)

    correction.refresh_from_db()
    assert correction.status == Correction.Status.PENDING
    assert balances(holder) == (0, 0)


def test_a_second_office_user_approves_it_and_the_money_moves(
    ours: Institution, clerk: User, second_clerk: User
) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(
        holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="bank statement 12"
    )

    approved = correction_approve(correction=correction, approved_by=second_clerk, note="statement seen")

    assert approved.status == Correction.Status.APPLIED
    assert (approved.decided_by, approved.decision_note) == (second_clerk, "statement seen")
    assert balances(holder) == (LIMIT + 1, 0)
    entry = AuditEntry.objects.get(action="correction.approved")
    assert (entry.actor, entry.reason) == (second_clerk, "bank statement 12")
    assert entry.details["requested_by"] == clerk.pk
    assert ledger_mismatches() == []


def test_approving_twice_moves_the_money_once(ours: Institution, clerk: User, second_clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    correction_approve(correction=correction, approved_by=second_clerk)
    again = correction_approve(correction=correction, approved_by=office_user(ours))

    assert again.decided_by == second_clerk
    assert balances(holder) == (LIMIT + 1, 0)
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.CORRECTION).count() == 1
    assert AuditEntry.objects.filter(action="correction.approved").count() == 1


def test_another_institutions_office_user_cannot_approve(ours: Institution, theirs: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    with pytest.raises(NotFound):
        correction_approve(correction=correction, approved_by=office_user(theirs))

    assert balances(holder) == (0, 0)


def test_a_debit_no_longer_covered_when_approved_is_refused_and_stays_pending(
    ours: Institution, clerk: User, second_clerk: User
) -> None:
    holder = holder_with_balances(institution=ours, main=LIMIT + 1)
    correction = correction_request(
        holder=holder, balance=MAIN, amount_cents=-(LIMIT + 1), requested_by=clerk, reason="r"
    )
    balance_move_main_to_extra(holder=holder, amount_cents=1, moved_by=clerk, reason="asked")

    with pytest.raises(InsufficientFunds):
        correction_approve(correction=correction, approved_by=second_clerk)

    correction.refresh_from_db()
    assert correction.status == Correction.Status.PENDING
    assert balances(holder) == (LIMIT, 1)


def test_rejecting_says_why_and_moves_no_money(ours: Institution, clerk: User, second_clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    rejected = correction_reject(correction=correction, rejected_by=second_clerk, reason="no receipt")

    assert rejected.status == Correction.Status.REJECTED
    assert rejected.decision_note == "no receipt"
    assert balances(holder) == (0, 0)
    assert AuditEntry.objects.get(action="correction.rejected").reason == "no receipt"


def test_rejecting_without_a_reason_is_refused(ours: Institution, clerk: User, second_clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    with pytest.raises(InvalidRequest):
        correction_reject(correction=correction, rejected_by=second_clerk, reason="")

    correction.refresh_from_db()
    assert correction.status == Correction.Status.PENDING


def test_the_one_who_asked_cannot_reject_it_either(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    with pytest.raises(FourEyesRequired):
        correction_reject(correction=correction, rejected_by=clerk, reason="changed my mind")


def test_a_rejected_correction_cannot_be_approved(ours: Institution, clerk: User, second_clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")
    correction_reject(correction=correction, rejected_by=second_clerk, reason="no receipt")

    with pytest.raises(CorrectionDecided):
        correction_approve(correction=correction, approved_by=office_user(ours))

    assert balances(holder) == (0, 0)


def test_an_applied_correction_cannot_be_rejected(ours: Institution, clerk: User, second_clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")
    correction_approve(correction=correction, approved_by=second_clerk)

    with pytest.raises(CorrectionDecided):
        correction_reject(correction=correction, rejected_by=office_user(ours), reason="too late")

    assert balances(holder) == (LIMIT + 1, 0)


@override_settings(CORRECTION_FOUR_EYES_ABOVE_CENTS=1000)
def test_the_limit_is_a_setting(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)

    correction = correction_request(holder=holder, balance=MAIN, amount_cents=1001, requested_by=clerk, reason="r")

    assert correction.status == Correction.Status.PENDING


def test_the_ledger_balances_after_moves_corrections_approvals_and_rejections(
    ours: Institution, clerk: User, second_clerk: User
) -> None:
    anna = holder_with_balances(institution=ours, main=20000, extra=1000)
    bo = holder_with_balances(institution=ours, main=-3000)
    balance_move_main_to_extra(holder=anna, amount_cents=5000, moved_by=clerk, reason="asked")
    correction_request(holder=anna, balance=EXTRA, amount_cents=-2000, requested_by=clerk, reason="double")
    correction_request(holder=bo, balance=EXTRA, amount_cents=4000, requested_by=clerk, reason="missed")
    big = correction_request(holder=bo, balance=MAIN, amount_cents=LIMIT + 100, requested_by=clerk, reason="big")
    correction_approve(correction=big, approved_by=second_clerk)
    other = correction_request(holder=anna, balance=MAIN, amount_cents=-(LIMIT + 1), requested_by=clerk, reason="x")
    correction_reject(correction=other, rejected_by=second_clerk, reason="no")

    assert balances(anna) == (15000, 4000)
    assert balances(bo) == (LIMIT + 100, 1000)
    assert ledger_mismatches() == []


# --- the back office ---------------------------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:payments_correction_{name}", args=args)


def test_the_correction_form_offers_only_the_office_users_cardholders(
    ours: Institution, theirs: Institution, clerk: User
) -> None:
    mine = holder_with_balances(institution=ours, name="Anna Ours")
    holder_with_balances(institution=theirs, name="Carl Theirs")

    page = admin_client(clerk).get(url("add")).content.decode()

    assert mine.name in page
    assert "Carl Theirs" not in page


def test_the_correction_form_applies_a_correction_under_the_limit(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)

    response = admin_client(clerk).post(
        url("add"), {"holder": holder.pk, "balance": MAIN, "amount": "25.00", "reason": "missed top-up"}
    )

    correction = Correction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("change", correction.pk)
    assert correction.status == Correction.Status.APPLIED
    assert balances(holder) == (2500, 0)


def test_the_correction_form_without_a_reason_says_so_beside_the_reason(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)

    response = admin_client(clerk).post(url("add"), {"holder": holder.pk, "balance": MAIN, "amount": "25.00"})

    assert response.status_code == 400
    assert "Give the reason" in str(response.context["form"].errors["reason"])
    assert not Correction.objects.exists()


def test_the_correction_form_refuses_another_institutions_cardholder(
    ours: Institution, theirs: Institution, clerk: User
) -> None:
    stranger = holder_with_balances(institution=theirs)

    response = admin_client(clerk).post(
        url("add"), {"holder": stranger.pk, "balance": MAIN, "amount": "25.00", "reason": "r"}
    )

    assert response.status_code == 400
    assert "holder" in response.context["form"].errors
    assert balances(stranger) == (0, 0)


def test_the_correction_form_shows_an_uncovered_debit_beside_the_amount(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=1000)

    response = admin_client(clerk).post(
        url("add"), {"holder": holder.pk, "balance": MAIN, "amount": "-25.00", "reason": "r"}
    )

    assert response.status_code == 400
    assert "does not cover" in str(response.context["form"].errors["amount"])


def test_the_move_form_moves_main_to_extra(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=5000)

    response = admin_client(clerk).post(url("move"), {"holder": holder.pk, "amount": "20.00", "reason": "asked"})

    assert response.status_code == 302
    assert balances(holder) == (3000, 2000)


def test_the_move_form_without_a_reason_says_so_and_moves_nothing(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=5000)

    response = admin_client(clerk).post(url("move"), {"holder": holder.pk, "amount": "20.00", "reason": ""})

    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    assert balances(holder) == (5000, 0)


def test_the_move_form_needs_its_permission(ours: Institution) -> None:
    user = office_user(ours, permissions=False)
    user.user_permissions.add(Permission.objects.get(codename="view_correction"))

    assert admin_client(user).get(url("move")).status_code == 403


def test_the_list_shows_only_the_office_users_institutions_corrections(
    ours: Institution, theirs: Institution, clerk: User
) -> None:
    mine = correction_request(
        holder=holder_with_balances(institution=ours, name="Anna Ours"),
        balance=MAIN,
        amount_cents=100,
        requested_by=clerk,
        reason="r",
    )
    theirs_correction = correction_request(
        holder=holder_with_balances(institution=theirs, name="Carl Theirs"),
        balance=MAIN,
        amount_cents=100,
        requested_by=office_user(theirs),
        reason="r",
    )
    client = admin_client(clerk)

    page = client.get(url("changelist")).content.decode()

    assert "Anna Ours" in page
    assert "Carl Theirs" not in page
    assert client.get(url("change", mine.pk)).status_code == 200
    assert client.get(url("change", theirs_correction.pk)).status_code == 302  # as for a row not there
    assert client.get(url("decide", theirs_correction.pk)).status_code == 404


def test_a_correction_is_never_changed_or_deleted_in_the_admin(ours: Institution, clerk: User) -> None:
    correction = correction_request(
        holder=holder_with_balances(institution=ours), balance=MAIN, amount_cents=100, requested_by=clerk, reason="r"
    )
    client = admin_client(clerk)

    response = client.post(url("change", correction.pk), {"reason": "edited", "amount_cents": 1})

    assert response.status_code == 403
    assert client.get(url("delete", correction.pk)).status_code == 403
    correction.refresh_from_db()
    assert (correction.reason, correction.amount_cents) == ("r", 100)


def test_the_decision_page_approves_for_a_second_office_user(
    ours: Institution, clerk: User, second_clerk: User
) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    response = admin_client(second_clerk).post(url("decide", correction.pk), {"approve": "1", "note": ""})

    assert response.status_code == 302
    correction.refresh_from_db()
    assert correction.status == Correction.Status.APPLIED
    assert balances(holder) == (LIMIT + 1, 0)


def test_the_decision_page_refuses_the_one_who_asked(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    response = admin_client(clerk).post(url("decide", correction.pk), {"approve": "1", "note": ""})

    assert response.status_code == 400
    assert "Another office user" in str(response.context["form"].non_field_errors())
    correction.refresh_from_db()
    assert correction.status == Correction.Status.PENDING


def test_rejecting_on_the_decision_page_needs_a_reason_beside_the_note(
    ours: Institution, clerk: User, second_clerk: User
) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")

    response = admin_client(second_clerk).post(url("decide", correction.pk), {"reject": "1", "note": ""})

    assert response.status_code == 400
    assert "note" in response.context["form"].errors
    correction.refresh_from_db()
    assert correction.status == Correction.Status.PENDING


def test_the_decision_page_needs_the_approval_permission(ours: Institution, clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")
    viewer = office_user(ours, permissions=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_correction"))

    assert admin_client(viewer).get(url("decide", correction.pk)).status_code == 403


def test_the_pages_link_the_forms_to_each_other(ours: Institution, clerk: User, second_clerk: User) -> None:
    holder = holder_with_balances(institution=ours, main=1000)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")
    client = admin_client(second_clerk)

    changelist = client.get(url("changelist")).content.decode()
    change = client.get(url("change", correction.pk)).content.decode()
    decide = client.get(url("decide", correction.pk)).content.decode()
    move = client.get(url("move"), {"holder": holder.pk}).content.decode()

    assert url("move") in changelist
    assert url("decide", correction.pk) in change
    assert 'name="approve"' in decide
    assert 'name="reject"' in decide
    assert f'<option value="{holder.pk}" selected>' in move


def test_a_decided_correction_offers_no_decision_any_more(ours: Institution, clerk: User, second_clerk: User) -> None:
    holder = holder_with_balances(institution=ours)
    correction = correction_request(holder=holder, balance=MAIN, amount_cents=LIMIT + 1, requested_by=clerk, reason="r")
    correction_reject(correction=correction, rejected_by=second_clerk, reason="no receipt")
    client = admin_client(second_clerk)

    assert url("decide", correction.pk) not in client.get(url("change", correction.pk)).content.decode()
    assert 'name="approve"' not in client.get(url("decide", correction.pk)).content.decode()


def test_a_cardholders_main_account_page_links_the_correction_and_move_forms(ours: Institution) -> None:
    holder = holder_with_balances(institution=ours, main=1000)
    main = holder_accounts_get(holder_id=holder.pk).main
    root = UserFactory(is_superuser=True, is_staff=True)

    page = admin_client(root).get(reverse("admin:payments_ledgeraccount_change", args=[main.pk])).content.decode()

    assert f"{url('add')}?holder={holder.pk}&amp;balance=main" in page
    assert f"{url('move')}?holder={holder.pk}" in page
