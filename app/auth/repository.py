"""SQL for API keys: the only module that reads or writes `api_keys`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Initiative
from app.models.access import ApiKey, ApiKeyInitiative


async def key_by_name(session: AsyncSession, name: str) -> ApiKey | None:
    result = await session.execute(select(ApiKey).where(ApiKey.name == name))
    return result.scalar_one_or_none()


async def key_by_id(session: AsyncSession, key_id: int) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


# Built once: a caller is recognised on every request, and building the statement cost
# about as much as running it (its compiled form is SQLAlchemy's cache's either way).
_KEY_AND_INITIATIVES = (
    select(ApiKey, ApiKeyInitiative.initiative_id)
    .outerjoin(ApiKeyInitiative, ApiKeyInitiative.api_key_id == ApiKey.id)
    .where(ApiKey.secret_hash == bindparam("secret_hash"))
)


async def key_and_initiatives_by_hash(
    session: AsyncSession, secret_hash: str
) -> tuple[ApiKey | None, frozenset[int]]:
    """The key with this hash and the initiatives it names (a partner's), in one
    statement: a caller is recognised on every request, a partner in one round trip."""
    result = await session.execute(_KEY_AND_INITIATIVES, {"secret_hash": secret_hash})
    rows = result.all()
    if not rows:
        return None, frozenset()
    return rows[0][0], frozenset(row[1] for row in rows if row[1] is not None)


async def all_keys(session: AsyncSession) -> list[ApiKey]:
    result = await session.execute(select(ApiKey).order_by(ApiKey.name))
    return list(result.scalars())


async def initiative_ids_by_code(session: AsyncSession, codes: Sequence[str]) -> dict[str, int]:
    """The ids of the initiatives with these codes; unknown codes are simply absent."""
    if not codes:
        return {}
    result = await session.execute(
        select(Initiative.code, Initiative.id).where(Initiative.code.in_(set(codes)))
    )
    return {code: id_ for code, id_ in result.all()}


async def initiative_ids_of(session: AsyncSession, key_id: int) -> frozenset[int]:
    result = await session.execute(
        select(ApiKeyInitiative.initiative_id).where(ApiKeyInitiative.api_key_id == key_id)
    )
    return frozenset(result.scalars())


async def initiative_codes_by_key(session: AsyncSession) -> dict[int, list[str]]:
    """For listings: each key's initiatives as codes (ids of vanished initiatives as '#id')."""
    rows = await session.execute(
        select(ApiKeyInitiative.api_key_id, ApiKeyInitiative.initiative_id, Initiative.code)
        .outerjoin(Initiative, Initiative.id == ApiKeyInitiative.initiative_id)
        .order_by(ApiKeyInitiative.api_key_id, Initiative.code, ApiKeyInitiative.initiative_id)
    )
    codes: dict[int, list[str]] = {}
    for key_id, initiative_id, code in rows.all():
        codes.setdefault(key_id, []).append(code if code is not None else f"#{initiative_id}")
    return codes


async def insert_key(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    secret_hash: str,
    prefix: str,
    created_by: str,
    initiative_ids: Sequence[int],
) -> ApiKey:
    key = ApiKey(
        name=name, role=role, secret_hash=secret_hash, prefix=prefix, created_by=created_by
    )
    session.add(key)
    await session.flush()
    session.add_all(ApiKeyInitiative(api_key_id=key.id, initiative_id=i) for i in initiative_ids)
    await session.flush()
    return key


async def mark_revoked(session: AsyncSession, key: ApiKey, when: datetime) -> None:
    key.revoked_at = when
    await session.flush()
