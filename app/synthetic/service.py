"""One synthetic-data run: a new programme and everything under it, written in bulk in
the caller's transaction (the caller commits; a refused run writes nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.audit.bulk import BulkTrail
from app.audit.records import SYSTEM_ROLE, Actor
from app.db.base import Base
from app.db.types import utcnow
from app.errors import DomainError, ErrorCode
from app.synthetic import repository as repo
from app.synthetic.beneficiaries import (
    BENEFICIARY_FIGURE_COLUMNS,
    BENEFICIARY_GROUP_COLUMNS,
    BENEFICIARY_GROUPS,
    BENEFICIARY_SHARE_COLUMNS,
    beneficiary_figure_rows,
    beneficiary_group_rows,
    beneficiary_share_rows,
    share_kinds,
)
from app.synthetic.finance import (
    BUDGET_LINE_COLUMNS,
    EXCHANGE_RATE_COLUMNS,
    TRANSACTION_COLUMNS,
    LineRef,
    budget_line_rows,
    line_ref,
    rate_rows,
    transaction_rows,
)
from app.synthetic.generator import (
    FIRST_DAY,
    INITIATIVE_COLUMNS,
    LAST_DAY,
    MAX_BUDGET_LINES,
    MAX_INITIATIVES,
    MAX_SEED,
    MAX_TRANSACTIONS,
    MILESTONE_COLUMNS,
    ORGANIZATION_COLUMNS,
    PARTICIPATION_COLUMNS,
    PROGRAM_COLUMNS,
    InitiativePlan,
    OrgIds,
    Sizes,
    initiative_row,
    milestone_rows,
    organization_refs,
    organization_rows,
    part_rng,
    participation_rows,
    plan_initiatives,
    program_row,
    spread,
)

Progress = Callable[[int], None]


@dataclass
class GenerateResult:
    program_ref: str
    # Rows written, by table name, in the order they were written.
    rows: dict[str, int] = field(default_factory=dict)
    # Entries appended to the trail: one `create` per row.
    entries: int = 0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def check_sizes(sizes: Sizes) -> None:
    """Refuse sizes the generator does not make (refs and codes must fit their columns)."""
    limits = (
        ("initiatives", sizes.initiatives, 1, MAX_INITIATIVES),
        ("budget_lines", sizes.budget_lines, 0, MAX_BUDGET_LINES),
        ("transactions", sizes.transactions, 0, MAX_TRANSACTIONS),
        ("seed", sizes.seed, 0, MAX_SEED),
    )
    for name, value, low, high in limits:
        if not low <= value <= high:
            raise DomainError(
                f"{name} must be between {low} and {high}, not {value}",
                code=ErrorCode.INVALID_ARGUMENT,
                field=name,
            )


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


class _Run:
    """One run's steps, each writing one table, in `Base.metadata.sorted_tables` order
    (parents before children, as the trail must list them)."""

    def __init__(self, session: AsyncSession, sizes: Sizes, now: datetime, trail: BulkTrail):
        self.session = session
        self.sizes = sizes
        self.now = now
        self.trail = trail
        # Nothing is dated after this: the end of 2025, or today if that is earlier.
        self.last = min(LAST_DAY, now.date())
        self.result = GenerateResult(sizes.ref)
        self.pairs: list[tuple[InitiativePlan, int]] = []  # plans and their initiatives' ids
        self.groups: dict[str, int] = {}
        self.lines: list[list[tuple[int, LineRef]]] = []  # per initiative: (id, line)

    async def put(
        self,
        model: type[Base],
        columns: tuple[str, ...],
        rows: Any,
        progress: Progress | None = None,
    ) -> None:
        table = _table(model)
        written = await self.trail.insert(
            table, columns, rows, created_at=self.now, progress=progress
        )
        self.result.rows[table.name] = self.result.rows.get(table.name, 0) + written

    async def beneficiary_groups(self) -> None:
        codes = {code for code, _name, _unit in BENEFICIARY_GROUPS}
        # Groups are shared: reuse the ones already there (the demo's, another run's).
        missing = codes - set(await repo.beneficiary_group_ids(self.session, codes))
        await self.put(
            m.BeneficiaryGroup, BENEFICIARY_GROUP_COLUMNS, beneficiary_group_rows(missing)
        )
        self.groups = await repo.beneficiary_group_ids(self.session, codes)

    async def organizations(self) -> OrgIds:
        await self.put(m.Organization, ORGANIZATION_COLUMNS, organization_rows(self.sizes))
        refs = organization_refs(self.sizes)
        by_ref = await repo.organization_ids(self.session, refs)
        return OrgIds(by_ref[refs[0]], [by_ref[ref] for ref in refs[1:]])

    async def rates(self) -> None:
        rows = rate_rows(self.last)
        pairs = {(str(row[0]), str(row[1])) for row in rows}
        # The pair+date index is unique: a rate already stored for a day is kept.
        existing = await repo.existing_rate_keys(self.session, pairs, FIRST_DAY, self.last)
        await self.put(
            m.ExchangeRate,
            EXCHANGE_RATE_COLUMNS,
            [row for row in rows if (row[0], row[1], row[3]) not in existing],
        )

    async def program(self, orgs: OrgIds) -> int:
        await self.put(m.Program, PROGRAM_COLUMNS, [program_row(self.sizes, orgs.sponsor)])
        return await repo.program_id(self.session, self.sizes.ref)

    async def initiatives(self, program: int) -> None:
        plans = plan_initiatives(self.sizes, self.last)
        await self.put(
            m.Initiative, INITIATIVE_COLUMNS, (initiative_row(p, program) for p in plans)
        )
        by_code = await repo.initiative_ids(self.session, program)
        self.pairs = [(plan, by_code[plan.code]) for plan in plans]

    async def beneficiary_figures(self) -> None:
        sizes, groups = self.sizes, self.groups
        await self.put(
            m.BeneficiaryFigure,
            BENEFICIARY_FIGURE_COLUMNS,
            (
                row
                for p, i in self.pairs
                for row in beneficiary_figure_rows(sizes, p, i, groups, self.last)
            ),
        )

    async def beneficiary_shares(self) -> None:
        sizes, groups = self.sizes, self.groups
        kinds = share_kinds(sizes)
        await self.put(
            m.BeneficiaryShare,
            BENEFICIARY_SHARE_COLUMNS,
            (
                row
                for (p, i), kind in zip(self.pairs, kinds, strict=True)
                for row in beneficiary_share_rows(sizes, p, i, groups, kind)
            ),
        )

    async def budget_lines(self, program: int, progress: Progress | None) -> None:
        sizes = self.sizes
        counts = spread(sizes.budget_lines, len(self.pairs), part_rng(sizes.seed, "spread-lines"))
        refs: list[list[LineRef]] = []

        def lines() -> Iterator[repo.Row]:
            for (plan, initiative), count in zip(self.pairs, counts, strict=True):
                rows = budget_line_rows(sizes, plan, initiative, count)
                refs.append([line_ref(row) for row in rows])
                yield from rows

        await self.put(m.BudgetLine, BUDGET_LINE_COLUMNS, lines(), progress)
        # Ids ascend in the order the lines were written: hand them out in that order.
        line_ids = iter(await repo.budget_line_ids(self.session, program))
        self.lines = [[(next(line_ids), ref) for ref in initiative] for initiative in refs]

    async def milestones(self) -> None:
        await self.put(
            m.Milestone,
            MILESTONE_COLUMNS,
            (row for p, i in self.pairs for row in milestone_rows(self.sizes, p, i, self.last)),
        )

    async def participations(self, orgs: OrgIds) -> None:
        await self.put(
            m.Participation,
            PARTICIPATION_COLUMNS,
            (row for p, i in self.pairs for row in participation_rows(p, i, orgs)),
        )

    async def transactions(self, orgs: OrgIds, progress: Progress | None) -> None:
        sizes = self.sizes
        counts = spread(
            sizes.transactions, len(self.pairs), part_rng(sizes.seed, "spread-transactions")
        )

        def transactions() -> Iterator[repo.Row]:
            for (plan, initiative), count, own_lines in zip(
                self.pairs, counts, self.lines, strict=True
            ):
                yield from transaction_rows(
                    sizes, plan, initiative, count, own_lines, orgs, self.last
                )

        await self.put(m.Transaction, TRANSACTION_COLUMNS, transactions(), progress)


async def generate(
    session: AsyncSession,
    sizes: Sizes,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> GenerateResult:
    """Write a new synthetic programme of `sizes`, every row with its `create` entry in
    the trail; `progress` hears of every chunk of budget lines and transactions
    written. Refuses a ref that is already there. `now` dates the run (default: the
    trail's clock)."""
    check_sizes(sizes)
    if min(LAST_DAY, (now or utcnow()).date()) < FIRST_DAY:
        raise DomainError("synthetic data is dated from 2021-01-01: check the clock")
    # The lock first: a concurrent run with the same arguments waits here, then is refused.
    reason = f"synthetic data, seed {sizes.seed} ({sizes.ref})"
    trail = await BulkTrail.start(session, Actor("generator", SYSTEM_ROLE), reason)
    if await repo.program_exists(session, sizes.ref):
        raise DomainError(
            f"programme {sizes.ref} already exists: a run with these sizes and seed was "
            "loaded before; choose another seed",
            code=ErrorCode.ALREADY_EXISTS,
            field="seed",
            details={"ref": sizes.ref},
        )
    run = _Run(session, sizes, now or trail.occurred_at, trail)
    await run.beneficiary_groups()
    orgs = await run.organizations()
    await run.rates()
    program = await run.program(orgs)
    await run.initiatives(program)
    await run.beneficiary_figures()
    await run.beneficiary_shares()
    await run.budget_lines(program, progress)
    await run.milestones()
    await run.participations(orgs)
    await run.transactions(orgs, progress)
    await trail.finish()
    run.result.entries = trail.entries
    return run.result
