"""Refund requests: CPR and IBAN checked, the CPR number encrypted at rest and shown masked, the debt
rule, approval moving the balance (less the payout cost) to payout clearing, cards returned,
automatic top-ups paused and stopped, and an audit entry for every action."""

import io
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from accounts.models import AuditEntry, Institution, Role, User
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from cardsystem.errors import InvalidRequest
from payments.ledger import holder_accounts_get, opening_balance_post
from payments.models import AutoTopUp, LedgerAccount, LedgerEntry, LedgerTransaction, PaymentMandate
from payments.selectors import ledger_mismatches
from payouts.crypto import InvalidCpr, cpr_decrypt, cpr_keys_reload
from payouts.models import PayeeKind, RefundRequest
from payouts.refunds import (
    DebtOutstanding,
    FourEyesRequired,
    InvalidBic,
    InvalidIban,
    RefundAlreadyDecided,
    RefundAlreadyRequested,
    refund_approve,
    refund_payee_masked,
    refund_reject,
    refund_request_create,
)
from tests.factories import CardFactory, InstitutionFactory, UserFactory, holder_with_balances, staff_user

pytestmark = pytest.mark.django_db

# A CPR number passing the modulus-11 check, and one failing it with a real date.
CPR_VALID = "070761-4285"
CPR_MOD11_FAILS = "010170-1234"
CPR_IMPOSSIBLE_DATE = "320187-1234"
IBAN_VALID = "DK50 0040 0440 1162 43"
IBAN_BAD_CHECKSUM = "DK51 0040 0440 1162 43"
MAIN, EXTRA = LedgerAccount.Kind.MAIN, LedgerAccount.Kind.EXTRA
Status = RefundRequest.Status


# --- shared set-up (the API, admin and PostgreSQL tests use these too) ------------------------------


def guardian_holder(guardian: User, institution: Institution, **balances: Any) -> Cardholder:
    """A cardholder of the guardian with one active card and the given balances (minor units)."""
    holder = holder_with_balances(institution=institution, **balances)
    guardianship_create(guardian=guardian, holder=holder)
    CardFactory(holder=holder)
    return holder


def auto_topup_for(holder: Cardholder, guardian: User, balance: str = MAIN) -> AutoTopUp:
    mandate = PaymentMandate.objects.create(
        guardian=guardian, provider="test", reference=f"mandate-{holder.pk}-{balance}", label="Visa 4242"
    )
    return AutoTopUp.objects.create(
        holder=holder, balance=balance, threshold_cents=2000, amount_cents=10000, mandate=mandate, guardian=guardian
    )


def card_statuses(holder: Cardholder) -> list[str]:
    return list(Card.objects.filter(holder=holder).order_by("pk").values_list("status", flat=True))


def system_total(kind: str) -> int:
    total = LedgerEntry.objects.filter(account__kind=kind, account__holder__isnull=True).aggregate(
        total=Sum("amount_cents")
    )["total"]
    return int(total or 0)


def balances(holder: Cardholder) -> tuple[int, int]:
    accounts = holder_accounts_get(holder_id=holder.pk)
    return accounts.main.balance_cents, accounts.extra.balance_cents


def request_refund(holder: Cardholder, by: User, **payee: Any) -> RefundRequest:
    payee = payee or {"payee_cpr": CPR_VALID}
    return refund_request_create(holder=holder, requested_by=by, payee_name="Maja Jensen", **payee).refund


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(debt_limit_cents=15000)


@pytest.fixture
def guardian() -> User:
    return UserFactory(full_name="Maja Jensen")


@pytest.fixture
def office(school: Institution) -> User:
    return staff_user(institution=school, role=Role.OFFICE)


@pytest.fixture
def holder(guardian: User, school: Institution) -> Cardholder:
    return guardian_holder(guardian, school, main=10000, extra=5000)


# --- CPR numbers -----------------------------------------------------------------------------------


def test_a_valid_cpr_number_is_accepted_without_a_warning(holder: Cardholder, guardian: User) -> None:
    result = refund_request_create(holder=holder, requested_by=guardian, payee_name="Maja", payee_cpr=CPR_VALID)

    assert result.warning is None
    assert result.refund.status == Status.REQUESTED
    assert result.refund.payee_kind == PayeeKind.CPR


