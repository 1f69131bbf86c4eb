"""The benchmark's queries, and their floors: the same data fetched by hand-written SQL
through the same engine and driver, assembled into the same JSON with `json`.

`bench_app` is what uvicorn serves in a benchmark: the service's own app (default
limits: every query here is within MAX_PAGE_SIZE and MAX_QUERY_COST) plus
`GET /floor/<query>?program=<id>`, so both go through the same HTTP stack and pool.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.config import Settings
from app.kit.ids import encode_global_id
from app.main import create_app

# Environment for the served app; empty: the service's default limits apply.
SETTINGS_ENV: dict[str, str] = {}

_AUDIT = """query Audit($id: ID!) { program(id: $id) { name pledged { amount currency }
  initiatives(first: 100) { totalCount nodes { code title status
    budgetLines(first: 20) { totalCount nodes { periodStart periodEnd type status category
      amount { amount currency } valueDate
      transactions(first: 20) { totalCount nodes { date type amount { amount currency }
        valueDate } } } } } } } }"""
_MEASURES = """fragment M on BudgetMeasures { budgetOriginal { amount currency }
  budgetCurrent { amount currency } committed { amount currency } disbursed { amount currency }
  spent { amount currency } variance { amount currency } budgetRevision { amount currency }
  count budgetLineCount transactionCount }"""
_SUMMARY = (
    """query Summary { budgetSummary(groupBy: [INITIATIVE, YEAR], currency: "USD") {
  currency groupCount groups { key { initiative { code } year } measures { ...M } }
  total { ...M } others { ...M } %s } } """
    + _MEASURES
)
_RATES = """ratesUsed { currency rate rateDate source inverted records
  original { amount currency } converted { amount currency } }"""
_DASHBOARD = """query Dashboard($id: ID!) { program(id: $id) { name pledged { amount currency }
  allocated { amount currency } unallocated { amount currency } spent { amount currency }
  initiatives(first: 10) { totalCount nodes { code title status budget { amount currency }
    spent { amount currency } } } }
  transactions { aggregate { count } } }"""

QUERIES = {
    "audit": _AUDIT,
    "summary": _SUMMARY % "",
    "summary_rates": _SUMMARY % _RATES,
    "dashboard": _DASHBOARD,
}


def api_request(name: str, program_id: int) -> dict[str, Any]:
    variables = {"id": encode_global_id("Program", program_id)} if "$id" in QUERIES[name] else {}
    return {"query": QUERIES[name], "variables": variables}


# ---------------------------------------------------------------- values as the API shows them


class Shape:
    """Amounts and dates as the driver returns them, turned into the API's strings."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.pg = conn.dialect.name == "postgresql"

    def amount(self, value: Any) -> str:
        return cents(self.cents(value))

    def cents(self, value: Any) -> int:
        """A stored amount in cents, as the API shows the synthetic data's currencies
        (CNY, USD, EUR, HKD). PostgreSQL: NUMERIC(18,3) arrives as a Decimal; SQLite:
        an integer of thousandths."""
        thousandths = int(Decimal(value).scaleb(3)) if self.pg else int(value)
        whole, finer = divmod(thousandths, 10)
        if finer:
            raise ValueError(f"{value} is finer than a cent")
        return whole

    def rate(self, value: Any) -> Decimal:
        return Decimal(value) if self.pg else Decimal(int(value)).scaleb(-10)

    def day(self, value: Any) -> str:
        return value.isoformat() if self.pg else str(value)  # SQLite stores ISO text

    def ids(self, name: str) -> Any:
        """A bound list of ids: one array on PostgreSQL, an expanded IN on SQLite."""
        return bindparam(name) if self.pg else bindparam(name, expanding=True)

    def in_ids(self, column: str, name: str) -> str:
        return f"{column} = ANY(:{name})" if self.pg else f"{column} IN :{name}"

    def year(self, column: str) -> str:
        return (
            f"extract(year FROM {column})::int"
            if self.pg
            else f"CAST(substr({column}, 1, 4) AS INTEGER)"
        )


