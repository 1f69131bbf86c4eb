"""Signing secrets and signatures, per the Standard Webhooks specification.

A secret is `whsec_` and 32 random bytes in base64; a signature is `v1,` and the base64
HMAC-SHA256, under the secret's bytes, of `<webhook-id>.<webhook-timestamp>.<body>`.
`webhook-signature` lists one signature per valid secret, space-separated, so a
receiver still holding the previous secret keeps verifying during a rotation's overlap.

How the secrets are kept at rest: app/webhooks/secrets.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

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
