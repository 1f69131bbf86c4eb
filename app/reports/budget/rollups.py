"""Budget rollups: the budget summary's sums kept per grain, and every SQL statement
that reads or keeps them.

The rule of conversion (app/money/sql.py) is per record: every amount is converted at
the rate valid on its own value date and rounded, half-even, to the report currency's
minor unit before anything is summed. Rounding per record means that a sum of amounts
cannot be converted afterwards, even where the rate is constant: two records of
EUR 0.01 at 1.5 USD are USD 0.015 each, rounded to 0.02, so USD 0.04; their sum, EUR
0.02, converts to USD 0.03. A rollup of amounts per (currency, value date), the grain
at which the rate is constant, would so be off by up to half a minor unit per record.

So the rollups keep converted money: for each currency named in
`budget_rollup_currencies` (`pledge-ledger rollups build`), each grain holds the sum
of its records converted into that currency and rounded by the report's own
statement (`repository.records`, `RateLookup`, `converted_minor_units`), and the
count of its records. A report sums those sums: exactly the per-record sum, to the
minor unit, in every grouping the grain can form. A rate written later changes which
rate converts some records, so it rewrites the rows of the currencies it converts.

The grain is every dimension and filter of the summary but the record's date:
initiative (programme, focus area, region and beneficiary shares are the
initiative's, joined when read), kind of record, category (a transaction's is its
budget line's), transaction type, budget status, original and current flags, the
year and month of the record's date (YEAR, QUARTER, MONTH) and the currency the
record is published in (the currency filter). A filter on the record's date, a
report in a currency not kept, and a partner's view (its connection is marked,
`VIEW_CONNECTION`) read the records instead.

History: every row the rollups have held is kept in `budget_rollup_history` with the
trail sequences it held over (from the write that computed it to the one that
recomputed it), so an `asOf` report reads the rollups of its moment: a view of every
initiative as of trail entry S shadows the rollups with the rows valid at S
(app/views/repository.py `shadow_rollups`, `ROLLUP_HISTORY`). Exact as the view's
records are: each row was computed, by the one statement here, from the records and
rates of its write's end, and no row changes between two writes that rewrite it. A
moment before a currency's `rollups build` (`since_sequence`), or inside a write that
changed them (its flushes can be dated apart: `RollupWrite`), reads the records.
The cost is storage: a write adds the rows whose values it changed (`_rewrite`).

Kept in the transaction of every write (`keep`, run before it commits): every
writer appends to the trail through the chain head, which notes the initiatives whose
budget lines or transactions it touched (mutations, archives, imports, `generate`);
their rows are deleted and inserted again from their records by one INSERT ... SELECT
per currency kept, and their history closed and opened at the write's last entry: a
budget line's whole initiative, transactions alone only in the months they were and
are in. An archived initiative takes its current rows with it (ON DELETE CASCADE).
Every entry point installs `keep` (`install()`: the app, the command line, the tests
and benchmarks; app/engines.py is below the domains and cannot), and a process that
has not installed it never reads the rollups.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.audit import recorder
from app.audit.recorder import Head, lock_chain
from app.db.base import Base
from app.db.session import ROLLUP_HISTORY, VIEW_CONNECTION
from app.db.sizes import analyze_statements
from app.models import (
    BudgetLine,
    BudgetRollup,
    BudgetRollupHistory,
    Change,
    Initiative,
    RollupCurrency,
    RollupWrite,
    Transaction,
)
from app.money.currencies import minor_units
from app.money.sql import RateLookup, amounts_in_range
from app.reports.budget.repository import (
    BUDGET_LINE,
    TRANSACTION,
    Dimension,
    GroupRow,
    dimension_columns,
    group_rows,
    measure_conditions,
    record_year_month,
    records,
)

R = BudgetRollup
# The tables whose records the rollups sum.
SUMMED_TABLES = (BudgetLine.__tablename__, Transaction.__tablename__)
RATES_TABLE = "exchange_rates"
# More initiatives than this in one write (a large import or `generate`): every row of
# the currency is recomputed, in one statement without a long list of ids.
MAX_LISTED = 500

_GRAIN_COLUMNS = (
    "target",
    "initiative_id",
    "kind",
    "category",
    "transaction_type",
    "budget_status",
    "is_original",
    "is_current",
    "year",
    "month",
    "currency",
    "records",
    "amount_minor",
    "missing_rate",
)


# ---------------------------------------------------------------- reading


def install() -> None:
    """Keep the rollups in every write of this process (idempotent). Entry points call
    it: app/engines.py is below the domains and cannot."""
    recorder.before_commit(keep)


async def readable(session: AsyncSession, target: str) -> bool:
    """Whether a report in `target` may read the rollups on this session: a process
    that keeps them, not a write in progress, the live ledger or a view as of a moment
    the history holds (not another view, which shadows the records but not the
    rollups), and `target` kept (on a view: its history holding the moment)."""
    if not recorder.runs_before_commit(keep):
        return False
    if recorder.HEAD in session.info:
        # A writing transaction (it holds the chain lock): what it has written is not in
        # the rollups until it commits, and its checks (the pledge) must see it.
        return False
    connection = await session.connection()
    if connection.info.get(VIEW_CONNECTION) and connection.info.get(ROLLUP_HISTORY) is None:
        # A view whose moment the history does not hold (or a partner's): its rollups
        # would be today's.
        return False
    kept = select(RollupCurrency.currency).where(RollupCurrency.currency == target)
    return (await session.scalar(kept)) is not None


def condition(
    budget_lines: ColumnElement[bool], transactions: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Rollup rows of budget lines matching the one condition, of transactions the other
    (conditions on `BudgetRollup` columns)."""
    return or_(and_(R.kind == BUDGET_LINE, budget_lines), and_(R.kind == TRANSACTION, transactions))


