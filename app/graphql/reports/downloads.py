"""The reports downloadable as CSV, by name: their operations and their columns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.graphql.reports.csv import CsvReport, Row

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
    $orderBy: [BudgetSummaryOrder!], $first: Int) {{
  budgetSummary(groupBy: $groupBy, currency: $currency, filter: $filter, having: $having,
      orderBy: $orderBy, first: $first) {{
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
  }}
}}
"""

# Dimension → the key columns it adds: (header, path into `key`).
_KEY_COLUMNS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "PROGRAM": [("program_ref", ("program", "ref"))],
    "INITIATIVE": [
        ("initiative_code", ("initiative", "code")),
        ("initiative_title", ("initiative", "title")),
    ],
    "BENEFICIARY_GROUP": [
        ("beneficiary_group_code", ("beneficiaryGroup", "code")),
        ("beneficiary_group_name", ("beneficiaryGroup", "name")),
    ],
    "FOCUS_AREA": [("focus_area", ("focusArea",))],
    "REGION": [("region", ("region",))],
    "CATEGORY": [("category", ("category",))],
    "TRANSACTION_TYPE": [("transaction_type", ("transactionType",))],
    "YEAR": [("year", ("year",))],
    "QUARTER": [("quarter", ("quarter",))],
    "MONTH": [("month", ("month",))],
}


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        if value is None:
            return None
        value = value.get(step)
    return value


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def budget_summary_rows(data: dict[str, Any], variables: dict[str, Any]) -> Iterator[Row]:
    summary = data["budgetSummary"]
    dimensions = list(dict.fromkeys(variables.get("groupBy") or []))
    if ("QUARTER" in dimensions or "MONTH" in dimensions) and "YEAR" not in dimensions:
        dimensions.insert(0, "YEAR")
    keys = [column for dim in dimensions for column in _KEY_COLUMNS.get(dim, [])]
    yield [
        "row",
        *(header for header, _ in keys),
        "currency",
        *(_snake(m) for m in _MEASURES),
        *(_snake(c) for c in _COUNTS),
    ]

    def figures(kind: str, key: dict[str, Any] | None, measures: dict[str, Any]) -> Row:
        return [
            kind,
            *(_dig(key, path) if key is not None else None for _, path in keys),
            summary["currency"],
            *(measures[m]["amount"] for m in _MEASURES),
            *(measures[c] for c in _COUNTS),
        ]

    for group in summary["groups"]:
        yield figures("group", group["key"], group["measures"])
    if summary["groupCount"] > len(summary["groups"]):
        yield figures("others", None, summary["others"])
    yield figures("total", None, summary["total"])


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
        },
        budget_summary_rows,
    ),
}