def test_a_cpr_number_failing_only_the_modulus_11_check_is_accepted_with_a_warning(
    holder: Cardholder, guardian: User
) -> None:
    # Numbers issued since 2007 may fail the old check and still be real.
    result = refund_request_create(holder=holder, requested_by=guardian, payee_name="Maja", payee_cpr=CPR_MOD11_FAILS)

    assert result.refund.pk is not None
    assert result.warning is not None
    assert "modulus-11" in result.warning


def test_a_cpr_number_with_an_impossible_date_is_refused_and_nothing_is_stored(
    holder: Cardholder, guardian: User
) -> None:
    with pytest.raises(InvalidCpr) as raised:
        refund_request_create(holder=holder, requested_by=guardian, payee_name="Maja", payee_cpr=CPR_IMPOSSIBLE_DATE)

    assert raised.value.code == "invalid_cpr"
    assert raised.value.status == 400
    assert set(raised.value.fields or {}) == {"payee_cpr"}
    assert not RefundRequest.objects.exists()


@pytest.mark.parametrize("text", ["070761-428", "070761-42855", "07076I-4285", "abcdef-ghij", "070761"])
def test_a_cpr_number_of_the_wrong_length_or_with_letters_is_refused(
    holder: Cardholder, guardian: User, text: str
) -> None:
    with pytest.raises(InvalidCpr):
        refund_request_create(holder=holder, requested_by=guardian, payee_name="Maja", payee_cpr=text)


def test_the_cpr_number_is_never_stored_in_clear_and_decrypts_back(holder: Cardholder, guardian: User) -> None:
    refund = request_refund(holder, guardian)

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM payouts_refundrequest WHERE id = %s", [refund.pk])
        raw_row = " ".join(str(value) for value in cursor.fetchone())
    assert "0707614285" not in raw_row
    assert "070761-4285" not in raw_row
    assert "070761" not in raw_row
    assert cpr_decrypt(RefundRequest.objects.get(pk=refund.pk).payee_cpr_token) == "0707614285"


def test_the_payee_is_shown_masked_as_ddmmyy_stars(holder: Cardholder, guardian: User) -> None:
    refund = request_refund(holder, guardian)

    assert refund_payee_masked(refund=refund) == "070761-****"


def test_the_audit_trail_holds_the_cpr_number_masked_only(holder: Cardholder, guardian: User, office: User) -> None:
    refund = request_refund(holder, guardian)
    refund_approve(refund=refund, approved_by=office)

    entries = list(AuditEntry.objects.filter(target_type="payouts.refundrequest", target_id=str(refund.pk)))
    dumped = json.dumps([entry.details for entry in entries])
    assert len(entries) == 2
    assert "070761-****" in dumped
    assert "0707614285" not in dumped
    assert "4285" not in dumped


# --- key rotation ----------------------------------------------------------------------------------


@pytest.fixture
def keys() -> Any:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    yield old, new
    cpr_keys_reload()


def test_after_a_new_key_is_put_first_the_old_tokens_still_decrypt(
    holder: Cardholder, guardian: User, keys: tuple[str, str]
) -> None:
    old, new = keys
    with override_settings(CPR_ENCRYPTION_KEYS=old):
        cpr_keys_reload()
        refund = request_refund(holder, guardian)
    with override_settings(CPR_ENCRYPTION_KEYS=f"{new},{old}"):
        cpr_keys_reload()
        assert cpr_decrypt(refund.payee_cpr_token) == "0707614285"


def test_after_rotating_the_new_key_alone_decrypts_every_token(
    holder: Cardholder, guardian: User, keys: tuple[str, str]
) -> None:
    old, new = keys
    with override_settings(CPR_ENCRYPTION_KEYS=old):
        cpr_keys_reload()
        refund = request_refund(holder, guardian)
    with override_settings(CPR_ENCRYPTION_KEYS=f"{new},{old}"):
        call_command("cpr_keys_rotate", stdout=io.StringIO())

    with override_settings(CPR_ENCRYPTION_KEYS=new):
        cpr_keys_reload()
        refund.refresh_from_db()
        assert cpr_decrypt(refund.payee_cpr_token) == "0707614285"
    with override_settings(CPR_ENCRYPTION_KEYS=old):
        cpr_keys_reload()
        with pytest.raises(InvalidToken):
            cpr_decrypt(refund.payee_cpr_token)


