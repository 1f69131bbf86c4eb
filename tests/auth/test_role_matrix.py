"""Every role against every kind of operation: allowed or denied, and a denied call
writes nothing. The expected table is written out here, independently of the code's
own role table (app/auth/roles.py), so a change to either shows up as a failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app import models as m
from app.config import Settings
from app.kit.ids import encode_global_id
from app.main import create_app
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database

ROLES = ["anonymous", "viewer", "auditor", "editor", "partner", "admin"]
OPERATIONS = [
    "read",
    "report",
    "export",
    "changes",
    "verify",
    "history",
    "write",
    "approve",
    "rates",
]
Y, N = True, False
# fmt: off
EXPECTED: dict[str, list[bool]] = {
    #             read report export changes verify history write approve rates
    "anonymous": [N,   N,     N,     N,      N,     N,      N,    N,      N],
    "viewer":    [Y,   Y,     N,     N,      N,     N,      N,    N,      N],
    "auditor":   [Y,   Y,     Y,     Y,      Y,     Y,      N,    Y,      N],
    "editor":    [Y,   Y,     N,     N,      N,     N,      Y,    N,      N],
    "partner":   [Y,   Y,     Y,     N,      N,     N,      N,    N,      N],
    "admin":     [Y,   Y,     Y,     Y,      Y,     Y,      Y,    Y,      Y],
}
# fmt: on

QUERIES = {
    "read": "{ initiatives { totalCount } }",
    "report": "{ budgetSummary(groupBy: [PROGRAM]) { total { count } } }",
    "changes": "{ changes(first: 1) { edges { node { sequence } } } }",
    "verify": "{ auditVerification { intact } }",
    "history": "{ initiatives(first: 1) { edges { node { history { sequence } } } } }",
}
MUTATIONS = {
    "write": """mutation($input: CreateTransactionInput!) {
        createTransaction(input: $input) { errors { code } } }""",
    "approve": """mutation($input: DecideReachedFigureInput!) {
        approveReachedFigure(input: $input) { errors { code } } }""",
    "rates": """mutation($input: CreateExchangeRateInput!) {
        createExchangeRate(input: $input) { errors { code } } }""",
}
DENIED_CODES = {"FORBIDDEN", "UNAUTHENTICATED"}


@dataclass
class World:
    http: httpx.AsyncClient
    initiative: m.Initiative
    figure: m.BeneficiaryFigure
    keys: dict[str, str]


@pytest.fixture
async def world(db: Database, settings: Settings) -> AsyncIterator[World]:
    """Production settings (no anonymous reading); one key per role; a reached figure
    submitted by someone, waiting for approval."""
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        group = await f.beneficiary_group(session)
        figure = await f.beneficiary_figure(
            session,
            initiative,
            group,
            draft_reached_value=5,
            draft_reached_qualifier=m.FigureQualifier.EXACT,
            draft_reached_as_of=today() - timedelta(days=1),
            draft_submitted_by="someone-else",
            draft_submitted_at=program.created_at,
        )
        keys = {
            role: await f.api_key(
                session,
                role,
                name=f"{role}-key",
                initiatives=[initiative.code] if role == "partner" else [],
            )
            for role in ROLES
            if role != "anonymous"
        }
    app = create_app(
        settings.model_copy(update={"database_url": db.url, "anonymous_read": False}),
        engine=db.engine,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield World(http, initiative, figure, keys)


def _variables(world: World, operation: str) -> dict[str, Any]:
    if operation == "write":
        return {
            "input": {
                "initiativeId": encode_global_id("Initiative", world.initiative.id),
                "type": "EXPENDITURE",
                "date": (today() - timedelta(days=1)).isoformat(),
                "amount": "1.00",
                "currency": "CNY",
            }
        }
    if operation == "approve":
        return {
            "input": {"id": encode_global_id("BeneficiaryFigure", world.figure.id), "version": 1}
        }
    return {
        "input": {
            "base": "EUR",
            "quote": "CNY",
            "rate": "7.5",
            "rateDate": (today() - timedelta(days=1)).isoformat(),
            "source": "test",
        }
    }


async def _trail_length(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.Change)) or 0


async def _attempt(db: Database, world: World, role: str, operation: str) -> bool:
    """Whether the operation was allowed; a denial must carry a denial code."""
    headers = {"Authorization": f"Bearer {world.keys[role]}"} if role in world.keys else {}
    if operation == "export":
        response = await world.http.get(
            "/reports/budget-summary.csv", params={"groupBy": "PROGRAM"}, headers=headers
        )
        if response.status_code == 200:
            return True
        assert response.status_code in (401, 403), response.text
        return False
    if operation in QUERIES:
        response = await world.http.post(
            "/graphql", json={"query": QUERIES[operation]}, headers=headers
        )
        body = response.json()
        if not body.get("errors"):
            assert body["data"], body
            return True
        assert {e["extensions"]["code"] for e in body["errors"]} <= DENIED_CODES, body
        return False
    before = await _trail_length(db)
    response = await world.http.post(
        "/graphql",
        json={"query": MUTATIONS[operation], "variables": _variables(world, operation)},
        headers=headers,
    )
    body = response.json()
    if body.get("errors"):  # refused as a whole: a caller who may do nothing at all
        assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}, body
        assert await _trail_length(db) == before
        return False
    errors = next(iter(body["data"].values()))["errors"]
    if not errors:
        assert await _trail_length(db) > before
        return True
    assert {e["code"] for e in errors} <= DENIED_CODES, errors
    assert await _trail_length(db) == before  # denied: nothing written
    return False


CASES = [
    pytest.param(role, operation, EXPECTED[role][i], id=f"{role}-{operation}")
    for role in ROLES
    for i, operation in enumerate(OPERATIONS)
]


@pytest.mark.parametrize(("role", "operation", "allowed"), CASES)
async def test_role_operation(
    db: Database, world: World, role: str, operation: str, allowed: bool
) -> None:
    assert await _attempt(db, world, role, operation) is allowed
