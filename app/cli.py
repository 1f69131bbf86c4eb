"""The `pledge-ledger` command line: serve, migrate, load the demo, generate synthetic data,
import a programme from a file, export IATI files and the schema. What the commands share
(settings, the database named, exit codes) is in app/cli_support.py."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app import cli_support as support
from app.auth.commands import keys_cli
from app.reports.budget import rollups
from app.reports.budget.commands import rollups_cli
from app.webhooks.commands import webhooks_cli

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.audit.service import TableCheck, Verification
    from app.db.session import SessionFactory
    from app.demo.loader import DemoResult
    from app.evidence.rules import Fields
    from app.imports.reader import Read
    from app.imports.report import Report
    from app.models import SubjectType
    from app.synthetic.generator import Sizes
    from app.synthetic.service import GenerateResult

cli = typer.Typer(
    help="Pledge Ledger: GraphQL reporting for social-impact pledges.\n\n"
    "Every command that uses the database names it on stderr (DATABASE_URL: a SQLite "
    "file by its absolute path, a server with its password masked). " + support.EXIT_CODES
)
db_cli = typer.Typer(help="Database migrations.")
demo_cli = typer.Typer(help="The built-in demo pledge.")
cli.add_typer(db_cli, name="db")
cli.add_typer(demo_cli, name="demo")
audit_cli = typer.Typer(help="The audit trail.")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(rollups_cli, name="rollups")
# Every command's writes (generate, import, demo load, ...) keep the budget rollups in
# their transaction (app/reports/budget/rollups.py).
rollups.install()
cli.add_typer(webhooks_cli, name="webhooks")
operations_cli = typer.Typer(help="Persisted operations: the documents clients send by id.")
cli.add_typer(operations_cli, name="operations")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve GraphQL at /graphql (GraphiQL in a browser).

    Each process logs the database it serves from as it starts (and warns when a SQLite
    file does not exist yet: it is then created empty). Exit 2 on a bad setting."""
    import uvicorn

    from app.http.server import uvicorn_options
    from app.observability.logs import configure_logging, logging_config

    settings = support.settings()
    if workers > 1 and settings.download_link_secret is None:
        support.cannot_run(
            "setting DOWNLOAD_LINK_SECRET: --workers above 1 needs it, or each process "
            "would sign download links with a secret of its own"
        )
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # uvicorn applies it again in each worker process: every log line in one format.
        log_config=logging_config(settings.log_level, settings.log_format),
        **uvicorn_options(settings),
    )


