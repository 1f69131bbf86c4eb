"""The compiled read path reads a node's plain fields straight from its row's columns:
for every node type, `from_row` must give each plain field exactly the column of its
own name, or the two paths would answer differently (issue 15)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from strawberry.types.base import StrawberryObjectDefinition

from app import models as m
from app.graphql.loaders import NODE_MODELS, NODE_TYPES
from tests import factories as f
from tests.conftest import Database

# Rows read per node type.
SAMPLE = 40


def plain_fields(node_type: type[Any], columns: set[str]) -> list[str]:
    """The fields the compiled path reads as columns: no resolver, a column's name."""
    definition: StrawberryObjectDefinition = node_type.__strawberry_definition__  # type: ignore[attr-defined]
    return [
        field.python_name
        for field in definition.fields
        if field.base_resolver is None and field.python_name in columns
    ]


async def add_transactions(db: Database) -> None:
    """The demo records no transactions: some, with and without the optional columns."""
    async with db.sessions() as session, session.begin():
        line = await session.scalar(select(m.BudgetLine).order_by(m.BudgetLine.id).limit(1))
        assert line is not None
        initiative = await session.get(m.Initiative, line.initiative_id)
        assert initiative is not None
        await f.transaction(session, initiative, description="fees", budget_line_id=line.id)
        await f.transaction(
            session,
            initiative,
            type=m.TransactionType.INCOMING_FUNDS,
            transaction_date=date(2023, 7, 1),
            amount=Decimal("-12.34"),
        )


async def add_shares(db: Database) -> None:
    """The demo splits no initiative's money by group: a share of the first."""
    async with db.sessions() as session, session.begin():
        initiative = await session.scalar(select(m.Initiative).order_by(m.Initiative.id))
        group = await session.scalar(select(m.BeneficiaryGroup).order_by(m.BeneficiaryGroup.id))
        assert initiative is not None and group is not None
        await f.beneficiary_share(session, initiative, group, "12.5")


async def test_plain_fields_are_their_columns(demo: Database) -> None:
    # given: the demo's records of every node type that has plain fields
    await add_transactions(demo)
    await add_shares(demo)
    checked: dict[str, int] = {}
    for name, node_type in sorted(NODE_TYPES.items()):
        model = NODE_MODELS[node_type]
        table = model.__table__
        fields = plain_fields(node_type, set(table.columns.keys()))
        if not fields:
            continue
        async with demo.sessions() as session:
            records = (await session.scalars(select(model).order_by(model.id).limit(SAMPLE))).all()
            ids = [record.id for record in records]
            rows = {
                row.id: row
                for row in (await session.execute(select(table).where(table.c.id.in_(ids)))).all()
            }
        assert records, f"the demo has no {name}"
        # when: each is built from its record, and from its plain row of columns
        for record in records:
            row = rows[record.id]
            for built in (node_type.from_row(record), node_type.from_row(row)):
                # then: each plain field is the column of its name, of the same type
                for field in fields:
                    value, column = getattr(built, field), row._mapping[field]
                    assert (type(value), value) == (type(column), column), (name, field)
        checked[name] = len(fields)
    # and the node types the compiled path reads columns of were all checked
    assert {"Initiative", "BudgetLine", "Transaction", "Milestone", "Program"} <= set(checked)
