"""Finding a payment when a citizen asks [NK], and showing payees masked."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from cardsystem.errors import InvalidRequest
from payouts.batches.common import TRACE_CPR_CANDIDATES_MAX, TRACE_LIMIT, finance_check
from payouts.crypto import cpr_check, cpr_decrypt, cpr_masked
from payouts.models import PayeeKind, Payout, PayoutBatch


@dataclass(frozen=True)
class PayoutTraceRow:
    """One payment as staff tell a citizen about it (the CPR number masked)."""

    payout_id: int
    reference: str
    status: str
    status_display: str
    amount_cents: int
    payment_date: dt.date
    batch_id: int
    batch_kind: str
    batch_status: str
    sent_at: dt.datetime | None
    holder_name: str
    payee_name: str
    payee: str  # DDMMYY-**** or a masked IBAN
    return_code: str
    return_text: str
    updated_at: dt.datetime


def iban_masked(iban: str) -> str:
    compact = iban.replace(" ", "")
    return f"{compact[:4]}…{compact[-4:]}" if len(compact) > 8 else "****"


def payee_masked(*, payee_kind: str, cpr_token: str, iban: str) -> str:
    """The payee as shown to staff: DDMMYY-**** (decrypted for the date part only) or a masked IBAN."""
    if payee_kind == PayeeKind.CPR:
        return cpr_masked(cpr_decrypt(cpr_token)) if cpr_token else "******-****"
    return iban_masked(iban)


def payout_cpr_matches(*, payouts: QuerySet[Payout], cpr: str) -> list[int]:
    """The ids of `payouts` paid to this CPR number.

    The numbers are encrypted with a random nonce (Fernet), so equal numbers make different tokens
    and no query can compare them: the candidates are decrypted and compared here. Raises
    InvalidRequest when there are more than TRACE_CPR_CANDIDATES_MAX candidates (narrow by date or
    name first), InvalidCpr when `cpr` is not a CPR number.
    """
    number = cpr_check(cpr).number
    candidates = payouts.filter(refund__payee_kind=PayeeKind.CPR)
    if candidates.count() > TRACE_CPR_CANDIDATES_MAX:
        raise InvalidRequest(
            fields={"payee_cpr": [_("Too many payments to search by CPR number: give a date or a name too.")]}
        )
    return [
        pk
        for pk, token in candidates.values_list("pk", "refund__payee_cpr_token").iterator(chunk_size=2000)
        if token and cpr_decrypt(token) == number
    ]


def payout_cpr_search(*, payouts: QuerySet[Payout], cpr: str, searched_by: User) -> list[int]:
    """`payout_cpr_matches` for a person searching (the admin's search box), written to the audit
    trail with the number masked."""
    finance_check(searched_by)
    found = payout_cpr_matches(payouts=payouts, cpr=cpr)
    audit_record(actor=searched_by, action="payout.trace", details={"payee_cpr": cpr_masked(cpr), "found": len(found)})
    return found


def payout_trace(
    *,
    searched_by: User | None,
    holder_name: str | None = None,
    payee_name: str | None = None,
    payee_cpr: str | None = None,
    reference: str | None = None,
    date: dt.date | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = TRACE_LIMIT,
) -> list[PayoutTraceRow]:
    """Find payments when a citizen asks where theirs is [NK]: by cardholder or payee name (parts
    of names, any case), the payee's CPR number, the reference, or the payment date (one day or a
    period). A CPR number needs another criterion too (a date, a period or a name): see
    `payout_cpr_matches`. Newest first, at most `limit`. The search is written to the audit trail
    (the CPR number masked).
    """
    if searched_by is not None:
        finance_check(searched_by)
    criteria = Q()
    if holder_name:
        criteria &= Q(refund__holder__name__icontains=holder_name.strip())
    if payee_name:
        criteria &= Q(refund__payee_name__icontains=payee_name.strip())
    if reference:
        criteria &= Q(reference__iexact=reference.strip())
    if date:
        criteria &= Q(batch__payment_date=date)
    if date_from:
        criteria &= Q(batch__payment_date__gte=date_from)
    if date_to:
        criteria &= Q(batch__payment_date__lte=date_to)
    if not criteria and not payee_cpr:
        raise InvalidRequest(_("Give a name, a CPR number, a reference or a date to search by."))
    if payee_cpr and not criteria:
        raise InvalidRequest(
            fields={"payee_cpr": [_("Give a date, a period or a name with the CPR number.")]},
        )
    payouts = Payout.objects.filter(criteria)
    masked_cpr = ""
    if payee_cpr:
        masked_cpr = cpr_masked(payee_cpr)
        payouts = Payout.objects.filter(pk__in=payout_cpr_matches(payouts=payouts, cpr=payee_cpr))
    rows = list(
        payouts.select_related("batch", "refund__holder").order_by("-batch__payment_date", "-pk")[: max(1, limit)]
    )
    found = [
        PayoutTraceRow(
            payout_id=payout.pk,
            reference=payout.reference,
            status=payout.status,
            status_display=payout.get_status_display(),
            amount_cents=payout.amount_cents,
            payment_date=payout.batch.payment_date,
            batch_id=payout.batch_id,
            batch_kind=payout.batch.kind,
            batch_status=payout.batch.status,
            sent_at=payout.batch.sent_at,
            holder_name=payout.refund.holder.name,
            payee_name=payout.refund.payee_name,
            payee=payee_masked(
                payee_kind=payout.refund.payee_kind,
                cpr_token=payout.refund.payee_cpr_token,
                iban=payout.refund.payee_iban,
            ),
            return_code=payout.return_code,
            return_text=payout.return_text,
            updated_at=payout.updated_at,
        )
        for payout in rows
    ]
    audit_record(
        actor=searched_by,
        action="payout.trace",
        details={
            "holder_name": holder_name or "",
            "payee_name": payee_name or "",
            "payee_cpr": masked_cpr,
            "reference": reference or "",
            "date": date.isoformat() if date else "",
            "date_from": date_from.isoformat() if date_from else "",
            "date_to": date_to.isoformat() if date_to else "",
            "found": len(found),
        },
    )
    return found


def payout_status_counts(*, batch: PayoutBatch) -> dict[str, tuple[int, int]]:
    """{payout status: (count, total cents)} of a batch."""
    rows = (
        Payout.objects.filter(batch=batch)
        .order_by()
        .values("status")
        .annotate(count=Count("pk"), total=Sum("amount_cents"))
        .values_list("status", "count", "total")
    )
    return {status: (count, total) for status, count, total in rows}
