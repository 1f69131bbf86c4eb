"""Reading the audit trail: `changes` (filters, pages), each record's `history`, and who
may read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.audit.recorder import set_actor
from app.audit.records import Actor, audited_tables
from app.db.session import StatementCounter
from app.demo.loader import load_demo
from app.graphql.audit.types import ChangeEntityType
from app.kit.ids import encode_global_id
from app.kit.pagination import encode_cursor
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CHANGES = """
query($filter: ChangeFilter, $first: Int, $after: String) {
  changes(filter: $filter, first: $first, after: $after) {
    edges {
      cursor
      node {
        sequence occurredAt actor { name role } entityType entityId operation
        before after changedFields reason hash previousHash
        record { id }
      }
    }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"""
SEQUENCES = """
query($filter: ChangeFilter, $first: Int, $after: String) {
  changes(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { node { sequence } }
    pageInfo { hasNextPage endCursor }
  }
}"""
HISTORY = """
query($id: ID!) {
  node(id: $id) {
    ... on Record { history { sequence operation actor { name } changedFields reason } }
  }
}"""
TRANSACTION_HISTORIES = """
{ transactions(first: 50) { edges { node { id history(first: 1) { operation entityId } } } } }
"""
VERIFICATION = (
    "{ auditVerification { intact checkedEntries lastSequence firstBroken { sequence } } }"
)
CREATE_TRANSACTION = """
mutation($input: CreateTransactionInput!, $reason: String) {
  createTransaction(input: $input, reason: $reason) { transaction { id } errors { code } }
}"""

ALICE = Actor("alice", "editor")


@dataclass
class Trail:
    """A small ledger with a known history, and an auditor's client."""

    transaction: m.Transaction  # created, then updated by alice
    archived: m.Transaction  # created, then archived
    initiative: m.Initiative
    other: m.Initiative  # one transaction, never changed
    auditor: GraphQLClient

    def gid(self, type_name: str, row: Any) -> str:
        return encode_global_id(type_name, row.id)


@pytest.fixture
async def trail(db: Database, client: GraphQLClient) -> Trail:
    async with db.sessions() as session:
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        other = await f.initiative(session, program)
        kept = await f.transaction(session, initiative, amount=Decimal("100.00"))
        archived = await f.transaction(session, initiative)
        await f.transaction(session, other)
        auditor = await f.api_key(session, "auditor")
        await session.commit()
    async with db.sessions() as session:
        set_actor(session, ALICE, reason="the bank statement says 250")
        row = await session.get(m.Transaction, kept.id)
        assert row is not None
        row.amount = Decimal("250.00")
        await session.commit()
    async with db.sessions() as session:
        await session.delete(await session.get(m.Transaction, archived.id))
        await session.commit()
    return Trail(kept, archived, initiative, other, client.with_key(auditor))


async def _all_sequences(db: Database) -> list[int]:
    async with db.sessions() as session:
        return list(await session.scalars(select(m.Change.sequence).order_by(m.Change.sequence)))


async def test_every_change_is_listed_with_actor_before_and_after(trail: Trail) -> None:
    # given
    transaction_id = trail.gid("Transaction", trail.transaction)
    # when
    data = await trail.auditor.data(CHANGES, {"filter": {"entityId": transaction_id}})
    # then
    nodes = [edge["node"] for edge in data["changes"]["edges"]]
    assert [n["operation"] for n in nodes] == ["CREATE", "UPDATE"]
    created, updated = nodes
    assert created["actor"] == {"name": "test-setup", "role": "system"}
    assert updated["actor"] == {"name": "alice", "role": "editor"}
    assert created["before"] is None
    assert created["after"]["amount"] == "100.00"  # money as `Money` shows it: CNY cents
    assert updated["before"]["amount"] == "100.00" and updated["after"]["amount"] == "250.00"
    assert updated["changedFields"] == ["amount", "updated_at", "version"]
    assert (updated["before"]["version"], updated["after"]["version"]) == (1, 2)
    assert updated["reason"] == "the bank statement says 250"
    assert updated["sequence"] > created["sequence"]
    assert all(len(n["hash"]) == len(n["previousHash"]) == 64 for n in nodes)
    assert {n["entityType"] for n in nodes} == {"TRANSACTION"}
    assert {n["entityId"] for n in nodes} == {transaction_id}
    assert {n["record"]["id"] for n in nodes} == {transaction_id}
    assert data["changes"]["pageInfo"]["hasNextPage"] is False


async def test_an_archived_record_keeps_its_entries_and_has_no_current_record(
    trail: Trail,
) -> None:
    # when
    data = await trail.auditor.data(
        CHANGES, {"filter": {"entityId": trail.gid("Transaction", trail.archived)}}
    )
    # then
    nodes = [edge["node"] for edge in data["changes"]["edges"]]
    assert [n["operation"] for n in nodes] == ["CREATE", "ARCHIVE"]
    archive = nodes[1]
    assert archive["after"] is None and archive["before"]["id"] == trail.archived.id
    assert "amount" in archive["changedFields"]
    assert [n["record"] for n in nodes] == [None, None]


async def test_the_whole_trail_pages_forward_without_gaps(db: Database, trail: Trail) -> None:
    # given
    stored = await _all_sequences(db)
    seen: list[int] = []
    after: str | None = None
    pages = 0
    # when
    while True:
        data = await trail.auditor.data(SEQUENCES, {"first": 3, "after": after})
        page = data["changes"]
        seen.extend(edge["node"]["sequence"] for edge in page["edges"])
        assert page["totalCount"] == len(stored)
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then
    assert seen == stored == list(range(1, len(stored) + 1))
    assert pages == -(-len(stored) // 3)


@pytest.mark.parametrize(
    ("name", "condition"),
    [
        (
            "kind",
            lambda t: ({"entityType": "INITIATIVE"}, lambda e: e.entity_type == "initiatives"),
        ),
        ("actor", lambda t: ({"actor": "alice"}, lambda e: e.actor_name == "alice")),
        (
            "operations",
            lambda t: (
                {"operations": ["UPDATE", "ARCHIVE"]},
                lambda e: e.operation in ("update", "archive"),
            ),
        ),
        (
            "initiatives",
            lambda t: (
                {"initiativeIds": [t.gid("Initiative", t.other)]},
                lambda e: e.initiative_id == t.other.id,
            ),
        ),
        (
            "kind and actor",
            lambda t: (
                {"entityType": "TRANSACTION", "actor": "test-setup"},
                lambda e: e.entity_type == "transactions" and e.actor_name == "test-setup",
            ),
        ),
        (
            "an ID of another kind",
            lambda t: (
                {"entityType": "INITIATIVE", "entityId": t.gid("Transaction", t.transaction)},
                lambda e: False,
            ),
        ),
    ],
)
async def test_changes_filter_by_kind_record_actor_operation_and_initiative(
    db: Database, trail: Trail, name: str, condition: Any
) -> None:
    # given
    given, matches = condition(trail)
    async with db.sessions() as session:
        entries = list(await session.scalars(select(m.Change).order_by(m.Change.sequence)))
    # when
    data = await trail.auditor.data(SEQUENCES, {"filter": given, "first": 100})
    # then
    expected = [e.sequence for e in entries if matches(e)]
    assert [edge["node"]["sequence"] for edge in data["changes"]["edges"]] == expected, name
    assert data["changes"]["totalCount"] == len(expected)
    assert expected or name == "an ID of another kind"


async def test_changes_filter_by_time_includes_the_start_and_excludes_the_end(
    db: Database, trail: Trail
) -> None:
    # given
    async with db.sessions() as session:
        entries = list(await session.scalars(select(m.Change).order_by(m.Change.sequence)))
    update_at = next(e.occurred_at for e in entries if e.operation == "update")
    archive_at = next(e.occurred_at for e in entries if e.operation == "archive")
    window = {"occurredFrom": update_at.isoformat(), "occurredBefore": archive_at.isoformat()}
    # when
    data = await trail.auditor.data(SEQUENCES, {"filter": window, "first": 100})
    # then
    expected = [e.sequence for e in entries if update_at <= e.occurred_at < archive_at]
    assert [edge["node"]["sequence"] for edge in data["changes"]["edges"]] == expected
    assert expected and all(e.operation != "archive" for e in entries if e.sequence in expected)


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 101}, "PAGE_SIZE_EXCEEDED"),
        ({"first": -1}, "INVALID_ARGUMENT"),
        ({"after": "not a cursor"}, "INVALID_CURSOR"),
        ({"after": encode_cursor(3)}, "INVALID_CURSOR"),  # a cursor of another list
        ({"filter": {"entityId": encode_global_id("ApiKey", 1)}}, "INVALID_ID"),
        ({"filter": {"initiativeIds": [encode_global_id("Program", 1)]}}, "INVALID_ID"),
        ({"filter": {"occurredFrom": "2024-01-01T00:00:00"}}, "VALIDATION"),
    ],
)
async def test_changes_refuse_bad_arguments_with_a_code(
    trail: Trail, variables: dict[str, Any], code: str
) -> None:
    # when
    error = await trail.auditor.error(SEQUENCES, variables)
    # then
    assert error["extensions"]["code"] == code


