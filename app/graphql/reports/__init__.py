"""Reports for auditors: each module adds its root fields to `ReportQueries`.

`Query` inherits from `ReportQueries`, so a report lives in one module here (its
GraphQL types and root field) and in its domain folder (SQL and rules).
"""

from __future__ import annotations

import strawberry

from app.graphql.reports.budget import BudgetQueries
from app.graphql.reports.links import DownloadQueries
from app.graphql.reports.reach import ReachQueries
from app.graphql.reports.timeline import TimelineQueries


@strawberry.type
class ReportQueries(BudgetQueries, TimelineQueries, ReachQueries, DownloadQueries):
    """The root fields of every report (a base of `Query`, never in the schema alone)."""
