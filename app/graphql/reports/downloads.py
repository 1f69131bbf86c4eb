"""The reports downloadable as CSV, by name: their operations and their columns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.graphql.reports.csv import Column, CsvReport, Kind, Row, dig

TEXT, DECIMAL, QUANTITY, INTEGER, FLAG = (
    Kind.TEXT,
    Kind.DECIMAL,
    Kind.QUANTITY,
    Kind.INTEGER,
    Kind.FLAG,
)

_MEASURES = (
    "budgetOriginal",
    "budgetCurrent",
    "committed",
    "disbursed",
    "spent",
    "variance",
    "budgetRevision",
)
_COUNTS = ("count", "budgetLineCount", "transactionCount")
_FIGURES = " ".join(f"{m} {{ amount }}" for m in _MEASURES) + " " + " ".join(_COUNTS)

BUDGET_SUMMARY = f"""
query BudgetSummaryCsv($groupBy: [BudgetDimension!]!, $currency: String,
    $filter: BudgetSummaryFilter, $having: BudgetMeasureFilter,
    $orderBy: [BudgetSummaryOrder!], $first: Int, $asOf: DateTime) {{
  budgetSummary(groupBy: $groupBy, currency: $currency, filter: $filter, having: $having,
      orderBy: $orderBy, first: $first, asOf: $asOf) {{
    currency
    groupCount
    groups {{
      key {{
        program {{ ref }} initiative {{ code title }} beneficiaryGroup {{ code name }}
        focusArea region category transactionType year quarter month
      }}
      measures {{ {_FIGURES} }}
    }}
    others {{ {_FIGURES} }}
    total {{ {_FIGURES} }}
    ratesUsed {{ currency rate rateDate source inverted records }}
  }}
}}
"""

# A column read from a result: (header, kind, path into the item).
Field = tuple[str, Kind, tuple[str, ...]]

# Dimension → the key columns it adds.
_KEY_COLUMNS: dict[str, list[Field]] = {
    "PROGRAM": [("program_ref", TEXT, ("program", "ref"))],
    "INITIATIVE": [
        ("initiative_code", TEXT, ("initiative", "code")),
        ("initiative_title", TEXT, ("initiative", "title")),
    ],
    "BENEFICIARY_GROUP": [
        ("beneficiary_group_code", TEXT, ("beneficiaryGroup", "code")),
        ("beneficiary_group_name", TEXT, ("beneficiaryGroup", "name")),
    ],
    "FOCUS_AREA": [("focus_area", TEXT, ("focusArea",))],
    "REGION": [("region", TEXT, ("region",))],
    "CATEGORY": [("category", TEXT, ("category",))],
    "TRANSACTION_TYPE": [("transaction_type", TEXT, ("transactionType",))],
    "YEAR": [("year", INTEGER, ("year",))],
    "QUARTER": [("quarter", INTEGER, ("quarter",))],
    "MONTH": [("month", INTEGER, ("month",))],
}
# The rates a converted summary used: one `rate` row each, after the total.
_RATE_COLUMNS: list[Field] = [
    ("rate_currency", TEXT, ("currency",)),
    ("rate", DECIMAL, ("rate",)),
    ("rate_date", TEXT, ("rateDate",)),
    ("rate_source", TEXT, ("source",)),
    ("rate_inverted", FLAG, ("inverted",)),
    ("rate_records", INTEGER, ("records",)),
]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _keys(variables: dict[str, Any]) -> list[Field]:
    dimensions = list(dict.fromkeys(variables.get("groupBy") or []))
    if ("QUARTER" in dimensions or "MONTH" in dimensions) and "YEAR" not in dimensions:
        dimensions.insert(0, "YEAR")
    return [column for dim in dimensions for column in _KEY_COLUMNS.get(dim, [])]


def budget_summary_header(variables: dict[str, Any]) -> list[Column]:
    return [
        ("row", TEXT),
        *((header, kind) for header, kind, _ in _keys(variables)),
        ("currency", TEXT),
        *((_snake(m), DECIMAL) for m in _MEASURES),
        *((_snake(c), INTEGER) for c in _COUNTS),
        *((header, kind) for header, kind, _ in _RATE_COLUMNS),
    ]


def budget_summary_rows(data: dict[str, Any], variables: dict[str, Any]) -> Iterator[Row]:
    summary = data["budgetSummary"]
    keys = _keys(variables)

    no_rate = [None] * len(_RATE_COLUMNS)

    def figures(kind: str, key: dict[str, Any] | None, measures: dict[str, Any]) -> Row:
        return [
            kind,
            *(dig(key, path) for *_, path in keys),
            summary["currency"],
            *(measures[m]["amount"] for m in _MEASURES),
            *(measures[c] for c in _COUNTS),
            *no_rate,
        ]

    for group in summary["groups"]:
        yield figures("group", group["key"], group["measures"])
    if summary["groupCount"] > len(summary["groups"]):
        yield figures("others", None, summary["others"])
    yield figures("total", None, summary["total"])
    blank = [None] * (len(keys) + len(_MEASURES) + len(_COUNTS))
    for rate in summary["ratesUsed"]:
        yield [
            "rate",
            *blank[: len(keys)],
            summary["currency"],
            *blank[len(keys) :],
            *(dig(rate, path) for *_, path in _RATE_COLUMNS),
        ]


# --- timeline and reach: every row of their lists, page after page --------------------

_PAGE = "pageInfo { hasNextPage endCursor }"

TIMELINE_INITIATIVES = f"""
query TimelineInitiativesCsv($asOfDate: Date, $filter: InitiativeFilter, $first: Int,
    $after: String, $asOf: DateTime) {{
  timelineReport(asOfDate: $asOfDate, filter: $filter, asOf: $asOf) {{
    asOfDate
    initiatives(first: $first, after: $after) {{
      {_PAGE}
      nodes {{ initiative {{ code title }} milestoneCount achievedCount overdueCount
               slippedCount largestSlippageDays onTrack }}
    }}
  }}
}}
"""

TIMELINE_MILESTONES = f"""
query TimelineMilestonesCsv($asOfDate: Date, $filter: InitiativeFilter, $first: Int,
    $after: String, $asOf: DateTime) {{
  timelineReport(asOfDate: $asOfDate, filter: $filter, asOf: $asOf) {{
    asOfDate
    lateMilestones(first: $first, after: $after) {{
      {_PAGE}
      nodes {{ milestone {{ title status plannedDate forecastDate actualDate
                            initiative {{ code }} }}
               slippageDays overdue daysOverdue daysLate }}
    }}
  }}
}}
"""

REACH = f"""
query ReachCsv($filter: InitiativeFilter, $groupFilter: BeneficiaryGroupFilter, $first: Int,
    $after: String, $asOf: DateTime) {{
  reachReport(filter: $filter, groupFilter: $groupFilter, asOf: $asOf) {{
    rows(first: $first, after: $after) {{
      {_PAGE}
      nodes {{ group {{ code name }} initiative {{ code }} unit target targetDate reached
               reachedQualifier reachedAsOf shareReached }}
    }}
  }}
}}
"""

REACH_TOTALS = """
query ReachTotalsCsv($filter: InitiativeFilter, $groupFilter: BeneficiaryGroupFilter,
    $asOf: DateTime) {
  reachReport(filter: $filter, groupFilter: $groupFilter, asOf: $asOf) {
    totals { group { code name } unit figureCount figuresWithTarget figuresWithReach target
             reached reachedQualifier shareReached shareQualifier reachedAsOfEarliest
             reachedAsOfLatest }
  }
}
"""


def _table(
    path: tuple[str, ...], columns: list[Field], fixed: tuple[str, ...] = ()
) -> tuple[Any, Any]:
    """A header and a row reader for a list at `path` with (header, kind, field path)
    columns; `fixed` adds report-level dates (e.g. the report's day) in front of every row."""

    def header(_variables: dict[str, Any]) -> list[Column]:
        return [
            *((_snake(name), TEXT) for name in fixed),
            *((name, kind) for name, kind, _ in columns),
        ]

    def rows(data: dict[str, Any], _variables: dict[str, Any]) -> Iterator[Row]:
        report = data[path[0]]
        front = [report.get(name) for name in fixed]
        items = dig(report, path[1:])
        nodes = items["nodes"] if isinstance(items, dict) else items
        for node in nodes:
            yield [*front, *(dig(node, field) for *_, field in columns)]

    return header, rows


_TIMELINE_INITIATIVE_COLUMNS = [
    ("initiative_code", TEXT, ("initiative", "code")),
    ("initiative_title", TEXT, ("initiative", "title")),
    ("milestone_count", INTEGER, ("milestoneCount",)),
    ("achieved_count", INTEGER, ("achievedCount",)),
    ("overdue_count", INTEGER, ("overdueCount",)),
    ("slipped_count", INTEGER, ("slippedCount",)),
    ("largest_slippage_days", INTEGER, ("largestSlippageDays",)),
    ("on_track", TEXT, ("onTrack",)),
]
_LATE_MILESTONE_COLUMNS = [
    ("initiative_code", TEXT, ("milestone", "initiative", "code")),
    ("milestone", TEXT, ("milestone", "title")),
    ("status", TEXT, ("milestone", "status")),
    ("planned_date", TEXT, ("milestone", "plannedDate")),
    ("forecast_date", TEXT, ("milestone", "forecastDate")),
    ("actual_date", TEXT, ("milestone", "actualDate")),
    ("slippage_days", INTEGER, ("slippageDays",)),
    ("overdue", FLAG, ("overdue",)),
    ("days_overdue", INTEGER, ("daysOverdue",)),
    ("days_late", INTEGER, ("daysLate",)),
]
_REACH_COLUMNS = [
    ("group_code", TEXT, ("group", "code")),
    ("group_name", TEXT, ("group", "name")),
    ("initiative_code", TEXT, ("initiative", "code")),
    ("unit", TEXT, ("unit",)),
    ("target", QUANTITY, ("target",)),
    ("target_date", TEXT, ("targetDate",)),
    ("reached", QUANTITY, ("reached",)),
    ("reached_qualifier", TEXT, ("reachedQualifier",)),
    ("reached_as_of", TEXT, ("reachedAsOf",)),
    ("share_reached", DECIMAL, ("shareReached",)),
]
_REACH_TOTAL_COLUMNS = [
    ("group_code", TEXT, ("group", "code")),
    ("group_name", TEXT, ("group", "name")),
    ("unit", TEXT, ("unit",)),
    ("figure_count", INTEGER, ("figureCount",)),
    ("figures_with_target", INTEGER, ("figuresWithTarget",)),
    ("figures_with_reach", INTEGER, ("figuresWithReach",)),
    ("target", QUANTITY, ("target",)),
    ("reached", QUANTITY, ("reached",)),
    ("reached_qualifier", TEXT, ("reachedQualifier",)),
    ("share_reached", DECIMAL, ("shareReached",)),
    ("share_qualifier", TEXT, ("shareQualifier",)),
    ("reached_as_of_earliest", TEXT, ("reachedAsOfEarliest",)),
    ("reached_as_of_latest", TEXT, ("reachedAsOfLatest",)),
]
# `asOf`: the report as of that moment (app/graphql/extensions/views.py).
_AS_OF = {"asOf": ("asOf", "str")}
_TIMELINE_PARAMETERS = {"asOfDate": ("asOfDate", "str"), "filter": ("filter", "json"), **_AS_OF}
_REACH_PARAMETERS = {"filter": ("filter", "json"), "groupFilter": ("groupFilter", "json"), **_AS_OF}


def _report(
    query: str,
    parameters: dict[str, tuple[str, str]],
    path: tuple[str, ...],
    columns: list[Field],
    *,
    fixed: tuple[str, ...] = (),
    paged: bool = True,
) -> CsvReport:
    header, rows = _table(path, columns, fixed)
    return CsvReport(query, parameters, header, rows, paged=path if paged else None)


TIMELINE_AND_REACH = {
    "timeline-initiatives": _report(
        TIMELINE_INITIATIVES,
        _TIMELINE_PARAMETERS,
        ("timelineReport", "initiatives"),
        _TIMELINE_INITIATIVE_COLUMNS,
        fixed=("asOfDate",),
    ),
    "timeline-milestones": _report(
        TIMELINE_MILESTONES,
        _TIMELINE_PARAMETERS,
        ("timelineReport", "lateMilestones"),
        _LATE_MILESTONE_COLUMNS,
        fixed=("asOfDate",),
    ),
    "reach": _report(REACH, _REACH_PARAMETERS, ("reachReport", "rows"), _REACH_COLUMNS),
    "reach-totals": _report(
        REACH_TOTALS,
        _REACH_PARAMETERS,
        ("reachReport", "totals"),
        _REACH_TOTAL_COLUMNS,
        paged=False,
    ),
}

REPORTS: dict[str, CsvReport] = {
    "budget-summary": CsvReport(
        BUDGET_SUMMARY,
        {
            "groupBy": ("groupBy", "list"),
            "currency": ("currency", "str"),
            "filter": ("filter", "json"),
            "having": ("having", "json"),
            "orderBy": ("orderBy", "json"),
            "first": ("first", "int"),
            **_AS_OF,
        },
        budget_summary_header,
        budget_summary_rows,
    ),
    **TIMELINE_AND_REACH,
}
