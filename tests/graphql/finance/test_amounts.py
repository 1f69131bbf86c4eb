"""Amounts as written: finer than the currency's minor unit, or the ledger's, is refused
and not written; fils are written and read back as given."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app import models as m
from tests import factories as f
from tests.conftest import Database
from tests.graphql.finance.common import (
    ALLOCATED,
    CREATE_BUDGET_LINE,
    CREATE_TRANSACTION,
    UPDATE_TRANSACTION,
    Ledger,
    counts,
    new_budget_line,
    new_transaction,
)


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
