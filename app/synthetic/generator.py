"""Deterministic rows for a synthetic programme: organisations, initiatives, milestones.
Beneficiaries are in `app.synthetic.beneficiaries`; money (rates, budget lines,
transactions) in `app.synthetic.finance`.

Each part draws from its own `random.Random`, seeded with the run's seed, the part's
name and the initiative's position (string seeds hash the same in every process), so
one table's rows never depend on another's or on how they were chunked. Rows are plain
tuples in the order of the `*_COLUMNS` names; ids of rows they point at are passed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from app.models import (
    InitiativeStatus,
    MilestoneStatus,
    OrganizationKind,
    ParticipationRole,
)

FIRST_DAY = date(2021, 1, 1)
LAST_DAY = date(2025, 12, 31)
PROGRAM_CURRENCY = "CNY"
# Each initiative's budget envelope is up to this much of the programme's currency.
PLEDGE_PER_INITIATIVE = 1_000_000_000

# Bounds that keep every ref and code within its 64-character column.
MAX_SEED = 2**31 - 1
MAX_INITIATIVES = 100_000
MAX_BUDGET_LINES = 10_000_000
MAX_TRANSACTIONS = 100_000_000


@dataclass(frozen=True)
class Sizes:
    """What one run makes: totals across the whole programme, and the seed."""

    initiatives: int
    budget_lines: int
    transactions: int
    seed: int

    @property
    def ref(self) -> str:
        # Names the run by all its arguments: the same run twice is refused, runs with
        # other seeds or sizes sit side by side.
        return f"synthetic-{self.seed}-{self.initiatives}-{self.budget_lines}-{self.transactions}"


def part_rng(seed: int, part: str, key: int = 0) -> random.Random:
    return random.Random(f"{seed}:{part}:{key}")


def spread(total: int, parts: int, rnd: random.Random) -> list[int]:
    """`total` split into `parts` uneven counts that add up to it exactly."""
    weights = [rnd.uniform(0.5, 1.5) for _ in range(parts)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    # Largest remainders first; the index breaks ties, so the order is stable.
    order = sorted(range(parts), key=lambda i: (counts[i] - weights[i] * scale, i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


# ---------------------------------------------------------------- organisations

ORGANIZATION_COLUMNS = ("ref", "name", "kind", "headquarters", "description")
_SPONSOR = ("sponsor", "Synthetic Holdings", OrganizationKind.COMPANY, "Hangzhou")
_PARTNERS = (
    ("p1", "Synthetic Rural Foundation", OrganizationKind.FOUNDATION, "Beijing"),
    ("p2", "Synthetic Community Services", OrganizationKind.NGO, "Chengdu"),
    ("p3", "Synthetic Provincial Development Office", OrganizationKind.GOVERNMENT, "Guiyang"),
    ("p4", "Synthetic Institute of Technology", OrganizationKind.ACADEMIC, "Shenzhen"),
    ("p5", "Synthetic Social Impact Fund", OrganizationKind.FOUNDATION, "Hong Kong"),
)


class OrgIds(NamedTuple):
    sponsor: int
    partners: list[int]


def organization_rows(sizes: Sizes) -> list[tuple[object, ...]]:
    """The sponsor first, then the partners."""
    note = f"Synthetic organisation made by `pledge-ledger generate` ({sizes.ref})."
    return [
        (f"{sizes.ref}-{suffix}", name, kind.value, city, note)
        for suffix, name, kind, city in (_SPONSOR, *_PARTNERS)
    ]


def organization_refs(sizes: Sizes) -> list[str]:
    return [str(row[0]) for row in organization_rows(sizes)]


# ---------------------------------------------------------------- programme

PROGRAM_COLUMNS = (
    "ref",
    "name",
    "summary",
    "sponsor_id",
    "pledged_amount",
    "pledged_currency",
    "announced_on",
    "deadline",
    "governance_body",
    "governance_lead",
)


def program_row(sizes: Sizes, sponsor_id: int) -> tuple[object, ...]:
    rnd = part_rng(sizes.seed, "program")
    return (
        sizes.ref,
        f"Synthetic programme {sizes.seed} ({sizes.initiatives} initiatives)",
        "Synthetic data made by `pledge-ledger generate` for benchmarks, load tests and "
        "demos at scale; no figure in it is real.",
        sponsor_id,
        Decimal(sizes.initiatives * PLEDGE_PER_INITIATIVE).quantize(Decimal("0.01")),
        PROGRAM_CURRENCY,
        FIRST_DAY + timedelta(days=rnd.randint(0, 60)),
        LAST_DAY,
        "Synthetic steering committee",
        "Synthetic programme lead",
    )


# ---------------------------------------------------------------- initiatives

FOCUS_AREAS = (
    "technological innovation",
    "economic development",
    "high-quality jobs",
    "care for disadvantaged groups",
    "rural revitalisation",
    "healthcare",
    "education",
)
# ISO 3166-1 / 3166-2 codes and the names used in titles.
REGIONS = (
    ("CN", "China"),
    ("CN-ZJ", "Zhejiang"),
    ("CN-GD", "Guangdong"),
    ("CN-SC", "Sichuan"),
    ("CN-GZ", "Guizhou"),
    ("CN-YN", "Yunnan"),
    ("CN-GS", "Gansu"),
    ("CN-HA", "Henan"),
    ("CN-JX", "Jiangxi"),
    ("CN-NX", "Ningxia"),
)
_STATUSES = (
    (InitiativeStatus.IMPLEMENTATION, 0.55),
    (InitiativeStatus.FINALISATION, 0.15),
    (InitiativeStatus.CLOSED, 0.15),
    (InitiativeStatus.PIPELINE, 0.05),
    (InitiativeStatus.SUSPENDED, 0.05),
    (InitiativeStatus.CANCELLED, 0.05),
)
FOREIGN_CURRENCIES = ("USD", "EUR", "HKD")

INITIATIVE_COLUMNS = (
    "program_id",
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
)


class InitiativePlan(NamedTuple):
    """What the later parts need to know about an initiative."""

    position: int
    code: str
    focus_area: str
    region: str
    region_name: str
    status: InitiativeStatus
    planned_start: date
    actual_start: date | None
    planned_end: date
    actual_end: date | None
    # The currency most of its money is in.
    currency: str
    # Its budget envelope in the programme's currency, whole units.
    envelope: int
    # Index into the partners: who implements it, who co-funds it.
    implementer: int
    cofunder: int


def month_start(index: int) -> date:
    """The first day of month `index` (year * 12 + month - 1)."""
    return date(index // 12, index % 12 + 1, 1)


def month_end(index: int) -> date:
    return month_start(index + 1) - timedelta(days=1)


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def plan_initiatives(sizes: Sizes, last: date) -> list[InitiativePlan]:
    plans = []
    first_month = month_index(FIRST_DAY)
    statuses = [s for s, _ in _STATUSES]
    weights = [w for _, w in _STATUSES]
    for position in range(1, sizes.initiatives + 1):
        rnd = part_rng(sizes.seed, "initiative", position)
        start_month = first_month + rnd.randint(0, 17)
        end_month = min(start_month + rnd.randint(24, 59), month_index(LAST_DAY))
        planned_start, planned_end = month_start(start_month), month_end(end_month)
        status = rnd.choices(statuses, weights)[0]
        actual_start = None
        if status is not InitiativeStatus.PIPELINE:
            actual_start = min(planned_start + timedelta(days=rnd.randint(0, 90)), last)
        actual_end = None
        if status is InitiativeStatus.CLOSED:
            actual_end = min(planned_end + timedelta(days=rnd.randint(-90, 120)), last)
        region, region_name = rnd.choice(REGIONS)
        plans.append(
            InitiativePlan(
                position=position,
                code=f"{sizes.ref}-{position}",
                focus_area=rnd.choice(FOCUS_AREAS),
                region=region,
                region_name=region_name,
                status=status,
                planned_start=planned_start,
                actual_start=actual_start,
                planned_end=planned_end,
                actual_end=actual_end,
                currency=(
                    PROGRAM_CURRENCY if rnd.random() < 0.8 else rnd.choice(FOREIGN_CURRENCIES)
                ),
                envelope=int(PLEDGE_PER_INITIATIVE * rnd.uniform(0.4, 1.0)),
                implementer=rnd.randrange(len(_PARTNERS) - 1),
                cofunder=len(_PARTNERS) - 1,
            )
        )
    return plans


def initiative_row(plan: InitiativePlan, program_id: int) -> tuple[object, ...]:
    title = f"{plan.focus_area.capitalize()} in {plan.region_name} (synthetic {plan.position})"
    return (
        program_id,
        plan.code,
        plan.position,
        title,
        f"Synthetic initiative {plan.position}: {plan.focus_area}, {plan.region_name}.",
        plan.focus_area,
        plan.status.value,
        plan.planned_start,
        plan.actual_start,
        plan.planned_end,
        plan.actual_end,
        plan.region,
    )


PARTICIPATION_COLUMNS = ("initiative_id", "organization_id", "role")


def participation_rows(
    plan: InitiativePlan, initiative_id: int, orgs: OrgIds
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = [
        (initiative_id, orgs.sponsor, ParticipationRole.FUNDING.value),
        (initiative_id, orgs.sponsor, ParticipationRole.ACCOUNTABLE.value),
        (initiative_id, orgs.partners[plan.implementer], ParticipationRole.IMPLEMENTING.value),
    ]
    if plan.position % 3 == 0:
        rows.append((initiative_id, orgs.partners[plan.cofunder], ParticipationRole.FUNDING.value))
    return rows


# ---------------------------------------------------------------- milestones

MILESTONE_COLUMNS = (
    "initiative_id",
    "title",
    "description",
    "planned_date",
    "forecast_date",
    "actual_date",
    "status",
)
_MILESTONE_TITLES = (
    "Partners signed",
    "Pilot launched in {region}",
    "Platform live",
    "First cohort completed",
    "Mid-term review",
    "Scaled to all counties of {region}",
    "Final evaluation published",
)


def milestone_rows(
    sizes: Sizes, plan: InitiativePlan, initiative_id: int, last: date
) -> list[tuple[object, ...]]:
    """Milestones across the initiative's span; past ones achieved (some late), missed,
    or overdue (still planned or in progress, some with a later forecast)."""
    rnd = part_rng(sizes.seed, "milestones", plan.position)
    count = rnd.randint(2, 6)
    span = (plan.planned_end - plan.planned_start).days
    days = sorted(rnd.randint(30, span) for _ in range(count))
    rows: list[tuple[object, ...]] = []
    for n, offset in enumerate(days):
        planned = plan.planned_start + timedelta(days=offset)
        forecast = actual = None
        if planned > last:
            status = MilestoneStatus.PLANNED
            if rnd.random() < 0.3:  # slipping already
                forecast = planned + timedelta(days=rnd.randint(30, 240))
        else:
            r = rnd.random()
            if r < 0.55:
                status = MilestoneStatus.ACHIEVED
                actual = min(planned + timedelta(days=rnd.randint(-30, 150)), last)
            elif r < 0.7:
                status = MilestoneStatus.MISSED
            elif r < 0.85:
                status = MilestoneStatus.IN_PROGRESS
                forecast = planned + timedelta(days=rnd.randint(60, 540))
            elif r < 0.95:
                status = MilestoneStatus.PLANNED
            else:
                status = MilestoneStatus.CANCELLED
        title = _MILESTONE_TITLES[n % len(_MILESTONE_TITLES)].format(region=plan.region_name)
        rows.append((initiative_id, title, None, planned, forecast, actual, status.value))
    return rows