def summary_statement(
    dimensions: Sequence[Dimension], where: ColumnElement[bool], target: str
) -> tuple[Select[Any], list[Dimension]]:
    """`repository.summary_statement`, from the rollups: the same keys, sums, counts
    and missing rate per group (`d_<dimension>` columns, in order)."""
    columns = dimension_columns(
        dimensions,
        initiative_id=R.initiative_id,
        category=R.category,
        transaction_type=R.transaction_type,
        year=R.year,
        month=R.month,
    )
    is_budget = R.kind == BUDGET_LINE
    sums = measure_conditions(is_budget, R.is_original, R.is_current, R.transaction_type)
    dims = list(columns.items())
    from_: Any = R
    if {Dimension.PROGRAM, Dimension.FOCUS_AREA, Dimension.REGION} & set(columns):
        from_ = R.__table__.join(Initiative, Initiative.id == R.initiative_id)
    stmt = (
        select(
            *(col.label(f"d_{dim.value}") for dim, col in dims),
            *(
                func.coalesce(func.sum(case((cond, R.amount_minor), else_=0)), 0).label(name)
                for name, cond in sums.items()
            ),
            func.coalesce(func.sum(case((is_budget, R.records), else_=0)), 0).label("n_lines"),
            func.coalesce(func.sum(case((is_budget, 0), else_=R.records)), 0).label(
                "n_transactions"
            ),
            func.min(R.missing_rate).label("missing_rate"),
        )
        .select_from(from_)
        .where(R.target == target, where)
        .group_by(*(col for _, col in dims))
        .order_by(*(col for _, col in dims))
    )
    return stmt, [dim for dim, _ in dims]


async def summarize(
    session: AsyncSession,
    *,
    dimensions: Sequence[Dimension],
    where: ColumnElement[bool],
    target: str,
    limit: int | None = None,
) -> list[GroupRow]:
    """Sums per group from the rollups, as `repository.summarize` returns them."""
    stmt, keys = summary_statement(dimensions, where, target)
    return await group_rows(session, stmt if limit is None else stmt.limit(limit), keys)


async def summarize_if_readable(
    session: AsyncSession,
    *,
    dimensions: Sequence[Dimension],
    where: ColumnElement[bool],
    target: str,
    limit: int | None = None,
) -> list[GroupRow] | None:
    """`summarize` when the rollups are `readable`, else None: the records answer.

    On a view as of a moment, `readable` is asked again once the sums are read: a
    currency dropped meanwhile (`forget`, committed between the two statements: a
    view's reads on SQLite each see the latest commit) took the history they were read
    from, and is no longer kept, or kept again only since after the moment (`build`
    sets `since_sequence`, which the view's shadow of the currencies compares)."""
    if not await readable(session, target):
        return None
    rows = await summarize(session, dimensions=dimensions, where=where, target=target, limit=limit)
    connection = await session.connection()
    if connection.info.get(ROLLUP_HISTORY) is not None and not await readable(session, target):
        return None
    return rows


