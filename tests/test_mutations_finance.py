"""Writing money: transactions and budget lines, as an editor would through the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE_TRANSACTION = """
mutation($input: CreateTransactionInput!, $key: String, $reason: String) {
  createTransaction(input: $input, idempotencyKey: $key, reason: $reason) {
    transaction { id version amount { amount currency } date valueDate }
    errors { field code message }
    replayed
  }
}"""
UPDATE_TRANSACTION = """
mutation($input: UpdateTransactionInput!) {
  updateTransaction(input: $input) {
    transaction { id version amount { amount } description }
    errors { field code message }
  }
}"""
ARCHIVE_TRANSACTION = """
mutation($input: ArchiveInput!) {
  archiveTransaction(input: $input) {
    transaction { id amount { amount } }
    errors { field code message }
  }
}"""
CREATE_BUDGET_LINE = """
mutation($input: CreateBudgetLineInput!) {
  createBudgetLine(input: $input) {
    budgetLine { id version type amount { amount currency } periodStart periodEnd }
    errors { field code message }
  }
}"""
ARCHIVE_BUDGET_LINE = """
mutation($input: ArchiveInput!) {
  archiveBudgetLine(input: $input) { budgetLine { id } errors { field code message } }
}"""
ALLOCATED = "query($id: ID!) { program(id: $id) { allocated { amount currency } } }"


@dataclass
class Ledger:
    program: m.Program
    initiative: m.Initiative
    other: m.Initiative
    editor: GraphQLClient

    def id_of(self, row: Any, type_name: str) -> str:
        return encode_global_id(type_name, row.id)


@pytest.fixture
async def ledger(db: Database, client: GraphQLClient) -> Ledger:
    async with db.sessions() as session, session.begin():
        program = await f.program(session, pledged_amount=Decimal("1000.00"))
        initiative = await f.initiative(session, program)
        other = await f.initiative(session, program)
        await f.exchange_rate(session, base="USD", quote="CNY", rate=Decimal("7.1"))
        secret = await f.api_key(session, "editor", name="editor-1")
    return Ledger(program, initiative, other, client.with_key(secret))


def new_transaction(ledger: Ledger, **changes: Any) -> dict[str, Any]:
    day = today() - timedelta(days=10)
    return {
        "initiativeId": ledger.id_of(ledger.initiative, "Initiative"),
        "type": "DISBURSEMENT",
        "date": day.isoformat(),
        "amount": "125.50",
        "currency": "CNY",
        **changes,
    }


def new_budget_line(ledger: Ledger, **changes: Any) -> dict[str, Any]:
    return {
        "initiativeId": ledger.id_of(ledger.initiative, "Initiative"),
        "periodStart": "2024-01-01",
        "periodEnd": "2024-12-31",
        "type": "ORIGINAL",
        "status": "COMMITTED",
        "amount": "400.00",
        "currency": "CNY",
        **changes,
    }


async def counts(db: Database) -> tuple[int, int, int]:
    """(transactions, budget lines, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.Transaction)) or 0,
            await session.scalar(select(func.count()).select_from(m.BudgetLine)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
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


async def test_an_amount_finer_than_its_currencys_minor_unit_is_refused(
    db: Database, ledger: Ledger
) -> None:
    # given: yen, which has no minor unit, convert into the programme's CNY
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(session, base="JPY", quote="CNY", rate=Decimal("0.05"))
    created = await ledger.editor.data(CREATE_TRANSACTION, {"input": new_transaction(ledger)})
    tx_id = created["createTransaction"]["transaction"]["id"]
    before = await counts(db)
    # when: 100.50 yen written as a transaction, as a budget line, and by switching the
    # currency of 125.50 CNY to yen
    transaction = await ledger.editor.data(
        CREATE_TRANSACTION, {"input": new_transaction(ledger, amount="100.50", currency="JPY")}
    )
    line = await ledger.editor.data(
        CREATE_BUDGET_LINE, {"input": new_budget_line(ledger, amount="100.5", currency="JPY")}
    )
    switched = await ledger.editor.data(
        UPDATE_TRANSACTION, {"input": {"id": tx_id, "version": 1, "currency": "JPY"}}
    )
    # then
    for payload in (
        transaction["createTransaction"],
        line["createBudgetLine"],
        switched["updateTransaction"],
    ):
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("amount", "VALIDATION")]
        assert "JPY" in payload["errors"][0]["message"]
    assert await counts(db) == before
    # and whole yen, with or without zero decimals, are fine
    whole = await ledger.editor.data(
        CREATE_TRANSACTION, {"input": new_transaction(ledger, amount="100.00", currency="JPY")}
    )
    assert whole["createTransaction"]["errors"] == []
    assert whole["createTransaction"]["transaction"]["amount"] == {
        "amount": "100",
        "currency": "JPY",
    }