async def test_a_record_shows_its_history_oldest_first(trail: Trail) -> None:
    # when
    data = await trail.auditor.data(HISTORY, {"id": trail.gid("Transaction", trail.transaction)})
    # then
    history = data["node"]["history"]
    assert [(h["operation"], h["actor"]["name"]) for h in history] == [
        ("CREATE", "test-setup"),
        ("UPDATE", "alice"),
    ]
    assert history[1]["reason"] == "the bank statement says 250"
    assert "amount" in history[1]["changedFields"]


async def test_histories_of_a_list_are_read_in_one_statement(db: Database, trail: Trail) -> None:
    # when
    with StatementCounter(db.engine) as counter:
        data = await trail.auditor.data(TRANSACTION_HISTORIES)
    # then
    nodes = [edge["node"] for edge in data["transactions"]["edges"]]
    assert len(nodes) == 2
    assert all(n["history"] == [{"operation": "CREATE", "entityId": n["id"]}] for n in nodes)
    assert sum("FROM changes" in s for s in counter.statements) == 1


@pytest.mark.parametrize(
    ("amount", "currency", "stored", "shown"),
    [
        ("12.50", "CNY", "12.50", "12.50"),
        ("100", "JPY", "100.00", "100"),
        ("12.345", "KWD", "12.345", "12.345"),
        ("7.25", "KWD", "7.25", "7.250"),
    ],
)
async def test_money_in_the_trail_is_shown_as_money_is(
    db: Database, trail: Trail, amount: str, currency: str, stored: str, shown: str
) -> None:
    # given: a transaction written in the currency
    async with db.sessions() as session, session.begin():
        row = await f.transaction(session, trail.other, amount=Decimal(amount), currency=currency)
    # when
    data = await trail.auditor.data(
        CHANGES, {"filter": {"entityId": trail.gid("Transaction", row)}}
    )
    # then: the trail shows it to the currency's minor unit, as `Money` does; the entry
    # keeps money in cents as it always spelled it, and a third decimal where there is one
    [edge] = data["changes"]["edges"]
    assert edge["node"]["after"]["amount"] == shown
    async with db.sessions() as session:
        entry = await session.scalar(
            select(m.Change)
            .where(m.Change.entity_type == "transactions")
            .order_by(m.Change.sequence.desc())
        )
    assert entry is not None and f'"amount":"{stored}"' in (entry.after or "")


