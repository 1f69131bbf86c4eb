"""Deterministic beneficiary rows for a synthetic programme: groups, figures, shares.
See `app.synthetic.generator` for how the randomness is seeded.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.models import FigureQualifier
from app.synthetic.generator import InitiativePlan, Sizes, part_rng

BENEFICIARY_GROUP_COLUMNS = ("code", "name", "description")
# The demo's codes and names where it has the group, so both share one row.
BENEFICIARY_GROUPS = (
    ("rural-residents", "Rural residents", "people reached"),
    ("farmers", "Farmers", "people supported"),
    ("job-seekers", "Job seekers", "people trained"),
    ("seniors", "Seniors", "people reached"),
    ("people-with-disabilities", "People with disabilities", "people employed"),
    ("children-and-young-adults", "Children and young adults", "people reached"),
    ("smes-and-micro-enterprises", "Small, medium and micro enterprises", "enterprises supported"),
    ("technical-talent", "Technical talent", "people trained"),
    ("women-entrepreneurs", "Women entrepreneurs", "entrepreneurs supported"),
    ("migrant-workers", "Migrant workers", "workers reached"),
)


def beneficiary_group_rows(codes: set[str]) -> list[tuple[object, ...]]:
    """The groups among `codes` (the ones not in the database yet)."""
    return [
        (code, name, "Beneficiary group used by synthetic data.")
        for code, name, _unit in BENEFICIARY_GROUPS
        if code in codes
    ]


BENEFICIARY_FIGURE_COLUMNS = (
    "initiative_id",
    "group_id",
    "unit",
    "target_value",
    "target_date",
    "reached_value",
    "reached_qualifier",
    "reached_as_of",
)
_QUALIFIERS = (
    (FigureQualifier.EXACT, 0.7),
    (FigureQualifier.MORE_THAN, 0.15),
    (FigureQualifier.ABOUT, 0.1),
    (FigureQualifier.AT_LEAST, 0.05),
)


def beneficiary_figure_rows(
    sizes: Sizes, plan: InitiativePlan, initiative_id: int, groups: dict[str, int], last: date
) -> list[tuple[object, ...]]:
    rnd = part_rng(sizes.seed, "figures", plan.position)
    rows: list[tuple[object, ...]] = []
    for code, _name, unit in rnd.sample(BENEFICIARY_GROUPS, rnd.randint(1, 3)):
        target = rnd.randrange(1_000, 500_000, 100)
        reached = None
        qualifier = FigureQualifier.EXACT
        as_of = None
        if plan.actual_start is not None and rnd.random() < 0.85:
            reached = int(target * rnd.uniform(0.05, 1.3))
            qualifier = rnd.choices([q for q, _ in _QUALIFIERS], [w for _, w in _QUALIFIERS])[0]
            as_of = min(plan.actual_start + timedelta(days=rnd.randint(180, 1500)), last)
        rows.append(
            (
                initiative_id,
                groups[code],
                unit,
                Decimal(target),
                plan.planned_end,
                None if reached is None else Decimal(reached),
                qualifier.value,
                as_of,
            )
        )
    return rows


BENEFICIARY_SHARE_COLUMNS = ("initiative_id", "group_id", "percentage")
# How an initiative's shares add up: to 100, to less, or no shares at all. Dealt out
# from a shuffled deck, so every kind occurs in any run of three initiatives or more.
_SHARE_KINDS = ("full", "partial", "none", "full", "partial")


def share_kinds(sizes: Sizes) -> list[str]:
    deck = [_SHARE_KINDS[i % len(_SHARE_KINDS)] for i in range(sizes.initiatives)]
    part_rng(sizes.seed, "share-kinds").shuffle(deck)
    return deck


def beneficiary_share_rows(
    sizes: Sizes, plan: InitiativePlan, initiative_id: int, groups: dict[str, int], kind: str
) -> list[tuple[object, ...]]:
    if kind == "none":
        return []
    rnd = part_rng(sizes.seed, "shares", plan.position)
    chosen = rnd.sample([code for code, _n, _u in BENEFICIARY_GROUPS], rnd.randint(1, 4))
    # In hundredths of a percent: k - 1 distinct cuts give k positive parts.
    total = 10_000 if kind == "full" else rnd.randint(3_000, 9_500)
    cuts = sorted(rnd.sample(range(1, total), len(chosen) - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    return [
        (initiative_id, groups[code], Decimal(part).scaleb(-2))
        for code, part in zip(chosen, parts, strict=True)
    ]
