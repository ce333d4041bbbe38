"""Card UIDs: normalised to upper-case hex of 4, 7 or 10 bytes (ISO 14443-A single, double, triple size)."""

from __future__ import annotations

import re

UID_LENGTHS = (4, 7, 10)
_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"[0-9A-F]+")


class InvalidUid(ValueError):
    """Not a card UID: wrong characters or not 4, 7 or 10 bytes."""


def uid_normalise(raw: bytes | bytearray | list[int] | str) -> str:
    """Bytes from the reader, or text typed by a keyboard reader, as upper-case hex.

    Text may use separators (`04:a1:b2:c3`), a `0x` prefix, or be the decimal form some keyboard
    readers type (the UID bytes as one big-endian number, e.g. `0004291234567`): decimal is tried
    only when the text is all digits and is not already a hex UID of a valid length.
    """
    if isinstance(raw, bytes | bytearray | list):
        data = bytes(raw)
        if len(data) not in UID_LENGTHS:
            raise InvalidUid(f"a UID is 4, 7 or 10 bytes, not {len(data)}")
        return data.hex().upper()
    text = _SEPARATORS.sub("", raw.strip()).upper()
    if text.startswith("0X"):
        text = text[2:]
    if not text:
        raise InvalidUid("empty UID")
    if _HEX.fullmatch(text) and len(text) in (2 * n for n in UID_LENGTHS):
        return text
    if text.isdigit():
        number = int(text)
        for size in UID_LENGTHS:
            if number < 1 << (8 * size):
                return number.to_bytes(size, "big").hex().upper()
    raise InvalidUid(f"not a 4, 7 or 10 byte UID: {raw!r}")
