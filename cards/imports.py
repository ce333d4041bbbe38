"""Registering pupils from a CSV file, with a report row by row (django-import-export).

The columns are `name`, `group`, `price_category` (a price category's code), `allergy_note` and
`guardian_email` (optional: a guardian already signed up with that address is linked at once).
Every pupil goes to the institution the office user chose, which must be one of theirs.

The whole file or nothing: the office first sees a dry run, every row with what will happen or
why it cannot (its line in the file and the reason), and confirms only a file without a bad row.
The confirmed import runs the same checks again in one transaction; a single bad row (a pupil
registered meanwhile, a category deleted) writes nothing at all. A file imported twice is refused
the second time: a pupil already registered in the same class is a bad row.
"""

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext
from import_export import resources
from import_export.fields import Field

from accounts.audit import audit_record
from accounts.models import Institution, User
from cards.models import Cardholder, PriceCategory
from cards.services import holder_enrol, holder_guardian_add
from cardsystem.errors import InvalidRequest

COLUMNS = ("name", "group", "price_category", "allergy_note", "guardian_email")
REQUIRED_COLUMNS = ("name", "group", "price_category")
# Headers as people write them in a spreadsheet, mapped to the columns above.
HEADER_ALIASES = {
    "price_category_code": "price_category",
    "category": "price_category",
    "class": "group",
    "allergy": "allergy_note",
    "allergies": "allergy_note",
    "guardian_e_mail": "guardian_email",
    "email": "guardian_email",
    "e_mail": "guardian_email",
}
LINE = "_line"
EXTRA_CELLS = "_extra_cells"
MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
NAME_MAX = Cardholder._meta.get_field("name").max_length or 200
GROUP_MAX = Cardholder._meta.get_field("group").max_length or 40
NOTE_MAX = Cardholder._meta.get_field("allergy_note").max_length or 300


@dataclass
class RowReport:
    """One line of the file: what was (or would be) done, or why not."""

    line: int
    name: str
    group: str
    price_category: str
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportReport:
    rows: list[RowReport]
    imported: bool

    @property
    def bad_rows(self) -> list[RowReport]:
        return [row for row in self.rows if not row.ok]

    @property
    def valid(self) -> bool:
        return bool(self.rows) and not self.bad_rows


def _header(raw: str) -> str:
    name = raw.strip().lstrip("\ufeff").casefold().replace(" ", "_").replace("-", "_")
    return HEADER_ALIASES.get(name, name)


def holders_dataset(*, data: bytes) -> tablib.Dataset:
    """The file as a dataset of the known columns, each row with its line in the file.

    Raises InvalidRequest (field "file") for what makes the whole file unreadable: not UTF-8, no
    header, an unknown or missing column, too many rows. Semicolons (spreadsheets in Danish) and
    tabs are accepted as separators too.
    """
    if len(data) > MAX_BYTES:
        raise InvalidRequest(fields={"file": [gettext("The file is too large.")]})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest(fields={"file": [gettext("Save the file as CSV in UTF-8.")]}) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        headers = [_header(cell) for cell in next(reader)]
    except StopIteration:
        raise InvalidRequest(fields={"file": [gettext("The file is empty.")]}) from None
    unknown = [h for h in headers if h and h not in COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in headers]
    problems = []
    if unknown:
        problems.append(gettext("Unknown columns: %(columns)s.") % {"columns": ", ".join(unknown)})
    if missing:
        problems.append(gettext("Missing columns: %(columns)s.") % {"columns": ", ".join(missing)})
    if len(set(headers) - {""}) != len([h for h in headers if h]):
        problems.append(gettext("A column appears twice."))
    if problems:
        raise InvalidRequest(fields={"file": problems})
    dataset = tablib.Dataset(headers=[*COLUMNS, LINE, EXTRA_CELLS])
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            values = dict.fromkeys(COLUMNS, "")
            for header, cell in zip(headers, cells, strict=False):
                if header:
                    values[header] = cell
            extra = sum(1 for cell in cells[len(headers) :] if cell.strip())
            dataset.append([*(values[c] for c in COLUMNS), reader.line_num, extra])
            if len(dataset) > MAX_ROWS:
                raise InvalidRequest(
                    fields={"file": [gettext("At most %(count)s pupils a file.") % {"count": MAX_ROWS}]}
                )
    except csv.Error as error:
        raise InvalidRequest(
            fields={
                "file": [gettext("Line %(line)s cannot be read: %(error)s") % {"line": reader.line_num, "error": error}]
            }
        ) from None
    if not len(dataset):
        raise InvalidRequest(fields={"file": [gettext("The file has no pupils in it.")]})
    return dataset


