"""The NemKonto payment file [NK]: payees identified by CPR number instead of an account number.

An XML file in three levels, shaped like the NemKonto payment message (the municipality's own
schema, `payouts/schemas/nemkonto_payment.xsd`, namespace `urn:cardsystem:payouts:nemkonto:payment:1`):

    <NemKontoPaymentMessage version="1">
      <Batch>                                       level 1: the batch
        <Header>
          <MessageId>NK-12-1</MessageId>            batch 12, part 1
          <Created>2026-12-02T05:31:07+01:00</Created>
          <AgreementNumber>12345678</AgreementNumber>    the bank agreement number (setting)
          <DebitAccount>12340001234567</DebitAccount>    the account paid from (setting)
          <Currency>DKK</Currency>
          <Part>1</Part><Parts>2</Parts>
          <NumberOfPayments>10000</NumberOfPayments>
          <ControlSum>123456.75</ControlSum>
        </Header>
        <Debtor>                                    level 2: the paying authority
          <Name>Demo Kommune</Name>
          <PaymentDate>2026-12-03</PaymentDate>
          <Payment>                                 level 3: one per payee, at most 10,000 per file
            <Reference>NK12-1</Reference>
            <Payee><CPR>0101901234</CPR><Name>Jens Hansen</Name></Payee>
            <Amount>25.50</Amount>
            <PaymentDate>2026-12-03</PaymentDate>
            <Text>Pengene vil blive udbetalt til din NemKonto</Text>
          </Payment>
        </Debtor>
      </Batch>
    </NemKontoPaymentMessage>

The file is written as a stream (lxml's incremental writer) and validated as a stream (iterparse
against the schema, each payment dropped once read), so a batch of 10,000 payees costs the file's
bytes and not a tree of it. This module only writes bytes: the payments come in with their CPR
numbers already decrypted by the caller (`payouts.batch_files`).
"""

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from cardsystem.money import cents_to_str

NAMESPACE = "urn:cardsystem:payouts:nemkonto:payment:1"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "nemkonto_payment.xsd"
# What NemKonto takes in one file; a larger batch is split into parts [NK].
MAX_PAYMENTS_PER_FILE = 10_000
# The text the payee sees, instead of a question for their account number [NK].
PAYMENT_TEXT = "Pengene vil blive udbetalt til din NemKonto"
# The schema's limit on names.
NAME_MAX = 70


@dataclass(frozen=True)
class NemKontoPayment:
    reference: str
    cpr: str  # ten digits, in clear: only here and in the file
    name: str
    amount_cents: int


@dataclass(frozen=True)
class NemKontoHeader:
    message_id: str
    created: dt.datetime
    agreement_number: str
    debit_account: str
    currency: str
    debtor_name: str
    payment_date: dt.date
    part: int
    parts: int
    count: int
    total_cents: int


class NemKontoFileInvalid(ValueError):
    """A file that breaks the schema: a bug or a bad setting, never sent."""


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def nemkonto_file_write(*, header: NemKontoHeader, payments: Iterable[NemKontoPayment]) -> bytes:
    """One file of the batch: the header's count and sum must be those of `payments` (checked)."""
    buffer = io.BytesIO()
    count = total = 0
    payment_date = header.payment_date.isoformat()
    with etree.xmlfile(buffer, encoding="UTF-8") as xf:
        xf.write_declaration()
        with (
            xf.element(_q("NemKontoPaymentMessage"), {"version": "1"}, nsmap={None: NAMESPACE}),
            xf.element(_q("Batch")),
        ):
            with xf.element(_q("Header")):
                _leaves(
                    xf,
                    ("MessageId", header.message_id),
                    ("Created", header.created.isoformat(timespec="seconds")),
                    ("AgreementNumber", header.agreement_number),
                    ("DebitAccount", header.debit_account),
                    ("Currency", header.currency),
                    ("Part", str(header.part)),
                    ("Parts", str(header.parts)),
                    ("NumberOfPayments", str(header.count)),
                    ("ControlSum", cents_to_str(header.total_cents)),
                )
            with xf.element(_q("Debtor")):
                _leaves(xf, ("Name", header.debtor_name[:NAME_MAX]), ("PaymentDate", payment_date))
                for payment in payments:
                    with xf.element(_q("Payment")):
                        _leaves(xf, ("Reference", payment.reference))
                        with xf.element(_q("Payee")):
                            _leaves(xf, ("CPR", payment.cpr), ("Name", payment.name[:NAME_MAX]))
                        _leaves(
                            xf,
                            ("Amount", cents_to_str(payment.amount_cents)),
                            ("PaymentDate", payment_date),
                            ("Text", PAYMENT_TEXT),
                        )
                    count += 1
                    total += payment.amount_cents
    if (count, total) != (header.count, header.total_cents):
        raise NemKontoFileInvalid(
            f"The header says {header.count} payments of {header.total_cents}, the file has {count} of {total}"
        )
    return buffer.getvalue()


def _leaves(xf: Any, *items: tuple[str, str]) -> None:
    for name, text in items:
        with xf.element(_q(name)):
            xf.write(text)


@cache
def nemkonto_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def nemkonto_file_validate(content: bytes) -> None:
    """Check a file against the schema while reading it, dropping each payment once read."""
    try:
        for _event, element in etree.iterparse(
            io.BytesIO(content), events=("end",), tag=_q("Payment"), schema=nemkonto_schema()
        ):
            element.clear(keep_tail=True)
            # Payments already read go too, not only their content.
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as error:  # schema errors are raised as syntax errors by iterparse
        raise NemKontoFileInvalid(str(error)) from error
