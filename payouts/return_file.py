"""The bank's return file: what became of each payment of the payout files [NK].

The municipality's own format, agreed with its bank (or converted from the bank's answers): a
UTF-8 CSV file (a byte-order mark is allowed), comma-separated, quoted as CSV quotes, with this
header line and then one line per answer:

    reference,status,code,text
    NK12-1,received,,
    NK12-1,completed,,
    NK12-2,rejected,7,Ingen NemKonto for CPR-nummeret
    SE13-1,rejected,9,Account closed

- `reference`: the payout's end-to-end reference as written in the payment file (NemKonto
  `Payment/Reference`, SEPA `EndToEndId`).
- `status`: `received` (the bank has the payment), `completed` (on the payee's account) or
  `rejected`. A payment may be answered more than once (received, then completed), in one file or
  in several; completed and rejected are final.
- `code`: required when rejected, the reason: `7` no NemKonto for the CPR number, `9` an error at
  the bank; another code is kept as the bank gave it. Empty otherwise.
- `text`: the bank's own words, optional, at most 200 characters.

A file is read in at most once (by its SHA-256 digest); the same answer again in another file
changes nothing (`payouts.batches.return_file_import`). A file with a bad line is refused as a whole,
naming the lines, so that nothing is half read.
"""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cardsystem.errors import DomainError

HEADER = ("reference", "status", "code", "text")
STATUSES = ("received", "completed", "rejected")
CODE_NO_NEMKONTO = "7"
CODE_BANK_ERROR = "9"
TEXT_MAX = 200
CODE_MAX = 10
REFERENCE_MAX = 35
# Errors named in the message before "and n more".
ERRORS_SHOWN = 10


class ReturnFileInvalid(DomainError):
    code = "return_file_invalid"
    status = 400
    default_message = gettext_lazy("This is not a return file.")


@dataclass(frozen=True)
class ReturnLine:
    line: int  # in the file, the header being line 1
    reference: str
    status: str
    code: str
    text: str


def return_code_text(code: str) -> str:
    """The meaning of a rejection code, for people."""
    if code == CODE_NO_NEMKONTO:
        return _("The payee has no NemKonto")
    if code == CODE_BANK_ERROR:
        return _("Error at the bank")
    return ""


def return_file_parse(content: bytes) -> list[ReturnLine]:
    """Every line of a return file, or ReturnFileInvalid naming what is wrong."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReturnFileInvalid(_("The return file is not UTF-8 text.")) from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or tuple(cell.strip().lower() for cell in header) != HEADER:
        raise ReturnFileInvalid(_("The first line of a return file must be: %(header)s") % {"header": ",".join(HEADER)})
    lines: list[ReturnLine] = []
    errors: list[str] = []
    try:
        for number, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank lines, e.g. at the end
            problem = _row_problem(row)
            if problem:
                errors.append(_("line %(line)s: %(problem)s") % {"line": number, "problem": problem})
                continue
            reference, status, code, note = (cell.strip() for cell in row)
            lines.append(ReturnLine(line=number, reference=reference, status=status.lower(), code=code, text=note))
    except csv.Error as error:
        errors.append(str(error))
    if errors:
        shown = "; ".join(errors[:ERRORS_SHOWN])
        if len(errors) > ERRORS_SHOWN:
            shown += " " + _("and %(count)s more") % {"count": len(errors) - ERRORS_SHOWN}
        raise ReturnFileInvalid(_("The return file was not read: %(errors)s.") % {"errors": shown})
    return lines


def _row_problem(row: list[str]) -> str | None:
    if len(row) != len(HEADER):
        return _("%(count)s fields instead of 4") % {"count": len(row)}
    reference, status, code, note = (cell.strip() for cell in row)
    if not reference or len(reference) > REFERENCE_MAX:
        return _("no reference, or one of more than %(max)s characters") % {"max": REFERENCE_MAX}
    if status.lower() not in STATUSES:
        return _("unknown status %(status)r") % {"status": status}
    if status.lower() == "rejected" and not code:
        return _("a rejection without a code")
    if len(code) > CODE_MAX:
        return _("a code of more than %(max)s characters") % {"max": CODE_MAX}
    if len(note) > TEXT_MAX:
        return _("a text of more than %(max)s characters") % {"max": TEXT_MAX}
    return None


def return_file_write(lines: Iterable[tuple[str, str, str, str]]) -> bytes:
    """A return file from (reference, status, code, text) rows: what the bank's answer looks like
    (demo data, tests, the benchmark)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(lines)
    return buffer.getvalue().encode("utf-8")
