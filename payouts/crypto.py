"""CPR numbers of payees: checked with python-stdnum, encrypted at rest, shown masked.

Encrypted with MultiFernet under the keys of CPR_ENCRYPTION_KEYS (comma-separated Fernet keys,
newest first): new tokens use the first key, every listed key still decrypts, so a key is rotated by
putting a new one first and re-encrypting (`manage.py cpr_keys_rotate`) before the old one is
dropped. Nothing outside this module sees a CPR number in clear except the payout file writer.
"""

import base64
import hashlib
from dataclasses import dataclass
from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from stdnum.dk import cpr as stdnum_cpr
from stdnum.exceptions import ValidationError

from cardsystem.errors import DomainError


class InvalidCpr(DomainError):
    code = "invalid_cpr"
    status = 400
    default_message = _("This is not a CPR number: write it as DDMMYY-XXXX.")

    def __init__(self, message: str | None = None) -> None:
        text = message or str(self.default_message)
        super().__init__(text, fields={"payee_cpr": [text]})


@dataclass(frozen=True)
class CprChecked:
    number: str  # ten digits, no dash
    # Numbers given out since 2007 may fail the old modulus-11 check and still be real: warn, accept.
    warning: str | None


def cpr_check(text: str) -> CprChecked:
    """A payee's CPR number, or InvalidCpr: the wrong length or characters, or an impossible date."""
    number = stdnum_cpr.compact(text or "")
    try:
        stdnum_cpr.validate(number)
    except ValidationError:
        raise InvalidCpr() from None
    # python-stdnum no longer refuses a failed modulus-11 check (numbers issued since 2007 may
    # fail it): it is checked here, to warn.
    if stdnum_cpr.checksum(number) != 0:
        return CprChecked(
            number=number,
            warning=str(
                _(
                    "The CPR number fails the modulus-11 check; numbers issued since 2007 may. "
                    "Check it against the payee's card."
                )
            ),
        )
    return CprChecked(number=number, warning=None)


def cpr_masked(number: str) -> str:
    """DDMMYY-****: enough to recognise, not enough to use."""
    digits = stdnum_cpr.compact(number or "")
    return f"{digits[:6]}-****" if len(digits) >= 6 else "******-****"


@cache
def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.CPR_ENCRYPTION_KEYS.split(",") if key.strip()]
    if not keys:
        # The embedded default: a key derived from SECRET_KEY (production sets its own keys).
        keys = [base64.urlsafe_b64encode(hashlib.sha256(f"cpr:{settings.SECRET_KEY}".encode()).digest()).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def cpr_keys_reload() -> None:
    """Forget the loaded keys (after the setting changed: tests, a rotation)."""
    _fernet.cache_clear()


def cpr_encrypt(number: str) -> str:
    return _fernet().encrypt(stdnum_cpr.compact(number).encode()).decode()


def cpr_decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def cpr_token_rotate(token: str) -> str:
    """The same number under the newest key."""
    return _fernet().rotate(token.encode()).decode()
