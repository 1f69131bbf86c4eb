"""Every ORM write to ledger data appends to the trail, in the same transaction.

Installed once on SQLAlchemy's Session class (`install()`): a flush that inserts,
updates or deletes a ledger record without an actor in `session.info` is refused,
so no code path can change data without leaving its entry. Writers first take the
chain lock (`lock_chain`), one row every writer updates: it orders writers on both
backends, so sequence numbers are gapless and each entry's previous hash is right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Update, event, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from app.audit import signals
from app.audit.chain import entry_hash
from app.audit.records import (
    Actor,
    State,
    canonical_json,
    encode,
    initiative_of,
    is_audited,
    state_of,
)
from app.db.base import Base
from app.db.types import utcnow
from app.models import ChainHead, Change

# How long a writer waits for the write lock before giving up.
WRITE_LOCK_WAIT_SECONDS = 10

ACTOR = "audit.actor"
REASON = "audit.reason"
HEAD = "audit.head"
OPERATIONS = "audit.operations"
WRITTEN = "audit.written"
BEFORES = "audit.befores"


class UnauditedWrite(RuntimeError):
    """A flush changed ledger data without saying who: a programming error."""


@dataclass
class Head:
    """The chain's end, as the writer holding the lock sees it; every appender (this
    recorder, bulk loads, the baseline) links its entries through it."""

    sequence: int
    hash: str
    occurred_at: datetime | None
    # The sequence the transaction found, and what its entries touched: per table, the
    # initiatives of the records (None for records of none). What is derived from the
    # records in the same transaction (`before_commit`) is kept from these.
    start: int = 0
    touched: dict[str, set[int | None]] = field(default_factory=dict)
    # Entries per table.
    entries: dict[str, int] = field(default_factory=dict)

    def clock(self) -> datetime:
        """Now, but never before the last entry: the trail's clock never runs backwards,
        so "as of" a time is "up to a sequence"."""
        now = utcnow()
        return now if self.occurred_at is None or now >= self.occurred_at else self.occurred_at

    def link(self, **fields: Any) -> dict[str, Any]:
        """An entry's fields completed with its sequence, previous hash and hash; the
        head moves past it."""
        entry = SimpleNamespace(**fields, sequence=self.sequence + 1, previous_hash=self.hash)
        self.touched.setdefault(entry.entity_type, set()).add(entry.initiative_id)
        self.entries[entry.entity_type] = self.entries.get(entry.entity_type, 0) + 1
        entry.hash = entry_hash(entry)
        self.sequence, self.hash, self.occurred_at = entry.sequence, entry.hash, entry.occurred_at
        return vars(entry)

    def save(self) -> Update:
        """The statement that records the head in its row."""
        return (
            update(ChainHead)
            .where(ChainHead.id == 1)
            .values(
                last_sequence=self.sequence,
                last_hash=self.hash,
                last_occurred_at=self.occurred_at,
            )
        )


def set_actor(session: AsyncSession | Session, actor: Actor, reason: str | None = None) -> None:
    session.info[ACTOR] = actor
    session.info[REASON] = reason


def mark_operation(session: AsyncSession | Session, obj: Any, operation: str) -> None:
    """Name the change to `obj` more precisely than update (e.g. approve)."""
    session.info.setdefault(OPERATIONS, {})[id(obj)] = operation


def written(session: AsyncSession | Session) -> list[Change]:
    """The entries this session's transaction has appended so far."""
    entries: list[Change] = session.info.get(WRITTEN, [])
    return entries


def _lock(session: Session) -> Head:
    head: Head | None = session.info.get(HEAD)
    if head is None:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            # A writer queued longer than this gives up (BUSY) rather than hold a pooled
            # connection indefinitely; SQLite's busy_timeout does the same there.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{WRITE_LOCK_WAIT_SECONDS}s'")
        # Updating the row takes the write lock: PostgreSQL's row lock, SQLite's
        # database lock. Every writer queues here before it reads what it checks.
        conn.execute(update(ChainHead).where(ChainHead.id == 1).values(id=ChainHead.id))
        row = conn.execute(
            select(ChainHead.last_sequence, ChainHead.last_hash, ChainHead.last_occurred_at).where(
                ChainHead.id == 1
            )
        ).one()
        head = session.info[HEAD] = Head(
            row.last_sequence, row.last_hash, row.last_occurred_at, start=row.last_sequence
        )
    return head