def cents(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(value), 100)
    return f"{sign}{whole}.{part:02d}"


def money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


# ---------------------------------------------------------------- (a) the auditor's nested report


async def audit(conn: AsyncConnection, program_id: int) -> dict[str, Any]:
    s = Shape(conn)
    name, pledged, currency = (
        await conn.execute(
            text("SELECT name, pledged_amount, pledged_currency FROM programs WHERE id = :p"),
            {"p": program_id},
        )
    ).one()
    initiatives = (
        await conn.execute(
            text(
                "SELECT id, code, title, upper(status), count(*) OVER () FROM initiatives "
                "WHERE program_id = :p ORDER BY position, id LIMIT 100"
            ),
            {"p": program_id},
        )
    ).all()
    lines = (
        await conn.execute(
            text(
                "SELECT id, initiative_id, period_start, period_end, upper(type), upper(status), "
                "category, amount, currency, value_date, total FROM (SELECT *, row_number() "
                "OVER (PARTITION BY initiative_id ORDER BY period_start, id) AS rn, count(*) "
                "OVER (PARTITION BY initiative_id) AS total FROM budget_lines "
                f"WHERE {s.in_ids('initiative_id', 'ids')}) x "
                "WHERE rn <= 20 ORDER BY initiative_id, rn"
            ).bindparams(s.ids("ids")),
            {"ids": [row[0] for row in initiatives]},
        )
    ).all()
    transactions = (
        await conn.execute(
            text(
                "SELECT budget_line_id, transaction_date, upper(type), amount, currency, "
                "value_date, total FROM (SELECT *, row_number() OVER (PARTITION BY "
                "budget_line_id ORDER BY transaction_date, id) AS rn, count(*) OVER "
                "(PARTITION BY budget_line_id) AS total FROM transactions "
                f"WHERE {s.in_ids('budget_line_id', 'ids')}) x "
                "WHERE rn <= 20 ORDER BY budget_line_id, rn"
            ).bindparams(s.ids("ids")),
            {"ids": [row[0] for row in lines]},
        )
    ).all()
    flows: dict[int, dict[str, Any]] = {}
    for line_id, day, kind, amount, cur, value_date, total in transactions:
        page = flows.setdefault(line_id, {"totalCount": total, "nodes": []})
        page["nodes"].append(
            {
                "date": s.day(day),
                "type": kind,
                "amount": money(s.amount(amount), cur),
                "valueDate": s.day(value_date),
            }
        )
    budgets: dict[int, dict[str, Any]] = {}
    for line_id, owner, start, end, kind, status, category, amount, cur, value_date, total in lines:
        page = budgets.setdefault(owner, {"totalCount": total, "nodes": []})
        page["nodes"].append(
            {
                "periodStart": s.day(start),
                "periodEnd": s.day(end),
                "type": kind,
                "status": status,
                "category": category,
                "amount": money(s.amount(amount), cur),
                "valueDate": s.day(value_date),
                "transactions": flows.get(line_id, {"totalCount": 0, "nodes": []}),
            }
        )
    return {
        "program": {
            "name": name,
            "pledged": money(s.amount(pledged), currency),
            "initiatives": {
                "totalCount": initiatives[0][4] if initiatives else 0,
                "nodes": [
                    {
                        "code": code,
                        "title": title,
                        "status": status,
                        "budgetLines": budgets.get(ident, {"totalCount": 0, "nodes": []}),
                    }
                    for ident, code, title, status, _total in initiatives
                ],
            },
        }
    }


# ---------------------------------------------------------------- conversion, by hand

# A budget line is current unless a revised line of the same initiative and period
# replaces it (IATI; the latest revision by value date, then by id, wins).
_CURRENT = """NOT EXISTS (SELECT 1 FROM budget_lines o WHERE o.initiative_id = b.initiative_id
  AND o.period_start = b.period_start AND o.period_end = b.period_end AND o.type = 'revised'
  AND (b.type = 'original' OR o.value_date > b.value_date
       OR (o.value_date = b.value_date AND o.id > b.id)))"""


