"""The `fuzzer` fixture: the demo, callers of every role, and the count of what each
test sent (at least its share, MINIMUM)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest

from app.demo.loader import load_demo
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.http.fuzz.checks import MINIMUM, TOTALS, Fuzzer
from tests.http.fuzz.values import PARTNER_CODES


@pytest.fixture
async def fuzzer(
    request: pytest.FixtureRequest,
    db: Database,
    client: GraphQLClient,
    client_with: Callable[..., GraphQLClient],
) -> AsyncIterator[Fuzzer]:
    """The demo, callers of every role, and the count of what the test sent."""
    production = client_with(
        graphiql=False, introspection=False, field_suggestions=False, anonymous_read=False
    )
    fuzz = Fuzzer(db, client.http, production.http)
    async with db.sessions() as session, session.begin():
        await load_demo(session)
        for role in ("viewer", "editor", "auditor", "admin"):
            fuzz.keys[role] = await f.api_key(session, role)
        fuzz.keys["partner"] = await f.api_key(session, "partner", initiatives=PARTNER_CODES)
    failed_before = request.session.testsfailed
    started = time.perf_counter()
    yield fuzz
    elapsed = time.perf_counter() - started
    name = request.node.originalname
    TOTALS[db.backend] += fuzz.sent
    common = ", ".join(f"{k}: {v}" for k, v in fuzz.outcomes.most_common(8))
    print(
        f"\n{name}[{db.backend}]: {fuzz.sent} requests ({len(fuzz.distinct)} distinct) in "
        f"{elapsed:.1f} s (all {db.backend} so far: {TOTALS[db.backend]}), "
        f"{fuzz.writes} writes; {common}"
    )
    if request.session.testsfailed == failed_before:
        assert fuzz.sent >= MINIMUM.get(name, 0), f"{name} sent only {fuzz.sent} requests"


# FUZZ_RUNS=n: n times the examples, drawn at random: a longer hunt (before a release,
