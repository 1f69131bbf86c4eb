"""Reports for auditors: each module adds its root fields to `ReportQueries`.

`Query` inherits from `ReportQueries`, so a report lives in one module here (its
GraphQL types and root field) and in its domain folder (SQL and rules).
"""

from __future__ import annotations

import strawberry


@strawberry.type
class ReportQueries:
    """The root fields of every report (a base of `Query`, never in the schema alone)."""