def _converted(s: Shape) -> str:
    """Each record's amount in cents of :target (2 minor units), half-even, exactly.

    SQLite keeps amounts and rates as scaled integers whose product overflows 64 bits:
    there the service's own exact function (registered on every connection) converts.
    PostgreSQL multiplies NUMERICs exactly; only a division (a reverse rate) needs the
    integer quotient and remainder.
    """
    if not s.pg:
        return (
            "pl_convert_minor(rec.amount, CASE WHEN rec.currency = :target THEN NULL "
            "ELSE r.rate END, r.base <> rec.currency, 2)"
        )
    y = "(rec.amount * r.rate * 100)"
    direct = (
        f"(round({y}) - sign({y}) * CASE WHEN abs({y} - trunc({y})) = 0.5 "
        f"AND mod(round({y}), 2) <> 0 THEN 1 ELSE 0 END)"
    )
    n, d = "(rec.amount * 1000000000000)", "(r.rate * 10000000000)"
    q, m = f"div(abs({n}), {d})", f"mod(abs({n}), {d})"
    reverse = (
        f"(sign({n}) * ({q} + CASE WHEN 2 * {m} > {d} OR (2 * {m} = {d} AND mod({q}, 2) = 1) "
        "THEN 1 ELSE 0 END))"
    )
    return (
        "(CASE WHEN rec.currency = :target THEN rec.amount * 100 "
        f"WHEN r.base <> rec.currency THEN {reverse} ELSE {direct} END)::bigint"
    )


def _conversion(s: Shape, columns: str) -> str:
    """CTEs after `rec` (which has currency, value_date, amount): the rate of each
    distinct (currency, value date) — the newest of the pair in either direction dated
    on or before it, the direct one first on the same date — and `conv`, every record
    with `columns`, its rate and its converted `cents`.

    `picked` is MATERIALIZED so that the rate is looked up once per key: inlined, SQLite
    flattens it into the join and runs the look-up once per record (10x slower at S).
    """
    return f"""keys AS (SELECT DISTINCT currency, value_date FROM rec WHERE currency <> :target),
picked AS MATERIALIZED (SELECT k.currency, k.value_date, (SELECT r.id FROM exchange_rates r
  WHERE ((r.base = k.currency AND r.quote = :target) OR (r.base = :target AND r.quote = k.currency))
    AND r.rate_date <= k.value_date
  ORDER BY r.rate_date DESC, CASE WHEN r.quote = :target THEN 0 ELSE 1 END LIMIT 1) AS rate_id
  FROM keys k),
conv AS (SELECT {columns}, rec.currency, rec.value_date, rec.amount, p.rate_id,
    {_converted(s)} AS cents
  FROM rec LEFT JOIN picked p ON p.currency = rec.currency AND p.value_date = rec.value_date
  LEFT JOIN exchange_rates r ON r.id = p.rate_id)"""


_MISSING = (
    "min(CASE WHEN currency <> :target AND rate_id IS NULL THEN currency || ' ' || value_date END)"
)


def _no_missing(rows: Sequence[Any], target: str) -> None:
    missing = sorted(row.missing for row in rows if row.missing)
    if missing:
        raise LookupError(f"no rate {missing[0]} -> {target}")


# ---------------------------------------------------------------- (b) budgetSummary


def _summary_sql(s: Shape) -> str:
    rec = f"""WITH rec AS (
  SELECT 'b' AS kind, b.initiative_id, {s.year("b.period_start")} AS yr, NULL AS ttype,
    b.currency, b.value_date, b.amount,
    CASE WHEN b.type = 'original' THEN 1 ELSE 0 END AS is_original,
    CASE WHEN {_CURRENT} THEN 1 ELSE 0 END AS is_current
  FROM budget_lines b
  UNION ALL
  SELECT 't', t.initiative_id, {s.year("t.transaction_date")}, t.type, t.currency,
    t.value_date, t.amount, 0, 0
  FROM transactions t),
"""
    return rec + _conversion(
        s, "rec.kind, rec.initiative_id, rec.yr, rec.ttype, rec.is_original, rec.is_current"
    )


