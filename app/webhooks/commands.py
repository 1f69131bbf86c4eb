"""`pledge-ledger webhooks …`: register, list, pause, resume, replay, rotate, remove.

`add` prints the endpoint's id, and on its last line the signing secret (shown once).
A refusal writes nothing and exits 1; a database that cannot be used exits 2.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli_support as support
from app.auth.commands import default_creator
from app.auth.commands import run_in_session as run

webhooks_cli = typer.Typer(
    help="Webhooks: the changes a key may see, POSTed to an endpoint, signed per the "
    "Standard Webhooks specification (docs/webhooks.md)."
)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _failed_last(endpoint: Any) -> bool:
    """Whether the endpoint's last failure is newer than its last success (else its
    last error is old news)."""
    failed, succeeded = endpoint.last_failure_at, endpoint.last_success_at
    return failed is not None and (succeeded is None or failed > succeeded)


@webhooks_cli.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST the events (http or https).")],
    key: Annotated[str, typer.Option(help="The API key (by name) whose view the events carry.")],
    entity_type: Annotated[
        list[str] | None,
        typer.Option(help="Only changes to this kind of record (e.g. BUDGET_LINE); repeat."),
    ] = None,
    operation: Annotated[
        list[str] | None, typer.Option(help="Only this kind of change (e.g. CREATE); repeat.")
    ] = None,
    initiative: Annotated[
        list[str] | None, typer.Option(help="Only this initiative's changes (its code); repeat.")
    ] = None,
    ordering: Annotated[
        str,
        typer.Option(
            help="endpoint: every event in order, a failing one holds back the rest; "
            "initiative: in order per initiative, a failing event holds back only its "
            "initiative's (events tied to no initiative are a lane of their own)."
        ),
    ] = "endpoint",
) -> None:
    """Register an endpoint; it receives the changes committed from now on."""
    from app.webhooks import service

    settings = support.settings()

    async def work(session: AsyncSession) -> tuple[int, str]:
        added = await service.add(
            session,
            settings,
            url=url,
            key_name=key,
            entity_types=entity_type or [],
            operations=operation or [],
            initiative_codes=initiative or [],
            created_by=default_creator(),
            ordering=ordering,
        )
        return added.endpoint.id, added.secret

    endpoint_id, secret = run(work)
    typer.echo(f"endpoint {endpoint_id}")
    typer.echo(
        "signing secret below: store it now, it is not shown again (`webhooks rotate` "
        "makes a new one)",
        err=True,
    )
    typer.echo(secret)


@webhooks_cli.command("list")
def list_() -> None:
    """Every endpoint: status, place in the trail, last success and failure."""
    from app.webhooks import repository

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        found = await repository.endpoints(session)
        names = await repository.key_names(session, [e.api_key_id for e in found])
        return [
            (
                str(e.id),
                e.status,
                e.ordering,
                names.get(e.api_key_id, "?"),
                str(e.position),
                _when(e.last_success_at),
                _when(e.last_failure_at),
                e.url,
                e.paused_reason or (e.last_error if _failed_last(e) else None) or "",
            )
            for e in found
        ]

    rows = run(work)
    header = (
        "ID",
        "STATUS",
        "ORDER",
        "KEY",
        "POSITION",
        "LAST SUCCESS",
        "LAST FAILURE",
        "URL",
        "NOTE",
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


@webhooks_cli.command("failures")
def failures(
    endpoint_id: Annotated[int, typer.Argument(metavar="ID", help="The endpoint's id.")],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The endpoint's dead letters and its latest attempts."""
    from app.webhooks import repository, service

    async def work(session: AsyncSession) -> tuple[list[Any], int, list[Any]]:
        await service.get(session, endpoint_id)
        return (
            await repository.dead_letters(session, endpoint_id, limit),
            await repository.held_count(session, endpoint_id),
            await repository.attempts(session, endpoint_id, limit),
        )

    letters, held, attempts = run(work)
    typer.echo("DEAD LETTERS")
    for d in letters:
        state = f"replayed {_when(d.replayed_at)}" if d.replayed_at else "open"
        typer.echo(f"  {d.message_id}  {_when(d.created_at)}  {d.attempts} attempts  {state}")
        typer.echo(f"    {d.last_error}")
    typer.echo(f"HELD (to be sent, behind a failure or replayed): {held}")
    typer.echo("ATTEMPTS (latest first)")
    for a in attempts:
        answer = str(a.status_code) if a.status_code is not None else (a.error or "")[:80]
        typer.echo(f"  {a.message_id}  #{a.attempt}  {_when(a.at)}  {a.duration_ms} ms  {answer}")


def _change(
    action: str,
    endpoint_id: int,
    after: str | None = None,
    delivery: str | None = None,
    from_now: bool = False,
) -> None:
    from app.webhooks import service

    async def work(session: AsyncSession) -> str:
        if action == "pause":
            e = await service.pause(session, endpoint_id)
        elif action == "resume":
            e = await service.resume(session, endpoint_id, from_now=from_now)
        elif action == "replay":
            e = await service.replay(session, endpoint_id, after, delivery)
        else:
            await service.remove(session, endpoint_id)
            return "removed"
        return f"{e.status}, at {e.cursor}"

    typer.echo(f"endpoint {endpoint_id}: {run(work)}")


EndpointId = Annotated[int, typer.Argument(metavar="ID", help="The endpoint's id.")]


@webhooks_cli.command("pause")
def pause(endpoint_id: EndpointId) -> None:
    """Stop delivering to the endpoint (its place in the trail is kept)."""
    _change("pause", endpoint_id)


@webhooks_cli.command("resume")
def resume(
    endpoint_id: EndpointId,
    from_now: Annotated[
        bool,
        typer.Option(
            "--from-now",
            help="From the end of the key's change stream as it is now, skipping what "
            "was pending or held (after the key's initiatives changed, say).",
        ),
    ] = False,
) -> None:
    """Deliver again from where the endpoint stands (or, with --from-now, from now)."""
    _change("resume", endpoint_id, from_now=from_now)


@webhooks_cli.command("replay")
def replay(
    endpoint_id: EndpointId,
    after: Annotated[
        str | None,
        typer.Option(help="A cursor of the key's change stream: deliver everything after it."),
    ] = None,
    delivery: Annotated[
        str | None,
        typer.Option(
            help="A dead letter's message id (msg_…, as `webhooks failures` lists): send "
            "that one delivery again, alone, under the same webhook-id."
        ),
    ] = None,
) -> None:
    """Send again, and resume: one dead-lettered delivery (--delivery), everything
    after a cursor (--after), or, with neither, each open dead letter alone."""
    _change("replay", endpoint_id, after, delivery)


@webhooks_cli.command("remove")
def remove(endpoint_id: EndpointId) -> None:
    """Remove the endpoint, its attempts and its dead letters."""
    _change("remove", endpoint_id)


@webhooks_cli.command("rotate")
def rotate(
    endpoint_id: EndpointId,
    overlap_hours: Annotated[
        float, typer.Option(help="How long the old secret also signs (0 to 720 hours).")
    ] = 24.0,
) -> None:
    """A new signing secret (printed on the last line); the old one keeps signing,
    beside it, for the overlap. Two secrets at most: rotating again within an overlap
    drops the oldest at once. A secret that can no longer be opened is not kept."""
    from app.webhooks import service

    settings = support.settings()

    async def work(session: AsyncSession) -> str:
        return await service.rotate(session, settings, endpoint_id, overlap_hours)

    secret = run(work)
    typer.echo(f"endpoint {endpoint_id}: new secret; the old one signs for {overlap_hours} h more")
    typer.echo(secret)
