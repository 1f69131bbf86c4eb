"""Load the demo data set (`common_prosperity.yaml`) into a database, once.

The file carries every fact with the source words it rests on, and is a document of
the ledger's own import format (app/imports/document.py): it is loaded by the
importer, as any user's file would be. Loading is idempotent: when the programme is
already there, nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.audit.recorder import lock_chain, set_actor
from app.audit.records import SYSTEM_ROLE, Actor
from app.imports.apply import import_document
from app.imports.reader import Read, read_document
from app.imports.report import Report

DEMO_FILE = "common_prosperity.yaml"
DEMO_ACTOR = Actor("demo-loader", SYSTEM_ROLE)
DEMO_REASON = "the built-in demo pledge"


@dataclass(frozen=True)
class DemoResult:
    loaded: bool
    program_ref: str
    rows: int


class DemoRefused(RuntimeError):
    """The demo file broke a rule: a fault of the release, not of the database."""


def _demo_bytes() -> bytes:
    return resources.files("app.demo").joinpath(DEMO_FILE).read_bytes()


def read_demo() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_demo_bytes().decode("utf-8"))
    return data


@cache
def _demo_read() -> Read:
    """The demo file read once per process: it ships with the release and never changes,
    and its documents are immutable (frozen models), so every load can share them."""
    return read_document(_demo_bytes())


async def load_demo(session: AsyncSession) -> DemoResult:
    """Add the demo programme unless it is there already. The caller commits.

    Loading is the trail's first entries: every row is recorded as created by the
    demo loader, so the state before loading is part of what "as of" can show.
    """
    read = _demo_read()
    if read.document is None:
        raise DemoRefused("; ".join(f"{p.place}: {p.message}" for p in read.problems))
    ref = read.document.program.ref
    set_actor(session, DEMO_ACTOR, reason=DEMO_REASON)
    await lock_chain(session)
    if await session.scalar(select(m.Program.id).where(m.Program.ref == ref)) is not None:
        return DemoResult(loaded=False, program_ref=ref, rows=0)
    # The demo's citations name the API's fields: tests/demo holds them to the schema's
    # (this package is below the schema, which knows them).
    report = await import_document(
        session, read.document, DEMO_ACTOR, Report(dry_run=False), fields=None, reason=DEMO_REASON
    )
    if report.refused:
        raise DemoRefused("; ".join(f"{p.place}: {p.message}" for p in report.problems))
    return DemoResult(loaded=True, program_ref=ref, rows=report.changes)