def owners_condition(
    owner: Dimension, ids: Sequence[int], *, transactions: bool
) -> ColumnElement[bool]:
    """The rollup rows of these programmes or initiatives (only their budget lines
    unless `transactions`), as `repository.records_of` selects their records."""
    if owner is Dimension.PROGRAM:
        initiatives: Any = select(Initiative.id).where(Initiative.program_id.in_(ids))
    else:
        initiatives = list(ids)
    mine = R.initiative_id.in_(initiatives)
    return condition(mine, mine if transactions else false())


# ---------------------------------------------------------------- keeping


# Which rows of a rollup table (`BudgetRollup` or `BudgetRollupHistory`) a
# recomputation rewrites, as a condition on that table's columns.
Kept = Callable[[Any], ColumnElement[bool]]


def _recompute(
    target: str,
    initiatives: Collection[int] | None,
    currencies: Collection[str],
    *,
    where: tuple[ColumnElement[bool], ColumnElement[bool]] | None = None,
) -> tuple[Kept, Select[Any]]:
    """Which rows of `target` the records of `initiatives` and those published in
    `currencies` make (`initiatives` None: all), and the SELECT of their new rows, in
    `_GRAIN_COLUMNS` order. `where`: the records' conditions (budget lines,
    transactions) instead, the rows' left to the caller to narrow."""
    if where is not None or initiatives is None:
        kept: Kept = lambda _table: true()  # noqa: E731
    else:
        kept = lambda table: _either(table, initiatives, currencies)  # noqa: E731
    if where is not None:
        lines, txs = where
    elif initiatives is None:
        lines, txs = true(), true()
    else:
        lines = _either(BudgetLine, initiatives, currencies)
        txs = _either(Transaction, initiatives, currencies)
    rec = records(lines, txs)
    conv = RateLookup(rec, rec.c.amount, rec.c.currency, rec.c.value_date, target)
    year, month = record_year_month(rec.c.record_date)
    grain = [
        rec.c.initiative_id,
        rec.c.kind,
        rec.c.category,
        rec.c.transaction_type,
        rec.c.budget_status,
        rec.c.is_original,
        rec.c.is_current,
        year,
        month,
        rec.c.currency,
    ]
    rows = (
        select(
            literal(target),
            *grain,
            func.count(),
            func.coalesce(func.sum(conv.converted(minor_units(target))), 0),
            conv.missing(),
        )
        .select_from(conv.join(rec))
        .group_by(*grain)
    )
    return kept, rows


def _rewrite(session: Session, target: str, kept: Kept, rows: Select[Any], sequence: int) -> None:
    """Replace the rows of `target` that `kept` names by `rows`, as of trail entry
    `sequence` (the write's last): the current ones are deleted and the new ones
    inserted; in the history, only the open rows whose values changed are closed there,
    and only the new rows no open row equals opened there (so a rate that converts
    nothing, or a rewrite of an initiative of which one month changed, adds no rows
    for the rest).

    Which rows differ: the open rows `kept` names and the new ones, grouped by every
    column (a null equal to a null); a group of one row is a row on one side only. The
    open rows are the current ones (each write and `build` keeps them so), a row per
    grain on each side, so a group holds at most one of each. Grouped, not joined: the
    cost does not depend on the planner's estimates of rows just written."""
    H = BudgetRollupHistory
    h, r = H.__table__, R.__table__
    columns = list(_GRAIN_COLUMNS)
    with amounts_in_range():
        session.execute(delete(R).where(R.target == target, kept(R)))
        session.execute(insert(R).from_select(columns, rows))
        both = union_all(
            select(*(h.c[name] for name in columns), h.c.id.label("open_id")).where(
                h.c.target == target, h.c.until_sequence.is_(None), kept(H)
            ),
            select(*(r.c[name] for name in columns), cast(null(), BigInteger)).where(
                r.c.target == target, kept(R)
            ),
        ).subquery()
        grain = [both.c[name] for name in columns]
        alone = (
            select(*grain, func.max(both.c.open_id).label("open_id"))
            .group_by(*grain)
            .having(func.count() == 1)
            .subquery()
        )
        session.execute(
            update(H)
            .where(H.id.in_(select(alone.c.open_id).where(alone.c.open_id.is_not(None))))
            .values(until_sequence=sequence)
            .execution_options(synchronize_session=False)
        )
        # The rows closed were alone: the new rows alone are the same as before.
        new = select(*(alone.c[name] for name in columns), literal(sequence)).where(
            alone.c.open_id.is_(None)
        )
        session.execute(insert(H).from_select([*columns, "from_sequence"], new))


