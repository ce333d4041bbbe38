"""The SEPA credit transfer file for IBAN payees: ISO 20022 pain.001.001.03, written with sepaxml.

sepaxml builds the document; three of its values are random or the time of writing (the message
id, the payment information id, the creation time), so they are set here from the batch: the file
of a batch is the same bytes each time it is written (`payouts.batch_files`). The file is checked
against the pain.001.001.03 schema that sepaxml ships (`sepaxml/schemas/pain.001.001.03.xsd`),
with lxml (sepaxml's own check uses the much slower xmlschema package, and is turned off).

Outside the euro (DKK by default) the SEPA service level is left out: the bank books a domestic
credit transfer in the account's currency.
"""

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lxml import etree
from sepaxml import SepaTransfer

SCHEMA = "pain.001.001.03"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"


@dataclass(frozen=True)
class SepaPayment:
    reference: str  # the end-to-end id (at most 35 characters)
    name: str
    iban: str
    bic: str  # may be empty: an IBAN-only transfer
    amount_cents: int
    text: str


@dataclass(frozen=True)
class SepaHeader:
    message_id: str
    created: dt.datetime
    debtor_name: str
    debtor_iban: str
    debtor_bic: str
    currency: str
    payment_date: dt.date


class SepaFileInvalid(ValueError):
    """A file that breaks pain.001.001.03: a bug or a bad setting, never sent."""


def sepa_file_write(*, header: SepaHeader, payments: Iterable[SepaPayment]) -> bytes:
    config = {
        "name": header.debtor_name,
        "IBAN": header.debtor_iban,
        "batch": True,
        "currency": header.currency,
        "domestic": header.currency != "EUR",
    }
    if header.debtor_bic:
        config["BIC"] = header.debtor_bic
    document = SepaTransfer(config, schema=SCHEMA, clean=True)
    for payment in payments:
        item: dict[str, object] = {
            "name": payment.name,
            "IBAN": payment.iban,
            "amount": payment.amount_cents,
            "execution_date": header.payment_date,
            "description": payment.text,
            "endtoend_id": payment.reference,
        }
        if payment.bic:
            item["BIC"] = payment.bic
        document.add_payment(item)
    raw = document.export(validate=False)
    return _deterministic(raw, header)


def _deterministic(raw: bytes, header: SepaHeader) -> bytes:
    """Replace sepaxml's random ids and its clock with the batch's own."""
    tree = etree.parse(io.BytesIO(raw), etree.XMLParser(remove_blank_text=True, huge_tree=True))
    ns = {"p": NAMESPACE}
    root = tree.getroot()
    root.find("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", ns).text = header.message_id
    root.find("p:CstmrCdtTrfInitn/p:GrpHdr/p:CreDtTm", ns).text = header.created.isoformat(timespec="seconds")
    for number, node in enumerate(root.iterfind("p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId", ns), start=1):
        node.text = f"{header.message_id}-{number}"
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))


@cache
def sepa_schema() -> etree.XMLSchema:
    path = resources.files("sepaxml") / "schemas" / f"{SCHEMA}.xsd"
    with resources.as_file(path) as file:
        return etree.XMLSchema(etree.parse(str(file)))


def sepa_file_validate(content: bytes) -> None:
    try:
        for _event, element in etree.iterparse(
            io.BytesIO(content),
            events=("end",),
            tag=f"{{{NAMESPACE}}}CdtTrfTxInf",
            schema=sepa_schema(),
            huge_tree=True,
        ):
            element.clear(keep_tail=True)
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        raise SepaFileInvalid(str(error)) from error
