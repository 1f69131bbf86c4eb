"""`pledge-ledger export --format ledger`: a backup, to stdout (JSON) or a file."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from app import cli_support as support
from app.backup.service import Syntax, backup_as_of, render
from app.db.session import SessionFactory
from app.errors import DomainError
from app.views.service import check_moment, parse_moment


def syntax_of(output: Path | None) -> Syntax:
    """YAML for a file named .yaml or .yml, JSON otherwise."""
    if output is not None and output.suffix.lower() in (".yaml", ".yml"):
        return Syntax.YAML
    return Syntax.JSON


def export_backup(program: str | None, as_of: str | None, output: Path | None) -> None:
    """Write the programme `program` (one document), or every programme (a list), as
    the ledger stands or stood at `as_of`. Exit 1 when refused (nothing written)."""
    syntax = syntax_of(output)
    try:
        moment = check_moment(parse_moment(as_of)) if as_of is not None else None

        async def run(sessions: SessionFactory) -> bytes:
            backup = await backup_as_of(sessions, program_ref=program, moment=moment)
            return await render(backup, syntax, single=program is not None)

        data = support.on_migrated_database(run)
    except DomainError as exc:
        typer.echo(f"error: {exc.message} (nothing written)", err=True)
        raise typer.Exit(1) from None
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)
        typer.echo(f"{output}: {len(data)} bytes", err=True)