async def _migrate(url: str, action: str, revision: str) -> str | None:
    from app.db import migrate
    from app.engines import ledger_engine

    engine = ledger_engine(url)
    try:
        if action == "upgrade":
            await migrate.upgrade(engine, revision)
        else:
            await migrate.downgrade(engine, revision)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Migrate the database up to REVISION (default: the latest).

    A SQLite file is created when it does not exist (its folder must). A PostgreSQL
    database must exist already (`createdb`, or your provider's console): this creates
    its tables, not the database. Exit 2 when the database cannot be reached or opened."""
    url = support.database(create=True)
    current = _migrate_or_refuse(url, "upgrade", revision)
    typer.echo(f"database at {current or 'base'}")


@db_cli.command("downgrade")
def db_downgrade(
    revision: str = typer.Argument(
        ...,
        help="Target: a revision id, base, or steps back such as -1 (after --: "
        "`db downgrade -- -1`).",
    ),
) -> None:
    """Migrate the database down to REVISION. Exit 2 when it cannot be reached or opened."""
    url = support.database()
    current = _migrate_or_refuse(url, "downgrade", revision)
    typer.echo(f"database at {current or 'base'}")


def _migrate_or_refuse(url: str, direction: str, revision: str) -> str | None:
    """Migrate; a migration that refuses the stored data is one line and exit 1."""
    from app.db.migrate import MigrationRefused

    try:
        return support.run(url, lambda: _migrate(url, direction, revision))
    except MigrationRefused as refused:
        typer.echo(f"refused: {refused}", err=True)
        raise typer.Exit(1) from None


async def _load_demo(sessions: SessionFactory) -> DemoResult:
    from app.demo.loader import load_demo

    async with sessions() as session, session.begin():
        return await load_demo(session)


@demo_cli.command("load")
def demo_load() -> None:
    """Load the demo pledge; does nothing when it is already there.

    Exit 2 when the database cannot be used (missing, unreachable, not migrated)."""
    result = support.on_migrated_database(_load_demo)
    if result.loaded:
        typer.echo(f"demo loaded: {result.program_ref} ({result.rows} rows)")
    else:
        typer.echo(f"demo already present: {result.program_ref} (nothing written)")


async def _generate(sessions: SessionFactory, sizes: Sizes) -> GenerateResult:
    from app.synthetic.service import generate

    # Counts budget lines and transactions, the bulk of the work; on stderr, so
    # stdout carries only the summary.
    with typer.progressbar(
        length=max(1, sizes.budget_lines + sizes.transactions),
        label="budget lines and transactions",
        file=sys.stderr,
    ) as bar:
        async with sessions() as session, session.begin():
            return await generate(session, sizes, progress=bar.update)


@cli.command("generate")
def generate_synthetic(
    initiatives: Annotated[int, typer.Option(min=1, help="Initiatives in the new programme.")] = 10,
    budget_lines: Annotated[
        int, typer.Option(min=0, help="Budget lines in all, spread over the initiatives.")
    ] = 200,
    transactions: Annotated[
        int, typer.Option(min=0, help="Transactions in all, spread over the initiatives.")
    ] = 10_000,
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed: the same sizes and seed give the same data.")
    ] = 1,
) -> None:
    """Add a synthetic programme of the given sizes (deterministic, bulk-loaded).

    Exit 1 when the sizes are refused (nothing written); 2 when the database cannot be
    used (missing, unreachable, not migrated)."""
    from app.errors import DomainError
    from app.synthetic.generator import Sizes

    sizes = Sizes(initiatives, budget_lines, transactions, seed)
    started = time.perf_counter()
    try:
        result = support.on_migrated_database(lambda sessions: _generate(sessions, sizes))
    except DomainError as exc:
        typer.echo(f"error: {exc.message} (nothing written)", err=True)
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - started
    typer.echo(f"generated {result.program_ref}: {result.total} rows in {seconds:.1f} s")
    for table, count in result.rows.items():
        typer.echo(f"  {table:<20} {count:>10}")
    typer.echo(f"  {'changes':<20} {result.entries:>10}  (audit trail entries, one per row)")


@cli.command("import")
def import_file(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A document of the ledger's format (YAML or JSON); a workbook (xlsx), a "
            "folder of CSV files or a zip of them, one table per record kind; or an IATI "
            "2.03 activity file (XML): one parent activity, its children."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be written; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why, kept with every trail entry of the import.")
    ] = None,
    print_schema: Annotated[
        bool, typer.Option("--print-schema", help="Print the format's JSON Schema and stop.")
    ] = False,
    write_template: Annotated[
        Path | None,
        typer.Option(
            "--write-template",
            help="Write an empty workbook (a path ending in .xlsx) or folder of CSV files "
            "with every table's columns, and stop.",
        ),
    ] = None,
) -> None:
    """Load a whole programme from FILE in one transaction: all of it, or nothing.

    Records are found by their keys (refs and codes): new ones are created, changed
    ones updated (a new version in the trail), equal ones left; records the file does
    not name are left alone (an import never deletes). The report lists every row
    created, changed or refused (with its place in the file and a stable code).
    Exit 0 when written (or, with --dry-run, when it would be); 1 when a row is refused
    (nothing written); 2 when the database cannot be used."""
    from app.imports.document import document_schema

    if print_schema:
        typer.echo(json.dumps(document_schema(), indent=2, ensure_ascii=False))
        return
    if write_template is not None:
        from app.imports.template import write_template as write

        typer.echo(write(write_template))
        return
    if file is None:
        typer.echo("error: name the FILE to import (or --print-schema)", err=True)
        raise typer.Exit(2)
    if file.suffix.lower() == ".csv":
        typer.echo(
            f"error: {file} is one table; name the folder of the programme's CSV files "
            f"({file.parent}/), one file per record kind",
            err=True,
        )
        raise typer.Exit(2)
    try:
        data, reader = _file_reader(file)
    except OSError as exc:
        typer.echo(f"error: {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    from app.imports.apply import collector_held_off

    started = time.perf_counter()
    # The whole import, not only its read: the process ends with it (measured on
    # 100,000 transactions from a workbook: ~2 s of CPU less, the same peak memory).
    with collector_held_off():
        report = support.on_migrated_database(
            lambda sessions: _import(
                sessions, data, reader, dry_run, reason or f"import of {file.name}"
            )
        )
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        for line in report.lines():
            typer.echo(line)
        typer.echo(f"{time.perf_counter() - started:.1f} s", err=True)
    if report.refused:
        raise typer.Exit(1)


def _file_reader(file: Path) -> tuple[bytes, Callable[[bytes, int], Read]]:
    """The file's bytes and the reader of its format; a folder's CSV files are read by
    their reader (the bytes are none). A file larger than is read is refused by its size,
    unread: its bytes would take that much memory first."""
    if file.is_dir():
        from app.imports.csvfiles import read_csv_folder

        return b"", lambda _data, max_bytes: read_csv_folder(file, max_bytes)
    from app.iati.reader import read_any
    from app.imports import reader

    refused = reader.too_large(file.stat().st_size, reader.MAX_FILE_BYTES)
    if refused is not None:
        return b"", lambda _data, _max_bytes: refused
    return file.read_bytes(), read_any


async def _import(
    sessions: SessionFactory,
    data: bytes,
    reader: Callable[[bytes, int], Read],
    dry_run: bool,
    reason: str,
) -> Report:
    from contextlib import ExitStack

    from app.audit.records import SYSTEM_ROLE, Actor
    from app.imports.apply import run_import

    with ExitStack() as stack:
        bar: Any = None

        def on_total(total: int) -> None:
            nonlocal bar
            # A bar only for a person watching: stderr on a terminal.
            if sys.stderr.isatty():
                bar = stack.enter_context(
                    typer.progressbar(length=total, label="rows", file=sys.stderr)
                )

        return await run_import(
            sessions,
            data,
            Actor("importer", SYSTEM_ROLE),
            dry_run=dry_run,
            fields=_cited_fields(),
            reason=reason,
            progress=lambda n: bar.update(n) if bar is not None else None,
            on_total=on_total,
            reader=reader,
        )


def _cited_fields() -> Fields:
    """The fields a citation may name (app/graphql/schema.py `cited_fields`), the
    schema they are read from built when the first citation is checked: building it
    takes over a second of CPU, which an import citing nothing does not pay."""
    found: list[Fields] = []

    def fields(kind: SubjectType) -> frozenset[str]:
        if not found:
            from app.graphql.schema import cited_fields

            found.append(cited_fields())
        return found[0](kind)

    return fields


async def _verify_trail(sessions: SessionFactory) -> tuple[Verification, TableCheck | None]:
    from app.audit.service import compare_tables, verify

    async with sessions() as session:
        chain = await verify(session)
    # A broken trail describes no state to hold the tables against.
    return chain, await compare_tables(sessions.kw["bind"]) if chain.intact else None


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check the trail's hash chain from its first entry to the chain head, then hold
    every ledger table against the state the trail describes.

    Exit 0 when both hold, 1 when the chain is broken (naming the first broken entry)
    or a table differs from the trail (naming the first record: table, id, columns), 2
    when the database cannot be checked: a bad setting, a database that cannot be
    reached or opened, a missing SQLite file, or one not migrated. A scheduled check can
    tell tampering (1) from an outage (2)."""
    result, tables = support.on_migrated_database(_verify_trail)
    if result.first_break is not None:
        broken = result.first_break
        typer.echo(f"broken at entry {broken.sequence}: {broken.problem}", err=True)
        raise typer.Exit(1)
    assert tables is not None
    if tables.first_difference is not None:
        typer.echo(f"the tables differ from the trail: {tables.first_difference}", err=True)
        raise typer.Exit(1)
    typer.echo(f"intact: {result.checked} entries, last sequence {result.last_sequence}")
    typer.echo(f"last hash: {result.last_hash}")
    typer.echo(
        f"tables: {tables.records} records in {tables.tables} tables match the trail "
        f"up to entry {tables.sequence}"
    )


async def _baseline_trail(sessions: SessionFactory) -> int:
    from app.audit.baseline import record_untracked

    async with sessions() as session, session.begin():
        return await record_untracked(session)


@audit_cli.command("baseline")
def audit_baseline() -> None:
    """Record rows that predate the trail: one `create` entry for each row without one.

    Run once after upgrading a database that already held data (`make serve` does);
    running it again writes nothing. Exit 2 when the database cannot be used
    (missing, unreachable, not migrated)."""
    written = support.on_migrated_database(_baseline_trail)
    typer.echo(f"baseline: {written} entries written for rows the trail had not recorded")


@operations_cli.command("register")
def operations_register(
    files: Annotated[
        list[Path], typer.Argument(help="GraphQL documents, one per file (.graphql).")
    ],
    manifest: Annotated[
        Path, typer.Option("--manifest", "-m", help="The manifest to add them to.")
    ] = Path("persisted-operations.json"),
) -> None:
    """Register documents: check each against the schema, add it to the manifest under
    its SHA-256, and print the ids clients send (`documentId: "sha256:<id>"`).

    Serve the manifest with PERSISTED_OPERATIONS_FILE; with PERSISTED_OPERATIONS_ONLY,
    only its documents run. Nothing is written if any document is invalid (exit 1)."""
    from app.graphql.schema import build_schema
    from app.http.persisted import (
        ManifestError,
        document_hash,
        invalid_documents,
        read_manifest,
    )

    documents: dict[str, str] = {}
    names: dict[str, Path] = {}
    for path in files:
        try:
            # The exact bytes: a client that sends the file sends its line endings too.
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            typer.echo(f"error: {path}: {exc}", err=True)
            raise typer.Exit(1) from None
        key = document_hash(text)
        documents[key] = text
        names[key] = path
    settings = support.settings()
    problems = invalid_documents(build_schema(settings), settings, documents)
    for key, problem in problems.items():
        typer.echo(f"error: {names[key]}: {problem}", err=True)
    if problems:
        typer.echo("nothing written", err=True)
        raise typer.Exit(1)
    try:
        known = read_manifest(manifest) if manifest.exists() else {}
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    merged = {**known, **documents}
    manifest.write_text(json.dumps(dict(sorted(merged.items())), indent=2) + "\n")
    for key, path in names.items():
        state = "known" if key in known else "added"
        typer.echo(f"sha256:{key}  {path}  ({state})")
    typer.echo(f"{manifest}: {len(merged)} operations")


@cli.command("export")
def export(
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            help="iati (IATI 2.03 activities) or ledger (the ledger's own format: a backup "
            "that `import` restores; YAML when the output file ends in .yaml or .yml).",
        ),
    ] = "iati",
    program: Annotated[
        str | None, typer.Option(help="The programme's ref; default: every programme.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The ledger as it stood then (ISO 8601 with a timezone)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
    ] = None,
) -> None:
    """Export programmes: as IATI 2.03 activities, or as a backup in the ledger's format.

    --format iati (the default): each programme a parent activity, its initiatives
    child activities; what IATI cannot carry is named on stderr. --format ledger: every
    record of the programmes as `import` reads it back (JSON, or YAML for a file named
    .yaml or .yml).

    Exit 1 when the export is refused (an unknown programme or format, or a rule of IATI
    the ledger breaks, e.g. a transaction dated in the future; nothing written); 2 when
    the database cannot be used."""
    from app.errors import DomainError
    from app.iati.service import export_as_of
    from app.views.service import check_moment, parse_moment

    if format_ == "ledger":
        from app.backup.command import export_backup

        export_backup(program, as_of, output)
        return
    if format_ != "iati":
        typer.echo(f"error: unknown format {format_!r}; formats: iati, ledger", err=True)
        raise typer.Exit(1)
    try:
        moment = check_moment(parse_moment(as_of)) if as_of is not None else None
        result = support.on_migrated_database(
            lambda sessions: export_as_of(sessions, program_ref=program, moment=moment)
        )
    except DomainError as exc:
        typer.echo(f"error: {exc.message} (nothing written)", err=True)
        raise typer.Exit(1) from None
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if output is None:
        sys.stdout.buffer.write(result.xml)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(result.xml)
        typer.echo(f"{output}: {result.activities} activities", err=True)


@cli.command("export-schema")
def export_schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
    ] = None,
) -> None:
    """Print the GraphQL schema (SDL) generated from the code."""
    from app.graphql.schema import build_schema

    # The settings' limits do not change the SDL, but a bad one is named all the same.
    sdl = build_schema(support.settings()).as_str() + "\n"
    if output is None:
        typer.echo(sdl, nl=False)
    else:
        output.write_text(sdl, encoding="utf-8")


def main() -> None:
    cli()