async def summary(conn: AsyncConnection, with_rates: bool) -> dict[str, Any]:
    s, target = Shape(conn), "USD"
    ctes = _summary_sql(s)
    rows = (
        await conn.execute(
            text(
                ctes
                + """
SELECT g.*, i.code FROM (SELECT initiative_id, yr,
  sum(CASE WHEN kind = 'b' AND is_original = 1 THEN cents ELSE 0 END) AS original,
  sum(CASE WHEN kind = 'b' AND is_current = 1 THEN cents ELSE 0 END) AS current_,
  sum(CASE WHEN ttype = 'outgoing_commitment' THEN cents ELSE 0 END) AS committed,
  sum(CASE WHEN ttype = 'disbursement' THEN cents ELSE 0 END) AS disbursed,
  sum(CASE WHEN ttype = 'expenditure' THEN cents ELSE 0 END) AS spent,
  sum(CASE WHEN kind = 'b' THEN 1 ELSE 0 END) AS lines,
  sum(CASE WHEN kind = 't' THEN 1 ELSE 0 END) AS flows, """
                + _MISSING
                + """ AS missing
  FROM conv GROUP BY initiative_id, yr) g
JOIN initiatives i ON i.id = g.initiative_id ORDER BY g.initiative_id, g.yr"""
            ),
            {"target": target},
        )
    ).all()
    _no_missing(rows, target)
    sums = [
        (
            int(r.original),
            int(r.current_),
            int(r.committed),
            int(r.disbursed),
            int(r.spent),
            int(r.lines),
            int(r.flows),
        )
        for r in rows
    ]
    total = tuple(sum(col) for col in zip(*sums, strict=True)) if sums else (0,) * 7
    out: dict[str, Any] = {
        "currency": target,
        "groupCount": len(rows),
        "groups": [
            {
                "key": {"initiative": {"code": r.code}, "year": r.yr},
                "measures": _measures(m, target),
            }
            for r, m in zip(rows, sums, strict=True)
        ],
        "total": _measures(total, target),
        "others": _measures((0,) * 7, target),
    }
    if with_rates:
        out["ratesUsed"] = await _rates_used(conn, s, ctes, target)
    return {"budgetSummary": out}


def _measures(m: Sequence[int], currency: str) -> dict[str, Any]:
    original, current, committed, disbursed, spent, lines, flows = m
    return {
        "budgetOriginal": money(cents(original), currency),
        "budgetCurrent": money(cents(current), currency),
        "committed": money(cents(committed), currency),
        "disbursed": money(cents(disbursed), currency),
        "spent": money(cents(spent), currency),
        "variance": money(cents(current - spent), currency),
        "budgetRevision": money(cents(current - original), currency),
        "count": lines + flows,
        "budgetLineCount": lines,
        "transactionCount": flows,
    }


async def _rates_used(
    conn: AsyncConnection, s: Shape, ctes: str, target: str
) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            text(
                ctes
                + """
SELECT r.id, c.currency, r.base, r.rate, r.rate_date, r.source, count(*) AS n,
  sum(c.amount) AS original, sum(c.cents) AS converted
FROM conv c JOIN exchange_rates r ON r.id = c.rate_id
WHERE c.currency <> :target GROUP BY r.id, c.currency ORDER BY c.currency, r.rate_date, r.id"""
            ),
            {"target": target},
        )
    ).all()
    out = []
    for _id, currency, base, rate, day, source, n, original, converted in rows:
        inverted = base != currency
        stored = s.rate(rate)
        shown = (Decimal(1) / stored).quantize(Decimal("1e-10")) if inverted else stored
        out.append(
            {
                "currency": currency,
                "rate": format(shown, "f"),
                "rateDate": s.day(day),
                "source": source,
                "inverted": inverted,
                "records": n,
                "original": money(s.amount(original), currency),
                "converted": money(cents(int(converted)), target),
            }
        )
    return out


