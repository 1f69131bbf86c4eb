"""Writing budget lines: bad lines refused, a revision replacing its original, budgets
beyond the pledge refused with the figures, and a line with transactions kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Database
from tests.graphql.finance.common import (
    ALLOCATED,
    ARCHIVE_BUDGET_LINE,
    CREATE_BUDGET_LINE,
    CREATE_TRANSACTION,
    Ledger,
    counts,
    new_budget_line,
    new_transaction,
)


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