# --- IBAN payees -----------------------------------------------------------------------------------


def test_an_iban_payee_is_stored_compact_with_its_bic(holder: Cardholder, guardian: User) -> None:
    refund = request_refund(holder, guardian, payee_iban=IBAN_VALID, payee_bic="dabadkkk")

    assert refund.payee_kind == PayeeKind.IBAN
    assert refund.payee_iban == "DK5000400440116243"
    assert refund.payee_bic == "DABADKKK"
    assert refund.payee_cpr_token == ""
    assert refund_payee_masked(refund=refund) == "DK50**********6243"


def test_an_iban_with_a_wrong_check_digit_is_refused(holder: Cardholder, guardian: User) -> None:
    with pytest.raises(InvalidIban) as raised:
        request_refund(holder, guardian, payee_iban=IBAN_BAD_CHECKSUM)

    assert set(raised.value.fields or {}) == {"payee_iban"}
    assert not RefundRequest.objects.exists()


def test_an_invalid_bic_is_refused(holder: Cardholder, guardian: User) -> None:
    with pytest.raises(InvalidBic):
        request_refund(holder, guardian, payee_iban=IBAN_VALID, payee_bic="DABA")


@pytest.mark.parametrize("payee", [{}, {"payee_cpr": CPR_VALID, "payee_iban": IBAN_VALID}], ids=["neither", "both"])
def test_exactly_one_of_cpr_number_and_iban_is_required(
    holder: Cardholder, guardian: User, payee: dict[str, str]
) -> None:
    with pytest.raises(InvalidRequest):
        refund_request_create(holder=holder, requested_by=guardian, payee_name="Maja", **payee)


def test_a_payee_name_is_required(holder: Cardholder, guardian: User) -> None:
    with pytest.raises(InvalidRequest) as raised:
        refund_request_create(holder=holder, requested_by=guardian, payee_name="  ", payee_cpr=CPR_VALID)

    assert set(raised.value.fields or {}) == {"payee_name"}


# --- requesting ------------------------------------------------------------------------------------


def test_a_refund_is_refused_while_the_main_balance_is_in_debt(guardian: User, school: Institution) -> None:
    holder = guardian_holder(guardian, school, main=-500, extra=2000)

    with pytest.raises(DebtOutstanding) as raised:
        request_refund(holder, guardian)

    assert raised.value.code == "debt_outstanding"
    assert raised.value.status == 409
    assert not RefundRequest.objects.exists()


def test_a_second_request_is_refused_while_the_first_is_open(holder: Cardholder, guardian: User) -> None:
    request_refund(holder, guardian)

    with pytest.raises(RefundAlreadyRequested):
        request_refund(holder, guardian)
    assert RefundRequest.objects.count() == 1


def test_after_a_rejection_the_holder_can_ask_again(holder: Cardholder, guardian: User, office: User) -> None:
    refund_reject(refund=request_refund(holder, guardian), rejected_by=office, note="Wrong payee")

    assert request_refund(holder, guardian).status == Status.REQUESTED


def test_a_request_pauses_the_holders_automatic_top_ups(holder: Cardholder, guardian: User) -> None:
    rule = auto_topup_for(holder, guardian)

    request_refund(holder, guardian)

    rule.refresh_from_db()
    assert rule.paused_reason != ""
    assert rule.active


def test_a_request_writes_an_audit_entry(holder: Cardholder, guardian: User) -> None:
    refund = request_refund(holder, guardian)

    entry = AuditEntry.objects.get(action="refund.requested")
    assert (entry.actor, entry.institution_id, entry.target_id) == (guardian, holder.institution_id, str(refund.pk))
    assert entry.details["payee"] == "070761-****"


# --- approving -------------------------------------------------------------------------------------


