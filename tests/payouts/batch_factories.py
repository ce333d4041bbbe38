"""Approved refunds for the payout batch tests, made directly (as `payouts.refunds.refund_approve`
leaves them): status approved, the amount set, and the money moved from the holder's main balance
to payout clearing by one ledger movement."""

from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Institution, Role, User
from cards.models import Cardholder
from payments.ledger import Leg, holder_accounts_get, movement_post, system_account
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payouts.crypto import cpr_encrypt
from payouts.models import PayeeKind, RefundRequest
from tests.factories import InstitutionFactory, UserFactory, holder_with_balances, staff_user

# A CPR number passing the modulus-11 check (070761-4285) and two more with real dates.
CPR = "0707614285"
CPR_OTHER = "0101901234"
CPR_THIRD = "1512853321"
IBAN = "DE89370400440532013000"
BIC = "COBADEFFXXX"


def finance_user(institution: Institution | None = None, **kwargs: Any) -> User:
    return staff_user(institution=institution or InstitutionFactory(), role=Role.FINANCE, **kwargs)


def approved_refund(
    *,
    amount_cents: int = 2500,
    cpr: str | None = CPR,
    iban: str = "",
    bic: str = "",
    payee_name: str = "Jens Hansen",
    holder: Cardholder | None = None,
    requested_by: User | None = None,
) -> RefundRequest:
    """An approved refund to a CPR payee (the default) or, with `iban`, to an IBAN payee."""
    holder = holder or holder_with_balances(main=amount_cents)
    kind = PayeeKind.IBAN if iban else PayeeKind.CPR
    refund = RefundRequest.objects.create(
        holder=holder,
        institution=holder.institution,
        requested_by=requested_by or UserFactory(),
        status=RefundRequest.Status.APPROVED,
        payee_name=payee_name,
        payee_kind=kind,
        payee_cpr_token=cpr_encrypt(cpr) if kind == PayeeKind.CPR and cpr else "",
        payee_iban=iban,
        payee_bic=bic,
        balance_cents=amount_cents,
        cost_cents=0,
        amount_cents=amount_cents,
        decided_at=timezone.now(),
    )
    main = holder_accounts_get(holder_id=holder.pk).main
    with transaction.atomic():
        txn = movement_post(
            kind=LedgerTransaction.Kind.REFUND,
            legs=[Leg(main, -amount_cents), Leg(system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING), amount_cents)],
            reason=f"Refund #{refund.pk} approved",
        )
    refund.ledger_transaction = txn
    refund.save(update_fields=["ledger_transaction"])
    return refund


def system_total(kind: str) -> int:
    """The balance of a system account: the sum of its entries."""
    total = LedgerEntry.objects.filter(account__kind=kind, account__holder__isnull=True).aggregate(
        total=Sum("amount_cents")
    )["total"]
    return int(total or 0)
