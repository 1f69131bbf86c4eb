"""Browser sessions: a signed cookie naming the API key a person signed in with, and
the CSRF tokens of the pages' forms.

A browser cannot send an `Authorization` header with a link or a form, so the pages
(app/pages/) take an API key once, at sign-in, and set a session cookie instead. The
cookie holds no secret: it names the key (by its name), its role and an expiry, signed
with HMAC-SHA256 under the server's secret (DOWNLOAD_LINK_SECRET, as download links
are). Every request that brings it checks it again: the signature, the expiry, and the
key itself, which must still exist unrevoked with the same role, so revoking a key
signs its sessions out at once; a partner's initiatives are read as they are now.

Forms carry a CSRF token (double submit): a random value in a cookie of its own, and
its HMAC in the form. A page of another site can make a browser post a form, but can
neither read the cookie nor compute its HMAC, so its post is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets

from app.auth.authenticate import AuthenticationFailed
from app.auth.keys import caller_of_key
from app.auth.principal import Principal
from app.auth.roles import Role
from app.db.session import SessionFactory

SESSION_COOKIE = "pl_session"
CSRF_COOKIE = "pl_csrf"
CSRF_FIELD = "csrf_token"
# How long a sign-in lasts; the key's revocation ends it sooner.
SESSION_SECONDS = 8 * 3600
# Longer cookie values are refused before any decoding or hashing.
MAX_COOKIE_LENGTH = 1024
# Changes whenever what is signed changes, so an old cookie never reads as a new one.
_VERSION = 1


def _key(secret: bytes, purpose: str) -> bytes:
    # One secret, a key per purpose: a session's signature is never a link's or a token's.
    return hmac.new(secret, f"pledge-ledger/{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_session(secret: bytes, caller: Principal, now: float) -> str:
    """The cookie value for `caller` (an API key's), valid SESSION_SECONDS from `now`."""
    assert caller.via == "api-key" and caller.role is not None
    body = json.dumps(
        [_VERSION, caller.name, caller.role.value, int(now) + SESSION_SECONDS],
        separators=(",", ":"),
    ).encode("utf-8")
    signature = hmac.new(_key(secret, "session"), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(signature)}"


async def session_caller(
    value: str, secret: bytes, now: float, sessions: SessionFactory
) -> Principal:
    """Who a session cookie signs in, checked again; AuthenticationFailed when the
    cookie is not ours, has expired, or its key was revoked or changed role."""
    body_text, _, signature_text = value.partition(".")
    try:
        if len(value) > MAX_COOKIE_LENGTH:
            raise ValueError("too long")
        body, signature = _unb64(body_text), _unb64(signature_text)
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("the session cookie is not valid: sign in again") from None
    expected = hmac.new(_key(secret, "session"), body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise AuthenticationFailed("the session cookie is not valid: sign in again")
    version, name, role, expires = json.loads(body)
    if version != _VERSION or now >= expires:
        raise AuthenticationFailed("the session has expired: sign in again")
    async with sessions() as session:
        principal = await caller_of_key(session, name)
    if principal is None or principal.role != Role(role):
        raise AuthenticationFailed("the key of this session is unknown or has been revoked")
    return principal


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret: bytes, cookie: str) -> str:
    """The token a form carries for the browser whose CSRF cookie is `cookie`."""
    return _b64(hmac.new(_key(secret, "csrf"), cookie.encode("utf-8"), hashlib.sha256).digest())


def csrf_valid(secret: bytes, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token or len(cookie) > MAX_COOKIE_LENGTH:
        return False
    return hmac.compare_digest(
        csrf_token(secret, cookie).encode(), token.encode("utf-8", "replace")
    )
