"""The compiled read path answers exactly as the reference executor does (issue 15).

The oracle: generated query operations (corpus.py) are sent to two apps over the same
seeded database — one with the compiled read path, one with COMPILED_READS off — as
every kind of caller (anonymous with anonymous reads on and off, a viewer, an auditor,
an editor, an admin and a partner by API key, a viewer and a partner by JWT), live and
`asOf` a moment between two writes; their responses must be the same bytes. Each
operation `meant` for the compiled path must have been answered by it (its counter,
`PATHS`, says so), unless the reference executor answers it with errors (the compiled
path then hands it back): a corpus silently falling back would prove nothing.

hypothesis-graphql draws queries over the whole schema too: whatever it draws is
answered alike, by whichever path.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from sqlalchemy import select

from app import models as m
from app.auth.roles import ANONYMOUS_PERMISSIONS, ROLE_PERMISSIONS, Permission, Role
from app.demo.loader import load_demo
from app.graphql.compiled.executor import PATHS
from tests import factories as f
from tests.auth.tokens import JWT_SETTINGS, token
from tests.conftest import Database, GraphQLClient
from tests.graphql.compiled.corpus import (
    FEATURES,
    ROOT_LISTS,
    SCHEMA,
    Operation,
    Pools,
    declared_list,
    operations,
)
from tests.http.fuzz.values import PARTNER_CODES, SCALARS
from tests.http.fuzz.values import SCHEMA as PRINTED_SCHEMA

# Caller → (the apps it calls: "open" lets anonymous callers read, "closed" does not;
# its role, None for anonymous; how it authenticates).
CALLERS: dict[str, tuple[str, Role | None, str]] = {
    "anonymous": ("open", None, "none"),
    "anonymous, reads closed": ("closed", None, "none"),
    "viewer": ("open", Role.VIEWER, "key"),
    "auditor": ("open", Role.AUDITOR, "key"),
    "editor": ("open", Role.EDITOR, "key"),
    "admin": ("open", Role.ADMIN, "key"),
    "partner": ("open", Role.PARTNER, "key"),
    "viewer by token": ("open", Role.VIEWER, "token"),
    "partner by token": ("open", Role.PARTNER, "token"),
}
# Callers that may read, each of whom must see answers of the compiled path.
READERS = [name for name in CALLERS if name != "anonymous, reads closed"]
APP_SETTINGS: dict[str, dict[str, Any]] = {
    "open": {**JWT_SETTINGS, "anonymous_read": True},
    "closed": {"anonymous_read": False},
}


def bounded(examples: int) -> settings:
    """Reproducible runs of `examples` examples, on one seeded database per test."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


def permissions_of(caller: str) -> frozenset[Permission]:
    role = CALLERS[caller][1]
    return ANONYMOUS_PERMISSIONS if role is None else ROLE_PERMISSIONS[role]


