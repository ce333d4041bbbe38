"""The translation catalogues: Danish complete, the staff screens in every language, nothing stale.

The catalogues are made with (README: translations)

    manage.py makemessages -l da -l ar -l ru -l sk --ignore=.venv --ignore=var --ignore=bench \
        --ignore=tests --add-location=file

`--add-location=file` matters: the staff-screen test picks its messages by their `#:` source files.
The .po files are read with the small parser below (polib is not a dependency).
"""

import ast
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.template import Context, Template
from django.test import override_settings
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
LOCALE_DIR = ROOT / "locale"
LANGUAGES = ["da", "ar", "ru", "sk"]
OTHER_LANGUAGES = ["ar", "ru", "sk"]
# Django's plural rules: Arabic has six forms; Django's Russian and Slovak catalogues use four.
NPLURALS = {"da": 2, "ar": 6, "ru": 4, "sk": 4}
# The same ignores as the makemessages command above.
IGNORED = [".venv", "var", "bench", "tests"]
REQUIRE_ALL = os.environ.get("REQUIRE_ALL_TESTS") == "1"

# What a canteen worker sees: the till, the customer display, the sign-in frame and the receipt.
STAFF_SCREEN_SOURCES = {
    "templates/base.html",
    "templates/canteen/_receipt_body.html",
    "templates/canteen/receipt.html",
    "templates/canteen/receipt_pdf.html",
    "terminals/views.py",
    "terminals/till.py",
    "canteen/errors.py",
    "payments/errors.py",
    "canteen/services.py",
    "cards/selectors.py",
}
STAFF_SCREEN_FOLDERS = ("templates/terminals/", "templates/canteen/", "templates/allauth/")

# What a guardian sees: the portal's pages and forms, its e-mails, and the refusals it shows.
GUARDIAN_PORTAL_FOLDERS = (
    "templates/payments/",
    "templates/cards/",
    "templates/accounts/",
    "templates/account/",
    "templates/payouts/refund",
)
GUARDIAN_PORTAL_SOURCES = {
    "templates/base.html",
    "templates/_form_fields.html",
    "templates/canteen/holder_settings.html",
    "accounts/reauth.py",
    "accounts/views.py",
    "cards/views.py",
    "cards/forms.py",
    "cards/errors.py",
    "canteen/portal_views.py",
    "canteen/category_blocks.py",
    "payments/views.py",
    "payments/card_views.py",
    "payments/topup_views.py",
    "payments/topup_forms.py",
    "payments/transfer_views.py",
    "payments/forms.py",
    "payments/topups.py",
    "payments/transfers.py",
    "payments/replacements.py",
    "payments/auto_topups.py",
}

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    locations: set[str] = field(default_factory=set)

    @property
    def is_translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr)


def _unquote(text: str) -> str:
    return str(ast.literal_eval(text))


def parse_po(path: Path) -> tuple[dict[str, str], list[Entry]]:
    """The header fields and the live entries of a .po file (obsolete `#~` entries are left out)."""
    entries: list[Entry] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry, key = Entry(), ""
        strings: dict[str, str] = {}
        for line in block.strip().splitlines():
            if line.startswith("#~"):
                continue
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#:"):
                # "--add-location=file" gives paths; "full" would add ":line", which is cut off.
                entry.locations |= {location.rsplit(":", 1)[0] for location in line[2:].split()}
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                strings[key] += _unquote(line)
            else:
                key, value = line.split(" ", 1)
                strings[key] = _unquote(value)
        if "msgid" not in strings:
            continue
        entry.msgid = strings["msgid"]
        entry.msgid_plural = strings.get("msgid_plural")
        if entry.msgid_plural is None:
            entry.msgstr = [strings.get("msgstr", "")]
        else:
            forms = sorted((key for key in strings if key.startswith("msgstr[")), key=lambda k: int(k[7:-1]))
            entry.msgstr = [strings[key] for key in forms]
        entries.append(entry)
    header_entry = next(entry for entry in entries if entry.msgid == "")
    header = dict(line.split(": ", 1) for line in header_entry.msgstr[0].splitlines() if ": " in line)
    return header, [entry for entry in entries if entry.msgid != ""]


