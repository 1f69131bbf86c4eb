"""Import a document: all or nothing, in one transaction.

`import_document` writes into the caller's transaction and says, in its report,
whether anything was refused; `run_import` is the whole of it for the command line
and the upload: read the file, import it, commit only a clean, real import (a dry run
or a refused row rolls everything back, trail entries included).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.records import Actor
from app.db.session import SessionFactory
from app.evidence.rules import Fields
from app.imports import document as d
from app.imports.evidence import load_citations
from app.imports.initiatives import (
    load_figures,
    load_initiatives,
    load_milestones,
    load_participations,
    load_shares,
)
from app.imports.money import load_budget_lines, load_transactions
from app.imports.reader import MAX_FILE_BYTES, Read, read_document
from app.imports.report import Report
from app.imports.service import Importer, Progress, start


def rows_of(document: d.Document) -> int:
    """How many rows the document has (for a progress bar)."""
    rows = 1 + sum(
        len(kind)
        for kind in (
            document.sources,
            document.organizations,
            document.exchange_rates,
            document.beneficiary_groups,
            document.initiatives,
        )
    )
    for i in document.initiatives:
        rows += len(i.participants) + len(i.budget_lines) + len(i.transactions)
        rows += len(i.milestones) + len(i.beneficiaries) + len(i.shares)
    return rows


async def import_document(
    session: AsyncSession,
    document: d.Document,
    actor: Actor,
    report: Report,
    *,
    fields: Fields | None,
    reason: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Write what the document adds or changes into the session's transaction, every
    row as `actor`; `report` then says what was (to be) written and what was refused.
    The caller commits only when nothing was refused, and rolls back otherwise.
    `fields`: the fields citations may name, as the API names them (the schema's:
    app/graphql/schema.py `cited_fields`); see app/evidence/rules.py for None."""
    await start(session, actor, reason)
    run = Importer(session, document, actor, report, progress, reason=reason, fields=fields)
    await run.load_sources()
    await run.load_organizations()
    await run.load_program()
    if run.program is None:
        return report  # nothing can hang off a refused programme
    await run.load_rates()
    await run.load_groups()
    await load_initiatives(run)
    await load_participations(run)
    await load_budget_lines(run)
    await load_transactions(run)
    await load_milestones(run)
    await load_figures(run)
    await load_shares(run)
    await load_citations(run)
    await session.flush()
    return report


async def run_import(
    sessions: SessionFactory,
    data: bytes,
    actor: Actor,
    *,
    dry_run: bool,
    fields: Fields,
    max_bytes: int = MAX_FILE_BYTES,
    reason: str | None = None,
    progress: Progress | None = None,
    on_total: Progress | None = None,
    reader: Callable[[bytes, int], Read] = read_document,
) -> Report:
    """Read `data` and import it in one transaction of its own; commit only when it is
    not a dry run and nothing was refused. `on_total` hears the rows the file has;
    `reader` makes the document of the file (another format's, e.g. IATI's)."""
    report = Report(dry_run=dry_run)
    # Parsing a large file takes a while: in a thread, the server's loop keeps serving.
    read = await asyncio.to_thread(_read, reader, data, max_bytes)
    report.notes.extend(read.notes)
    for problem in read.problems:
        report.problem(problem.place, problem.code, problem.message)
    documents = read.documents
    if not documents:
        return report
    if on_total is not None:
        on_total(sum(rows_of(document) for document in documents))
    async with sessions() as session:
        try:
            if len(documents) == 1:
                await import_document(
                    session,
                    documents[0],
                    actor,
                    report,
                    fields=fields,
                    reason=reason,
                    progress=progress,
                )
                # A sheet's places are told as the file has them (one document only).
                if read.locate is not None:
                    report.relocate(read.locate)
            else:
                # A backup's programmes, one after the other in the one transaction.
                for i, document in enumerate(documents):
                    part = Report(dry_run=dry_run)
                    await import_document(
                        session,
                        document,
                        actor,
                        part,
                        fields=fields,
                        reason=reason,
                        progress=progress,
                    )
                    report.absorb(part, f"documents[{i}]")
            if report.refused or dry_run:
                await session.rollback()
            else:
                await session.commit()
                report.written = True
        except BaseException:
            await session.rollback()
            raise
    return report


def _read(reader: Callable[[bytes, int], Read], data: bytes, max_bytes: int) -> Read:
    """The file read with the cyclic garbage collector held off (`collector_held_off`)."""
    with collector_held_off():
        return reader(data, max_bytes)


@contextmanager
def collector_held_off() -> Iterator[None]:
    """The cyclic garbage collector held off, then enabled again only by the caller
    that found it enabled. Reading builds millions of objects that live on (cells,
    rows, the document's models) and hold no cycles, and the collector walked them
    again and again for nothing: in process, 100,000 transactions read in 0.6 s
    instead of 1.2 from JSON, 1.1 s instead of 2.4 from CSV files, 2.9 s instead of
    4.8 from a workbook (CPU, best of three). Around a read it is the process's
    collector: another thread's cycles wait for it too, a few seconds. The command
    line holds it off for a whole import (app/cli.py), where the document and the
    records written live to the end: what it would find there is a few tens of
    thousands of objects (of 100,000 rows imported, at the process's end), and the
    peak memory was the same with it and without."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
