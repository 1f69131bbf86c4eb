"""Kept operations (app/http/kept.py): a query the compiled path answered whole is
answered again with only the rules that depend on the request. The answer, its headers
and the metrics are the normal path's; whatever the rules refuse is refused the same
way, with no statement sent (issue 15)."""

from __future__ import annotations

import re
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.keys import revoke_key
from app.db.session import StatementCounter
from app.graphql.compiled import in_database
from app.graphql.compiled.executor import PATHS
from app.graphql.extensions import views
from app.http.kept import KEPT_CHARS, KEPT_DOCUMENT_CHARS
from app.http.lean import SERVED
from tests import factories as f
from tests.conftest import Database, GraphQLClient

DASHBOARD = "{ initiatives(first: 3) { nodes { id code title status plannedStart plannedEnd } } }"
PAGE = (
    "query Page($n: Int, $after: String) { initiatives(first: $n, after: $after) "
    "{ nodes { id code status } } }"
)
DEFAULTED = "query Defaulted($n: Int = 2) { initiatives(first: $n) { nodes { id title } } }"
TWO = (
    "query A { programs(first: 2) { nodes { id ref name } } } "
    "query B { initiatives(first: 1) { nodes { id plannedEnd } } }"
)

# (document, variables, operation name): each asked three times.
OPERATIONS: list[tuple[str, dict[str, Any] | None, str | None]] = [
    (DASHBOARD, None, None),
    (PAGE, {"n": 2}, "Page"),
    (PAGE, {"n": 1, "after": None}, "Page"),
    (DEFAULTED, None, "Defaulted"),
    (DEFAULTED, {"n": 3}, "Defaulted"),
    (TWO, None, "B"),
    (TWO, {}, "A"),
]
HEADERS = {"X-Request-ID": "kept-1", "Origin": "https://app.example"}


