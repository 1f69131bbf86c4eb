"""Initiatives and what hangs off them, except money: participants, milestones,
beneficiary figures and shares. Each through its domain's rules, one record at a time
(these are few next to the transactions)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.beneficiaries import groups
from app.beneficiaries.rules import quantity, validate_figure
from app.db.types import utcnow
from app.errors import ErrorCode
from app.imports import document as d
from app.imports import keys, rules
from app.imports import repository as repo
from app.imports.archived import notes_for_new
from app.imports.service import Importer, given
from app.initiatives.rules import validate_initiative
from app.milestones.rules import validate_milestone
from app.writes import checks
from app.writes.errors import Problems


async def load_initiatives(run: Importer) -> None:
    assert run.program is not None
    docs = run.document.initiatives
    stored = await repo.by_column(run.session, m.Initiative, "code", {i.code for i in docs})
    run.stored_initiatives = {row.id for row in stored.values()}
    seen: set[str] = set()
    accepted = []
    for n, item in enumerate(docs):
        place = f"initiatives[{n}]"
        problems = Problems()
        repeated = item.code in seen  # its first listing has the stored record
        run.once(problems, seen, item.code, "code")
        found = stored.get(item.code)
        if found is not None and found.program_id != run.program.id:
            problems.add(
                "code",
                f"initiative {item.code!r} belongs to another programme; codes never move",
                ErrorCode.CONFLICT,
            )
        values = item.model_dump(include=INITIATIVE_FIELDS)
        values["program_id"] = run.program.id
        record = await run.upsert(
            kind="initiative",
            place=place,
            key=item.code,
            row=item,
            model=m.Initiative,
            stored=None if repeated else found,
            values=values,
            validate=validate_initiative,
            rename={"program_id": "program"},
            problems=problems,
        )
        if record is not None:
            accepted.append((n, record, place, item.cite))
    await run.session.flush()
    for n, record, place, cites in accepted:
        run.initiatives.append((n, record.id))
        run.cited(m.SubjectType.INITIATIVE, record, place, cites)
    run.advance(len(docs))


# A figure's reach: what the importer approves when a file changes it.
REACH = ("reached_value", "reached_qualifier", "reached_as_of")
# Its approval, which the importer works out (from the file's, or itself) when it writes.
APPROVAL = ("approved_by", "approved_at")

INITIATIVE_FIELDS = {
    "code",
    "position",
    "title",
    "summary",
    "focus_area",
    "status",
    "planned_start",
    "actual_start",
    "planned_end",
    "actual_end",
    "region",
}


def _stored_by(rows: list[Any], key: Any) -> dict[Any, Any]:
    return {key(row): row for row in rows}


async def load_participations(run: Importer) -> None:
    stored = _stored_by(
        await repo.children(run.session, m.Participation, run.stored_initiatives),
        lambda p: (p.initiative_id, p.organization_id, p.role),
    )
    rows = 0
    for n, initiative_id in run.initiatives:
        seen: set[Any] = set()
        for k, part in enumerate(run.document.initiatives[n].participants):
            place = f"initiatives[{n}].participants[{k}]"
            problems = Problems()
            org = run.missing(
                problems, run.organizations, part.org, "organization_id", "organisation"
            )
            key = (initiative_id, org, part.role)
            if key in seen:
                problems.add(None, "listed twice in the file", ErrorCode.ALREADY_EXISTS)
            seen.add(key)
            await run.upsert(
                kind="participation",
                place=place,
                key=f"{part.org}/{part.role.value}",
                row=part,
                model=m.Participation,
                stored=stored.get(key),
                values={
                    "initiative_id": initiative_id,
                    "organization_id": org or 0,
                    "role": part.role,
                },
                validate=_no_rules,
                rename={"organization_id": "org"},
                problems=problems,
            )
            rows += 1
    await run.session.flush()
    run.advance(rows)


async def _no_rules(_session: AsyncSession, _problems: Problems, _record: Any) -> None:
    return None


async def load_milestones(run: Importer) -> None:
    stored = keys.by_file_key(
        keys.MILESTONE, await repo.children(run.session, m.Milestone, run.stored_initiatives)
    )
    noted = await notes_for_new(
        run,
        m.Milestone,
        keys.MILESTONE,
        (
            (initiative_id, stone.ref)
            for n, initiative_id in run.initiatives
            for stone in run.document.initiatives[n].milestones
            if (initiative_id, stone.ref) not in stored
        ),
    )
    rows = 0
    accepted = []
    for n, initiative_id in run.initiatives:
        seen: set[str] = set()
        for k, stone in enumerate(run.document.initiatives[n].milestones):
            place = f"initiatives[{n}].milestones[{k}]"
            problems = Problems()
            run.once(problems, seen, stone.ref, "ref")
            values = stone.model_dump(exclude={"cite"}) | {"initiative_id": initiative_id}
            found = stored.get((initiative_id, stone.ref))
            if found is not None:
                values["ref"] = found.ref  # one found by its id keeps having no ref
            record = await run.upsert(
                kind="milestone",
                place=place,
                key=stone.ref,
                row=stone,
                model=m.Milestone,
                stored=found,
                values=values,
                validate=validate_milestone,
                problems=problems,
                note=noted.get((initiative_id, stone.ref), ""),
            )
            if record is not None:
                accepted.append((record, place, stone.cite))
            rows += 1
    await _settle(run, m.SubjectType.MILESTONE, accepted)
    run.advance(rows)


async def _settle(run: Importer, subject: m.SubjectType, accepted: list[Any]) -> None:
    """Flush a kind's records (they get their ids), then note what they cite."""
    await run.session.flush()
    for record, place, cites in accepted:
        run.cited(subject, record, place, cites)


