"""The GraphQL operations the pages run: the API's own queries, executed in-process
with the caller's context (app/pages/run.py), so a page shows exactly what the API
answers that caller: the same permissions, limits, partner scope and `asOf`. Nothing
on a page is computed a second way; the templates only format and draw.

Every list reads one bounded page (`first: 100`); a page says when there is more.
"""

from __future__ import annotations

PAGE = 100

_MONEY = "{ amount currency }"
_SOURCES = f"sources(first: {PAGE}) {{ nodes {{ field quote translation isEstimate note "
_SOURCES += "document { title url publisher publishedOn } } }"

PROGRAMS = f"""
query PagePrograms($after: String, $asOf: DateTime) {{
  programs(first: {PAGE}, after: $after, orderBy: [{{field: NAME}}], asOf: $asOf) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      ref name announcedOn deadline
      sponsor {{ name }}
      pledged {_MONEY}
      allocated {_MONEY}
    }}
  }}
}}
"""

# Initiatives counted on each rung of the programme's status ladder (aliases).
LADDER = ("PIPELINE", "IMPLEMENTATION", "FINALISATION", "CLOSED", "SUSPENDED", "CANCELLED")
_LADDER = "\n".join(
    f"      {rung.lower()}: initiatives(filter: {{status: {{eq: {rung}}}}}) {{ totalCount }}"
    for rung in LADDER
)

PROGRAM = f"""
query PageProgram($ref: String!, $currency: String, $converted: Boolean!,
    $convertTo: String!, $asOf: DateTime, $asOfDate: Date) {{
  programs(first: 1, filter: {{ref: {{eq: $ref}}}}, asOf: $asOf) {{
    nodes {{
      ref name summary announcedOn deadline
      sponsor {{ name headquarters }}
      governance {{ body lead }}
      pledged {_MONEY}
      allocated {_MONEY}
      unallocated {_MONEY}
      pledgedIn(currency: $convertTo) @include(if: $converted) {{
        amount currency rate rateDate rateSource inverted rateIsEstimate
      }}
      figures(currency: $currency) {{
        budgetCurrent {_MONEY} committed {_MONEY} disbursed {_MONEY} spent {_MONEY}
      }}
{_LADDER}
      initiatives(first: {PAGE}, orderBy: [{{field: POSITION}}]) {{
        totalCount
        nodes {{
          code title status plannedEnd actualEnd
          figures(currency: $currency) {{ budgetCurrent {_MONEY} spent {_MONEY} }}
        }}
      }}
      {_SOURCES}
    }}
  }}
  timelineReport(asOfDate: $asOfDate, filter: {{program: {{ref: {{eq: $ref}}}}}}, asOf: $asOf) {{
    asOfDate
    initiatives(first: {PAGE}) {{
      nodes {{
        initiative {{ code }}
        milestoneCount achievedCount overdueCount slippedCount largestSlippageDays onTrack
      }}
    }}
  }}
  budgetSummary(groupBy: [PROGRAM], currency: $currency,
      filter: {{initiative: {{program: {{ref: {{eq: $ref}}}}}}}}, asOf: $asOf)
      @include(if: $converted) {{
    ratesUsed {{ currency rate rateDate source inverted records }}
  }}
}}
"""

INITIATIVE = f"""
query PageInitiative($code: String!, $currency: String, $asOf: DateTime) {{
  initiative(code: $code, asOf: $asOf) {{
    code title summary status focusArea region
    plannedStart actualStart plannedEnd actualEnd
    program {{ ref name pledged {{ currency }} }}
    figures(currency: $currency) {{
      budgetCurrent {_MONEY} committed {_MONEY} disbursed {_MONEY} spent {_MONEY}
    }}
    milestones(first: {PAGE}, orderBy: [{{field: PLANNED_DATE}}]) {{
      totalCount
      nodes {{ id title plannedDate forecastDate actualDate status {_SOURCES} }}
    }}
    beneficiaries(first: {PAGE}) {{
      totalCount
      nodes {{
        id unit target targetDate reached reachedQualifier reachedAsOf
        group {{ name }}
        {_SOURCES}
      }}
    }}
    budgetLines(first: {PAGE}) {{
      totalCount
      nodes {{
        id amount {_MONEY} status type periodStart periodEnd description
        {_SOURCES}
      }}
    }}
    {_SOURCES}
  }}
}}
"""

# The initiative's reports: the quarters in the chosen currency, else its programme's
# (a summary over programmes of several currencies needs one named).
INITIATIVE_REPORTS = f"""
query PageInitiativeReports($code: String!, $currency: String!, $asOf: DateTime,
    $asOfDate: Date) {{
  budgetSummary(groupBy: [QUARTER], currency: $currency,
      filter: {{initiative: {{code: {{eq: $code}}}}}}, asOf: $asOf) {{
    currency
    groups {{
      key {{ year quarter }}
      measures {{ budgetCurrent {{ amount }} committed {{ amount }} disbursed {{ amount }}
        spent {{ amount }} }}
    }}
    ratesUsed {{ currency rate rateDate source inverted records }}
  }}
  timelineReport(asOfDate: $asOfDate, filter: {{code: {{eq: $code}}}}, asOf: $asOf) {{
    asOfDate
    initiatives(first: 1) {{
      nodes {{ overdueCount slippedCount largestSlippageDays onTrack }}
    }}
    lateMilestones(first: {PAGE}) {{
      nodes {{ milestone {{ id }} slippageDays overdue daysOverdue daysLate }}
    }}
  }}
  reachReport(filter: {{code: {{eq: $code}}}}, asOf: $asOf) {{
    rows(first: {PAGE}) {{ nodes {{ figure {{ id }} shareReached }} }}
  }}
}}
"""
