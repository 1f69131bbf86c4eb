"""What the finance mutation tests share: the mutations an editor sends, a ledger to
write in, new records' input, and the counts that show whether anything was written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from app.writes.checks import today
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
