"""`downloadLink`: a signed, short-lived URL of a CSV download, for browsers.

A browser opens a link without headers, so it cannot send an API key. This query makes
a link that carries the caller instead (signed, app/auth/links.py): the page sends its
key once, with the query, and opens the URL it gets back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import strawberry

from app.auth import links
from app.described import DescribedStrEnum
from app.errors import DomainError, ErrorCode
from app.graphql.context import Info
from app.graphql.enums import described_enum
from app.graphql.extensions.permissions import NeedsExport
from app.graphql.reports.csv import BadParameter, link_secret, variables_of
from app.graphql.reports.downloads import REPORTS


class DownloadReport(DescribedStrEnum):
    BUDGET_SUMMARY = (
        "budget-summary",
        "budgetSummary: a row per group, then the others and the total, and a row per "
        "exchange rate the figures were converted at.",
    )
    TIMELINE_INITIATIVES = (
        "timeline-initiatives",
        "timelineReport's initiatives: a row per initiative, with its milestone counts, "
        "slippage and on-track status.",
    )
    TIMELINE_MILESTONES = (
        "timeline-milestones",
        "timelineReport's late milestones: a row per late or overdue milestone.",
    )
    REACH = (
        "reach",
        "reachReport's rows: reach against target, a row per beneficiary group, "
        "initiative and unit.",
    )
    REACH_TOTALS = (
        "reach-totals",
        "reachReport's totals: reach against target, a row per beneficiary group and unit.",
    )


described_enum(DownloadReport, description="The reports that download as CSV (docs/reports.md).")


# One list of downloads: a report added to REPORTS must be added here too.
assert {report.value for report in DownloadReport} == set(REPORTS)


@strawberry.input(description="One argument of a download, as in its URL.")
class DownloadParameter:
    name: str = strawberry.field(description="The argument's name, e.g. `groupBy`.")
    value: str = strawberry.field(
        description="Its value as a query parameter: lists comma-separated "
        '(`INITIATIVE,YEAR`), input objects as JSON (`{"code": {"eq": "CP-10"}}`).'
    )


@strawberry.type(description="A signed link to a CSV download.")
class DownloadLink:
    url: str = strawberry.field(
        description="The download's path and query, relative to this service's address "
        "(`/reports/….csv?…`). It needs no Authorization header: it runs as the caller "
        "that asked for it, checked again when opened (a revoked key's link stops "
        "working), and any change to it makes it invalid (DOWNLOAD_LINK_INVALID)."
    )
    expires_at: datetime = strawberry.field(
        description="After this the link is refused (DOWNLOAD_LINK_EXPIRED): ask again."
    )


@strawberry.type
class DownloadQueries:
    @strawberry.field(
        description="A short-lived link to download a report as CSV, for a browser, which "
        "cannot send a key with a link. Needs the export permission, as the download "
        "itself; the arguments are checked now (INVALID_ARGUMENT). The link lives "
        "DOWNLOAD_LINK_SECONDS (5 minutes by default), and no longer than the token it "
        "was asked for with.",
        permission_classes=[NeedsExport],
    )
    def download_link(
        self,
        info: Info,
        report: Annotated[DownloadReport, strawberry.argument(description="Which report.")],
        parameters: Annotated[
            list[DownloadParameter] | None,
            strawberry.argument(description="Its arguments; none: the report's defaults."),
        ] = None,
    ) -> DownloadLink:
        context = info.context
        given: dict[str, str] = {}
        for parameter in parameters or ():
            if parameter.name in given:
                raise _bad(f"{parameter.name}: given twice")
            if _unencodable(parameter.name + parameter.value):
                raise _bad(f"{parameter.name!r}: a lone surrogate is no text a URL can carry")
            given[parameter.name] = parameter.value
        try:
            variables_of(REPORTS[report.value], given)
        except BadParameter as exc:
            raise _bad(str(exc)) from None
        settings = context.settings
        expires = int(time.time()) + settings.download_link_seconds
        # A link made with a token ends when the token does: nothing checks the token
        # again when the link is opened.
        if context.principal.expires_at is not None:
            expires = min(expires, context.principal.expires_at)
        path = f"/reports/{report.value}.csv"
        query = links.mint(link_secret(settings), path, given, context.principal, expires)
        return DownloadLink(url=f"{path}?{query}", expires_at=datetime.fromtimestamp(expires, UTC))


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no URL can carry it
        return True
    return False


def _bad(message: str) -> DomainError:
    return DomainError(message, code=ErrorCode.INVALID_ARGUMENT, field="parameters")
