"""The trail sequence every mutation returns, which a client sends back as
`X-Min-Sequence` to read its own write where reads go to a replica (the replica itself
is tested in tests/db/faults/test_replica.py)."""

from __future__ import annotations

from sqlalchemy import func, select

from app import models as m
from tests.conftest import Database
from tests.graphql.finance.common import Ledger, new_transaction

CREATE = """
mutation($input: CreateTransactionInput!, $key: String) {
  createTransaction(input: $input, idempotencyKey: $key) {
    transaction { id } sequence replayed errors { code }
  }
}"""
UPDATE = """
mutation($input: UpdateTransactionInput!) {
  updateTransaction(input: $input) { transaction { version } sequence errors { code } }
}"""
NODE = "query($id: ID!) { node(id: $id) { id } }"


async def latest_entry(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.max(m.Change.sequence))) or 0)


async def test_a_write_returns_the_trail_entry_that_holds_it(db: Database, ledger: Ledger) -> None:
    # when
    created = (await ledger.editor.data(CREATE, {"input": new_transaction(ledger), "key": "k1"}))[
        "createTransaction"
    ]
    # then
    assert created["errors"] == []
    assert created["sequence"] == await latest_entry(db)

    # an update that changes nothing writes no entry: the record's latest is returned
    tx = {"id": created["transaction"]["id"], "version": 1}
    unchanged = (await ledger.editor.data(UPDATE, {"input": {**tx, "amount": "125.50"}}))[
        "updateTransaction"
    ]
    assert unchanged["transaction"]["version"] == 1
    assert unchanged["sequence"] == created["sequence"]

    # a retry with the same key returns the first result's entry
    replayed = (await ledger.editor.data(CREATE, {"input": new_transaction(ledger), "key": "k1"}))[
        "createTransaction"
    ]
    assert replayed["replayed"] is True
    assert replayed["sequence"] == created["sequence"]

    # a real change has an entry of its own, the trail's newest
    changed = (await ledger.editor.data(UPDATE, {"input": {**tx, "amount": "99.00"}}))[
        "updateTransaction"
    ]
    assert changed["sequence"] == await latest_entry(db) > created["sequence"]


async def test_a_refused_write_returns_no_sequence(ledger: Ledger) -> None:
    refused = (await ledger.editor.data(CREATE, {"input": new_transaction(ledger, amount="0")}))[
        "createTransaction"
    ]
    assert refused["errors"] and refused["sequence"] is None


async def test_without_a_replica_the_sequence_is_accepted_and_the_write_is_read(
    ledger: Ledger,
) -> None:
    # given
    created = (await ledger.editor.data(CREATE, {"input": new_transaction(ledger)}))[
        "createTransaction"
    ]
    reader = ledger.editor
    reader.headers["X-Min-Sequence"] = str(created["sequence"])
    # when
    found = await reader.data(NODE, {"id": created["transaction"]["id"]})
    # then: one database has every write
    assert found["node"] == {"id": created["transaction"]["id"]}


async def test_a_sequence_that_is_not_one_is_refused(ledger: Ledger) -> None:
    for bad in ("-1", "soon", "1e3", "9" * 20):
        ledger.editor.headers["X-Min-Sequence"] = bad
        response = await ledger.editor.post("{ __typename }")
        assert response.status_code == 400, (bad, response.text)
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