async def _seed(db: Database) -> list[str]:
    """Four initiatives of one programme: their codes."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        return [(await f.initiative(session, program)).code for _ in range(4)]


async def _post(
    client: GraphQLClient,
    query: str,
    variables: Any = None,
    name: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if name is not None:
        body["operationName"] = name
    return await client.http.post(
        "/graphql", json=body, headers={**HEADERS, **client.headers, **(headers or {})}
    )


def _seen(response: httpx.Response) -> tuple[int, list[tuple[str, str]], str]:
    return response.status_code, sorted(response.headers.multi_items()), response.text


def _reads(counter: StatementCounter) -> list[str]:
    """The statements that read initiatives (not the callers' keys)."""
    return [s for s in counter.statements if "initiatives" in s and "api_key" not in s]


def _counts(metrics: str) -> list[str]:
    """The counters of /metrics (the durations' counts too, not their sums)."""
    return sorted(
        line
        for line in metrics.splitlines()
        if re.match(r"pledge_ledger_(graphql_operations|graphql_errors|http_requests)_total", line)
        or re.match(r"pledge_\w+_duration_seconds_count", line)
    )


@pytest.mark.parametrize("caller", ["reader", "partner"])
async def test_kept_answers_are_the_normal_paths_bytes_headers_and_metrics(
    db: Database, client_with: Callable[..., GraphQLClient], caller: str
) -> None:
    # given: the same app kept and not, and the reference executor; an anonymous
    # reader, or a partner of two of the four initiatives (answered from its view)
    codes = await _seed(db)
    secret = None
    if caller == "partner":
        async with db.sessions() as session, session.begin():
            secret = await f.api_key(session, "partner", initiatives=codes[1:3])
    cors = {"cors_origins": ["https://app.example"]}
    kept = client_with(**cors).with_key(secret)
    normal = client_with(kept_operations=False, **cors).with_key(secret)
    reference = client_with(compiled_reads=False, **cors).with_key(secret)
    seen: set[tuple[str, str | None]] = set()
    for query, variables, name in OPERATIONS:
        # kept by document and operation name, whatever the variables
        known = (query, name) in seen
        seen.add((query, name))
        expected = await _post(reference, query, variables, name)
        assert expected.status_code == 200 and "errors" not in expected.json(), expected.text
        for attempt in range(3):
            before, paths = Counter(SERVED), Counter(PATHS)
            # when
            with StatementCounter(db.engine) as counter:
                got = await _post(kept, query, variables, name)
            # then: the normal path's status, headers and bytes, the reference's answer
            assert _seen(got) == _seen(await _post(normal, query, variables, name))
            assert got.text == expected.text
            assert got.headers["x-request-id"] == "kept-1"
            assert got.headers["access-control-allow-origin"] == "https://app.example"
            # answered by the kept operation from the second time on, in one statement
            assert SERVED["kept"] - before["kept"] == (1 if attempt or known else 0), query
            assert PATHS["compiled"] - paths["compiled"] == 2  # kept and normal
            if caller == "partner":
                # its key (and the trail's head, before its view is built): the answer
                # is read from its view, never from the real tables
                assert not _reads(counter), counter.statements
            elif db.backend == "postgresql":
                assert counter.count == 1, counter.statements
    # and the apps counted the same operations, errors and requests
    assert _counts((await kept.http.get("/metrics")).text) == _counts(
        (await normal.http.get("/metrics")).text
    )
    if caller == "partner":  # who saw its own initiatives only
        nodes = (await _post(kept, DASHBOARD)).json()["data"]["initiatives"]["nodes"]
        assert {node["code"] for node in nodes} == set(codes[1:3])


@pytest.mark.parametrize(
    "accept",
    [None, "application/json", "*/*", "application/graphql-response+json", "text/html"],
)
async def test_a_kept_answer_goes_out_as_the_normal_paths_head_and_body(
    db: Database, client_with: Callable[..., GraphQLClient], accept: str | None
) -> None:
    """A kept answer with no error is written straight to the server (app/http/lean.py
    `_send_data`, not through a starlette Response): the status, the headers in their
    order (the request id and CORS layers' included) and the bytes are the normal
    path's, whatever media type the client asks for."""
    # given: the dashboard kept in one app and not in another
    await _seed(db)
    cors = {"cors_origins": ["https://app.example"]}
    kept, normal = client_with(**cors), client_with(kept_operations=False, **cors)
    headers = {"Accept": accept} if accept is not None else {}
    for _ in range(2):
        await _post(kept, DASHBOARD, headers=headers)
    before = Counter(SERVED)
    # when
    got = await _post(kept, DASHBOARD, headers=headers)
    expected = await _post(normal, DASHBOARD, headers=headers)
    # then
    assert SERVED["kept"] == before["kept"] + 1
    assert (got.status_code, got.headers.raw, got.content) == (
        expected.status_code,
        expected.headers.raw,
        expected.content,
    )
    assert "errors" not in got.json()


# Variables the kept operation hands to the normal path, which reports them.
@pytest.mark.parametrize(
    "variables",
    [
        {"n": "two"},
        {"n": 2.5},
        {"n": 2, "after": 7},
        {"n": 2, "extra": 1},
        {"n": 2, "after": "a\u0000b"},
        {"n": 2**40},
        {"n": -1},
        ["n"],
    ],
)
async def test_unusual_variables_of_a_kept_operation_answer_as_the_normal_path(
    db: Database, client_with: Callable[..., GraphQLClient], variables: Any
) -> None:
    # given: PAGE kept
    await _seed(db)
    kept, normal = client_with(), client_with(kept_operations=False)
    for _ in range(2):
        assert (await _post(kept, PAGE, {"n": 2}, "Page")).status_code == 200
    before = Counter(SERVED)
    # when
    got = await _post(kept, PAGE, variables, "Page")
    # then
    assert _seen(got) == _seen(await _post(normal, PAGE, variables, "Page"))
    if "errors" in got.json():  # reported by the normal path
        assert SERVED["kept"] == before["kept"]
    else:  # a variable the operation does not declare is left alone by both
        assert variables == {"n": 2, "extra": 1}


async def test_a_kept_operation_is_priced_with_each_requests_variables(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: PAGE kept at a small page, in an app whose cost limit a larger page passes
    await _seed(db)
    kept, normal = client_with(max_query_cost=20), client_with(max_query_cost=20)
    for _ in range(2):
        assert "errors" not in (await _post(kept, PAGE, {"n": 2}, "Page")).json()
    before = Counter(SERVED)
    # when: a page past the limit
    with StatementCounter(db.engine) as counter:
        got = await _post(kept, PAGE, {"n": 50}, "Page")
    # then: refused as the normal path refuses it, with no statement sent
    assert _seen(got) == _seen(await _post(normal, PAGE, {"n": 50}, "Page"))
    assert [e["extensions"]["code"] for e in got.json()["errors"]] == ["QUERY_TOO_COSTLY"]
    assert not _reads(counter), counter.statements
    assert SERVED["kept"] == before["kept"]


async def test_a_heavy_operation_of_no_variables_is_never_answered_kept(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    """Without variables, the rules that read them are decided once, when the operation
    is kept: one its price makes heavy (a slot of MAX_HEAVY_PER_CALLER to take) goes the
    normal way every time, as with variables."""
    # given: DASHBOARD heavy in this app, answered whole by its plan
    await _seed(db)
    app = client_with(heavy_query_work=1)
    before = Counter(SERVED)
    # when
    answers = [await _post(app, DASHBOARD) for _ in range(3)]
    # then
    assert [answer.status_code for answer in answers] == [200] * 3
    assert all("errors" not in answer.json() for answer in answers)
    assert SERVED["kept"] == before["kept"]


async def test_the_callers_of_a_kept_operation_are_checked_at_every_request(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: an app with no anonymous reading; the dashboard kept for a viewer's key
    codes = await _seed(db)
    name = f"kept-{uuid.uuid4().hex[:8]}"
    async with db.sessions() as session, session.begin():
        viewer = await f.api_key(session, "viewer", name=name)
        other = await f.api_key(session, "viewer")
        partner = await f.api_key(session, "partner", initiatives=codes[:1])
    app = client_with(anonymous_read=False)
    normal = client_with(anonymous_read=False, kept_operations=False)
    for _ in range(2):
        ok = await _post(app.with_key(viewer), DASHBOARD)
        assert ok.status_code == 200 and "errors" not in ok.json(), ok.text

    async def refused_alike(secret: str | None, code: str) -> None:
        before = Counter(SERVED)
        with StatementCounter(db.engine) as counter:
            got = await _post(app.with_key(secret), DASHBOARD)
        assert _seen(got) == _seen(await _post(normal.with_key(secret), DASHBOARD))
        assert [e["extensions"]["code"] for e in got.json()["errors"]] == [code]
        assert not _reads(counter)
        assert SERVED["kept"] == before["kept"]

    # when, then: no key, a wrong key, a revoked key: refused as the normal path does
    await refused_alike(None, "UNAUTHENTICATED")
    await refused_alike("not-a-key", "UNAUTHENTICATED")
    # another viewer's key is answered (kept by permission set, not by key)
    before = Counter(SERVED)
    assert _seen(await _post(app.with_key(other), DASHBOARD))[2] == ok.text
    assert SERVED["kept"] == before["kept"] + 1
    # a partner's (another permission set, its first request) goes the normal way;
    # later ones are kept, from its view (tests/http/test_kept_partners.py)
    scoped = await _post(app.with_key(partner), DASHBOARD)
    assert _seen(scoped) == _seen(await _post(normal.with_key(partner), DASHBOARD))
    assert SERVED["kept"] == before["kept"] + 1
    async with db.sessions() as session, session.begin():
        await revoke_key(session, name)
    await refused_alike(viewer, "UNAUTHENTICATED")


async def test_a_kept_operation_meets_the_rate_limits(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: the dashboard kept, by an address allowed three requests a minute
    await _seed(db)
    app = client_with(rate_limit_per_address="3/minute")
    for _ in range(3):
        assert (await _post(app, DASHBOARD)).status_code == 200
    before = Counter(SERVED)
    # when
    with StatementCounter(db.engine) as counter:
        got = await _post(app, DASHBOARD)
    # then
    assert got.status_code == 429
    assert [e["extensions"]["code"] for e in got.json()["errors"]] == ["RATE_LIMITED"]
    assert not _reads(counter), counter.statements
    assert SERVED["kept"] == before["kept"]


async def test_an_app_that_keeps_nothing_answers_every_request_the_normal_way(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    await _seed(db)
    app = client_with(kept_operations=False)
    before = Counter(SERVED)
    for _ in range(3):
        assert (await _post(app, DASHBOARD)).status_code == 200
    assert SERVED["kept"] == before["kept"]


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("SELECT 1 / (SELECT count(*) - count(*) FROM initiatives)::int", "INTERNAL"),
        ("SELECT pg_sleep(5)::text", "TIMEOUT"),
    ],
    ids=["database error", "deadline"],
)
async def test_a_kept_operation_that_fails_as_it_runs_answers_as_the_normal_path(
    db: Database, client_with: Callable[..., GraphQLClient], statement: str, code: str
) -> None:
    # given: the dashboard kept in one app and not in another, its statement then
    # failing in the database or running past the execution limit (PostgreSQL only:
    # SQLite builds the answer from rows, with no statement kept for the driver)
    await _seed(db)
    if db.backend == "sqlite":
        return
    kept = client_with(execution_timeout_seconds=0.5)
    normal = client_with(execution_timeout_seconds=0.5, kept_operations=False)
    for client in (kept, normal):
        for _ in range(2):
            assert "errors" not in (await _post(client, DASHBOARD)).json()
    runs: list[Any] = [b for _w, b in in_database._STATEMENTS.values() if b and b.sent]
    saved = [(built, built.sent) for built in runs]
    for built, sent in saved:
        built.sent = (sent[0], statement, ())
    before = Counter(SERVED)
    try:
        # when
        got = await _post(kept, DASHBOARD)
        expected = await _post(normal, DASHBOARD)
    finally:
        for built, sent in saved:
            built.sent = sent
    # then: the same answer, error code and metrics
    assert SERVED["kept"] == before["kept"] + 1
    unmarked = re.compile(r'"errorId":"[0-9a-f]+"')  # each error's own
    assert _seen(got)[:2] == _seen(expected)[:2]
    assert unmarked.sub("", got.text) == unmarked.sub("", expected.text)
    assert [e["extensions"]["code"] for e in got.json()["errors"]] == [code]
    assert _counts((await kept.http.get("/metrics")).text) == _counts(
        (await normal.http.get("/metrics")).text
    )


async def test_a_timeout_past_the_execution_answers_as_the_normal_path(
    db: Database, client_with: Callable[..., GraphQLClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the dashboard kept in one app and not in another, then the read snapshot
    # failing to open with a timeout that is not the deadline's (the driver's connect
    # timeout, reaching the primary for a client's own write)
    await _seed(db)
    kept, normal = client_with(), client_with(kept_operations=False)
    for client in (kept, normal):
        for _ in range(2):
            assert "errors" not in (await _post(client, DASHBOARD)).json()

    @asynccontextmanager
    async def unreachable(context: Any, *, primary: bool = False) -> AsyncIterator[None]:
        raise TimeoutError("connecting timed out")
        yield

    monkeypatch.setattr(views, "answered_from_snapshot", unreachable)
    before = Counter(SERVED)
    # when
    got = await _post(kept, DASHBOARD)
    expected = await _post(normal, DASHBOARD)
    # then: the kept path answered it, as the normal path does (not a 500)
    assert SERVED["kept"] == before["kept"] + 1
    unmarked = re.compile(r'"errorId":"[0-9a-f]+"')
    assert _seen(got)[:2] == _seen(expected)[:2]
    assert got.status_code == 200
    assert unmarked.sub("", got.text) == unmarked.sub("", expected.text)
    assert [e["extensions"]["code"] for e in got.json()["errors"]] == ["BUSY"]


async def test_an_allow_list_exemption_kept_for_one_caller_lets_no_other_through(
    db: Database, client_with: Callable[..., GraphQLClient], tmp_path: Path
) -> None:
    # given: only registered operations, partners exempt; a partner's unregistered
    # dashboard kept (a partner and an anonymous reader hold one permission set)
    codes = await _seed(db)
    async with db.sessions() as session, session.begin():
        partner = await f.api_key(session, "partner", initiatives=codes[:1])
    manifest = tmp_path / "operations.json"
    manifest.write_text("{}")
    app = client_with(
        anonymous_read=True,
        persisted_operations_only=True,
        persisted_operations_file=manifest,
        persisted_operations_exempt_roles=["partner"],
    )
    for _ in range(2):
        assert "errors" not in (await _post(app.with_key(partner), DASHBOARD)).json()
    # when: an anonymous reader sends the same document
    refused = await _post(app.with_key(None), DASHBOARD)
    # then: refused, as the allow-list refuses it
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["OPERATION_NOT_ALLOWED"]
    assert "data" not in refused.json() or refused.json()["data"] is None


async def test_what_is_kept_is_bounded_by_the_documents_text(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: an app that keeps operations
    await _seed(db)
    app = client_with(anonymous_read=True)

    def padded(i: int, chars: int) -> str:
        query = f"{{ initiatives(first: 2) {{ nodes {{ id code }} }} }} # {i} "
        return query + "x" * (chars - len(query))

    # when: a document longer than KEPT_DOCUMENT_CHARS is asked three times
    long = padded(0, KEPT_DOCUMENT_CHARS + 1)
    before = Counter(SERVED)
    for _ in range(3):
        assert "errors" not in (await _post(app, long)).json()
    # then: it is answered the normal way every time, never kept
    assert SERVED["kept"] == before["kept"]
    # when: more documents just under that length than KEPT_CHARS holds are kept
    many = [padded(i, KEPT_DOCUMENT_CHARS) for i in range(1, KEPT_CHARS // KEPT_DOCUMENT_CHARS + 3)]
    for query in many:
        assert "errors" not in (await _post(app, query)).json()
    before = Counter(SERVED)
    assert "errors" not in (await _post(app, many[-1])).json()
    assert SERVED["kept"] == before["kept"] + 1  # the last is kept
    # then: the first ones were let go to stay within KEPT_CHARS
    before = Counter(SERVED)
    assert "errors" not in (await _post(app, many[0])).json()
    assert SERVED["kept"] == before["kept"]


async def test_a_request_its_plan_hands_back_leaves_the_operation_kept(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: a page kept in one app and not in another
    await _seed(db)
    kept = client_with()
    normal = client_with(kept_operations=False)
    for client in (kept, normal):
        for _ in range(2):
            assert "errors" not in (await _post(client, PAGE, {"n": 2}, "Page")).json()
    # when: one caller sends a cursor that is not one (the plan hands it back)
    got = await _post(kept, PAGE, {"n": 2, "after": "bogus"}, "Page")
    expected = await _post(normal, PAGE, {"n": 2, "after": "bogus"}, "Page")
    # then: refused as the normal path refuses it
    assert _seen(got) == _seen(expected)
    assert got.json()["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"
    # and the next good request, of any caller, is still answered by the kept path
    before = Counter(SERVED)
    assert "errors" not in (await _post(kept, PAGE, {"n": 2}, "Page")).json()
    assert SERVED["kept"] == before["kept"] + 1


@pytest.mark.parametrize(
    "variables",
    [None, {}, {"x": 1}, {"x": "a\u0000b"}, {"first": 2**40}, {"x": {"y": "\ud7ff"}}],
)
async def test_variables_sent_to_a_kept_operation_that_declares_none(
    db: Database, client_with: Callable[..., GraphQLClient], variables: Any
) -> None:
    """An operation declaring no variables has the rules that read them decided once,
    when kept: variables sent to it anyway (a NUL in a string, an integer past 64 bits,
    a lone surrogate) still meet every rule, as on the normal path."""
    await _seed(db)
    kept, normal = client_with(), client_with(kept_operations=False)
    for _ in range(2):
        assert (await _post(kept, DASHBOARD)).status_code == 200
    assert _seen(await _post(kept, DASHBOARD, variables)) == _seen(
        await _post(normal, DASHBOARD, variables)
    )


@pytest.mark.parametrize("moment", ["past", "null", "skipped"])
async def test_a_document_with_a_moment_of_its_own_answers_as_the_normal_path(
    db: Database, client_with: Callable[..., GraphQLClient], moment: str
) -> None:
    """A moment written in the document (`asOf` as a literal, null, or on a field that
    is skipped) is decided with the document: the answers are the normal path's."""
    await _seed(db)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    query = {
        "past": f'{{ initiatives(first: 2, asOf: "{past}") {{ nodes {{ id code }} }} }}',
        "null": "{ initiatives(first: 2, asOf: null) { nodes { id code } } }",
        "skipped": (
            "{ initiatives(first: 2) { nodes { id } } "
            f'old: initiatives(first: 1, asOf: "{past}") @skip(if: true) {{ nodes {{ id }} }} }}'
        ),
    }[moment]
    kept, normal = client_with(), client_with(kept_operations=False)
    answers = [await _post(kept, query) for _ in range(3)]
    expected = _seen(await _post(normal, query))
    assert all(_seen(answer) == expected for answer in answers)


async def test_answers_of_arguments_too_long_to_keep_push_no_kept_statement_out(
    db: Database, client_with: Callable[..., GraphQLClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows of arguments too long to be kept are worked out for their answer alone:
    a statement built on them is not kept either, or every such request would push a
    dashboard's statement out and make it be built again."""
    await _seed(db)
    client = client_with()
    monkeypatch.setattr(in_database, "KEPT_STATEMENTS", 4)
    monkeypatch.setattr(in_database, "_STATEMENTS", OrderedDict())
    built: list[int] = []
    build = in_database._statement
    monkeypatch.setattr(in_database, "_statement", lambda a, p: built.append(1) or build(a, p))
    for _ in range(2):
        assert (await _post(client, DASHBOARD)).status_code == 200
    assert len(built) == 1
    long_filter = (
        "query L($f: InitiativeFilter) { initiatives(first: 3, filter: $f) { nodes { id } } }"
    )
    for i in range(8):
        title = {"in": [f"t{i}-{j}" + "x" * 30 for j in range(60)]}
        answer = await _post(client, long_filter, {"f": {"title": title}}, "L")
        assert "errors" not in answer.json(), answer.text
    assert len(built) == 1 + 8
    assert (await _post(client, DASHBOARD)).status_code == 200
    assert len(built) == 1 + 8  # the dashboard's statement was still kept