def test_approval_moves_the_whole_balance_to_payout_clearing(holder: Cardholder, guardian: User, office: User) -> None:
    refund = refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    assert refund.status == Status.APPROVED
    assert (refund.balance_cents, refund.cost_cents, refund.amount_cents) == (15000, 0, 15000)
    assert balances(holder) == (0, 0)
    assert system_total(LedgerAccount.Kind.PAYOUT_CLEARING) == 15000
    assert refund.ledger_transaction is not None
    assert refund.ledger_transaction.kind == LedgerTransaction.Kind.REFUND
    assert ledger_mismatches() == []


@override_settings(PAYOUT_COST_CENTS=500)
def test_approval_deducts_the_payout_cost(holder: Cardholder, guardian: User, office: User) -> None:
    refund = refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    assert (refund.balance_cents, refund.cost_cents, refund.amount_cents) == (15000, 500, 14500)
    assert system_total(LedgerAccount.Kind.PAYOUT_CLEARING) == 14500
    assert system_total(LedgerAccount.Kind.PAYOUT_COSTS) == 500
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.REFUND).count() == 1
    assert ledger_mismatches() == []


@override_settings(PAYOUT_COST_CENTS=500)
def test_nothing_is_paid_when_less_than_a_cent_remains_after_the_cost(
    guardian: User, school: Institution, office: User
) -> None:
    holder = guardian_holder(guardian, school, extra=300)

    refund = refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    # The cost takes what there is, at most the whole balance; the account closes at zero.
    assert refund.status == Status.NOTHING_TO_PAY
    assert (refund.balance_cents, refund.cost_cents, refund.amount_cents) == (300, 300, 0)
    assert balances(holder) == (0, 0)
    assert system_total(LedgerAccount.Kind.PAYOUT_CLEARING) == 0
    assert system_total(LedgerAccount.Kind.PAYOUT_COSTS) == 300
    assert ledger_mismatches() == []


@override_settings(PAYOUT_COST_CENTS=500)
def test_one_cent_left_after_the_cost_is_paid(guardian: User, school: Institution, office: User) -> None:
    holder = guardian_holder(guardian, school, main=501)

    refund = refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    assert refund.status == Status.APPROVED
    assert refund.amount_cents == 1


def test_an_empty_balance_is_nothing_to_pay_and_moves_nothing(
    guardian: User, school: Institution, office: User
) -> None:
    holder = guardian_holder(guardian, school)

    refund = refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    assert refund.status == Status.NOTHING_TO_PAY
    assert refund.ledger_transaction is None
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.REFUND).exists()
    assert card_statuses(holder) == [Card.Status.RETURNED]


def test_approval_returns_the_holders_cards_for_good(holder: Cardholder, guardian: User, office: User) -> None:
    blocked = CardFactory(holder=holder, status=Card.Status.BLOCKED)
    replaced = CardFactory(holder=holder, status=Card.Status.REPLACED)

    refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    assert Card.objects.filter(holder=holder, status=Card.Status.RETURNED).count() == 2
    blocked.refresh_from_db()
    replaced.refresh_from_db()
    assert blocked.status == Card.Status.RETURNED
    assert replaced.status == Card.Status.REPLACED


def test_approval_stops_the_automatic_top_ups(holder: Cardholder, guardian: User, office: User) -> None:
    rule = auto_topup_for(holder, guardian)

    refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    rule.refresh_from_db()
    assert not rule.active
    assert LedgerAccount.objects.filter(holder=holder, watch_below_cents__isnull=False).count() == 0


def test_approving_twice_moves_the_money_once(holder: Cardholder, guardian: User, office: User) -> None:
    refund = request_refund(holder, guardian)
    refund_approve(refund=refund, approved_by=office)

    again = refund_approve(refund=refund, approved_by=office)

    assert again.status == Status.APPROVED
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.REFUND).count() == 1
    assert AuditEntry.objects.filter(action="refund.approved").count() == 1
    assert system_total(LedgerAccount.Kind.PAYOUT_CLEARING) == 15000


