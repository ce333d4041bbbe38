"""Bearer tokens (personal API tokens and terminal tokens): 256 random bits, stored as a SHA-256
digest; a fast hash is enough, as there is nothing to brute-force."""

import hashlib
import secrets

PREFIX_LENGTH = 8


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_generate() -> str:
    return secrets.token_urlsafe(32)