async def test_changes_made_through_the_api_name_the_key_and_its_reason(
    db: Database, client: GraphQLClient, trail: Trail
) -> None:
    # given
    async with db.sessions() as session:
        editor = client.with_key(await f.api_key(session, "editor", name="editor-7"))
        await session.commit()
    created = await editor.data(
        CREATE_TRANSACTION,
        {
            "input": {
                "initiativeId": trail.gid("Initiative", trail.initiative),
                "type": "DISBURSEMENT",
                "date": (today() - timedelta(days=3)).isoformat(),
                "amount": "12.50",
                "currency": "CNY",
            },
            "reason": "receipt 42",
        },
    )
    transaction_id = created["createTransaction"]["transaction"]["id"]
    # when
    data = await trail.auditor.data(CHANGES, {"filter": {"actor": "editor-7"}})
    # then
    [node] = [edge["node"] for edge in data["changes"]["edges"]]
    assert node["actor"] == {"name": "editor-7", "role": "editor"}
    assert (node["operation"], node["entityId"], node["reason"]) == (
        "CREATE",
        transaction_id,
        "receipt 42",
    )
    assert node["after"]["amount"] == "12.50"


async def test_loading_the_demo_is_recorded_create_by_create(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session:
        result = await load_demo(session)
        auditor = client.with_key(await f.api_key(session, "auditor"))
        await session.commit()
    async with db.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(m.Change))
    # when
    data = await auditor.data(
        SEQUENCES, {"filter": {"actor": "demo-loader", "operations": ["CREATE"]}, "first": 100}
    )
    # then
    assert result.loaded and stored == result.rows
    assert [e["node"]["sequence"] for e in data["changes"]["edges"]] == list(range(1, 101))
    assert data["changes"]["pageInfo"]["hasNextPage"] is (result.rows > 100)