# ---------------------------------------------------------------- (c) the dashboard


async def dashboard(conn: AsyncConnection, program_id: int) -> dict[str, Any]:
    s = Shape(conn)
    name, pledged, target = (
        await conn.execute(
            text("SELECT name, pledged_amount, pledged_currency FROM programs WHERE id = :p"),
            {"p": program_id},
        )
    ).one()
    page = (
        await conn.execute(
            text(
                "SELECT id, code, title, upper(status), count(*) OVER () FROM initiatives "
                "WHERE program_id = :p ORDER BY position, id LIMIT 10"
            ),
            {"p": program_id},
        )
    ).all()
    # Current budget and expenditure of every initiative of the programme, each record
    # converted into the pledge's currency at its value date: the programme's figures
    # are their sums.
    figures = (
        await conn.execute(
            text(
                f"""WITH rec AS (
  SELECT b.initiative_id, 'b' AS kind, b.currency, b.value_date, b.amount
  FROM budget_lines b JOIN initiatives i ON i.id = b.initiative_id
  WHERE i.program_id = :p AND {_CURRENT}
  UNION ALL
  SELECT t.initiative_id, 't', t.currency, t.value_date, t.amount
  FROM transactions t JOIN initiatives i ON i.id = t.initiative_id
  WHERE i.program_id = :p AND t.type = 'expenditure'),
{_conversion(s, "rec.initiative_id, rec.kind")}
SELECT initiative_id, sum(CASE WHEN kind = 'b' THEN cents ELSE 0 END) AS budget,
  sum(CASE WHEN kind = 't' THEN cents ELSE 0 END) AS spent, {_MISSING} AS missing
FROM conv GROUP BY initiative_id"""
            ),
            {"p": program_id, "target": target},
        )
    ).all()
    _no_missing(figures, target)
    count = (await conn.execute(text("SELECT count(*) FROM transactions"))).scalar_one()
    by_initiative = {r.initiative_id: (int(r.budget), int(r.spent)) for r in figures}
    allocated = sum(b for b, _ in by_initiative.values())
    spent = sum(x for _, x in by_initiative.values())
    pledged_cents = s.cents(pledged)
    return {
        "program": {
            "name": name,
            "pledged": money(s.amount(pledged), target),
            "allocated": money(cents(allocated), target),
            "unallocated": money(cents(pledged_cents - allocated), target),
            "spent": money(cents(spent), target),
            "initiatives": {
                "totalCount": page[0][4] if page else 0,
                "nodes": [
                    {
                        "code": code,
                        "title": title,
                        "status": status,
                        "budget": money(cents(by_initiative.get(i, (0, 0))[0]), target),
                        "spent": money(cents(by_initiative.get(i, (0, 0))[1]), target),
                    }
                    for i, code, title, status, _total in page
                ],
            },
        },
        "transactions": {"aggregate": {"count": count}},
    }


# ---------------------------------------------------------------- serving

Floor = Callable[[AsyncConnection, int], Awaitable[dict[str, Any]]]
FLOORS: dict[str, Floor] = {
    "audit": audit,
    "summary": lambda conn, _p: summary(conn, with_rates=False),
    "summary_rates": lambda conn, _p: summary(conn, with_rates=True),
    "dashboard": dashboard,
}


async def run_floor(engine: AsyncEngine, name: str, program_id: int) -> bytes:
    async with engine.connect() as conn:
        data = await FLOORS[name](conn, program_id)
    return json.dumps({"data": data}, separators=(",", ":")).encode()


def bench_app() -> FastAPI:
    """The service's app as `pledge-ledger serve` builds it, plus the floor endpoints."""
    app = create_app(Settings())

    async def floor_endpoint(request: Request, name: str, program: int) -> Response:
        body = await run_floor(request.app.state.engine, name, program)
        return Response(body, media_type="application/json")

    app.add_api_route("/floor/{name}", floor_endpoint, methods=["GET"])
    return app