def catalogue(language: str) -> list[Entry]:
    return parse_po(LOCALE_DIR / language / "LC_MESSAGES" / "django.po")[1]


def _is_staff_screen(location: str) -> bool:
    return location in STAFF_SCREEN_SOURCES or location.startswith(STAFF_SCREEN_FOLDERS)


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"REQUIRE_ALL_TESTS is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_has_no_fuzzy_entries(language: str) -> None:
    fuzzy = [entry.msgid for entry in catalogue(language) if "fuzzy" in entry.flags]
    assert fuzzy == []


def test_the_danish_catalogue_translates_every_message_in_every_plural_form() -> None:
    untranslated = [entry.msgid for entry in catalogue("da") if not entry.is_translated]
    assert untranslated == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_has_its_languages_number_of_plural_forms(language: str) -> None:
    header, entries = parse_po(LOCALE_DIR / language / "LC_MESSAGES" / "django.po")
    assert f"nplurals={NPLURALS[language]};" in header["Plural-Forms"]
    forms = {entry.msgid: len(entry.msgstr) for entry in entries if entry.msgid_plural is not None}
    assert forms
    assert set(forms.values()) == {NPLURALS[language]}, forms


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_keeps_its_source_locations(language: str) -> None:
    """Without `#:` lines (makemessages --no-location) the staff-screen test would select nothing."""
    without = [entry.msgid for entry in catalogue(language) if not entry.locations]
    assert without == []


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_staff_screen_message_is_translated(language: str) -> None:
    staff = [entry for entry in catalogue(language) if any(map(_is_staff_screen, entry.locations))]
    assert {"Pay by card", "Receipt", "The card is blocked.", "Sign in"} <= {entry.msgid for entry in staff}
    untranslated = [entry.msgid for entry in staff if not entry.is_translated]
    assert untranslated == []


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_guardian_portal_message_is_translated(language: str) -> None:
    portal = [
        entry
        for entry in catalogue(language)
        if any(
            location in GUARDIAN_PORTAL_SOURCES or location.startswith(GUARDIAN_PORTAL_FOLDERS)
            for location in entry.locations
        )
    ]
    assert {"Top up", "Your cardholders", "Block card", "Move money"} <= {entry.msgid for entry in portal}
    untranslated = [entry.msgid for entry in portal if not entry.is_translated]
    assert untranslated == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_message(language: str) -> None:
    changed = []
    for entry in catalogue(language):
        source = sorted(PLACEHOLDER.findall(entry.msgid))
        source_plural = sorted(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        for form in filter(None, entry.msgstr):
            found = sorted(PLACEHOLDER.findall(form))
            # A plural form may leave out the count ("one token" in Arabic), never add a name.
            plural_keeps = set(found) <= set(source) | set(source_plural)
            keeps = found == source if entry.msgid_plural is None else plural_keeps
            if not keeps:
                changed.append((entry.msgid, form))
    assert changed == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_html_of_their_message(language: str) -> None:
    changed = [
        (entry.msgid, form)
        for entry in catalogue(language)
        for form in filter(None, entry.msgstr)
        if sorted(HTML_TAG.findall(form)) != sorted(HTML_TAG.findall(entry.msgid))
    ]
    assert changed == []


def test_arabic_till_messages_isolate_the_values_they_insert() -> None:
    """The till's script pastes amounts, names and receipt numbers into these as plain text.

    Unisolated, "16.00 DKK" reads "DKK 16.00" and "101-0000011" reads "0000011-101" in Arabic,
    so each placeholder sits between FIRST STRONG ISOLATE (U+2068) and POP DIRECTIONAL ISOLATE (U+2069).
    """
    till_sources = {"terminals/views.py", "templates/terminals/till_home.html"}
    unisolated = [
        form
        for entry in catalogue("ar")
        if entry.locations & till_sources
        for form in entry.msgstr
        for placeholder in PLACEHOLDER.findall(form)
        if f"\u2068{placeholder}\u2069" not in form
    ]
    assert unisolated == []


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> list[Entry]:
    """The messages makemessages extracts from today's sources, run on a copy of the project.

    A copy, because makemessages writes into every `locale` folder it finds under the current
    directory (here: the project's own), whatever LOCALE_PATHS says.
    """
    if shutil.which("xgettext") is None:
        _skip_or_fail("gettext's xgettext is not installed (Debian: apt-get install gettext)")
    copy = tmp_path_factory.mktemp("project")
    shutil.copytree(
        ROOT,
        copy,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".*", "__pycache__", "locale", "test-results", "*.egg-info", *IGNORED),
    )
    (copy / "locale").mkdir()
    with pytest.MonkeyPatch.context() as patch, override_settings(LOCALE_PATHS=[copy / "locale"]):
        patch.chdir(copy)
        call_command("makemessages", locale=["da"], ignore_patterns=IGNORED, add_location="file", verbosity=0)
    return parse_po(copy / "locale" / "da" / "LC_MESSAGES" / "django.po")[1]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_holds_every_message_the_sources_use_today(language: str, extracted: list[Entry]) -> None:
    assert len(extracted) > 100  # the extraction ran over the whole project
    committed = {(entry.msgid, entry.msgid_plural) for entry in catalogue(language)}
    missing = sorted(entry.msgid for entry in extracted if (entry.msgid, entry.msgid_plural) not in committed)
    assert missing == [], "run makemessages (see this module's docstring) and translate the new messages"


