"""Chip UIDs: ISO 14443-A UIDs are 4, 7 or 10 bytes, stored as upper-case hex."""

import re

from django.utils.translation import gettext as _

_HEX = re.compile(r"^[0-9A-F]+$")
UID_BYTE_LENGTHS = (4, 7, 10)


class InvalidUid(ValueError):
    pass


def normalize_uid(raw: str) -> str:
    """Upper-case hex without separators; anything else is refused.

    Readers type UIDs with spaces or colons between bytes; both are accepted.
    """
    if not isinstance(raw, str):
        raise InvalidUid(_("The UID must be a string of hex digits."))
    text = raw.strip().replace(" ", "").replace(":", "").replace("-", "").upper()
    if not _HEX.match(text) or len(text) // 2 not in UID_BYTE_LENGTHS or len(text) % 2:
        raise InvalidUid(_("The UID must be 4, 7 or 10 bytes of hex digits."))
    return text