READ_BACK = """
query($tx: ID!, $line: ID!) {
  tx: node(id: $tx) { ... on Transaction { amount { amount currency } } }
  line: node(id: $line) { ... on BudgetLine { amount { amount currency } } }
}"""


async def test_an_amount_in_fils_is_written_and_read_back_as_written(
    db: Database, ledger: Ledger
) -> None:
    # given: dinars convert into the programme's CNY
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(session, base="KWD", quote="CNY", rate=Decimal("23.5"))
    # when: a transaction and a budget line of 12.345 KWD (12 dinars 345 fils)
    kwd = {"amount": "12.345", "currency": "KWD"}
    transaction = await ledger.editor.data(
        CREATE_TRANSACTION, {"input": new_transaction(ledger, **kwd)}
    )
    line = await ledger.editor.data(CREATE_BUDGET_LINE, {"input": new_budget_line(ledger, **kwd)})
    # then: both written, to the fils, and read back so
    tx_payload, line_payload = transaction["createTransaction"], line["createBudgetLine"]
    assert tx_payload["errors"] == [] and line_payload["errors"] == []
    assert tx_payload["transaction"]["amount"] == kwd
    assert line_payload["budgetLine"]["amount"] == kwd
    ids = {"tx": tx_payload["transaction"]["id"], "line": line_payload["budgetLine"]["id"]}
    read = await ledger.editor.data(READ_BACK, ids)
    assert read == {"tx": {"amount": kwd}, "line": {"amount": kwd}}
    async with db.sessions() as session:
        stored = await session.scalars(select(m.BudgetLine.amount))
        assert list(stored) == [Decimal("12.345")]
    # and the programme's budget counts the fils: 12.345 * 23.5 = 290.1075, 290.11 CNY
    allocated = await ledger.editor.data(ALLOCATED, {"id": ledger.id_of(ledger.program, "Program")})
    assert allocated["program"]["allocated"] == {"amount": "290.11", "currency": "CNY"}


@pytest.mark.parametrize(
    ("amount", "currency", "said"),
    [
        # finer than a fils
        ("12.3456", "KWD", "KWD amounts have at most 3 (its ISO 4217 minor unit)"),
        # CLF's minor unit has 4 decimals; the ledger keeps 3
        ("1.2345", "CLF", "at most 3 decimals, in every currency (CLF's ISO 4217 minor unit"),
        # yen have no minor unit
        ("1.5", "JPY", "JPY amounts have at most 0 (its ISO 4217 minor unit)"),
    ],
)
async def test_an_amount_finer_than_its_currency_or_the_ledger_is_refused_and_not_written(
    db: Database, ledger: Ledger, amount: str, currency: str, said: str
) -> None:
    # given: the currency converts into the programme's CNY
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(session, base=currency, quote="CNY", rate=Decimal("23.5"))
    before = await counts(db)
    money = {"amount": amount, "currency": currency}
    # when: written as a transaction and as a budget line
    transaction = await ledger.editor.data(
        CREATE_TRANSACTION, {"input": new_transaction(ledger, **money)}
    )
    line = await ledger.editor.data(CREATE_BUDGET_LINE, {"input": new_budget_line(ledger, **money)})
    # then: a validation error on the amount that names the limit; nothing written
    for payload in (transaction["createTransaction"], line["createBudgetLine"]):
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("amount", "VALIDATION")]
        assert said in payload["errors"][0]["message"]
    assert transaction["createTransaction"]["transaction"] is None
    assert line["createBudgetLine"]["budgetLine"] is None
    assert await counts(db) == before


