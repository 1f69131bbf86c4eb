"""A partner's kept view brought up to date from the trail (app/views/views.py
`refresh_view`): it holds what a view built at that moment would, a shadow that grows
through refreshes gets the indexes (and on PostgreSQL the statistics) a build would give
it, and a write that lands while a refresh copies is not half seen."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from app import models as m
from app.audit.repository import chain_head
from app.models import audited_tables
from app.views import repository
from app.views import views as views_module
from app.views.views import Head, View, open_view, refresh_view
from tests import factories as f
from tests.conftest import Database

# A small threshold, so that a few dozen writes cross it.
INDEX_FROM = 40


async def _ledger(db: Database) -> tuple[int, int]:
    """Two initiatives with a transaction each; returns their ids (the partner's first)."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        mine = await f.initiative(session, program)
        theirs = await f.initiative(session, program)
        await f.transaction(session, mine)
        await f.transaction(session, theirs)
    return mine.id, theirs.id


async def _head(db: Database) -> Head:
    async with db.sessions() as session:
        return await chain_head(session)


async def _add_transactions(db: Database, initiative_id: int, count: int) -> None:
    async with db.sessions() as session, session.begin():
        initiative = await session.get(m.Initiative, initiative_id)
        assert initiative is not None
        for _ in range(count):
            await f.transaction(session, initiative)


async def _contents(view: View) -> dict[str, list[Any]]:
    """Every row of every shadow of `view`, in key order."""
    found: dict[str, list[Any]] = {}
    async with view.sessions() as session:
        for name in sorted(audited_tables()):
            rows = await session.execute(text(f"SELECT * FROM {name} ORDER BY id"))
            found[name] = [tuple(row) for row in rows]
    return found


async def _as_built_now(db: Database, scope: frozenset[int]) -> dict[str, list[Any]]:
    fresh = await open_view(db.engine, initiatives=scope)
    try:
        return await _contents(fresh)
    finally:
        await fresh.close()


async def _indexes(view: View, table: str) -> set[str]:
    """The indexes the catalog lists on the view's shadow of `table`."""
    async with view.sessions() as session:
        if view.connection.dialect.name == "postgresql":
            rows = await session.scalars(
                text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = :table AND schemaname = "
                    "(SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema())"
                ),
                {"table": table},
            )
        else:
            rows = await session.scalars(
                text(
                    "SELECT name FROM sqlite_temp_master WHERE type = 'index' AND tbl_name = :table"
                ),
                {"table": table},
            )
        return set(rows)


async def _planned_rows(view: View, table: str) -> float:
    """How many rows PostgreSQL's statistics say the shadow of `table` holds."""
    async with view.sessions() as session:
        found = await session.scalar(
            text(
                "SELECT reltuples FROM pg_class "
                "WHERE relname = :table AND relnamespace = pg_my_temp_schema()"
            ),
            {"table": table},
        )
    return float(found)