def _either(
    model: Any, initiatives: Collection[int], currencies: Collection[str]
) -> ColumnElement[bool]:
    """Rows of these initiatives or in these currencies; each part only when it names
    any, so that the other can use its index (an OR with an empty IN scans the table)."""
    parts = []
    if initiatives:
        parts.append(model.initiative_id.in_(sorted(initiatives)))
    if currencies:
        parts.append(model.currency.in_(sorted(currencies)))
    return or_(false(), *parts)


def recompute(
    session: Session,
    target: str,
    initiatives: Collection[int] | None,
    currencies: Collection[str] = (),
    *,
    sequence: int,
) -> None:
    """Rewrite rows of `target` from the records, in the session's transaction, as of
    trail entry `sequence`."""
    if initiatives is not None and len(initiatives) > MAX_LISTED:
        initiatives = None
    if initiatives is not None and not initiatives and not currencies:
        return
    kept, rows = _recompute(target, initiatives, currencies)
    _rewrite(session, target, kept, rows, sequence)


def _rate_pairs(session: Session, since: int) -> set[tuple[str, str]]:
    """(base, quote) of every rate written after the trail's entry `since`, as it was
    before and after."""
    stmt = select(Change.before, Change.after).where(
        Change.sequence > since, Change.entity_type == RATES_TABLE
    )
    pairs: set[tuple[str, str]] = set()
    for states in session.execute(stmt).all():
        for state in states:
            if state is not None:
                rate = json.loads(state)
                pairs.add((rate["base"], rate["quote"]))
    return pairs


def converted_by(pairs: Iterable[tuple[str, str]], target: str) -> set[str]:
    """The currencies whose conversion into `target` rates of these pairs may decide
    (a rate converts either way; one not naming `target` never converts into it)."""
    found: set[str] = set()
    for base, quote in pairs:
        if quote == target:
            found.add(base)
        elif base == target:
            found.add(quote)
    return found


Month = tuple[int, int, int]  # (initiative id, year, month)


def _transaction_months(session: Session, since: int) -> set[Month]:
    """The (initiative, year, month) of every transaction written after the trail's
    entry `since`, as it was before and after."""
    stmt = select(Change.before, Change.after).where(
        Change.sequence > since, Change.entity_type == Transaction.__tablename__
    )
    months: set[Month] = set()
    for states in session.execute(stmt).all():
        for state in states:
            if state is not None:
                record = json.loads(state)
                on = date.fromisoformat(record["transaction_date"])
                months.add((int(record["initiative_id"]), on.year, on.month))
    return months