def test_approval_is_refused_when_the_main_balance_went_into_debt_meanwhile(
    holder: Cardholder, guardian: User, office: User
) -> None:
    refund = request_refund(holder, guardian)
    main = holder_accounts_get(holder_id=holder.pk).main
    opening_balance_post(account=main, amount_cents=-12000, reason="test: meals charged")

    with pytest.raises(DebtOutstanding):
        refund_approve(refund=refund, approved_by=office)

    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED
    assert card_statuses(holder) == [Card.Status.ACTIVE]
    assert balances(holder) == (-2000, 5000)


def test_a_rejected_request_cannot_be_approved(holder: Cardholder, guardian: User, office: User) -> None:
    refund = request_refund(holder, guardian)
    refund_reject(refund=refund, rejected_by=office, note="Asked by mistake")

    with pytest.raises(RefundAlreadyDecided):
        refund_approve(refund=refund, approved_by=office)
    assert balances(holder) == (10000, 5000)


@override_settings(CORRECTION_FOUR_EYES_ABOVE_CENTS=10000)
def test_above_the_four_eyes_amount_the_office_user_who_entered_it_cannot_approve_it(
    holder: Cardholder, office: User, school: Institution
) -> None:
    refund = request_refund(holder, office)

    with pytest.raises(FourEyesRequired):
        refund_approve(refund=refund, approved_by=office)
    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED
    assert balances(holder) == (10000, 5000)

    colleague = staff_user(institution=school, role=Role.OFFICE)
    assert refund_approve(refund=refund, approved_by=colleague).status == Status.APPROVED


@override_settings(CORRECTION_FOUR_EYES_ABOVE_CENTS=20000)
def test_up_to_the_four_eyes_amount_the_office_user_who_entered_it_may_approve_it(
    holder: Cardholder, office: User
) -> None:
    refund = refund_approve(refund=request_refund(holder, office), approved_by=office)

    assert refund.status == Status.APPROVED


def test_approval_writes_an_audit_entry_with_the_amounts(holder: Cardholder, guardian: User, office: User) -> None:
    refund = refund_approve(refund=request_refund(holder, guardian), approved_by=office, note="Leaving school")

    entry = AuditEntry.objects.get(action="refund.approved")
    assert (entry.actor, entry.reason, entry.target_id) == (office, "Leaving school", str(refund.pk))
    assert entry.details["amount_cents"] == 15000
    assert entry.details["cards_returned"] == 1


def test_a_returned_card_buys_nothing(holder: Cardholder, guardian: User, office: User) -> None:
    from canteen.services import card_refusal

    refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    card = Card.objects.get(holder=holder)
    assert card_refusal(card=card) is not None


# --- rejecting -------------------------------------------------------------------------------------


def test_rejection_resumes_the_automatic_top_ups_and_records_the_reason(
    holder: Cardholder, guardian: User, office: User
) -> None:
    rule = auto_topup_for(holder, guardian)
    refund = request_refund(holder, guardian)

    refund = refund_reject(refund=refund, rejected_by=office, note="The payee is not the guardian")

    rule.refresh_from_db()
    assert rule.paused_reason == ""
    assert refund.status == Status.REJECTED
    assert refund.decision_note == "The payee is not the guardian"
    entry = AuditEntry.objects.get(action="refund.rejected")
    assert (entry.actor, entry.reason) == (office, "The payee is not the guardian")
    assert balances(holder) == (10000, 5000)
    assert card_statuses(holder) == [Card.Status.ACTIVE]


def test_a_rejection_needs_a_reason(holder: Cardholder, guardian: User, office: User) -> None:
    refund = request_refund(holder, guardian)

    with pytest.raises(InvalidRequest):
        refund_reject(refund=refund, rejected_by=office, note=" ")
    refund.refresh_from_db()
    assert refund.status == Status.REQUESTED


def test_an_approved_request_cannot_be_rejected(holder: Cardholder, guardian: User, office: User) -> None:
    refund = refund_approve(refund=request_refund(holder, guardian), approved_by=office)

    with pytest.raises(RefundAlreadyDecided):
        refund_reject(refund=refund, rejected_by=office, note="Too late")
