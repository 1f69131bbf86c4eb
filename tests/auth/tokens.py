"""JWT bearer tokens for tests: an issuer, an audience and a shared key the app is set to
trust (JWT_SETTINGS), and tokens signed with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pydantic import SecretStr

ISSUER = "https://id.example.org/"
AUDIENCE = "pledge-ledger"
HS_KEY = "a-shared-secret-of-at-least-32-bytes!"
JWT_SETTINGS: dict[str, Any] = {
    "anonymous_read": False,
    "jwt_issuer": ISSUER,
    "jwt_audience": AUDIENCE,
    "jwt_key": SecretStr(HS_KEY),
    "jwt_algorithms": ["HS256"],
}


def token(key: Any = HS_KEY, algorithm: str = "HS256", **claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice@example.org",
        "exp": now + timedelta(minutes=5),
        "role": "viewer",
        **claims,
    }
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm)
