"""Each test's call report, for fixtures that check more after a passing call; an app
on an engine of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.engines import ledger_engine
from app.main import create_app
from tests.conftest import Database, GraphQLClient


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call":
        item.call_report = report  # type: ignore[attr-defined]


@pytest.fixture
async def fresh_app(db: Database, settings: Settings) -> AsyncIterator[tuple[GraphQLClient, Any]]:
    """A client of an app on an engine of its own, which no statement listener ever saw
    (production's: the test database's engine has had listeners, and SQLAlchemy then
    wraps the borrowed connection in a Connection for good), and that engine."""
    engine = ledger_engine(db.url)
    app = create_app(
        settings.model_copy(
            update={
                "database_url": db.url,
                "compiled_reads": True,
                "execution_timeout_seconds": 0.5,
                # more at once than the pool keeps, from one caller (the test's)
                "max_queries_per_caller": 64,
            }
        ),
        engine=engine,
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    try:
        yield GraphQLClient(http), engine
    finally:
        await http.aclose()
        await engine.dispose()