async def _validate_figure(
    session: AsyncSession, problems: Problems, fig: m.BeneficiaryFigure
) -> None:
    await validate_figure(session, problems, fig)
    # A reached figure from a file is a published one: held to the draft's rules.
    fig.reached_value = quantity(problems, fig.reached_value, "reached_value")
    checks.not_future(problems, fig.reached_as_of, "reached_as_of")
    if fig.draft_submitted_by is not None:
        fig.draft_reached_value = quantity(problems, fig.draft_reached_value, "draft_reached_value")
        checks.not_future(problems, fig.draft_reached_as_of, "draft_reached_as_of")


FIGURE_NAMES = {
    "group_id": "group",
    "draft_reached_value": "draft.value",
    "draft_reached_as_of": "draft.as_of",
    "draft_submitted_at": "draft.submitted_at",
}


async def load_figures(run: Importer) -> None:
    stored = _stored_by(
        await repo.children(run.session, m.BeneficiaryFigure, run.stored_initiatives),
        lambda row: (row.initiative_id, row.group_id, row.unit),
    )
    now = utcnow()
    rows = 0
    accepted = []
    for n, initiative_id in run.initiatives:
        seen: set[Any] = set()
        for k, fig in enumerate(run.document.initiatives[n].beneficiaries):
            place = f"initiatives[{n}].beneficiaries[{k}]"
            problems = Problems()
            run.once(problems, seen, (fig.group, fig.unit), "unit")
            group = run.missing(problems, run.groups, fig.group, "group_id", "beneficiary group")
            values = fig.model_dump(
                exclude={"cite", "group", "approved_by", "approved_at", "draft"}
            )
            values |= {"initiative_id": initiative_id, "group_id": group or 0}
            found = stored.get((initiative_id, group, fig.unit))
            reach = given(fig, {name: getattr(fig, name) for name in REACH}, {})
            if found is None or any(getattr(found, k) != v for k, v in reach.items()):
                # Who answers for the reach the figure has after the import: none if it
                # has none, else the approval the file names, else the importer.
                kept = found is not None and "reached_value" not in reach
                reached = found.reached_value if kept and found else fig.reached_value
                if reached is None:
                    values |= {"approved_by": None, "approved_at": None}
                else:
                    values |= _approval(fig, run.actor.name, now)
            if fig.draft is not None:
                # A draft stays a draft: only an approval makes it the reach reports count.
                values |= _draft_values(fig.draft)
            record = await run.upsert(
                kind="beneficiary_figure",
                place=place,
                key=f"{fig.group}/{fig.unit}",
                row=fig,
                model=m.BeneficiaryFigure,
                stored=found,
                values=values,
                validate=_validate_figure,
                rename=FIGURE_NAMES,
                problems=problems,
                worked_out=APPROVAL,
            )
            if record is not None:
                accepted.append((record, place, fig.cite))
            rows += 1
    await _settle(run, m.SubjectType.BENEFICIARY_FIGURE, accepted)
    run.advance(rows)


def _approval(fig: d.BeneficiaryFigure, importer: str, now: datetime) -> dict[str, Any]:
    """Who answers for a reached figure the file writes: the approval the file names
    (a backup's, written out even when empty), else the importer, as an approver."""
    if "approved_by" in fig.model_fields_set:
        return {"approved_by": fig.approved_by, "approved_at": fig.approved_at}
    return {"approved_by": importer, "approved_at": now}


def _draft_values(draft: d.DraftReach) -> dict[str, object]:
    return {
        "draft_reached_value": draft.value,
        "draft_reached_qualifier": draft.qualifier,
        "draft_reached_as_of": draft.as_of,
        "draft_submitted_by": draft.submitted_by,
        "draft_submitted_at": draft.submitted_at,
    }


async def load_shares(run: Importer) -> None:
    stored = _stored_by(
        await repo.children(run.session, m.BeneficiaryShare, run.stored_initiatives),
        lambda row: (row.initiative_id, row.group_id),
    )
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for (initiative_id, _group), share in stored.items():
        totals[initiative_id] += share.percentage
    rows = 0
    for n, initiative_id in run.initiatives:
        seen: set[str] = set()
        for k, share in enumerate(run.document.initiatives[n].shares):
            place = f"initiatives[{n}].shares[{k}]"
            problems = Problems()
            run.once(problems, seen, share.group, "group")
            group = run.missing(problems, run.groups, share.group, "group_id", "beneficiary group")
            found = stored.get((initiative_id, group))
            before = found.percentage if found is not None else Decimal(0)
            percentage = groups.percentage(problems, share.percentage)
            if not problems.errors:
                rules.shares_within_whole(problems, totals[initiative_id] - before + percentage)
            record = await run.upsert(
                kind="beneficiary_share",
                place=place,
                key=share.group,
                row=share,
                model=m.BeneficiaryShare,
                stored=found,
                values={
                    "initiative_id": initiative_id,
                    "group_id": group or 0,
                    "percentage": percentage,
                },
                validate=_no_rules,
                rename={"group_id": "group"},
                problems=problems,
            )
            if record is not None:
                totals[initiative_id] += percentage - before
            rows += 1
    await run.session.flush()
    run.advance(rows)