async def test_a_transaction_against_another_initiatives_budget_line_is_refused(
    db: Database, ledger: Ledger
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        line = await f.budget_line(session, ledger.other, amount=Decimal("10.00"))
    # when
    data = await ledger.editor.data(
        CREATE_TRANSACTION,
        {"input": new_transaction(ledger, budgetLineId=ledger.id_of(line, "BudgetLine"))},
    )
    # then
    errors = data["createTransaction"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("budgetLineId", "VALIDATION")]


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


# --- budget lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "-1.00"}, "amount"),
        ({"periodEnd": "2023-12-31"}, "periodEnd"),
        ({"type": "REVISED"}, "type"),  # no original to replace
    ],
)
async def test_a_bad_budget_line_is_refused_and_nothing_is_written(
    db: Database, ledger: Ledger, changes: dict[str, Any], field: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await ledger.editor.data(
        CREATE_BUDGET_LINE, {"input": new_budget_line(ledger, **changes)}
    )
    # then
    payload = data["createBudgetLine"]
    assert payload["budgetLine"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "VALIDATION")]
    assert await counts(db) == before


async def test_a_revision_replaces_its_original_rather_than_adding_to_it(
    ledger: Ledger,
) -> None:
    # given
    await ledger.editor.data(CREATE_BUDGET_LINE, {"input": new_budget_line(ledger)})
    # when
    revised = await ledger.editor.data(
        CREATE_BUDGET_LINE, {"input": new_budget_line(ledger, type="REVISED", amount="550.00")}
    )
    second_original = await ledger.editor.data(
        CREATE_BUDGET_LINE, {"input": new_budget_line(ledger, amount="1.00")}
    )
    # then
    assert revised["createBudgetLine"]["errors"] == []
    allocated = await ledger.editor.data(ALLOCATED, {"id": ledger.id_of(ledger.program, "Program")})
    assert allocated["program"]["allocated"] == {"amount": "550.00", "currency": "CNY"}
    assert [e["field"] for e in second_original["createBudgetLine"]["errors"]] == ["type"]


async def test_budgets_beyond_the_pledge_are_refused_with_the_figures(
    db: Database, ledger: Ledger
) -> None:
    # given: 400 of 1,000 allocated to one initiative
    await ledger.editor.data(CREATE_BUDGET_LINE, {"input": new_budget_line(ledger)})
    before = await counts(db)
    # when: 650 more for the other initiative (in USD: 91.56 x 7.1 = 650.076, shown as 650.08)
    data = await ledger.editor.data(
        CREATE_BUDGET_LINE,
        {
            "input": new_budget_line(
                ledger,
                initiativeId=ledger.id_of(ledger.other, "Initiative"),
                amount="91.56",
                currency="USD",
            )
        },
    )
    # then
    errors = data["createBudgetLine"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("amount", "PLEDGE_EXCEEDED")]
    assert "1,050.08 CNY" in errors[0]["message"]
    assert "50.08 beyond its pledge of 1,000.00 CNY" in errors[0]["message"]
    assert await counts(db) == before


async def test_a_budget_line_with_transactions_cannot_be_archived(
    db: Database, ledger: Ledger
) -> None:
    # given
    created = await ledger.editor.data(CREATE_BUDGET_LINE, {"input": new_budget_line(ledger)})
    line_id = created["createBudgetLine"]["budgetLine"]["id"]
    await ledger.editor.data(
        CREATE_TRANSACTION, {"input": new_transaction(ledger, budgetLineId=line_id)}
    )
    before = await counts(db)
    # when
    data = await ledger.editor.data(ARCHIVE_BUDGET_LINE, {"input": {"id": line_id, "version": 1}})
    # then
    errors = data["archiveBudgetLine"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("id", "CONFLICT")]
    assert "1 transaction" in errors[0]["message"]
    assert await counts(db) == before


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
    # tests/test_text_input.py)
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
