"""Run Alembic migrations from code: the CLI, the service and the tests use this."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class MigrationRefused(RuntimeError):
    """A migration found stored data it cannot carry over without changing a value; it
    changed nothing. `db upgrade`/`db downgrade` say why in one line and exit 1."""


def _migrations_dir() -> Path:
    # Beside the package in a checkout; in the working directory when the package is
    # installed into site-packages (the container copies migrations/ to its workdir).
    beside = Path(__file__).resolve().parents[2] / "migrations"
    return beside if (beside / "env.py").exists() else Path.cwd() / "migrations"


MIGRATIONS_DIR = _migrations_dir()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@asynccontextmanager
async def _migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for one migration run, committed at the end.

    On SQLite, Alembic's batch mode rebuilds a table to alter it (copy, drop, rename);
    with foreign keys enforced, dropping a table other rows point at fails as soon as
    there is data. So they are off while migrating, every reference is checked before
    committing, and they are on again before the connection goes back to the pool.
    """
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            yield conn
            if sqlite:
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"the migration left broken references: {broken[:5]}")
            await conn.commit()
        finally:
            if sqlite:
                await conn.rollback()
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with _migrating(engine) as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with _migrating(engine) as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
