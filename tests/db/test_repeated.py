"""A statement run again and again (a compiled read's) goes to the driver's connection
itself once SQLAlchemy has sent it once (app/db/shared.py `one_row`), with the
snapshot's guarantees: one committed state, nothing written, failures as SQLAlchemy
reports them (issue 15). On SQLite only a statement alone does (a snapshot of several
statements reads through its session)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    cast,
    event,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import DBAPIError

from app import models as m
from app.db.session import StatementCounter
from app.db.shared import RUNS, Repeated, joined_rows, one_row, one_statement, read_snapshot
from app.engines import ledger_engine
from tests import factories as f
from tests.conftest import Database


async def _programs(db: Database) -> int:
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(m.Program))).scalar())


async def test_a_repeated_statement_is_sent_once_per_run_and_reads_the_same_row(
    db: Database,
) -> None:
    # given: two programs, and a statement counting them
    async with db.sessions() as session, session.begin():
        await f.program(session)
        await f.program(session)
    counted = Repeated(select(func.count()).select_from(m.Program))
    rows = []
    paths = []
    for _ in range(3):
        snapshot = read_snapshot(db.engine)
        one_statement(snapshot.sessions)
        before = Counter(RUNS)
        # when
        with StatementCounter(db.engine) as counter:
            row = await one_row(snapshot.sessions, counted)
        await snapshot.close()
        rows.append(row)
        paths.append(list((RUNS - before).elements()))
        # then: one statement each time, the same text
        assert counted.sent is not None
        assert counter.statements == [counted.sent[1]]
    # the first run through a session, which learns what it sent; then, a statement
    # alone, on a pooled connection borrowed for it
    assert paths == [["session"], ["pool"], ["pool"]]
    assert [tuple(row) for row in rows if row is not None] == [(2,), (2,), (2,)]


@pytest.mark.parametrize("runs", [1, 2])
async def test_on_the_driver_path_a_snapshot_reads_one_state_and_writes_nothing(
    db: Database, runs: int
) -> None:
    if db.backend == "sqlite":
        # No driver path for a snapshot of several statements: each read through the
        # snapshot's session (its deferred transaction), one state
        counted = Repeated(select(func.count()).select_from(m.Program))
        assert await one_row(db.sessions, counted) is not None
        written = await _programs(db)
        snapshot = read_snapshot(db.engine)
        before = Counter(RUNS)
        try:
            first = await one_row(snapshot.sessions, counted)
            async with db.sessions() as session, session.begin():
                await f.program(session)
            again = [await one_row(snapshot.sessions, counted) for _ in range(runs)]
        finally:
            await snapshot.close()
        assert first is not None and first[0] == written
        assert all(row == first for row in again)
        assert (RUNS - before) == Counter(session=1 + runs)
        assert await _programs(db) == written + 1
        return
    # given: a program, a statement counting programs and one adding one, each sent
    # once through SQLAlchemy (on a session that may write)
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
    counted = Repeated(select(func.count()).select_from(m.Program))
    adding = Repeated(
        insert(m.Program)
        .values(
            ref="driver",
            name="Driver",
            sponsor_id=program.sponsor_id,
            pledged_amount=Decimal("1.00"),
            pledged_currency="CNY",
            announced_on=date(2021, 1, 1),
            deadline=date(2022, 1, 1),
        )
        .returning(m.Program.id)
    )
    assert await one_row(db.sessions, counted) is not None
    assert await one_row(db.sessions, adding) is not None  # its session rolls it back
    assert counted.sent is not None and adding.sent is not None
    written = await _programs(db)
    # when: a snapshot of several statements (REPEATABLE READ, READ ONLY) reads,
    # another session commits a program, and the snapshot reads again
    snapshot = read_snapshot(db.engine)
    before = Counter(RUNS)
    try:
        first = await one_row(snapshot.sessions, counted)
        async with db.sessions() as session, session.begin():
            await f.program(session)
        again = [await one_row(snapshot.sessions, counted) for _ in range(runs)]
        # then: the same state each time, read on the driver's connection
        assert first is not None and all(row == first for row in again)
        assert (RUNS - before)["driver"] == 1 + runs
        assert first[0] == written
        # and a write in it is refused by PostgreSQL, as SQLAlchemy reports it
        with pytest.raises(DBAPIError, match="read-only transaction"):
            await one_row(snapshot.sessions, adding)
    finally:
        await snapshot.close()
    assert await _programs(db) == written + 1  # the other session's program only


@pytest.mark.parametrize(
    ("statement_only", "listened"),
    [(True, True), (True, False), (False, True)],
    ids=["autocommit", "autocommit, no listener", "snapshot"],
)
async def test_a_kept_statement_is_answered_again_after_another_process_changes_its_table(
    db: Database, statement_only: bool, listened: bool
) -> None:
    # given: a scratch table of one row, and a statement reading it, kept; read through
    # an engine with a statement listener (SQLAlchemy's cursor runs it, for the
    # listener to see) or one no listener ever saw, as production's (the adapter's
    # prepared statement runs it, `_fetched`)
    scratch = Table(f"stale_plan_{uuid.uuid4().hex[:8]}", MetaData(), Column("x", Integer))
    async with db.engine.begin() as connection:
        await connection.run_sync(scratch.create)
        await connection.execute(insert(scratch).values(x=1))
    read = Repeated(select(scratch.c.x))
    engine = ledger_engine(db.url)
    if listened:
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: None)
    assert engine.sync_engine._has_events == listened

    async def request() -> Any:
        snapshot = read_snapshot(engine)
        if statement_only:
            one_statement(snapshot.sessions)
        try:
            return await one_row(snapshot.sessions, read)
        finally:
            await snapshot.close()

    try:
        if db.backend == "sqlite":
            # SQLite prepares a statement again by itself when its tables changed: a
            # statement alone on a borrowed pooled connection, one of a snapshot through
            # its session, before and after another connection changes the table
            path = "pool" if statement_only else "session"
            before = Counter(RUNS)
            assert [tuple(await request()), tuple(await request())] == [(1,), (1,)]
            assert (RUNS - before) == Counter({"session": 1}) + Counter({path: 1})
            async with db.engine.begin() as connection:
                await connection.execute(text(f"ALTER TABLE {scratch.name} ADD COLUMN y TEXT"))
                await connection.execute(text(f"UPDATE {scratch.name} SET x = 2"))
            before = Counter(RUNS)
            assert [tuple(await request()), tuple(await request())] == [(2,), (2,)]
            assert (RUNS - before)[path] == 2
            return
        before = Counter(RUNS)
        assert [tuple(await request()), tuple(await request())] == [(1,), (1,)]
        # a statement alone on a borrowed pooled connection, one of a snapshot on the
        # snapshot's own connection
        path = "pool" if statement_only else "driver"
        assert (RUNS - before) == Counter({"session": 1, path: 1})
        # when: another process (a migration during a deploy) changes the column's type,
        # which the statement prepared on the pooled connection no longer matches
        other = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await other.execute(f"ALTER TABLE {scratch.name} ALTER COLUMN x TYPE bigint")
        finally:
            await other.close()
        # then: the next request fails as SQLAlchemy's own execution does, once; the
        # ones after it are answered, on the driver path again
        with pytest.raises(DBAPIError, match="cached statement plan is invalid"):
            await request()
        before = Counter(RUNS)
        assert [tuple(await request()), tuple(await request())] == [(1,), (1,)]
        assert (RUNS - before)[path] == 2
    finally:
        await engine.dispose()
        async with db.engine.begin() as connection:
            await connection.run_sync(scratch.drop)


@pytest.mark.parametrize("size", [1, 6, 1000])
async def test_rows_joined_up_to_a_size_are_the_rows_bytes_in_order(
    db: Database, size: int
) -> None:
    # given: a statement of rows of bytes, in order, each with its place
    rows = [f"[{n},".encode() for n in range(40)]
    read = Repeated(_placed(rows, range(40)))
    # when
    pieces = await joined_rows(db.sessions, read, size)
    # then: the rows' bytes one after the other, in pieces of at least `size` (the last
    # may be less), each as few rows as reach it
    assert pieces is not None and b"".join(pieces) == b"".join(rows)
    assert all(len(piece) >= size for piece in pieces[:-1])
    assert len(pieces) == {1: len(rows), 1000: 1}.get(size, len(pieces))
    # no row more than needed: without its last row, a piece is short of `size`
    assert all(len(piece[: piece.rfind(b"[")]) < size for piece in pieces)


def _placed(rows: list[bytes], places: Iterable[int]) -> Any:
    """A statement of `rows`' bytes, each with its place (two columns: 0, the place)."""
    return union_all(
        *(
            select(cast(literal(row.decode()), LargeBinary).label("p"), literal(0), literal(n))
            for row, n in zip(rows, places, strict=True)
        )
    )


@pytest.mark.parametrize("places", [[0, 2, 1, 3], [0, 1, 1, 2]])
async def test_rows_out_of_their_places_are_not_joined(db: Database, places: list[int]) -> None:
    """A row whose place does not rise from the one before (the database does not
    promise the order of a UNION ALL's rows): no text, rather than a misordered one."""
    # given
    rows = [f"[{n},".encode() for n in range(4)]
    # when
    pieces = await joined_rows(db.sessions, Repeated(_placed(rows, places)), 1000)
    # then
    assert pieces is None
    # (in their places, the same rows are joined)
    assert await joined_rows(db.sessions, Repeated(_placed(rows, range(4))), 1000) == [
        b"".join(rows)
    ]