class HolderResource(resources.ModelResource):
    """A row is a new pupil of `institution`; every check is the importer's own (with the line's
    reasons in the office's language), and a pupil is registered through `holder_enrol`."""

    name = Field(column_name="name")
    group = Field(column_name="group")
    price_category = Field(column_name="price_category")
    allergy_note = Field(column_name="allergy_note")
    guardian_email = Field(column_name="guardian_email")

    class Meta:
        model = Cardholder
        fields = COLUMNS
        import_id_fields: tuple[str, ...] = ()
        force_init_instance = True
        skip_diff = True
        clean_model_instances = False
        use_transactions = True

    def __init__(self, *, institution: Institution, imported_by: User) -> None:
        super().__init__()
        self.institution = institution
        self.imported_by = imported_by
        self.categories = {c.code.casefold(): c for c in PriceCategory.objects.all()}
        self.registered = {
            (name.casefold(), group.casefold())
            for name, group in Cardholder.objects.filter(institution=institution, left_at__isnull=True).values_list(
                "name", "group"
            )
        }
        self.seen: dict[tuple[str, str], int] = {}
        self.rows: dict[int, RowReport] = {}

    def _report(self, row: dict[str, Any]) -> RowReport:
        line = int(row[LINE])
        if line not in self.rows:
            self.rows[line] = RowReport(
                line=line,
                name=str(row.get("name") or "").strip(),
                group=str(row.get("group") or "").strip(),
                price_category=str(row.get("price_category") or "").strip(),
            )
        return self.rows[line]

    def import_instance(self, instance: Cardholder, row: dict[str, Any], **kwargs: Any) -> None:
        report = self._report(row)
        errors: dict[str, list[str]] = {}

        def bad(column: str, message: str) -> None:
            errors.setdefault(column, []).append(message)

        name, group, code = report.name, report.group, report.price_category
        note = str(row.get("allergy_note") or "").strip()
        email = str(row.get("guardian_email") or "").strip()
        if not name:
            bad("name", gettext("The name is missing."))
        elif len(name) > NAME_MAX:
            bad("name", gettext("The name is longer than %(max)s characters.") % {"max": NAME_MAX})
        if not group:
            bad("group", gettext("The class is missing."))
        elif len(group) > GROUP_MAX:
            bad("group", gettext("The class is longer than %(max)s characters.") % {"max": GROUP_MAX})
        category = self.categories.get(code.casefold()) if code else None
        if not code:
            bad("price_category", gettext("The price category is missing."))
        elif category is None:
            bad("price_category", gettext("No price category has the code “%(code)s”.") % {"code": code})
        if len(note) > NOTE_MAX:
            bad("allergy_note", gettext("The allergy note is longer than %(max)s characters.") % {"max": NOTE_MAX})
        if email:
            try:
                validate_email(email)
            except ValidationError:
                bad("guardian_email", gettext("“%(email)s” is not an e-mail address.") % {"email": email})
        if int(row.get(EXTRA_CELLS) or 0):
            bad(NON_FIELD_ERRORS, gettext("The line has more cells than the header has columns."))
        if name and group:
            key = (name.casefold(), group.casefold())
            if key in self.registered:
                bad(NON_FIELD_ERRORS, gettext("A pupil of this name is registered in this class already."))
            elif key in self.seen:
                bad(NON_FIELD_ERRORS, gettext("The same pupil is on line %(line)s too.") % {"line": self.seen[key]})
            else:
                self.seen[key] = report.line
        if errors:
            report.errors = [message for messages in errors.values() for message in messages]
            raise ValidationError(errors)
        instance.name, instance.group, instance.allergy_note = name, group, note
        instance.price_category = category
        instance.institution = self.institution

    def save_instance(self, instance: Cardholder, is_create: bool, row: dict[str, Any], **kwargs: Any) -> None:
        report = self._report(row)
        holder = holder_enrol(
            name=instance.name,
            institution=self.institution,
            group=instance.group,
            allergy_note=instance.allergy_note,
            price_category=instance.price_category,
            registered_by=self.imported_by,
            via="import",
        )
        instance.pk = holder.pk
        instance._state.adding = False
        email = str(row.get("guardian_email") or "").strip()
        if email:
            if holder_guardian_add(holder=holder, email=email, added_by=self.imported_by) is not None:
                report.notes.append(gettext("Linked to the guardian %(email)s.") % {"email": email})
            else:
                report.notes.append(
                    gettext("Nobody has signed up as %(email)s: give the guardian the activation letter.")
                    % {"email": email}
                )

    def save_m2m(self, instance: Cardholder, row: dict[str, Any], **kwargs: Any) -> None:
        pass  # guardians are linked by holder_guardian_add, with an audit entry


def holders_import(*, data: bytes, institution: Institution, imported_by: User, dry_run: bool) -> ImportReport:
    """Check (dry run) or import the file's pupils into the institution; see the module's rules.

    Raises InvalidRequest for a file that cannot be read at all. The caller has checked that the
    institution is one of the user's.
    """
    dataset = holders_dataset(data=data)
    resource = HolderResource(institution=institution, imported_by=imported_by)
    with transaction.atomic():
        result = resource.import_data(
            dataset, dry_run=dry_run, use_transactions=True, rollback_on_validation_errors=True
        )
        # Anything but a failed check (a database error): the line is reported with it.
        for number, errors in result.row_errors():
            report = resource._report(dict(zip(dataset.headers, dataset[number - 1], strict=True)))
            report.errors.extend(
                gettext("This line could not be imported: %(error)s") % {"error": error.error} for error in errors
            )
        imported = not dry_run and not result.has_errors() and not result.has_validation_errors()
        if imported:
            audit_record(
                actor=imported_by,
                action="holders.imported",
                institution=institution,
                details={"count": len(dataset)},
            )
    rows = sorted(resource.rows.values(), key=lambda row: row.line)
    return ImportReport(rows=rows, imported=imported)


def holders_template_csv() -> str:
    """An example file for the office to fill in."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow(["Anna Jensen", "2A", "grades-1-4", "", "parent@example.com"])
    writer.writerow(["Bo Hansen", "5B", "grades-5-9", "Nuts", ""])
    return out.getvalue()
