"""The unit of work of every mutation.

One transaction per write: take the chain lock (writers queue there, so what the
rules read cannot change before the write commits), replay an idempotent retry,
check the caller's permission and the version the caller read, apply the change,
and commit it with its audit entries. A refused write rolls back: nothing of it,
its audit entries included, is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.recorder import is_lock_timeout, lock_chain, set_actor, written
from app.audit.records import audited_tables, canonical_json, decode_state
from app.auth.principal import Principal
from app.auth.roles import Permission
from app.db.session import SessionFactory
from app.errors import DomainError, ErrorCode
from app.kit.text import Kind, text_problem
from app.models import Change, IdempotencyRecord
from app.writes.errors import FieldError, Rejected, as_field_errors

# Long enough for a UUID or a client's own scheme; short enough to index.
MAX_IDEMPOTENCY_KEY = 200
MAX_REASON = 2000


@dataclass(frozen=True)
class Write:
    """What the caller asked for, as far as the unit of work needs to know."""

    operation: str  # the mutation's name, e.g. "createTransaction"
    permission: Permission
    principal: Principal
    # The input, JSON-ready: hashed so a key reused for another input is refused.
    request: dict[str, Any]
    idempotency_key: str | None = None
    reason: str | None = None


@dataclass
class Outcome:
    record: Any = None
    errors: list[FieldError] = field(default_factory=list)
    # The first result of an earlier call with the same idempotency key.
    replayed: bool = False
    # The trail entry holding the record as the write left it: a client passes it to
    # read its own write from a replica (app/replicas/service.py).
    sequence: int | None = None


Work = Callable[[AsyncSession], Awaitable[Any]]

# Fault hook, for tests and operators: when set, awaited by every write once it holds
# the chain lock and before it runs, e.g. to stall there and see what a stuck writer
# does to the others. None (nothing runs) unless someone sets it.
lock_held_hook: Callable[[AsyncSession], Awaitable[None]] | None = None


def _request_hash(write: Write) -> str:
    text = canonical_json({"operation": write.operation, "input": write.request})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_arguments(write: Write) -> None:
    # A key names a request and is matched exactly; a reason is prose kept in the trail.
    for name, value, kind in (
        ("idempotency_key", write.idempotency_key, Kind.IDENTIFIER),
        ("reason", write.reason, Kind.TEXT),
    ):
        problem = None if value is None else text_problem(value, kind)
        if problem is not None:
            raise Rejected([FieldError(name, ErrorCode.VALIDATION, problem)])
    key = write.idempotency_key
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise Rejected(
            [
                FieldError(
                    "idempotency_key",
                    ErrorCode.VALIDATION,
                    f"an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY} characters",
                )
            ]
        )
    if write.reason is not None and len(write.reason) > MAX_REASON:
        raise Rejected(
            [
                FieldError(
                    "reason", ErrorCode.VALIDATION, f"a reason has at most {MAX_REASON} characters"
                )
            ]
        )


def record_from_entry(entry: Change) -> Any:
    """The record as an entry left it (or, after an archive, as it was before)."""
    model = audited_tables()[entry.entity_type]
    state = json.loads(entry.after if entry.after is not None else entry.before or "{}")
    table: Any = model.__table__
    return model(**decode_state(table, state))


async def _replay(session: AsyncSession, write: Write) -> Outcome | None:
    if write.idempotency_key is None:
        return None
    found = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.actor_name == write.principal.name,
            IdempotencyRecord.key == write.idempotency_key,
        )
    )
    if found is None:
        return None
    if found.operation != write.operation or found.request_hash != _request_hash(write):
        raise Rejected(
            [
                FieldError(
                    "idempotency_key",
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "this idempotency key was used for another request; use a new key",
                )
            ]
        )
    entry = await session.get(Change, found.change_sequence)
    assert entry is not None  # the trail keeps every entry
    return Outcome(record=record_from_entry(entry), replayed=True, sequence=entry.sequence)


async def perform(sessions: SessionFactory, write: Write, work: Work) -> Outcome:
    """Run `work` as one audited, idempotent write; errors come back, never raise."""
    try:
        write.principal.require(write.permission)
        _check_arguments(write)
    except DomainError as error:
        return Outcome(errors=as_field_errors(error))
    async with sessions() as session:
        set_actor(session, write.principal.actor, write.reason)
        try:
            async with session.begin():
                await lock_chain(session)
                if lock_held_hook is not None:
                    await lock_held_hook(session)
                replayed = await _replay(session, write)
                if replayed is not None:
                    return replayed
                record = await work(session)
                await session.flush()
                key = write.idempotency_key
                result_entry = await _result_entry(session, record) if record is not None else None
                if key is not None and result_entry is not None:
                    session.add(
                        IdempotencyRecord(
                            actor_name=write.principal.name,
                            key=key,
                            operation=write.operation,
                            request_hash=_request_hash(write),
                            entity_type=record.__tablename__,
                            entity_id=record.id,
                            change_sequence=result_entry,
                        )
                    )
        except DomainError as error:
            return Outcome(errors=as_field_errors(error))
        except DBAPIError as error:
            if not is_lock_timeout(error):
                raise
            return Outcome(
                errors=[
                    FieldError(
                        None,
                        ErrorCode.BUSY,
                        "another write held the ledger too long; nothing was written, retry",
                    )
                ]
            )
    return Outcome(record=record, sequence=result_entry)


async def _result_entry(session: AsyncSession, record: Any) -> int | None:
    """The trail entry that holds the record as this write left it: the one just
    written, or, when the write changed nothing, the record's latest."""
    key = (record.__tablename__, record.id)
    entries = [e for e in written(session) if (e.entity_type, e.entity_id) == key]
    if entries:
        return entries[-1].sequence
    latest = await session.scalar(
        select(func.max(Change.sequence)).where(
            Change.entity_type == key[0], Change.entity_id == key[1]
        )
    )
    return None if latest is None else int(latest)


def check_version(record: Any, version: int, what: str) -> None:
    """Refuse a write based on a stale read."""
    if record.version != version:
        raise Rejected(
            [
                FieldError(
                    "version",
                    ErrorCode.CONFLICT,
                    f"this {what} changed since it was read (version {version}, now "
                    f"{record.version}); read it again and reapply the change",
                )
            ]
        )
