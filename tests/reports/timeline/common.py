"""The timeline report as the tests ask for it, as of a fixed day, and its parts by name."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.conftest import GraphQLClient

REPORT = """
query($asOf: Date, $filter: InitiativeFilter, $first: Int, $after: String) {
  timelineReport(asOfDate: $asOf, filter: $filter) {
    asOfDate
    milestonesByStatus { status count }
    initiatives {
      totalCount
      nodes {
        initiative { code }
        milestoneCount achievedCount overdueCount slippedCount largestSlippageDays onTrack
      }
    }
    lateMilestones(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        milestone { title initiative { code } }
        slippageDays overdue daysOverdue daysLate
      }
    }
  }
}
"""

AS_OF = date(2024, 6, 30)


async def timeline(client: GraphQLClient, as_of: date | None = AS_OF, **variables: Any) -> Any:
    sent = {"asOf": as_of.isoformat() if as_of else None, **variables}
    return (await client.data(REPORT, sent))["timelineReport"]


def late_by_title(report: Any) -> dict[str, dict[str, Any]]:
    """The late milestones by title."""
    return {n["milestone"]["title"]: n for n in report["lateMilestones"]["nodes"]}


def initiatives_by_code(report: Any) -> dict[str, dict[str, Any]]:
    """The initiative rows by code."""
    return {n["initiative"]["code"]: n for n in report["initiatives"]["nodes"]}
