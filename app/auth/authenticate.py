"""Who is calling: the `Authorization` header of one request, turned into a Principal.

No header: an anonymous caller (who may read only if ANONYMOUS_READ is on). A header
that does not prove who the caller is — malformed, unknown, revoked, expired — is
refused with 401; it never falls back to anonymous, so a client with a broken key
learns at once instead of silently seeing less.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import repository as repo
from app.auth.keys import authenticate_key
from app.auth.principal import Principal, anonymous
from app.auth.tokens import TokenRejected, TokenRoleRejected, TokenVerifier
from app.config import Settings
from app.db.shared import read_alone
from app.errors import ErrorCode

# Longer headers are refused before any parsing or hashing.
MAX_HEADER_LENGTH = 4096
# RFC 6750's b64token, which API keys (URL-safe base64) and JWTs (three base64url
# parts) are: ASCII only, so nothing else reaches a hash, a decoder or the database.
CREDENTIAL = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class AuthenticationFailed(Exception):
    """Answered as HTTP 401 (or 403) with a GraphQL-shaped error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 401,
        code: ErrorCode = ErrorCode.UNAUTHENTICATED,
        error: str = "invalid_token",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        # RFC 6750's error for the WWW-Authenticate header.
        self.error = error


def bearer_credential(header: str) -> str:
    """The credential of `Bearer <credential>`; AuthenticationFailed for anything else."""
    if len(header) > MAX_HEADER_LENGTH:
        raise AuthenticationFailed(
            f"the Authorization header is longer than {MAX_HEADER_LENGTH} characters",
            error="invalid_request",
        )
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not CREDENTIAL.fullmatch(credential):
        raise AuthenticationFailed(
            "the Authorization header must be 'Bearer <API key or token>'",
            error="invalid_request",
        )
    return credential


def looks_like_jwt(credential: str) -> bool:
    # API keys are URL-safe base64 without dots; a JWT is three dot-separated parts.
    return credential.count(".") == 2


class Authenticator:
    """Built once per application: JWT settings are checked and the key read here."""

    def __init__(self, settings: Settings) -> None:
        self.anonymous_read = settings.anonymous_read
        self.tokens = TokenVerifier(settings) if settings.jwt_enabled else None
        # Every anonymous caller is this one (a Principal is frozen): made once, not at
        # each request that brings no credential.
        self._anonymous = anonymous(anonymous_read=self.anonymous_read)

    def uncredentialed(self, header: str | None) -> Principal | None:
        """The caller of a request that brings no credential (anonymous), known without
        reading anything; None when the header has one to check (`principal`)."""
        return self.anonymous() if header is None else None

    def anonymous(self) -> Principal:
        return self._anonymous

    async def principal(
        self, header: str | None, sessions: async_sessionmaker[AsyncSession]
    ) -> Principal:
        if header is None:
            return self.anonymous()
        credential = bearer_credential(header)
        if looks_like_jwt(credential):
            return await self._from_token(credential, sessions)
        async with sessions() as session:
            # One statement (the key and a partner's initiatives): no transaction.
            await read_alone(session)
            principal = await authenticate_key(session, credential)
        if principal is None:
            raise AuthenticationFailed("the API key is unknown or has been revoked")
        return principal

    async def _from_token(
        self, token: str, sessions: async_sessionmaker[AsyncSession]
    ) -> Principal:
        if self.tokens is None:
            raise AuthenticationFailed(
                "tokens are not accepted here (no JWT issuer is configured): use an API key"
            )
        try:
            claims = self.tokens.verify(token)
        except TokenRoleRejected as exc:
            raise AuthenticationFailed(
                exc.message, status=403, code=ErrorCode.FORBIDDEN, error="insufficient_scope"
            ) from None
        except TokenRejected as exc:
            raise AuthenticationFailed(exc.message) from None
        initiative_ids = None
        if claims.initiative_codes is not None:
            # Codes without an initiative (not created yet, or archived) grant nothing.
            async with sessions() as session:
                ids = await repo.initiative_ids_by_code(session, claims.initiative_codes)
            initiative_ids = frozenset(ids.values())
        return Principal(
            f"jwt:{claims.subject}",
            claims.role,
            initiative_ids,
            via="jwt",
            expires_at=claims.expires,
        )
