"""Writing transactions as an editor would through the API: the trail names the editor,
bad input is refused by field, versions guard updates, archives leave the trail and take
the evidence cited, and a retried update replays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database
from tests.graphql.finance.common import (
    ARCHIVE_TRANSACTION,
    CREATE_TRANSACTION,
    UPDATE_TRANSACTION,
    Ledger,
    counts,
    new_transaction,
)


async def test_an_editor_records_a_transaction_and_the_trail_names_them(
    db: Database, ledger: Ledger
) -> None:
    # when
    data = await ledger.editor.data(
        CREATE_TRANSACTION, {"input": new_transaction(ledger), "reason": "bank statement 7"}
    )
    # then
    payload = data["createTransaction"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    tx = payload["transaction"]
    assert tx["version"] == 1
    assert tx["amount"] == {"amount": "125.50", "currency": "CNY"}
    assert tx["valueDate"] == tx["date"]  # the value date defaults to the date
    async with db.sessions() as session:
        entry = await session.scalar(select(m.Change).where(m.Change.entity_type == "transactions"))
    assert entry is not None
    assert (entry.operation, entry.actor_name, entry.actor_role) == ("create", "editor-1", "editor")
    assert entry.reason == "bank statement 7"
    assert entry.before is None and '"amount":"125.50"' in (entry.after or "")
    assert entry.initiative_id == ledger.initiative.id


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"amount": "0"}, "amount", "VALIDATION"),
        ({"amount": "1.005"}, "amount", "VALIDATION"),
        ({"currency": "RMB"}, "currency", "INVALID_CURRENCY"),
        # a week ahead: computed at collection, and a run may cross midnight (UTC)
        ({"date": (today() + timedelta(days=7)).isoformat()}, "date", "VALIDATION"),
        ({"initiativeId": encode_global_id("Initiative", 99999)}, "initiativeId", "NOT_FOUND"),
        ({"initiativeId": encode_global_id("Program", 1)}, "initiativeId", "INVALID_ID"),
        ({"currency": "EUR"}, "currency", "RATE_NOT_FOUND"),
        ({"description": "x" * 10_001}, "description", "VALIDATION"),
    ],
)
async def test_a_bad_transaction_is_refused_with_its_field_and_nothing_is_written(
    db: Database, ledger: Ledger, changes: dict[str, Any], field: str, code: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await ledger.editor.data(
        CREATE_TRANSACTION, {"input": new_transaction(ledger, **changes)}
    )
    # then
    payload = data["createTransaction"]
    assert payload["transaction"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
    assert payload["errors"][0]["message"]
    assert await counts(db) == before


async def test_an_update_names_the_version_it_read_and_a_stale_one_is_a_conflict(
    db: Database, ledger: Ledger
) -> None:
    # given
    created = await ledger.editor.data(CREATE_TRANSACTION, {"input": new_transaction(ledger)})
    tx_id = created["createTransaction"]["transaction"]["id"]
    # when
    first = await ledger.editor.data(
        UPDATE_TRANSACTION, {"input": {"id": tx_id, "version": 1, "amount": "99.00"}}
    )
    before = await counts(db)
    stale = await ledger.editor.data(
        UPDATE_TRANSACTION, {"input": {"id": tx_id, "version": 1, "description": "late"}}
    )
    # then
    assert first["updateTransaction"]["transaction"]["version"] == 2
    assert first["updateTransaction"]["transaction"]["amount"] == {"amount": "99.00"}
    assert stale["updateTransaction"]["transaction"] is None
    assert [(e["field"], e["code"]) for e in stale["updateTransaction"]["errors"]] == [
        ("version", "CONFLICT")
    ]
    assert await counts(db) == before
    async with db.sessions() as session:
        row = await session.get(m.Transaction, ledger_id(tx_id))
    assert row is not None and row.description is None and row.version == 2


def ledger_id(global_id: str) -> int:
    from app.kit.ids import decode_global_id

    return decode_global_id(global_id)[1]


async def test_a_field_that_cannot_be_empty_cannot_be_set_to_null(ledger: Ledger) -> None:
    # given
    created = await ledger.editor.data(CREATE_TRANSACTION, {"input": new_transaction(ledger)})
    tx_id = created["createTransaction"]["transaction"]["id"]
    # when
    data = await ledger.editor.data(
        UPDATE_TRANSACTION, {"input": {"id": tx_id, "version": 1, "amount": None}}
    )
    # then
    assert [(e["field"], e["code"]) for e in data["updateTransaction"]["errors"]] == [
        ("amount", "VALIDATION")
    ]


async def test_an_archived_transaction_leaves_lists_but_not_the_trail(
    db: Database, ledger: Ledger
) -> None:
    # given
    created = await ledger.editor.data(CREATE_TRANSACTION, {"input": new_transaction(ledger)})
    tx_id = created["createTransaction"]["transaction"]["id"]
    # when
    data = await ledger.editor.data(ARCHIVE_TRANSACTION, {"input": {"id": tx_id, "version": 1}})
    # then
    assert data["archiveTransaction"]["errors"] == []
    assert data["archiveTransaction"]["transaction"]["amount"] == {"amount": "125.50"}
    listed = await ledger.editor.data("{ transactions { totalCount } }")
    assert listed["transactions"]["totalCount"] == 0
    node = await ledger.editor.data("query($id: ID!) { node(id: $id) { id } }", {"id": tx_id})
    assert node["node"] is None
    async with db.sessions() as session:
        ops = (
            await session.scalars(
                select(m.Change.operation)
                .where(m.Change.entity_type == "transactions")
                .order_by(m.Change.sequence)
            )
        ).all()
    assert ops == ["create", "archive"]


async def test_archiving_a_missing_record_is_not_found(ledger: Ledger) -> None:
    data = await ledger.editor.data(
        ARCHIVE_TRANSACTION,
        {"input": {"id": encode_global_id("Transaction", 4242), "version": 1}},
    )
    assert [(e["field"], e["code"]) for e in data["archiveTransaction"]["errors"]] == [
        ("id", "NOT_FOUND")
    ]


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"description": "line one\u001b[8mhidden"}, "description"),
        ({"reason": "because\u0007"}, "reason"),
    ],
)
async def test_control_characters_are_refused_on_both_databases(
    db: Database, ledger: Ledger, variables: dict[str, str], field: str
) -> None:
    # given: a terminal escape and a bell, which only hide things from people reading
    # (NUL, which PostgreSQL cannot store at all, is refused before any mutation runs:
    # tests/kit/text/)
    before = await counts(db)
    tx = new_transaction(
        ledger, **({"description": variables["description"]} if "description" in variables else {})
    )
    # when
    data = await ledger.editor.data(
        CREATE_TRANSACTION, {"input": tx, "reason": variables.get("reason")}
    )
    # then
    errors = data["createTransaction"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, "VALIDATION")]
    assert await counts(db) == before


async def test_a_retried_update_that_changed_nothing_replays_the_record(ledger: Ledger) -> None:
    # given
    created = await ledger.editor.data(CREATE_TRANSACTION, {"input": new_transaction(ledger)})
    tx = created["createTransaction"]["transaction"]
    same = {"input": {"id": tx["id"], "version": 1, "amount": "125.50"}, "key": "noop"}
    query = """mutation($input: UpdateTransactionInput!, $key: String) {
      updateTransaction(input: $input, idempotencyKey: $key) {
        transaction { version amount { amount } } errors { code } replayed } }"""
    # when
    first = await ledger.editor.data(query, same)
    again = await ledger.editor.data(query, same)
    # then: nothing to change, nothing written, and the retry gets the same answer
    assert first["updateTransaction"] == {
        "transaction": {"version": 1, "amount": {"amount": "125.50"}},
        "errors": [],
        "replayed": False,
    }
    assert again["updateTransaction"]["replayed"] is True
    assert again["updateTransaction"]["transaction"] == first["updateTransaction"]["transaction"]


async def test_archiving_a_record_archives_the_evidence_cited_for_it(
    db: Database, ledger: Ledger
) -> None:
    # given: a transaction with a citation of a source document
    async with db.sessions() as session, session.begin():
        tx = await f.transaction(session, ledger.initiative)
        document = m.SourceDocument(ref="doc-1", title="Statement")
        session.add(document)
        await session.flush()
        session.add(
            m.Citation(
                source_document_id=document.id,
                subject_type=m.SubjectType.TRANSACTION,
                subject_id=tx.id,
                quote="paid",
            )
        )
    # when
    data = await ledger.editor.data(
        ARCHIVE_TRANSACTION, {"input": {"id": ledger.id_of(tx, "Transaction"), "version": 1}}
    )
    # then: no citation points at nothing; the trail keeps both
    assert data["archiveTransaction"]["errors"] == []
    async with db.sessions() as session:
        left = await session.scalar(select(func.count()).select_from(m.Citation))
        archived = (
            await session.scalars(
                select(m.Change.entity_type).where(m.Change.operation == "archive")
            )
        ).all()
    assert left == 0
    assert sorted(archived) == ["citations", "transactions"]