@pytest.fixture
def compiled() -> Iterator[None]:
    """Fresh .mo files: built by `make setup`; built here if missing or older than their .po."""
    stale = [
        language
        for language in LANGUAGES
        if not (mo := LOCALE_DIR / language / "LC_MESSAGES" / "django.mo").exists()
        or mo.stat().st_mtime < mo.with_suffix(".po").stat().st_mtime
    ]
    if stale:
        if shutil.which("msgfmt") is None:
            _skip_or_fail("gettext's msgfmt is not installed, so the catalogues cannot be compiled")
        call_command("compilemessages", locale=stale, ignore_patterns=IGNORED, verbosity=0)
    # Setting LOCALE_PATHS (to the same value) makes Django drop the catalogues it has loaded.
    with override_settings(LOCALE_PATHS=[LOCALE_DIR]):
        yield


@pytest.mark.usefixtures("compiled")
def test_danish_is_used_for_python_and_template_text() -> None:
    with translation.override("da"):
        assert translation.gettext("Receipt") == "Kvittering"
        assert translation.gettext("The card is blocked.") == "Kortet er spærret."
        assert Template('{% load i18n %}{% translate "Pay by card" %}').render(Context()) == "Betal med kort"


@pytest.mark.usefixtures("compiled")
def test_arabic_pages_read_right_to_left_in_arabic() -> None:
    with translation.override("ar"):
        assert translation.get_language_bidi() is True
        assert translation.gettext("Pay by card") == "الدفع بالبطاقة"


@pytest.mark.usefixtures("compiled")
def test_arabic_plurals_pick_the_form_for_the_number() -> None:
    message, plural = "%(count)d token was revoked.", "%(count)d tokens were revoked."
    with translation.override("ar"):
        assert translation.ngettext(message, plural, 2) == "تم إلغاء رمزين."
        assert translation.ngettext(message, plural, 11) % {"count": 11} == "تم إلغاء 11 رمزًا."


@pytest.mark.usefixtures("compiled")
def test_russian_and_slovak_plurals_pick_the_form_for_the_number() -> None:
    message, plural = "%(count)d token was revoked.", "%(count)d tokens were revoked."
    with translation.override("ru"):
        assert translation.ngettext(message, plural, 5) % {"count": 5} == "5 токенов отозвано."
    with translation.override("sk"):
        assert translation.ngettext(message, plural, 3) % {"count": 3} == "3 tokeny boli zrušené."
