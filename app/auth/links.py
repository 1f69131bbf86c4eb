"""Signed download links: a CSV download's URL that carries its own credential.

A browser opens a link with no header, so it cannot send an API key. A caller who may
export asks for a link (the `downloadLink` query); the link names the report, its
arguments, the caller (how it proved who it is, its name, role and initiatives) and
an expiry, and an HMAC-SHA256 over all of them with the server's secret
(DOWNLOAD_LINK_SECRET). The download then runs as that caller, checked again: a link
made with an API key stops working when the key is revoked, and a partner's link sees
the key's initiatives as they are now. A changed parameter breaks the signature
(403 DOWNLOAD_LINK_INVALID); a link past its expiry is 401 DOWNLOAD_LINK_EXPIRED.

A link made with a JWT keeps the role and initiatives the token had, for the link's
few minutes: there is no token to check again. So it ends when the token does, if that
is sooner (`Principal.expires_at`, the token's `exp`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from app.auth.authenticate import AuthenticationFailed
from app.auth.keys import caller_of_key
from app.auth.principal import Principal, anonymous
from app.auth.roles import Role
from app.db.session import SessionFactory
from app.errors import ErrorCode

# The query parameters a link adds to a download's own.
EXPIRES, CALLER, SIGNATURE = "expires", "caller", "signature"
LINK_PARAMETERS = frozenset({EXPIRES, CALLER, SIGNATURE})
# Changes whenever what is signed changes, so an old link never reads as a new one.
_VERSION = 1


@dataclass(frozen=True)
class Link:
    """A download request's link parameters, and the report parameters they sign."""

    path: str
    parameters: dict[str, str]
    expires: str
    caller: str
    signature: str


def mint(
    secret: bytes, path: str, parameters: Mapping[str, str], caller: Principal, expires: int
) -> str:
    """The query string of a link to `path` with `parameters`, made by `caller`,
    working until `expires` (Unix seconds)."""
    token = _caller_token(caller)
    signature = _sign(secret, path, parameters, token, str(expires))
    return urlencode(
        [
            *sorted(parameters.items()),
            (EXPIRES, str(expires)),
            (CALLER, token),
            (SIGNATURE, signature),
        ]
    )


def link_in(path: str, query: Iterable[tuple[str, str]]) -> Link | None:
    """The link a download request carries; None when it carries none (it is then
    answered for the caller its Authorization header proves)."""
    items = list(query)
    if not any(name in LINK_PARAMETERS for name, _ in items):
        return None
    given: dict[str, str] = {}
    for name, value in items:
        if name in given:
            raise _invalid(f"the parameter {name!r} is given twice")
        given[name] = value
    missing = sorted(LINK_PARAMETERS - set(given))
    if missing:
        raise _invalid(f"the link lacks {', '.join(missing)}")
    parameters = {k: v for k, v in given.items() if k not in LINK_PARAMETERS}
    return Link(path, parameters, given[EXPIRES], given[CALLER], given[SIGNATURE])


async def caller_of(
    link: Link,
    secret: bytes,
    now: float,
    sessions: SessionFactory,
    *,
    anonymous_read: bool,
    jwt: bool,
) -> Principal:
    """Who the download runs as: the caller that made the link, checked again.

    The signature is checked first, so nothing unsigned is read; then the expiry; then
    the caller: a key must still exist unrevoked, a token caller needs tokens still
    accepted, an anonymous one needs ANONYMOUS_READ still on (its permissions)."""
    expected = _sign(secret, link.path, link.parameters, link.caller, link.expires)
    if not hmac.compare_digest(expected.encode(), link.signature.encode("utf-8", "replace")):
        raise _invalid(
            "this download link is not valid: a parameter was changed, or another server "
            "made it; ask for a new one (downloadLink)"
        )
    if now >= int(link.expires):
        raise AuthenticationFailed(
            "this download link has expired; ask for a new one (downloadLink)",
            code=ErrorCode.DOWNLOAD_LINK_EXPIRED,
        )
    made_by = json.loads(_unb64(link.caller))
    via, name, role = made_by["via"], made_by["name"], made_by["role"]
    if via == "api-key":
        async with sessions() as session:
            principal = await caller_of_key(session, name)
        if principal is None or principal.role != Role(role):
            raise AuthenticationFailed(
                "the API key that made this link is unknown or has been revoked"
            )
        return principal
    if via == "jwt":
        if not jwt:
            raise AuthenticationFailed("tokens are no longer accepted here: this link cannot work")
        initiatives = made_by["initiatives"]
        ids = None if initiatives is None else frozenset(int(i) for i in initiatives)
        return Principal(name, Role(role), ids, via="jwt")
    if via == "anonymous":
        return anonymous(anonymous_read=anonymous_read)
    raise _invalid("this download link is not valid")


def _caller_token(caller: Principal) -> str:
    ids = None if caller.initiative_ids is None else sorted(caller.initiative_ids)
    made_by: dict[str, Any] = {
        "via": caller.via,
        "name": caller.name,
        "role": caller.role.value if caller.role else None,
        "initiatives": ids,
    }
    text = json.dumps(made_by, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _sign(
    secret: bytes, path: str, parameters: Mapping[str, str], caller: str, expires: str
) -> str:
    # JSON of a fixed shape: no choice of separators can make two requests sign alike.
    message = json.dumps(
        [_VERSION, path, sorted(parameters.items()), caller, expires], separators=(",", ":")
    )
    digest = hmac.new(secret, message.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _unb64(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):  # signed by us: cannot happen
        raise _invalid("this download link is not valid") from None


def _invalid(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(
        message, status=403, code=ErrorCode.DOWNLOAD_LINK_INVALID, error="invalid_request"
    )