def _recompute_months(target: str, months: Collection[Month]) -> tuple[Kept, Select[Any]]:
    """`_recompute` for the transactions of these initiatives' months: their rows are
    exactly the rows of kind transaction with that initiative, year and month."""
    records_ = []
    for initiative, year, month in sorted(months):
        first = date(year, month, 1)
        after = date(year + month // 12, month % 12 + 1, 1)
        records_.append(
            and_(
                Transaction.initiative_id == initiative,
                Transaction.transaction_date >= first,
                Transaction.transaction_date < after,
            )
        )
    _all, select_rows = _recompute(target, None, (), where=(false(), or_(*records_)))

    def kept(table: Any) -> ColumnElement[bool]:
        return and_(
            table.kind == TRANSACTION,
            or_(
                *(
                    and_(table.initiative_id == i, table.year == y, table.month == m)
                    for i, y, m in sorted(months)
                )
            ),
        )

    return kept, select_rows


def keep(session: Session, head: Head) -> None:
    """Before a write commits: rewrite the rows its changes to budget lines,
    transactions and exchange rates affect, for every currency kept. A write of budget
    lines rewrites its initiatives (a line decides which others are current, and its
    category is its transactions'); one of transactions alone rewrites only the months
    they were and are in, when they are few."""
    lines = {i for i in head.touched.get(BudgetLine.__tablename__, ()) if i is not None}
    txs = {i for i in head.touched.get(Transaction.__tablename__, ()) if i is not None}
    rates = RATES_TABLE in head.touched
    if not lines and not txs and not rates:
        return
    targets = session.scalars(select(RollupCurrency.currency)).all()
    if not targets:
        return
    pairs = _rate_pairs(session, head.start) if rates else set()
    months: set[Month] = set()
    if txs - lines and head.entries.get(Transaction.__tablename__, 0) <= MAX_LISTED:
        months = {m for m in _transaction_months(session, head.start) if m[0] not in lines}
        txs = set()
    for target in targets:
        recompute(session, target, lines | txs, converted_by(pairs, target), sequence=head.sequence)
        if months:
            kept, rows = _recompute_months(target, months)
            _rewrite(session, target, kept, rows, head.sequence)
    if head.sequence - head.start > 1:
        # Its entries may be dated apart (one per flush): no moment between them is in
        # the history (app/views/repository.py `shadow_rollups`).
        session.add(RollupWrite(end_sequence=head.sequence, start_sequence=head.start))
        session.flush()


async def build(session: AsyncSession, currencies: Sequence[str]) -> dict[str, int]:
    """Keep rollups in `currencies` from now on: each one's rows computed from every
    record, under the chain lock (no write can run meanwhile), their history starting
    at the trail's end (a currency kept already: its rows recomputed there). Returns
    the rows per currency."""
    await lock_chain(session)
    head: Head = session.info[recorder.HEAD]
    built: dict[str, int] = {}
    for currency in currencies:
        if await session.get(RollupCurrency, currency) is None:
            session.add(RollupCurrency(currency=currency, since_sequence=head.sequence))
            await session.flush()
        await session.run_sync(recompute, currency, None, sequence=head.sequence)
        count = select(func.count()).select_from(R).where(R.target == currency)
        built[currency] = int(await session.scalar(count) or 0)
    # Statistics of what was just written in bulk, for the reports' plans: until
    # autovacuum came round, PostgreSQL planned the programme figures over 70k rollup
    # rows as over 72, a nested loop 2x the time (bench/README.md, 1M).
    connection = await session.connection()
    for model in (BudgetRollup, BudgetRollupHistory):
        for statement in analyze_statements(connection, Base.metadata.tables[model.__tablename__]):
            await session.execute(text(statement))
    return built


async def forget(session: AsyncSession, currencies: Sequence[str]) -> None:
    """Stop keeping rollups in `currencies` (their rows and history go too)."""
    await lock_chain(session)
    await session.execute(delete(R).where(R.target.in_(currencies)))
    await session.execute(
        delete(BudgetRollupHistory).where(BudgetRollupHistory.target.in_(currencies))
    )
    await session.execute(delete(RollupCurrency).where(RollupCurrency.currency.in_(currencies)))


async def kept_currencies(session: AsyncSession) -> list[str]:
    stmt = select(RollupCurrency.currency).order_by(RollupCurrency.currency)
    return list((await session.scalars(stmt)).all())


async def rows_of(session: AsyncSession, target: str) -> list[tuple[Any, ...]]:
    """Every row kept in `target`, without its id, in a stable order (for checks)."""
    columns = [R.__table__.c[name] for name in _GRAIN_COLUMNS]
    stmt = select(*columns).where(R.target == target)
    return _comparable((await session.execute(stmt)).all())


async def rows_at(session: AsyncSession, target: str, sequence: int) -> list[tuple[Any, ...]]:
    """The rows of `target` its history holds as of trail entry `sequence`, as
    `rows_of` gives them (for checks)."""
    H = BudgetRollupHistory
    columns = [H.__table__.c[name] for name in _GRAIN_COLUMNS]
    stmt = select(*columns).where(H.target == target, *H.valid_at(sequence))
    return _comparable((await session.execute(stmt)).all())


async def open_history_rows(session: AsyncSession, target: str) -> list[tuple[Any, ...]]:
    """The rows of `target` its history holds open, as `rows_of` gives them: the
    current rows, which every write keeps them equal to (for checks)."""
    H = BudgetRollupHistory
    columns = [H.__table__.c[name] for name in _GRAIN_COLUMNS]
    stmt = select(*columns).where(H.target == target, H.until_sequence.is_(None))
    return _comparable((await session.execute(stmt)).all())


async def recomputed_rows(session: AsyncSession, target: str) -> list[tuple[Any, ...]]:
    """What the rows of `target` would be if computed now from every record: the check
    that the kept rows are right (`pledge-ledger rollups check`, the tests). On a view,
    from its records: what the rows were as of its moment."""
    _kept, rows = _recompute(target, None, ())
    with amounts_in_range():
        return _comparable((await session.execute(rows)).all())


def _comparable(rows: Iterable[Any]) -> list[tuple[Any, ...]]:
    # Plain values (an enum as its value, a NUMERIC sum as an int), sorted (nulls first).
    plain = [
        tuple(int(v) if i in (11, 12) else getattr(v, "value", v) for i, v in enumerate(row))
        for row in rows
    ]
    return sorted(plain, key=lambda row: [(v is not None, v) for v in row])
