"""Kept operations for partners (app/http/kept.py, issue 17): a partner's query the
compiled path answered whole is answered again from its scope's view, leased as the view
extension leases it. The answer is the normal path's, byte for byte (for every kept
operation: tests/http/test_kept.py); a partner is never answered but from its view (when
none can be had, the normal path answers and refuses); a write is seen by the partner's
next request."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app import models as m
from app.db.session import StatementCounter
from app.graphql.extensions.views import view_pool
from app.http.lean import SERVED
from app.views import pool as pool_module
from app.views.views import view_engine
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.http.test_kept import DASHBOARD, _post, _seen


async def _scoped(db: Database) -> tuple[list[str], str]:
    """Two programmes of two initiatives each; a partner key for the first programme's
    second initiative and the second programme's first. Returns every initiative's code
    (in order) and the key's secret."""
    async with db.sessions() as session, session.begin():
        codes: list[str] = []
        for _ in range(2):
            program = await f.program(session)
            codes += [(await f.initiative(session, program)).code for _ in range(2)]
        secret = await f.api_key(session, "partner", initiatives=[codes[1], codes[2]])
    return codes, secret


def _schema(client: GraphQLClient) -> Any:
    return client.http._transport.app.state.schema  # type: ignore[attr-defined]


@pytest.fixture
async def apps(
    client_with: Callable[..., GraphQLClient],
) -> AsyncIterator[Callable[..., GraphQLClient]]:
    """`client_with`, whose apps' kept views are closed after the test."""
    built: list[GraphQLClient] = []

    def build(**overrides: Any) -> GraphQLClient:
        client = client_with(**overrides)
        built.append(client)
        return client

    try:
        yield build
    finally:
        for client in built:
            await _schema(client).close()


def _codes(response: Any) -> set[str]:
    return {node["code"] for node in response.json()["data"]["initiatives"]["nodes"]}


def _ledger_reads(counter: StatementCounter) -> list[str]:
    """Statements on the app's own connections that read ledger records (not the
    caller's key, nor the trail's head)."""
    return [s for s in counter.statements if "api_key" not in s and "audit_chain_head" not in s]


async def test_a_partner_is_answered_from_its_view_when_a_reader_kept_the_operation(
    db: Database, apps: Callable[..., GraphQLClient]
) -> None:
    # given: the dashboard kept by anonymous readers, who hold a partner's permission
    # set, with their unscoped answer
    codes, secret = await _scoped(db)
    app = apps(anonymous_read=True)
    normal = apps(anonymous_read=True, kept_operations=False)
    for _ in range(2):
        assert _codes(await _post(app, DASHBOARD)) == set(codes[:3])
    before = Counter(SERVED)
    # when: the partner asks for the same document
    with StatementCounter(view_engine(db.engine)) as view:
        got = await _post(app.with_key(secret), DASHBOARD)
    # then: answered by the kept operation, from the partner's view only
    assert SERVED["kept"] == before["kept"] + 1
    assert view.statements
    assert _codes(got) == {codes[1], codes[2]}
    assert _seen(got) == _seen(await _post(normal.with_key(secret), DASHBOARD))


async def test_a_write_is_seen_by_a_partners_next_kept_request(
    db: Database, apps: Callable[..., GraphQLClient]
) -> None:
    # given: the dashboard kept for a partner, whose view is kept
    codes, secret = await _scoped(db)
    client = apps()
    kept, normal = client.with_key(secret), apps(kept_operations=False).with_key(secret)
    for _ in range(2):
        first = await _post(kept, DASHBOARD)
    pool = view_pool(_schema(client), _schema(client).settings)
    builds = pool.builds

    async def rename(code: str, title: str) -> None:
        async with db.sessions() as session, session.begin():
            initiative = await session.scalar(select(m.Initiative).where(m.Initiative.code == code))
            assert initiative is not None
            initiative.title = title

    # when: one of the partner's initiatives is renamed, and another partner's
    await rename(codes[1], "Renamed for the partner")
    await rename(codes[0], "Renamed elsewhere")
    before = Counter(SERVED)
    got = await _post(kept, DASHBOARD)
    # then: the next kept request sees its own, not the other, as the normal path does
    assert SERVED["kept"] == before["kept"] + 1
    titles = {node["code"]: node["title"] for node in got.json()["data"]["initiatives"]["nodes"]}
    assert titles[codes[1]] == "Renamed for the partner"
    assert set(titles) == {codes[1], codes[2]}
    assert got.text != first.text
    assert _seen(got) == _seen(await _post(normal, DASHBOARD))
    # by bringing the kept view up to date, not by building another
    assert pool.builds == builds
    assert pool.refreshes >= 1


async def test_a_partner_no_view_can_be_leased_for_is_refused_as_the_normal_path_refuses(
    db: Database, apps: Callable[..., GraphQLClient]
) -> None:
    # given: one view at most, none kept between requests, and no waiting for one; the
    # dashboard kept for a partner
    _, secret = await _scoped(db)
    one = {
        "max_views": 1,
        "views_reserved_for_partners": 0,
        "view_idle_seconds": 0,
        "view_wait_seconds": 0.05,
    }
    client, normal = apps(**one), apps(kept_operations=False, **one)
    for _ in range(2):
        assert "errors" not in (await _post(client.with_key(secret), DASHBOARD)).json()

    def the_only_view(app: GraphQLClient) -> AbstractAsyncContextManager[Any]:
        """The app's only view, taken by another caller (as of now)."""
        schema = _schema(app)
        return view_pool(schema, schema.settings).leased(
            db.engine,
            db.sessions,
            caller="another",
            partner=False,
            moment=datetime.now(UTC),
            initiatives=None,
        )

    before = Counter(SERVED)
    # when: the only view is held by another caller
    async with the_only_view(client):
        with StatementCounter(db.engine) as shared:
            got = await _post(client.with_key(secret), DASHBOARD)
    async with the_only_view(normal):
        expected = await _post(normal.with_key(secret), DASHBOARD)
    # then: refused BUSY by the kept path itself, as without kept operations, once
    # (not handed to the normal path to wait a second time), no record read
    assert SERVED["kept"] == before["kept"] + 1
    assert [e["extensions"]["code"] for e in got.json()["errors"]] == ["BUSY"]
    assert got.json().get("data") is None
    assert _seen(got) == _seen(expected)
    assert not _ledger_reads(shared), shared.statements


async def test_a_partner_whose_view_cannot_be_built_is_never_answered_unscoped(
    db: Database, apps: Callable[..., GraphQLClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the dashboard kept for a partner, in an app that keeps no view between
    # requests; then every build failing (the database refusing it, say)
    _, secret = await _scoped(db)
    client = apps(view_idle_seconds=0)
    for _ in range(2):
        assert "errors" not in (await _post(client.with_key(secret), DASHBOARD)).json()

    attempts: list[object] = []

    async def refused(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise RuntimeError("the database refused the view")

    monkeypatch.setattr(pool_module, "open_view", refused)
    before = Counter(SERVED)
    # when
    with StatementCounter(db.engine) as shared:
        got = await _post(client.with_key(secret), DASHBOARD)
    # then: no answer at all, and no record read; the build was tried once, by the
    # kept path, which answered the failure (masked) as the normal path does
    assert SERVED["kept"] == before["kept"] + 1
    assert len(attempts) == 1
    body = got.json()
    assert body.get("data") is None and body["errors"], body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INTERNAL"]
    assert not _ledger_reads(shared), shared.statements