@dataclass(repr=False)
class World:
    """The seeded database, both apps for each setting, the callers' credentials."""

    apps: dict[str, tuple[GraphQLClient, GraphQLClient]]  # (compiled, reference)
    secrets: dict[str, str | None]
    pools: Pools
    backend: str
    # How each operation was answered, by caller and by root list.
    paths: Counter[str] = field(default_factory=Counter)
    compiled_by: Counter[str] = field(default_factory=Counter)
    meant: int = 0
    codes: Counter[str] = field(default_factory=Counter)

    def _repr_pretty_(self, printer: Any, _cycle: bool) -> None:
        printer.text(f"World(paths={dict(self.paths)})")

    def clients(self, caller: str) -> tuple[GraphQLClient, GraphQLClient]:
        compiled, reference = self.apps[CALLERS[caller][0]]
        secret = self.secrets[caller]
        return compiled.with_key(secret), reference.with_key(secret)

    async def compare(self, caller: str, query: str, variables: dict[str, Any]) -> tuple[str, Any]:
        """Send the operation to both apps; the same response, byte for byte. Returns the
        path the compiled app took (compiled, fallback, reference, or none: refused
        before execution) and the response's JSON."""
        compiled, reference = self.clients(caller)
        before = Counter(PATHS)
        answer = await compiled.post(query, variables)
        taken = [p for p in ("compiled", "fallback", "reference") if PATHS[p] != before[p]]
        assert len(taken) <= 1, taken
        written = PATHS["in database"] != before["in database"]
        before = Counter(PATHS)
        expected = await reference.post(query, variables)
        assert before == PATHS, "the app without compiled reads took the compiled path"
        where = f"as {caller}: {query}\nvariables: {json.dumps(variables)}"
        assert answer.status_code == expected.status_code, where
        assert answer.text == expected.text, (
            f"{where}\ncompiled ({taken}): {answer.text[:3000]}\nreference: {expected.text[:3000]}"
        )
        body = json.loads(expected.text)
        for error in body.get("errors") or ():
            self.codes[(error.get("extensions") or {}).get("code", "?")] += 1
        path = taken[0] if taken else "none"
        self.paths[path] += 1
        if written:  # of those compiled, the database wrote the answer (in_database.py)
            self.paths["in database"] += 1
        return path, body

    async def check(self, caller: str, operation: Operation) -> None:
        """Both paths answer alike; an operation meant for the compiled path took it,
        unless the answer is an error (the reference executor's to report)."""
        path, body = await self.compare(caller, operation.text, operation.variables)
        if operation.meant:
            self.meant += 1
            where = f"as {caller}: {operation.text}\nvariables: {json.dumps(operation.variables)}"
            if "errors" in body:
                assert path in ("fallback", "none"), where
            else:
                assert path == "compiled", where
        if path == "compiled":
            self.compiled_by[caller] += 1
            self.compiled_by.update(f"root {root}" for root in operation.roots)
            self.compiled_by.update(f"with {feature}" for feature in operation.features)

    def assert_covered(self) -> None:
        """The compiled path answered for most readers, root lists and features of the
        corpus: a corpus that silently fell back would prove nothing. (Every operation
        meant for it that answered without errors was compiled: `check`. Which of them
        a run draws is random, so a few rare ones may go unseen in one run.)"""
        assert self.paths["compiled"] >= 0.3 * sum(self.paths.values()), self.paths
        # Many compiled answers are written by the database, PostgreSQL or SQLite (all
        # but those with a `last` or `before` window, frequent in this corpus): its JSON
        # is what the comparisons above held to the reference's bytes.
        assert self.paths["in database"] >= 0.3 * self.paths["compiled"], self.paths
        wanted = [
            *READERS,
            *(f"root {root}" for root in ROOT_LISTS),
            *(f"with {feature}" for feature in FEATURES),
        ]
        missing = [name for name in wanted if not self.compiled_by[name]]
        assert len(missing) <= len(wanted) // 4, f"never compiled: {missing}; {self.compiled_by}"


async def seed(db: Database) -> datetime:
    """The demo, changed after a moment (returned): records updated, created, archived,
    and a reached figure submitted for approval."""
    async with db.sessions() as session, session.begin():
        assert (await load_demo(session)).loaded
        # The demo records no transactions: some, on budget lines and not.
        lines = (await session.scalars(select(m.BudgetLine).order_by(m.BudgetLine.id))).all()
        for n, line in enumerate(lines[:8]):
            initiative = await session.get(m.Initiative, line.initiative_id)
            assert initiative is not None
            for k in range(1 + n % 3):
                await f.transaction(
                    session,
                    initiative,
                    budget_line_id=line.id if k else None,
                    type=list(m.TransactionType)[(n + k) % len(m.TransactionType)],
                    transaction_date=date(2022 + k, 1 + n, 10 + k),
                    amount=Decimal(f"{(n + 1) * 100 + k}.{k}5"),
                    description=None if k == 1 else f"payment {n}-{k}",
                )
    await asyncio.sleep(0.002)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.002)
    async with db.sessions() as session, session.begin():
        first, second = (
            await session.scalars(select(m.Initiative).order_by(m.Initiative.id).limit(2))
        ).all()
        first.title = first.title + " (renamed)"
        line = await session.scalar(select(m.BudgetLine).order_by(m.BudgetLine.id).limit(1))
        assert line is not None
        line.amount += Decimal("1000.00")
        await f.budget_line(session, second, amount=Decimal("777.00"), category="added later")
        await f.transaction(session, first, amount=Decimal("5000.00"), description="added later")
        milestone = await session.scalar(select(m.Milestone).order_by(m.Milestone.id).limit(1))
        await session.delete(milestone)
        figure = await session.scalar(
            select(m.BeneficiaryFigure).order_by(m.BeneficiaryFigure.id).limit(1)
        )
        assert figure is not None
        figure.draft_reached_value = Decimal(4321)
        figure.draft_reached_qualifier = m.FigureQualifier.MORE_THAN
        figure.draft_submitted_by = "an editor"
        figure.draft_submitted_at = datetime(2024, 5, 1, tzinfo=UTC)
    return moment


