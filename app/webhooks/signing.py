"""Signing secrets and signatures, per the Standard Webhooks specification.

A secret is `whsec_` and 32 random bytes in base64; a signature is `v1,` and the base64
HMAC-SHA256, under the secret's bytes, of `<webhook-id>.<webhook-timestamp>.<body>`.
`webhook-signature` lists one signature per valid secret, space-separated, so a
receiver still holding the previous secret keeps verifying during a rotation's overlap.

Secrets must be recoverable to sign, so they cannot be hashed: with WEBHOOK_SECRET_KEY
set they are stored encrypted (Fernet), otherwise as they are (`plain:`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_),
        "content-type": "application/json",
    }


class SecretBox:
    """Seals secrets for the database, and opens them again."""

    def __init__(self, key: SecretStr | None) -> None:
        self._fernet = Fernet(key.get_secret_value().encode()) if key is not None else None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            return "plain:" + secret
        return "fernet:" + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        kind, _, value = stored.partition(":")
        if kind == "plain":
            return value
        if self._fernet is None:
            raise ValueError("this secret is encrypted: set WEBHOOK_SECRET_KEY to the key used")
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "WEBHOOK_SECRET_KEY is not the key this secret was sealed with"
            ) from None
