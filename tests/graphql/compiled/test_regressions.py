"""Differences between the compiled read path and the reference executor that the
differential tests found, each as the smallest operation that shows it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy.exc

from app.graphql.compiled import run
from app.graphql.compiled.executor import _PLANS, PATHS
from app.graphql.extensions.memory import LARGE_DOCUMENT_CHARS
from tests import factories as f
from tests.conftest import Database, GraphQLClient


async def answers_alike(
    db: Database, client_with: Callable[..., GraphQLClient], query: str
) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        line = await f.budget_line(session, initiative)
        await f.transaction(session, initiative, budget_line_id=line.id)
    before = PATHS["compiled"]
    compiled = await client_with(compiled_reads=True).post(query)
    assert PATHS["compiled"] == before + 1, "answered by the reference executor"
    reference = await client_with(compiled_reads=False).post(query)
    assert reference.status_code == 200 and "errors" not in reference.json(), reference.text
    assert (compiled.status_code, compiled.text) == (reference.status_code, reference.text)


@pytest.mark.parametrize(
    "query",
    [
        "{ initiatives(first: 0) "
        "{ nodes { budgetLines { nodes { transactions { totalCount } } } } } }",
        '{ initiatives(filter: {code: {eq: "none"}}) '
        "{ nodes { budgetLines { nodes { transactions { nodes { id } } } } } } }",
    ],
    ids=["first 0", "nothing matches"],
)
async def test_lists_under_an_empty_list_answer_alike(
    db: Database, client_with: Callable[..., GraphQLClient], query: str
) -> None:
    await answers_alike(db, client_with, query)


@pytest.mark.parametrize(
    "query",
    [
        "{ ...F } fragment F on Query { initiatives(first: 1) { totalCount } }",
        "{ initiatives(first: 1) { ...C } } fragment C on InitiativeConnection { totalCount }",
    ],
    ids=["on Query", "on a connection"],
)
async def test_named_fragments_answer_alike(
    db: Database, client_with: Callable[..., GraphQLClient], query: str
) -> None:
    await answers_alike(db, client_with, query)


async def test_a_large_document_is_answered_but_its_plan_not_kept(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # A kept plan holds its operation, and the operation its whole document: a
    # request body of megabytes must not stay alive in the plan cache.
    padding = "#" + "x" * (LARGE_DOCUMENT_CHARS + 1) + "\n"
    query = padding + "{ initiatives(first: 1) { totalCount } }"
    client = client_with(compiled_reads=True)
    assert (await client.post("{ initiatives(first: 1) { totalCount } }")).status_code == 200
    before = PATHS["compiled"]
    response = await client.post(query)
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert PATHS["compiled"] == before + 1
    kept = [operation.loc.source.body for operation, _ in _PLANS._plans.values()]
    assert kept, "small operations are kept"
    assert all(len(body) <= LARGE_DOCUMENT_CHARS for body in kept)


async def test_a_database_error_is_reported_where_a_resolver_would_report_it(
    db: Database, client_with: Callable[..., GraphQLClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: every compiled read fails in the database (a failed statement, a lost
    # connection)
    async def failing(self: run.Answer, variables: object) -> object:
        raise sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("lost"))

    monkeypatch.setattr(run.Answer, "run", failing)
    # when
    response = await client_with(compiled_reads=True).post(
        "{ programs(first: 1) { totalCount } list: initiatives(first: 1) { totalCount } }"
    )
    # then: an INTERNAL error at the first root field, as the reference executor
    # reports a resolver's database error, and nothing of the cause
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["path"] == ["programs"]
    assert error["locations"] == [{"line": 1, "column": 3}]
    assert "lost" not in response.text and "SELECT" not in response.text


async def test_a_list_asked_alike_by_apps_of_other_limits_keeps_each_apps_limits(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: six initiatives, and two apps whose default page sizes differ; the same
    # document, so the same plan, and the same arguments
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for _ in range(6):
            await f.initiative(session, program)
    query = '{ initiatives(filter: {code: {ne: "none"}}) { nodes { id } } }'
    wide, narrow = (client_with(compiled_reads=True, default_page_size=size) for size in (20, 2))
    for _ in range(2):  # and again, once the list has kept what it worked out
        before = PATHS["compiled"]
        # when
        many = (await wide.data(query))["initiatives"]["nodes"]
        few = (await narrow.data(query))["initiatives"]["nodes"]
        # then: each app's own page size, both answered by the compiled path
        assert (len(many), len(few)) == (6, 2)
        assert few == many[:2]
        assert PATHS["compiled"] == before + 2
