"""`budgetSummaryUpdates`: the budget summary now, and again after every change to
what it reads, bursts coalesced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from app.events.hub import ChangeFlag, Entry
from app.graphql.context import Info, caller_of
from app.graphql.extensions.query_slots import query_slots
from app.graphql.extensions.views import HeldForEvent, answered_from_snapshot, answered_from_view
from app.graphql.extensions.work import BUDGET_REPORT, reads
from app.graphql.reports.budget import (
    BudgetDimension,
    BudgetMeasureFilter,
    BudgetSummary,
    BudgetSummaryFilter,
    BudgetSummaryOrder,
    summarize,
)
from app.graphql.subscriptions.live import subscribed

# Records no budget figure reads: changes to them never recompute the report.
NOT_READ = frozenset({"milestones", "beneficiary_figures"})


@strawberry.type
class ReportSubscriptions:
    @strawberry.subscription(
        description="`budgetSummary`, live: the report now, then again whenever a record "
        "it reads changes. Changes arriving within a short window (the server's "
        "REPORT_COALESCE_SECONDS) are answered with one report. Partners' reports cover "
        "their initiatives only, as their queries do. Needs the read and subscribe "
        "permissions.",
        metadata=reads(*BUDGET_REPORT),
    )
    async def budget_summary_updates(
        self,
        info: Info,
        group_by: Annotated[
            list[BudgetDimension],
            strawberry.argument(description="Dimensions to group by; empty: one total only."),
        ],
        currency: Annotated[
            str | None,
            strawberry.argument(description="ISO 4217 code of the figures, as budgetSummary."),
        ] = None,
        filter: Annotated[
            BudgetSummaryFilter | None, strawberry.argument(description="Records to cover.")
        ] = None,
        having: Annotated[
            BudgetMeasureFilter | None,
            strawberry.argument(description="Keep only groups whose figures match."),
        ] = None,
        order_by: Annotated[
            list[BudgetSummaryOrder] | None,
            strawberry.argument(description="Order groups by figures, as budgetSummary."),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Keep the first n groups (top N).")
        ] = None,
    ) -> AsyncGenerator[BudgetSummary, None]:
        context = info.context
        scope: frozenset[int] | None = context.principal.initiative_ids

        def reads(entry: Entry) -> bool:
            if entry.entity_type in NOT_READ:
                return False
            # A partner's report moves with its initiatives and with shared records
            # (rates, programmes), never with other initiatives.
            return scope is None or entry.initiative_id is None or entry.initiative_id in scope

        flag = ChangeFlag(reads)
        async with subscribed(info, flag) as hub:
            assert hub.high_water is not None
            hub.join(flag, hub.high_water)
            while True:
                # Each report reads afresh (new loaders, and a new view for a partner),
                # through one snapshot (its groups, total and rates agree), held until
                # its fields are resolved and given back before it is sent (the
                # Executor in app/graphql/schema.py): a subscriber slow to take its next
                # event holds no connection, nor a partner's view.
                held = HeldForEvent()
                try:
                    if scope is None:
                        # A pooled connection: one of the caller's slots, waited for, as
                        # one event cannot be retried (app/graphql/extensions/query_slots.py).
                        slots = query_slots(info.schema, context.settings)
                        await held.enter(slots.held(caller_of(context), wait=True))
                        await held.enter(answered_from_snapshot(context, primary=True))
                    else:
                        await held.enter(
                            answered_from_view(context, info.schema, moment=None, initiatives=scope)
                        )
                    report = await summarize(
                        info, group_by, currency, filter, having, order_by, first
                    )
                    report._held = held
                    yield report
                finally:
                    # Given back already, unless the event was never resolved.
                    await held.release()
                await flag.wait()
                await asyncio.sleep(context.settings.report_coalesce_seconds)
                flag.clear()
                flag.check()
