"""The rules of beneficiary figures, and the approval of reached figures.

A figure is one indicator: an initiative's target for one group, counted in one
unit; (initiative, group, unit) is unique. What was reached is reported in two
steps. An editor submits a draft (`draft_reached_*`); an auditor or admin other than
the submitter approves it into `reached_*`, the only figure reports count, or
rejects it. Both clear the draft; the trail names them "approve" and "reject".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.recorder import mark_operation
from app.auth.principal import Principal
from app.db.types import utcnow
from app.errors import ErrorCode
from app.kit.text import Kind
from app.models import BeneficiaryFigure, BeneficiaryGroup, FigureQualifier, Initiative
from app.models._columns import QUANTITY
from app.writes import checks, crud
from app.writes.errors import FieldError, Problems, Rejected

MAX_UNIT = 100


def quantity(problems: Problems, value: Decimal | None, field: str) -> Decimal | None:
    """A count the figure columns hold exactly: not negative, at most 4 decimals."""
    if value is None:
        return None
    try:
        value = QUANTITY.check(value)
    except ValueError:
        problems.add(field, f"{value} is not a number of at most 14 digits and 4 decimals")
        return value
    if value < 0:
        problems.add(field, "must not be negative")
    return value


async def validate_figure(
    session: AsyncSession, problems: Problems, figure: BeneficiaryFigure
) -> None:
    figure.unit = (
        checks.text(problems, figure.unit, "unit", limit=MAX_UNIT, required=True, kind=Kind.NAME)
        or ""
    )
    figure.target_value = quantity(problems, figure.target_value, "target_value")
    # An approval and a submission have happened: the mutations stamp them now, a file
    # (a backup, app/imports/) names them, and neither may be a moment still to come.
    checks.not_future_moment(problems, figure.approved_at, "approved_at")
    checks.not_future_moment(problems, figure.draft_submitted_at, "draft_submitted_at")
    initiative = await checks.existing(
        session, problems, Initiative, figure.initiative_id, "initiative_id", "initiative"
    )
    group = await checks.existing(
        session, problems, BeneficiaryGroup, figure.group_id, "group_id", "beneficiary group"
    )
    if initiative is None or group is None or not figure.unit:
        return
    if await checks.exists_where(
        session,
        BeneficiaryFigure.initiative_id == figure.initiative_id,
        BeneficiaryFigure.group_id == figure.group_id,
        BeneficiaryFigure.unit == figure.unit,
        BeneficiaryFigure.id != (figure.id or -1),
    ):
        problems.add(
            "unit",
            f"the initiative already has a figure for {group.code!r} counted in "
            f"{figure.unit!r}; update that one",
            ErrorCode.ALREADY_EXISTS,
        )


@dataclass(frozen=True)
class Draft:
    value: Decimal
    qualifier: FigureQualifier
    as_of: date


def check_draft(problems: Problems, draft: Draft) -> Draft:
    value = quantity(problems, draft.value, "value")
    checks.not_future(problems, draft.as_of, "as_of")
    return Draft(value if value is not None else draft.value, draft.qualifier, draft.as_of)


async def submit(
    session: AsyncSession, values: Mapping[str, Any], principal: Principal
) -> BeneficiaryFigure:
    """Put a reached figure up for approval; it replaces a draft still pending.
    `values`: the figure's `figure_id`, the `version` read, and the draft."""
    problems = Problems()
    draft = check_draft(problems, Draft(values["value"], values["qualifier"], values["as_of"]))
    problems.raise_any()
    figure: BeneficiaryFigure = await crud.load_for_change(
        session, BeneficiaryFigure, values["figure_id"], values["version"], field="figure_id"
    )
    figure.draft_reached_value = draft.value
    figure.draft_reached_qualifier = draft.qualifier
    figure.draft_reached_as_of = draft.as_of
    figure.draft_submitted_by = principal.name
    figure.draft_submitted_at = utcnow()
    await session.flush()
    return figure


def _pending(figure: BeneficiaryFigure) -> None:
    if figure.draft_submitted_by is None or figure.draft_reached_value is None:
        raise Rejected(
            [
                FieldError(
                    "id",
                    ErrorCode.VALIDATION,
                    "no reached figure waits for approval here; an editor submits one first "
                    "(submitReachedFigure)",
                )
            ]
        )


async def _decided(session: AsyncSession, values: Mapping[str, Any]) -> BeneficiaryFigure:
    """The figure whose draft is approved or rejected (its `id`, the `version` read)."""
    figure: BeneficiaryFigure = await crud.load_for_change(
        session, BeneficiaryFigure, values["id"], values["version"]
    )
    _pending(figure)
    return figure


def _clear_draft(figure: BeneficiaryFigure) -> None:
    figure.draft_reached_value = None
    figure.draft_reached_qualifier = None
    figure.draft_reached_as_of = None
    figure.draft_submitted_by = None
    figure.draft_submitted_at = None


async def approve(
    session: AsyncSession, values: Mapping[str, Any], principal: Principal
) -> BeneficiaryFigure:
    """Make the draft the reached figure reports count; not by its own submitter."""
    figure = await _decided(session, values)
    if figure.draft_submitted_by == principal.name:
        raise Rejected(
            [
                FieldError(
                    "id",
                    ErrorCode.FORBIDDEN,
                    f"{principal.name!r} submitted this figure and cannot approve it too: "
                    "another auditor or admin must (four-eyes rule)",
                )
            ]
        )
    figure.reached_value = figure.draft_reached_value
    figure.reached_qualifier = figure.draft_reached_qualifier or FigureQualifier.EXACT
    figure.reached_as_of = figure.draft_reached_as_of
    figure.approved_by = principal.name
    figure.approved_at = utcnow()
    _clear_draft(figure)
    mark_operation(session, figure, "approve")
    await session.flush()
    return figure


async def reject(
    session: AsyncSession, values: Mapping[str, Any], reason: str | None
) -> BeneficiaryFigure:
    """Drop the draft; the approved figure stays. The reason tells the submitter why."""
    figure = await _decided(session, values)
    if reason is None or not reason.strip():
        raise Rejected(
            [
                FieldError(
                    "reason",
                    ErrorCode.VALIDATION,
                    "say why the figure is rejected: the submitter reads it in the trail",
                )
            ]
        )
    _clear_draft(figure)
    mark_operation(session, figure, "reject")
    await session.flush()
    return figure
