"""A database the `pledge-ledger` command reaches through DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.config import get_settings
from tests.conftest import Database


@pytest.fixture
def cli_database(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The command line pointed at the test's database (DATABASE_URL)."""
    monkeypatch.setenv("DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        yield db
    finally:
        get_settings.cache_clear()
