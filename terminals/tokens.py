import hashlib
import secrets


def token_digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def token_generate() -> str:
    return secrets.token_urlsafe(32)
