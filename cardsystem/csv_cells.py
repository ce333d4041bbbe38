"""CSV cells that a spreadsheet will not run: a cell starting with one of FORMULA_STARTS would be
taken for a formula (CSV injection), so it is written with a leading apostrophe."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text_cell(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