async def test_a_shadow_grown_past_the_threshold_by_refreshes_is_indexed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a partner's view built while its transactions are few (no indexes)
    monkeypatch.setattr(views_module, "INDEX_FROM", INDEX_FROM)
    mine, theirs = await _ledger(db)
    scope = frozenset({mine})
    head = await _head(db)
    view = await open_view(db.engine, initiatives=scope)
    try:
        assert await _indexes(view, "transactions") == set()
        # when: writes add more than the threshold to the partner's initiative (and
        # some to another's), and the view is brought up to date
        await _add_transactions(db, mine, INDEX_FROM)
        await _add_transactions(db, theirs, 5)
        head = await refresh_view(view, head)
        # then: its transactions are indexed as a build's would be, and it holds what
        # a view built now holds
        assert head == await _head(db)
        assert await _indexes(view, "transactions") == {
            "hx_transactions",
            "hx_transactions_initiative_id",
            "hx_transactions_budget_line_id",
            "hx_transactions_provider_id",
            "hx_transactions_receiver_id",
        }
        assert await _indexes(view, "initiatives") == set()
        assert await _contents(view) == await _as_built_now(db, scope)
        if db.backend == "postgresql":
            # with statistics taken then, and again once refreshes changed a tenth
            assert await _planned_rows(view, "transactions") == INDEX_FROM + 1
            await _add_transactions(db, mine, INDEX_FROM // 5)
            head = await refresh_view(view, head)
            assert head == await _head(db)
            assert await _planned_rows(view, "transactions") == INDEX_FROM + 1 + INDEX_FROM // 5
        # and: it goes on answering as a build would, now through its indexes
        await _add_transactions(db, mine, 3)
        await _add_transactions(db, theirs, 3)
        assert await refresh_view(view, head) == await _head(db)
        assert await _contents(view) == await _as_built_now(db, scope)
    finally:
        await view.close()


async def test_a_write_while_a_refresh_copies_is_seen_whole(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a partner's view, a write it has not seen, and another write that commits
    # after the refresh has read the trail and before it copies
    mine, _ = await _ledger(db)
    scope = frozenset({mine})
    head = await _head(db)
    view = await open_view(db.engine, initiatives=scope)
    reads = 0

    def then_a_write(read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def read_then_a_write(*args: Any, **kwargs: Any) -> Any:
            nonlocal reads
            trail = await read(*args, **kwargs)
            reads += 1
            if reads == 1:
                await _add_transactions(db, mine, 2)
            return trail

        return read_then_a_write

    # The trail's read (on PostgreSQL the one that copies too, which copies nothing
    # here: a new record regroups)
    for name in ("trail_since", "refresh_at_once"):
        monkeypatch.setattr(repository, name, then_a_write(getattr(repository, name)))
    try:
        await _add_transactions(db, mine, 1)
        # when
        refreshed = await refresh_view(view, head)
        # then: the copy saw the trail had moved and read it again; the view holds
        # both writes, as a view built now does
        assert reads == 2
        assert refreshed == await _head(db)
        contents = await _contents(view)
        assert len(contents["transactions"]) == 4
        assert contents == await _as_built_now(db, scope)
    finally:
        await view.close()


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many refresh scripts ran (`repository.run_at_head`), under "scripts"."""
    ran: Counter[str] = Counter()
    run_at_head = repository.run_at_head

    async def counted(*args: Any, **kwargs: Any) -> bool:
        ran["scripts"] += 1
        return await run_at_head(*args, **kwargs)

    monkeypatch.setattr(repository, "run_at_head", counted)
    return ran


async def _edit_three_tables(db: Database, mine: int, round_: int, amounts: bool = False) -> None:
    """Every transaction's description (and amount), the partner's initiative's title
    and its programme's name changed, in one write that regroups nothing."""
    async with db.sessions() as session, session.begin():
        for transaction in await session.scalars(select(m.Transaction)):
            transaction.description = f"round {round_}"
            if amounts:
                transaction.amount += 1
        initiative = await session.get(m.Initiative, mine)
        assert initiative is not None
        initiative.title = f"Renamed {round_}"
        program = await session.get(m.Program, initiative.program_id)
        assert program is not None
        program.name = f"Programme {round_}"


async def test_writes_that_regroup_nothing_are_copied_by_the_trails_read(
    db: Database, monkeypatch: pytest.MonkeyPatch, scripts: Counter[str]
) -> None:
    """On PostgreSQL the statement that reads the trail copies the records it names when
    no entry regroups (a title, an amount) and every entry is of a table the last
    refresh copied: one round trip, and the view holds what a build would, its indexed
    shadows included (their keys are unique: each record's old row goes before its new
    one comes)."""
    # given: a partner's view whose transactions are indexed, and whose trail's read
    # may copy into the three tables written below
    monkeypatch.setattr(views_module, "INDEX_FROM", 3)
    monkeypatch.setattr(views_module, "AT_ONCE_TABLES", 3)
    mine, _ = await _ledger(db)
    await _add_transactions(db, mine, 4)
    scope = frozenset({mine})
    head = await _head(db)
    view = await open_view(db.engine, initiatives=scope)
    try:
        assert "hx_transactions" in await _indexes(view, "transactions")
        for round_ in range(2):
            # when: the partner's transactions, its initiative and their programme are
            # changed, and another partner's transaction (more than a tenth of the
            # indexed shadow: its statistics are taken again)
            await _edit_three_tables(db, mine, round_, amounts=True)
            head = await refresh_view(view, head)
            # then: up to date, as a view built now; the first time by a script, the
            # second on PostgreSQL by the trail's read alone
            assert head == await _head(db)
            assert await _contents(view) == await _as_built_now(db, scope)
            assert scripts["scripts"] == (1 if db.backend == "postgresql" else round_ + 1)
        # and: a write that regroups (a new transaction) is still copied by its script
        await _add_transactions(db, mine, 1)
        assert await refresh_view(view, head) == await _head(db)
        assert await _contents(view) == await _as_built_now(db, scope)
        assert scripts["scripts"] == (2 if db.backend == "postgresql" else 3)
    finally:
        await view.close()


async def test_writes_to_more_tables_than_the_read_copies_go_by_script(
    db: Database, scripts: Counter[str]
) -> None:
    # given: a partner's view
    mine, _ = await _ledger(db)
    scope = frozenset({mine})
    head = await _head(db)
    view = await open_view(db.engine, initiatives=scope)
    try:
        for round_ in range(2):
            # when: each time, the partner's transactions, its initiative and their
            # programme are changed (three tables: more than AT_ONCE_TABLES)
            await _edit_three_tables(db, mine, round_)
            head = await refresh_view(view, head)
            # then: up to date, each time by a script: the trail's read does not take
            # on copies into every table a write touched (each costs every request)
            assert head == await _head(db)
            assert await _contents(view) == await _as_built_now(db, scope)
            assert scripts["scripts"] == round_ + 1
            assert view.copied == frozenset()
    finally:
        await view.close()


async def test_a_read_too_long_to_stay_prepared_copies_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch, scripts: Counter[str]
) -> None:
    # given: a partner's view whose read that copies would be longer than the driver
    # keeps prepared (a partner of many initiatives)
    monkeypatch.setattr(views_module, "CACHED_STATEMENT_CHARS", 1)
    mine, _ = await _ledger(db)
    scope = frozenset({mine})
    head = await _head(db)
    view = await open_view(db.engine, initiatives=scope)
    try:
        for round_ in range(2):
            # when: the partner's initiative is renamed, twice
            async with db.sessions() as session, session.begin():
                initiative = await session.get(m.Initiative, mine)
                assert initiative is not None
                initiative.title = f"Renamed {round_}"
            head = await refresh_view(view, head)
            # then: each time by the script, up to date
            assert head == await _head(db)
            assert await _contents(view) == await _as_built_now(db, scope)
            assert scripts["scripts"] == round_ + 1
    finally:
        await view.close()
