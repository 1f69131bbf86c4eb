"""Differences between the compiled read path and the reference executor that the
differential tests found, each as the smallest operation that shows it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.graphql.compiled.executor import PATHS
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