async def read_pools(world: World, moment: datetime) -> Pools:
    """Cursors and IDs as the lists answer them, for arguments."""
    _compiled, reference = world.clients("admin")
    cursors: dict[str, list[str]] = {}
    ids: dict[str, list[str]] = {}
    for root in ROOT_LISTS:
        data = await reference.data(
            f"{{ {root}(first: 30) {{ edges {{ cursor }} nodes {{ __typename id }} }} }}"
        )
        declared = declared_list(SCHEMA.query_type.fields[root])  # type: ignore[union-attr]
        assert declared is not None
        listing = declared.listing.name
        cursors[listing] = [edge["cursor"] for edge in data[root]["edges"]]
        for node in data[root]["nodes"][:4]:
            ids.setdefault(node["__typename"], []).append(node["id"])
    assert sum(map(len, cursors.values())) >= 10 and len(ids) == len(ROOT_LISTS)
    return Pools(
        cursors=cursors,
        ids=ids,
        # Between the writes; before any (whose views are empty); local time (refused).
        moments=[moment.isoformat(), "2000-01-01T00:00:00Z", "2024-01-01T00:00:00"],
        strings=[*PARTNER_CODES, "CP-05", "a", "e", "", "CNY", "%", "Rural"],
    )


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, db: Database, client_with: Callable[..., GraphQLClient]
) -> AsyncIterator[World]:
    moment = await seed(db)
    secrets: dict[str, str | None] = {}
    async with db.sessions() as session, session.begin():
        for caller, (_app, role, how) in CALLERS.items():
            initiatives = PARTNER_CODES if role is Role.PARTNER else ()
            if how == "key":
                assert role is not None
                secrets[caller] = await f.api_key(session, role, initiatives=initiatives)
            elif how == "token":
                assert role is not None
                claims = {"initiatives": list(initiatives)} if initiatives else {}
                secrets[caller] = token(role=role.value, **claims)
            else:
                secrets[caller] = None
    apps = {
        name: (client_with(compiled_reads=True, **s), client_with(compiled_reads=False, **s))
        for name, s in APP_SETTINGS.items()
    }
    found = World(apps, secrets, Pools([], {}, [], []), db.backend)
    found.pools = await read_pools(found, moment)
    yield found
    print(f"\n{request.node.name}: paths {dict(found.paths)}; errors {dict(found.codes)}")
    call = getattr(request.node, "call_report", None)
    if found.meant and call is not None and call.passed:
        found.assert_covered()


@bounded(examples=100)
@given(data=st.data())
async def test_generated_reads_answer_alike_on_both_paths(
    world: World, data: st.DataObject
) -> None:
    caller = data.draw(st.sampled_from(list(CALLERS)), label="caller")
    operation = data.draw(operations(world.pools, permissions_of(caller)), label="operation")
    await world.check(caller, operation)


# Fields whose answer is the clock's, read once by each path a second apart at worst:
# a download link expires a fixed time after it is made (its own tests: tests/http/
# test_download_links.py).
CLOCK_FIELDS = ("downloadLink",)

# hypothesis-graphql over the whole schema; only what validates against it is sent.
WHOLE_SCHEMA = queries(PRINTED_SCHEMA, custom_scalars=SCALARS).filter(
    lambda text: (
        not any(name in text for name in CLOCK_FIELDS)
        and not graphql.validate(SCHEMA, graphql.parse(text))
    )
)


@bounded(examples=40)
@given(query=WHOLE_SCHEMA, caller=st.sampled_from(READERS))
async def test_any_valid_query_answers_alike_on_both_paths(
    world: World, query: str, caller: str
) -> None:
    await world.compare(caller, query, {})
