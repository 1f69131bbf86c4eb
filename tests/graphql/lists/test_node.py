"""`node(id:)` refetches every kind of record; a deleted, unknown or impossible record is
null, and a malformed id is refused."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from app import models as m
from app.kit.ids import encode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.graphql.lists.common import NODE, fetch_page, make_initiatives

NODE_KINDS = [
    ("organizations", "Organization", "ref name"),
    ("programs", "Program", "ref name"),
    ("initiatives", "Initiative", "code title"),
    ("budgetLines", "BudgetLine", "periodStart amount { amount currency }"),
    ("transactions", "Transaction", "date description amount { amount currency }"),
    ("milestones", "Milestone", "title plannedDate"),
    ("beneficiaryGroups", "BeneficiaryGroup", "code name"),
]


async def _one_of_each(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        for n in range(2):
            program = await f.program(session)
            initiative = await f.initiative(session, program)
            line = await f.budget_line(session, initiative, amount=Decimal(f"{n + 1}23.45"))
            await f.transaction(
                session, initiative, budget_line_id=line.id, description=f"payment {n}"
            )
            await f.milestone(session, initiative)
            await f.beneficiary_group(session)


@pytest.mark.parametrize(("list_field", "type_name", "fields"), NODE_KINDS)
async def test_node_refetches_every_kind_of_record(
    db: Database, client: GraphQLClient, list_field: str, type_name: str, fields: str
) -> None:
    # given
    await _one_of_each(db)
    listed = (await client.data(f"{{ {list_field} {{ nodes {{ id {fields} }} }} }}"))[list_field]
    assert len(listed["nodes"]) >= 2
    for node in listed["nodes"]:
        # when
        refetched = (await client.data(NODE, {"id": node["id"]}))["node"]
        # then
        assert refetched == {"__typename": type_name, **node}


async def test_node_of_a_deleted_record_is_null(db: Database, client: GraphQLClient) -> None:
    # given: a well-formed id whose record is gone
    rows = await make_initiatives(db, 2)
    edges = (await fetch_page(client))["edges"]
    gone = edges[1]["node"]["id"]
    async with db.sessions() as session, session.begin():
        await session.delete(await session.get(m.Initiative, rows[1].id))
    # when
    result = await client.data(NODE, {"id": gone})
    # then
    assert result["node"] is None
    assert (await client.data(NODE, {"id": edges[0]["node"]["id"]}))["node"] is not None


async def test_node_of_an_unknown_type_is_null(db: Database, client: GraphQLClient) -> None:
    # given
    await make_initiatives(db, 1)
    # when
    result = await client.data(NODE, {"id": encode_global_id("Nonsense", 1)})
    # then
    assert result["node"] is None


@pytest.mark.parametrize("key", [2**31, 2**63])
async def test_node_of_a_key_no_record_can_have_is_null(
    db: Database, client: GraphQLClient, key: int
) -> None:
    # given: keys past PostgreSQL's int4 and SQLite's int8 id columns
    await make_initiatives(db, 1)
    # when
    result = await client.data(NODE, {"id": encode_global_id("Initiative", key)})
    # then
    assert result["node"] is None


@pytest.mark.parametrize(
    "bad_id", ["not-an-id", "", "%%%", base64.urlsafe_b64encode(b"Initiative:abc").decode()]
)
async def test_a_malformed_id_is_refused(db: Database, client: GraphQLClient, bad_id: str) -> None:
    # given
    await make_initiatives(db, 1)
    # when
    error = await client.error(NODE, {"id": bad_id})
    # then
    assert error["extensions"]["code"] == "INVALID_ID"
