import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.uids import InvalidUid, normalize_uid


@given(st.sampled_from([4, 7, 10]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_any_4_7_or_10_byte_uid_normalises_to_upper_case_hex_whatever_its_spelling(raw: bytes) -> None:
    expected = raw.hex().upper()
    assert normalize_uid(raw.hex()) == expected
    assert normalize_uid(":".join(f"{b:02x}" for b in raw)) == expected
    assert normalize_uid(" ".join(f"{b:02X}" for b in raw)) == expected


@given(st.integers(min_value=0, max_value=12).filter(lambda n: n not in (4, 7, 10)))
def test_uids_of_other_lengths_are_refused(length: int) -> None:
    with pytest.raises(InvalidUid):
        normalize_uid("AB" * length)


@pytest.mark.parametrize("raw", ["04A1B2C3D4E5FG", "04A1B2C3D4E5F", "0x04A1B2C3", "", "   "])
def test_non_hex_or_odd_uids_are_refused(raw: str) -> None:
    with pytest.raises(InvalidUid):
        normalize_uid(raw)
