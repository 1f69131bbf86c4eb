"""The root Subscription: live updates over WebSocket (graphql-transport-ws).

`changes` streams the audit trail; `budgetSummaryUpdates` recomputes a report as its
data change. Both are fed by the process's hub (app/events/)."""

from __future__ import annotations

import strawberry

from app.graphql.subscriptions.changes import ChangeSubscriptions
from app.graphql.subscriptions.reports import ReportSubscriptions


@strawberry.type(
    description="Live updates, over WebSocket at /graphql with the graphql-transport-ws "
    "protocol; send the API key or token in the connection_init payload as "
    '{"Authorization": "Bearer ..."}.'
)
class Subscription(ChangeSubscriptions, ReportSubscriptions):
    pass