def is_lock_timeout(error: BaseException) -> bool:
    """Whether a database error means the write lock was not granted in time."""
    if not isinstance(error, DBAPIError):
        return False
    original = error.orig
    if getattr(original, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return "database is locked" in str(original)  # SQLite, after its busy_timeout


async def lock_chain(session: AsyncSession) -> None:
    """Take the write lock at the start of a write transaction, before any check reads."""
    await session.run_sync(_lock)


def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    changed = [o for o in session.dirty if is_audited(o) and session.is_modified(o)]
    touched = changed or any(is_audited(o) for o in (*session.new, *session.deleted))
    if not touched:
        return
    if ACTOR not in session.info:
        raise UnauditedWrite("ledger data written without an actor (set_actor first)")
    # Taken now: after the flush, columns set by `onupdate` (updated_at) hold their new
    # value with no attribute history, so the state before could not be read back.
    session.info[BEFORES] = {id(obj): _state_before(obj) for obj in changed}
    for obj in changed:
        obj.version = obj.version + 1


def _state_before(obj: Any) -> State:
    """The state as loaded, from the attribute history of this flush."""
    state = state_of(obj)
    attrs = inspect(obj).attrs
    for column in obj.__table__.columns:
        history = attrs[column.key].history
        if history.deleted:
            state[column.key] = encode(column, history.deleted[0])
    return state


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    operations: dict[int, str] = session.info.get(OPERATIONS, {})
    befores: dict[int, State] = session.info.pop(BEFORES, {})
    pending: list[tuple[Any, str, str | None, str | None]] = []  # (obj, op, before, after)
    for obj in session.new:
        if is_audited(obj):
            pending.append(
                (obj, operations.get(id(obj), "create"), None, canonical_json(state_of(obj)))
            )
    for obj in session.dirty:
        if is_audited(obj) and session.is_modified(obj):
            pending.append(
                (
                    obj,
                    operations.get(id(obj), "update"),
                    canonical_json(befores.get(id(obj)) or _state_before(obj)),
                    canonical_json(state_of(obj)),
                )
            )
    for obj in session.deleted:
        if is_audited(obj):
            pending.append(
                (obj, operations.get(id(obj), "archive"), canonical_json(state_of(obj)), None)
            )
    if not pending:
        return
    actor: Actor = session.info[ACTOR]
    reason: str | None = session.info.get(REASON)
    head = _lock(session)
    now = head.clock()
    # Parents before children, as the flush wrote them, so a replay can insert in order.
    pending.sort(key=lambda item: _rank(item[0]))
    rows = [
        head.link(
            occurred_at=now,
            actor_name=actor.name,
            actor_role=actor.role,
            entity_type=obj.__tablename__,
            entity_id=int(obj.id),
            initiative_id=initiative_of(obj),
            operation=operation,
            before=before,
            after=after,
            reason=reason,
        )
        for obj, operation, before, after in pending
    ]
    conn = session.connection()
    conn.execute(insert(Change), rows)
    conn.execute(head.save())
    session.info.setdefault(WRITTEN, []).extend(Change(**row) for row in rows)
    session.info.pop(OPERATIONS, None)


@cache
def _table_ranks() -> dict[str, int]:
    return {table.name: i for i, table in enumerate(Base.metadata.sorted_tables)}


def _rank(obj: Any) -> int:
    return _table_ranks()[obj.__tablename__]


# Run before a writing transaction commits, with the chain head (what it touched):
# derived tables kept in the same transaction as the records (app/reports/budget/
# rollups.py `install`, called by every entry point that writes).
BeforeCommit = Callable[[Session, Head], None]
_before_commit_hooks: list[BeforeCommit] = []


def before_commit(hook: BeforeCommit) -> None:
    """Have `hook` run in every transaction that appended to the trail, before it
    commits (idempotent)."""
    if hook not in _before_commit_hooks:
        _before_commit_hooks.append(hook)


def runs_before_commit(hook: BeforeCommit) -> bool:
    return hook in _before_commit_hooks


def _before_commit(session: Session) -> None:
    if not _before_commit_hooks:
        return
    # What is still pending is flushed now (commit would flush it next), so its
    # entries count too.
    session.flush()
    head: Head | None = session.info.get(HEAD)
    if head is None or head.sequence == head.start:
        return
    for hook in _before_commit_hooks:
        hook(session, head)


def _after_commit(session: Session) -> None:
    # Live updates (app/events/): tell this process's hubs the trail has grown.
    entries = written(session)
    if entries:
        signals.committed(int(entries[-1].sequence))


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The lock and the entries belong to the outermost transaction.
    if transaction.parent is None:
        session.info.pop(HEAD, None)
        session.info.pop(WRITTEN, None)
        session.info.pop(OPERATIONS, None)
        session.info.pop(BEFORES, None)


_installed = False


def install() -> None:
    """Hook the recorder into every session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_transaction_end", _after_transaction_end)
    _installed = True
