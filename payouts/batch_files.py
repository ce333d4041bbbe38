"""The files of a payout batch for the bank: NemKonto XML for CPR payees, SEPA pain.001 for IBAN payees.

The files are not stored: they are written again from the batch whenever asked, the same bytes each
time (every value comes from the batch, its payouts and the settings; the creation time is the
batch's export time). A kept NemKonto file would hold CPR numbers in clear on disk, where the
database holds them encrypted only (`payouts.crypto`); this module is the one place they are
decrypted, for the file. The SHA-256 of each file is recorded in the export's audit entry, so a
file written later is checked against the one exported (`batch_files_check`): it differs only if
a setting (agreement number, debit account, debtor) or a payee's details changed since.

A batch's payouts go into files of at most `MAX_PAYMENTS_PER_FILE` payments each, in the order of
the payouts; each file's header carries its part number, count and sum.
"""

import datetime as dt
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import AuditEntry
from payouts.crypto import cpr_decrypt
from payouts.models import Payout, PayoutBatch
from payouts.nemkonto import (
    MAX_PAYMENTS_PER_FILE,
    NemKontoHeader,
    NemKontoPayment,
    nemkonto_file_validate,
    nemkonto_file_write,
)
from payouts.sepa import SepaHeader, SepaPayment, sepa_file_validate, sepa_file_write

# Payouts that went into the batch's files: all but those stopped before the export.
FILED_STATUSES = (
    Payout.Status.EXPORTED,
    Payout.Status.RECEIVED,
    Payout.Status.COMPLETED,
    Payout.Status.REJECTED,
)
EXPORT_ACTION = "payout_batch.export"
# Rows read from the database at a time while writing a file.
_CHUNK = 2000
# Characters XML cannot carry (control characters other than tab and line breaks).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class BatchFile:
    name: str
    content: bytes
    payments: int
    total_cents: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def as_record(self) -> dict[str, object]:
        """What the export's audit entry keeps of the file."""
        return {"name": self.name, "sha256": self.sha256, "payments": self.payments, "total_cents": self.total_cents}


class BatchFileMismatch(Exception):
    """A file written now is not the file exported."""


def _filed(batch: PayoutBatch) -> QuerySet[Payout]:
    return Payout.objects.filter(batch_id=batch.pk, status__in=FILED_STATUSES).order_by("pk")


def _created(batch: PayoutBatch) -> dt.datetime:
    exported = batch.exported_at or timezone.now()
    return timezone.localtime(exported).replace(microsecond=0)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text).strip() or "-"


def batch_files_render(*, batch: PayoutBatch) -> list[BatchFile]:
    """The batch's files, written from its exported payouts (none before the export)."""
    amounts = list(_filed(batch).values_list("pk", "amount_cents"))
    parts = [amounts[start : start + MAX_PAYMENTS_PER_FILE] for start in range(0, len(amounts), MAX_PAYMENTS_PER_FILE)]
    files = []
    for number, part in enumerate(parts, start=1):
        count, total = len(part), sum(amount for _pk, amount in part)
        rows = _filed(batch).filter(pk__gte=part[0][0], pk__lte=part[-1][0])
        message_id = f"{'NK' if batch.kind == PayoutBatch.Kind.NEMKONTO else 'SE'}-{batch.pk}-{number}"
        suffix = f"part{number}of{len(parts)}"
        if batch.kind == PayoutBatch.Kind.NEMKONTO:
            content = nemkonto_file_write(
                header=NemKontoHeader(
                    message_id=message_id,
                    created=_created(batch),
                    agreement_number=settings.NEMKONTO_AGREEMENT_NUMBER,
                    debit_account=settings.NEMKONTO_DEBIT_ACCOUNT,
                    currency=settings.CURRENCY,
                    debtor_name=_clean(settings.SEPA_DEBTOR_NAME),
                    payment_date=batch.payment_date,
                    part=number,
                    parts=len(parts),
                    count=count,
                    total_cents=total,
                ),
                payments=_nemkonto_payments(rows),
            )
            name = f"nemkonto-batch{batch.pk}-{batch.payment_date:%Y%m%d}-{suffix}.xml"
        else:
            # pain.001 has no part numbers: each part is a message of its own, with its own id.
            content = sepa_file_write(
                header=SepaHeader(
                    message_id=message_id,
                    created=_created(batch),
                    debtor_name=_clean(settings.SEPA_DEBTOR_NAME),
                    debtor_iban=settings.SEPA_DEBTOR_IBAN,
                    debtor_bic=settings.SEPA_DEBTOR_BIC,
                    currency=settings.CURRENCY,
                    payment_date=batch.payment_date,
                ),
                payments=_sepa_payments(rows),
            )
            name = f"sepa-batch{batch.pk}-{batch.payment_date:%Y%m%d}-{suffix}.xml"
        files.append(BatchFile(name=name, content=content, payments=count, total_cents=total))
    return files


def _nemkonto_payments(rows: QuerySet[Payout]) -> Iterator[NemKontoPayment]:
    values = rows.values_list("reference", "amount_cents", "refund__payee_name", "refund__payee_cpr_token")
    for reference, amount, name, token in values.iterator(chunk_size=_CHUNK):
        yield NemKontoPayment(reference=reference, cpr=cpr_decrypt(token), name=_clean(name), amount_cents=amount)


def _sepa_payments(rows: QuerySet[Payout]) -> Iterator[SepaPayment]:
    values = rows.values_list(
        "reference", "amount_cents", "refund__payee_name", "refund__payee_iban", "refund__payee_bic"
    )
    # The payee's statement shows this; in the deployment's language, whoever exports.
    with translation.override(settings.LANGUAGE_CODE):
        for reference, amount, name, iban, bic in values.iterator(chunk_size=_CHUNK):
            yield SepaPayment(
                reference=reference,
                name=_clean(name),
                iban=iban.replace(" ", "").upper(),
                bic=bic.strip().upper(),
                amount_cents=amount,
                text=_("Refund of card balance, %(reference)s") % {"reference": reference},
            )


def batch_file_validate(*, batch: PayoutBatch, file: BatchFile) -> None:
    """Against the NemKonto schema or pain.001.001.03; raises NemKontoFileInvalid or SepaFileInvalid."""
    if batch.kind == PayoutBatch.Kind.NEMKONTO:
        nemkonto_file_validate(file.content)
    else:
        sepa_file_validate(file.content)


def batch_files_exported(*, batch: PayoutBatch) -> list[dict[str, object]]:
    """The files as the export recorded them (name, sha256, payments, total_cents)."""
    entry = (
        AuditEntry.objects.filter(action=EXPORT_ACTION, target_type="payouts.payoutbatch", target_id=str(batch.pk))
        .order_by("-pk")
        .first()
    )
    return list(entry.details.get("files", [])) if entry is not None else []


def batch_files_check(*, batch: PayoutBatch, files: list[BatchFile]) -> None:
    """Raise BatchFileMismatch if `files` are not the bytes the export recorded."""
    recorded = [(item["name"], item["sha256"]) for item in batch_files_exported(batch=batch)]
    now = [(file.name, file.sha256) for file in files]
    if recorded != now:
        raise BatchFileMismatch(f"Batch {batch.pk}: files exported {recorded}, written now {now}")


def batch_files_zip(*, batches: list[tuple[PayoutBatch, list[BatchFile]]]) -> bytes:
    """One zip of the batches' files (each file dated with its batch's export)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for batch, files in batches:
            stamp = _created(batch).timetuple()[:6]
            for file in files:
                info = zipfile.ZipInfo(file.name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, file.content)
    return buffer.getvalue()
