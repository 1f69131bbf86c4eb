"""The rules that keep views safe: one moment for the whole operation, a partner never
answered unscoped, a view's unshadowed tables unreadable (PostgreSQL), and a limit on
how many views are open at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app import models as m
from app.audit.records import audited_tables
from app.auth.principal import Principal
from app.auth.roles import Role
from app.config import Settings
from app.db.session import StatementCounter
from app.demo.loader import load_demo
from app.graphql.context import Context
from app.graphql.extensions.views import view_pool
from app.graphql.loaders import DataLoaders
from app.graphql.schema import build_schema
from app.kit.ids import encode_global_id
from app.kit.pacing import pacer
from app.views.views import open_view, view_engine
from tests import factories as f
from tests.conftest import Database, GraphQLClient

PAST = "2001-01-01T00:00:00Z"

MIXED = """
query { live: initiatives { totalCount } past: programs(asOf: "2001-01-01T00:00:00Z") {
  totalCount } }
"""

WITH_CHANGES = """
query { changes(first: 1) { totalCount } programs(asOf: "2001-01-01T00:00:00Z") { totalCount } }
"""

SKIPPABLE = """
query Skippable($skip: Boolean!) {
  live: initiatives { totalCount }
  past: programs(asOf: "2001-01-01T00:00:00Z") @skip(if: $skip) { totalCount }
}
"""

FRAGMENTS = """
query Past($asOf: DateTime) {
  __typename
  ...Lists
  ... on Query { programs(asOf: $asOf) { totalCount } }
}
fragment Lists on Query { initiatives(asOf: $asOf) { totalCount } }
"""

ROOT_FIELDS = """
query {
  __schema { queryType { fields { name args { name } type { name ofType { name } } } } }
}
"""

PROGRAMS_PAST = """
query Past($asOf: DateTime) { programs(asOf: $asOf) { totalCount } }
"""

INITIATIVES = """
query { initiatives { totalCount } }
"""


async def load(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        assert (await load_demo(session)).loaded


async def test_a_moment_must_be_named_by_every_root_field(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await load(db)
    # when
    mixed = await client.error(MIXED)
    with_changes = await client.error(WITH_CHANGES)
    everywhere = await client.data(FRAGMENTS, {"asOf": PAST})
    live = await client.data(FRAGMENTS)
    # then
    for refused in (mixed, with_changes):
        assert refused["extensions"] == {"code": "INVALID_ARGUMENT", "field": "asOf"}
        assert "give every root field the same asOf, or none" in refused["message"]
    assert everywhere["initiatives"] == everywhere["programs"] == {"totalCount": 0}
    assert live["initiatives"] == {"totalCount": 10}
    assert live["programs"] == {"totalCount": 1}


async def test_a_skipped_field_names_no_moment(db: Database, client: GraphQLClient) -> None:
    # given
    await load(db)
    # when
    skipped = await client.data(SKIPPABLE, {"skip": True})
    kept = await client.error(SKIPPABLE, {"skip": False})
    # then
    assert skipped == {"live": {"totalCount": 10}}
    assert kept["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_a_partner_reads_every_root_list_from_its_view_only(
    db: Database, client: GraphQLClient
) -> None:
    # given: a key for two initiatives; records of another initiative and programme
    async with db.sessions() as session, session.begin():
        await load_demo(session)
        initiatives = (await session.scalars(select(m.Initiative).order_by(m.Initiative.id))).all()
        hidden = initiatives[0]
        secret = await f.api_key(session, "partner", initiatives=[i.code for i in initiatives[1:3]])
        other = await f.program(session)
        outside = {
            encode_global_id("Program", other.id),
            encode_global_id("Initiative", (await f.initiative(session, other)).id),
            encode_global_id("Initiative", hidden.id),
            encode_global_id("Transaction", (await f.transaction(session, hidden)).id),
            encode_global_id("BudgetLine", (await f.budget_line(session, hidden)).id),
            encode_global_id("Milestone", (await f.milestone(session, hidden)).id),
        }
    fields = (await client.data(ROOT_FIELDS))["__schema"]["queryType"]["fields"]
    lists = [
        field["name"]
        for field in fields
        if "asOf" in {argument["name"] for argument in field["args"]}
        and str(field["type"]["name"] or field["type"]["ofType"]["name"]).endswith("Connection")
    ]
    selections = " ".join(f"{name}(first: 100) {{ nodes {{ id }} }}" for name in lists)
    every_list = f"query {{ {selections} }}"
    # when
    with StatementCounter(db.engine) as pooled, StatementCounter(view_engine(db.engine)) as view:
        seen = await client.with_key(secret).data(every_list)
    everything = await client.data(every_list)
    # then
    ids = {node["id"] for answer in seen.values() for node in answer["nodes"]}
    all_ids = {node["id"] for answer in everything.values() for node in answer["nodes"]}
    assert len(lists) >= 9
    assert outside <= all_ids
    assert not outside & ids
    assert view.count > 0
    # Only the key's lookup (authentication) and the trail's head (is a kept view
    # current?) touch the shared tables.
    shared = ("FROM api_key", "FROM audit_chain_head")
    assert pooled.statements
    assert all(any(table in s for table in shared) for s in pooled.statements)


async def test_a_partner_is_refused_where_no_view_can_be_opened(
    db: Database, settings: Settings
) -> None:
    # given: a context without the engine's own sessions, so no view can be built
    await load(db)
    schema = build_schema(settings)
    ids = frozenset({1})

    def context(initiatives: frozenset[int] | None) -> Any:
        principal = Principal("p", Role.PARTNER if initiatives else Role.AUDITOR, initiatives)
        return SimpleNamespace(
            reads=db.sessions,
            settings=settings,
            principal=principal,
            loaders=DataLoaders(db.sessions),
            # Long answers take turns on the loop, as a real context's do.
            wait_turn=partial(pacer().pause, settings.answer_slice_seconds, "p", 0),
        )

    # when
    partner = await schema.execute(INITIATIVES, context_value=context(ids))
    auditor = await schema.execute(INITIATIVES, context_value=context(None))
    # then
    assert partner.data is None
    assert partner.errors and partner.errors[0].extensions == {"code": "FORBIDDEN"}
    assert auditor.data == {"initiatives": {"totalCount": 10}}


async def test_a_views_connection_cannot_read_what_it_did_not_shadow(db: Database) -> None:
    # given
    await load(db)
    async with db.sessions() as session, session.begin():
        await f.api_key(session, "auditor")
    # when
    view = await open_view(db.engine, initiatives=frozenset({1}))
    try:
        async with view.sessions() as session:
            counts = {
                name: await session.scalar(select(func.count()).select_from(model))
                for name, model in audited_tables().items()
            }
            refusal = ""
            try:
                leaked = await session.scalar(text("SELECT count(*) FROM api_keys"))
            except DBAPIError as error:
                leaked, refusal = None, str(error)
    finally:
        await view.close()
    # then: the shadows answer; a table without one is an error on PostgreSQL (SQLite
    # has no search path to narrow, so there the shadows alone decide)
    assert counts["initiatives"] == 1
    if db.backend == "postgresql":
        assert leaked is None and "does not exist" in refusal
    else:
        assert leaked == 1


async def test_every_query_reads_the_shadows(db: Database) -> None:
    # given: the real tables hold the demo; the trail before it holds nothing
    moment = datetime.now(UTC) - timedelta(seconds=1)
    await load(db)
    models: dict[str, Any] = {**audited_tables(), "changes": m.Change}
    # when
    view = await open_view(db.engine, moment=moment)
    try:
        async with view.sessions() as session:
            counts = {
                name: await session.scalar(select(func.count()).select_from(model))
                for name, model in models.items()
            }
    finally:
        await view.close()
    async with db.sessions() as session:
        real = await session.scalar(select(func.count()).select_from(m.Initiative))
    # then
    assert counts == dict.fromkeys(models, 0)
    assert real


async def test_views_beyond_the_limit_wait_then_are_refused_busy(
    db: Database, settings: Settings
) -> None:
    # given: one view at most per schema; on the impatient one, a view is held
    await load(db)
    # (the settings name the test's database: the compiled path writes its answer as
    # that database's SQL)
    one = {
        "max_views": 1,
        "views_reserved_for_partners": 0,
        "max_views_per_caller": 3,
        "database_url": db.url,
    }
    impatient = settings.model_copy(update={**one, "view_wait_seconds": 0.05})
    patient = settings.model_copy(update={**one, "view_wait_seconds": 30})
    reader = Principal("auditor", Role.AUDITOR)

    async def past(schema: Any, limits: Settings) -> Any:
        context = Context(reads=db.sessions, settings=limits, principal=reader)
        return await schema.execute(PROGRAMS_PAST, {"asOf": PAST}, context_value=context)

    busy, queueing = build_schema(impatient), build_schema(patient)
    # when
    async with view_pool(busy, impatient).leased(
        db.engine,
        db.sessions,
        caller="other",
        partner=False,
        moment=datetime.now(UTC),
        initiatives=None,
    ):
        refused = await past(busy, impatient)
    after = await past(busy, impatient)
    queued = await asyncio.gather(*(past(queueing, patient) for _ in range(3)))
    # then
    assert refused.data is None
    assert refused.errors and refused.errors[0].extensions == {"code": "BUSY"}
    assert after.data == {"programs": {"totalCount": 0}}
    assert [r.data for r in queued] == [{"programs": {"totalCount": 0}}] * 3