def test_every_audited_table_has_an_entity_type() -> None:
    assert {kind.value for kind in ChangeEntityType} == set(audited_tables())
    assert all(
        kind.name == "".join(f"_{c}" if c.isupper() else c.upper() for c in model.__name__)[1:]
        for kind in ChangeEntityType
        for model in [audited_tables()[kind.value]]
    )


@pytest.mark.parametrize("query", [CHANGES, VERIFICATION, TRANSACTION_HISTORIES])
@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("viewer", "FORBIDDEN"),
        ("editor", "FORBIDDEN"),
        ("partner", "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
        ("auditor", None),
        ("admin", None),
    ],
)
async def test_only_auditors_and_admins_read_the_trail(
    db: Database,
    client: GraphQLClient,
    trail: Trail,
    query: str,
    role: str | None,
    code: str | None,
) -> None:
    # given
    secret = None
    if role is not None:
        async with db.sessions() as session:
            initiatives = [trail.initiative.code] if role == "partner" else []
            secret = await f.api_key(session, role, initiatives=initiatives)
            await session.commit()
    caller = client.with_key(secret)
    # when
    body = await caller.execute(query)
    # then
    if code is None:
        assert "errors" not in body, body["errors"]
    else:
        assert body["errors"] and all(e["extensions"]["code"] == code for e in body["errors"])


async def test_the_changes_filter_is_bounded(db: Database, client: GraphQLClient) -> None:
    # given
    async with db.sessions() as session, session.begin():
        auditor = client.with_key(await f.api_key(session, "auditor"))
    query = "query($f: ChangeFilter) { changes(filter: $f) { totalCount } }"
    many = [encode_global_id("Initiative", i) for i in range(1, 502)]
    # when
    long_actor = await auditor.error(query, {"f": {"actor": "x" * 201}})
    many_ids = await auditor.error(query, {"f": {"initiativeIds": many}})
    # then
    assert long_actor["extensions"]["code"] == "INVALID_ARGUMENT"
    assert many_ids["extensions"]["code"] == "VALIDATION"
    assert "at most 500 values" in many_ids["message"]
