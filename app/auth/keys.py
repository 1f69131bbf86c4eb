"""API keys: create, list, revoke, and recognise one sent by a caller.

The secret is shown once, when the key is created; only its SHA-256 is stored.
Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository as repo
from app.auth.principal import Principal
from app.auth.roles import Role
from app.db.types import utcnow
from app.errors import DomainError, ErrorCode
from app.kit.text import Kind, text_problem
from app.models.access import ApiKey

SECRET_PREFIX = "pl_"
# How much of a secret is kept in clear, to recognise a key in lists and logs.
SHOWN_PREFIX_LENGTH = 10
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never its secret."""

    name: str
    role: str
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    initiatives: tuple[str, ...]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def parse_role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise DomainError(
            f"unknown role '{value}': choose one of {choices}", field="role"
        ) from None


def _check_identifier(value: str, what: str, field: str) -> None:
    """Names and codes given for a key are identifiers (app/kit/text.py): the name
    becomes the actor of every change the key makes."""
    problem = text_problem(value, Kind.IDENTIFIER)
    if problem is not None:
        raise DomainError(f"{what} {problem}", field=field)


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise DomainError(f"a key's name must have 1 to {MAX_NAME_LENGTH} characters", field="name")
    _check_identifier(name, "a key's name", "name")
    if name.lower().startswith("jwt:") or name == "anonymous":
        # Token callers are named "jwt:<subject>": a key must not pass for one in the trail.
        raise DomainError(f"the name '{name}' is reserved", field="name")


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    role: Role | str,
    initiative_codes: Sequence[str] = (),
    created_by: str,
) -> tuple[ApiKey, str]:
    """Add a key; return it with its secret, which is not stored and cannot be shown again."""
    role = parse_role(role)
    _check_name(name)
    _check_identifier(created_by, "who created a key", "createdBy")
    for code in initiative_codes:
        _check_identifier(code, "an initiative code", "initiatives")
    codes = list(dict.fromkeys(initiative_codes))
    if role is Role.PARTNER and not codes:
        raise DomainError(
            "a partner key needs at least one initiative: it sees only those", field="initiatives"
        )
    if role is not Role.PARTNER and codes:
        raise DomainError(
            f"only partner keys are limited to initiatives; a {role.value} key sees all",
            field="initiatives",
        )
    if await repo.key_by_name(session, name) is not None:
        raise DomainError(
            f"a key named '{name}' already exists", code=ErrorCode.ALREADY_EXISTS, field="name"
        )
    ids = await repo.initiative_ids_by_code(session, codes)
    unknown = [code for code in codes if code not in ids]
    if unknown:
        raise DomainError(
            "no initiative with the code(s): " + ", ".join(unknown),
            code=ErrorCode.NOT_FOUND,
            field="initiatives",
            details={"codes": unknown},
        )
    secret = new_secret()
    key = await repo.insert_key(
        session,
        name=name,
        role=role.value,
        secret_hash=hash_secret(secret),
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        created_by=created_by,
        initiative_ids=[ids[code] for code in codes],
    )
    return key, secret


async def list_keys(session: AsyncSession) -> list[KeyInfo]:
    """Every key, revoked ones included, by name."""
    codes = await repo.initiative_codes_by_key(session)
    return [
        KeyInfo(
            name=key.name,
            role=key.role,
            prefix=key.prefix,
            created_at=key.created_at,
            created_by=key.created_by,
            revoked_at=key.revoked_at,
            initiatives=tuple(codes.get(key.id, ())),
        )
        for key in await repo.all_keys(session)
    ]


async def revoke_key(session: AsyncSession, name: str) -> ApiKey:
    """Revoke a key at once. Revoking it again keeps the first revocation time."""
    _check_identifier(name, "a key's name", "name")
    key = await repo.key_by_name(session, name)
    if key is None:
        raise DomainError(f"no key named '{name}'", code=ErrorCode.NOT_FOUND, field="name")
    if key.revoked_at is None:
        await repo.mark_revoked(session, key, utcnow())
    return key


async def authenticate_key(session: AsyncSession, secret: str) -> Principal | None:
    """The caller a secret belongs to; None for an unknown or revoked key."""
    key, initiative_ids = await repo.key_and_initiatives_by_hash(session, hash_secret(secret))
    return await _caller(session, key, initiative_ids)


async def caller_of_key(session: AsyncSession, name: str) -> Principal | None:
    """The caller a key is, found by its name (a signed download link names the key
    that made it); None for an unknown or revoked key: checked as for its secret."""
    return await _caller(session, await repo.key_by_name(session, name))


async def caller_of_key_id(session: AsyncSession, key_id: int) -> Principal | None:
    """The caller a key is, by its id (a webhook endpoint names its key so); None for an
    unknown or revoked key."""
    return await _caller(session, await repo.key_by_id(session, key_id))


async def caller_of_key_row(session: AsyncSession, key: ApiKey | None) -> Principal | None:
    return await _caller(session, key)


async def _caller(
    session: AsyncSession, key: ApiKey | None, initiatives: frozenset[int] | None = None
) -> Principal | None:
    """The caller `key` is; a partner's initiatives are read unless given (`initiatives`,
    read with the key)."""
    if key is None or key.revoked_at is not None:
        return None
    try:
        role = Role(key.role)
    except ValueError:  # a row edited by hand: refuse rather than guess
        return None
    initiative_ids = None
    if role is Role.PARTNER:
        initiative_ids = initiatives
        if initiative_ids is None:
            initiative_ids = await repo.initiative_ids_of(session, key.id)
    return Principal(key.name, role, initiative_ids, via="api-key")
