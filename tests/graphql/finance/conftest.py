"""A ledger to write in: a programme of two initiatives, a rate, and an editor's client."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.graphql.finance.common import Ledger


@pytest.fixture
async def ledger(db: Database, client: GraphQLClient) -> Ledger:
    async with db.sessions() as session, session.begin():
        program = await f.program(session, pledged_amount=Decimal("1000.00"))
        initiative = await f.initiative(session, program)
        other = await f.initiative(session, program)
        await f.exchange_rate(session, base="USD", quote="CNY", rate=Decimal("7.1"))
        secret = await f.api_key(session, "editor", name="editor-1")
    return Ledger(program, initiative, other, client.with_key(secret))
