"""The SQL of views: shadow tables, the trail read up to a sequence, partner scopes.

A shadow is a TEMP table with the name of a ledger table. PostgreSQL searches
`pg_temp` before any other schema and SQLite searches `temp` before `main`, so on
the connection that holds the shadows every unqualified query reads them instead of
the real tables; the real ones stay reachable by their schema (`real_table`). On
PostgreSQL a built view also stops searching the real schema (`hide_real_tables`), so
a table no shadow covers is an error there rather than every row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.session import ROLLUP_HISTORY
from app.db.shared import driver_of
from app.db.sizes import analyze_statements
from app.db.types import ExactDecimal, UTCDateTime
from app.models import (
    SUBJECT_TABLES,
    BudgetRollup,
    BudgetRollupHistory,
    ChainHead,
    Change,
    RollupCurrency,
    RollupWrite,
    SubjectType,
)

# Citations of these subjects are visible when their subject is (subject → its table).
SCOPED_SUBJECTS = {
    kind: SUBJECT_TABLES[kind]
    for kind in (
        SubjectType.PROGRAM,
        SubjectType.INITIATIVE,
        SubjectType.BUDGET_LINE,
        SubjectType.TRANSACTION,
        SubjectType.MILESTONE,
        SubjectType.BENEFICIARY_FIGURE,
    )
}


async def real_schema(conn: AsyncConnection) -> str:
    """The schema of the real tables: SQLite's `main`, PostgreSQL's current schema."""
    if conn.dialect.name == "sqlite":
        return "main"
    schema = await conn.scalar(text("SELECT current_schema()"))
    return str(schema)


def real_table(conn: AsyncConnection, schema: str, name: str) -> str:
    """The real table's qualified name (what a shadow hides)."""
    preparer = conn.dialect.identifier_preparer
    return f"{preparer.quote_schema(schema)}.{preparer.quote(name)}"


async def sequence_at(conn: AsyncConnection, moment: datetime) -> int:
    """The last trail entry at `moment` (0: the trail had not started). The trail's
    clock never runs backwards, so everything up to this entry had happened then."""
    # The last by (moment, sequence) is the greatest sequence, as the clock never runs
    # backwards: one probe of the index on (occurred_at, sequence).
    found = await conn.scalar(
        select(Change.sequence)
        .where(Change.occurred_at <= moment)
        .order_by(Change.occurred_at.desc(), Change.sequence.desc())
        .limit(1)
    )
    return int(found or 0)


async def shadow_rollups(
    conn: AsyncConnection, schema: str, sequence: int
) -> tuple[frozenset[str], list[str]]:
    """Shadow the rollups with their history as of trail entry `sequence` (TEMP VIEWs,
    nothing copied: `BudgetRollupHistory.valid_at`), in the currencies whose history
    holds that moment: kept since at or before it, and `sequence` not inside a write
    that changed them (`RollupWrite`). Marks the connection so that reports read them
    (`ROLLUP_HISTORY`). Returns those currencies and the statements that shadow them
    (the caller runs them: `run_statements`); none of either when no currency
    qualifies. For a view of every initiative only: rollups are not scoped to a
    partner's.

    The shadows read the real tables whenever a statement runs: the currencies' one
    compares `since_sequence` too, so that a currency dropped and built again while
    the view is open (its history then starting after the moment) is not kept there,
    and its reports read the records (`rollups.summarize_if_readable`)."""
    quote = conn.dialect.identifier_preparer.quote
    currencies = real_table(conn, schema, RollupCurrency.__tablename__)
    history = real_table(conn, schema, BudgetRollupHistory.__tablename__)
    writes = real_table(conn, schema, RollupWrite.__tablename__)
    started = await conn.scalar(
        text(
            f"SELECT start_sequence FROM {writes} WHERE end_sequence > :s "
            "ORDER BY end_sequence LIMIT 1"
        ),
        {"s": sequence},
    )
    if started is not None and int(started) < sequence:
        return frozenset(), []
    kept = (
        await conn.scalars(
            text(f"SELECT currency FROM {currencies} WHERE since_sequence <= :s"), {"s": sequence}
        )
    ).all()
    if not kept:
        return frozenset(), []
    codes = ", ".join("'" + str(code).replace("'", "''") + "'" for code in kept)
    columns = ", ".join(quote(c.name) for c in BudgetRollup.__table__.columns)
    s = int(sequence)
    statements = [
        f"CREATE TEMP VIEW {quote(RollupCurrency.__tablename__)} AS SELECT * "
        f"FROM {currencies} WHERE currency IN ({codes}) AND since_sequence <= {s}",
        f"CREATE TEMP VIEW {quote(BudgetRollup.__tablename__)} AS SELECT {columns} "
        f"FROM {history} WHERE target IN ({codes}) AND from_sequence <= {s} "
        f"AND (until_sequence IS NULL OR until_sequence > {s})",
    ]
    conn.info[ROLLUP_HISTORY] = s
    return frozenset(str(code) for code in kept), statements


def create_shadow(conn: AsyncConnection, schema: str, table: Table) -> str:
    """SQL: an empty TEMP table with the real table's name and columns (no constraints)."""
    name = conn.dialect.identifier_preparer.quote(table.name)
    real = real_table(conn, schema, table.name)
    if conn.dialect.name == "postgresql":
        return f"CREATE TEMP TABLE {name} (LIKE {real} INCLUDING DEFAULTS)"
    # Column affinities carry over (INTEGER, TEXT, NUMERIC), which is what reads need.
    return f"CREATE TEMP TABLE {name} AS SELECT * FROM {real} WHERE 0"


def index_statements(conn: AsyncConnection, table: Table) -> list[str]:
    """Indexes on the key and the foreign keys (joins and nested lists use them), built
    after filling, which is cheaper than keeping them up while inserting; on PostgreSQL
    with the statistics plans read (`analyze_statements`)."""
    quote = conn.dialect.identifier_preparer.quote
    name = quote(table.name)
    statements = [f"CREATE UNIQUE INDEX {quote('hx_' + table.name)} ON {name} (id)"]
    for column in table.columns:
        if column.foreign_keys:
            index = quote(f"hx_{table.name}_{column.name}")
            statements.append(f"CREATE INDEX {index} ON {name} ({quote(column.name)})")
    return statements + analyze_statements(conn, table)


def fill_from_trail(conn: AsyncConnection, schema: str, table: Table, sequence: int) -> str:
    """SQL that fills a shadow with the table's rows after entry `sequence`: for each
    record, its latest entry up to `sequence`, unless that entry archived it. One
    statement: the database decodes the states (as `app.audit.records.decode_state`
    would), which is ten times faster than decoding and inserting them from Python."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c.name) for c in table.columns)
    select_ = _from_trail(conn, schema, table, _literal(table.name), str(int(sequence)))
    return f"INSERT INTO {quote(table.name)} ({columns}) {select_}"


def defer_from_trail(conn: AsyncConnection, schema: str, table: Table, sequence: int) -> str:
    """SQL: shadow the table with a TEMP VIEW of what `fill_from_trail` would copy: nothing
    is decoded until a statement reads it, and then by that statement (each one that
    reads it decodes anew, unindexed; one that joins it to itself, once per row). For a
    view whose operation is known not to read the table: if it does, it still reads the
    moment's rows, never the real table's, but in time quadratic in them."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c.name) for c in table.columns)
    select_ = _from_trail(conn, schema, table, _literal(table.name), str(int(sequence)))
    return f"CREATE TEMP VIEW {quote(table.name)} ({columns}) AS {select_}"


def _literal(value: str) -> str:
    """A SQL string literal of `value` (a table's name, from the models)."""
    return "'" + value.replace("'", "''") + "'"


def _from_trail(conn: AsyncConnection, schema: str, table: Table, name: str, sequence: str) -> str:
    """The SELECT of the table's rows as of an entry from the trail, in the table's
    column order; `name` and `sequence`: SQL for the table's name and the entry's
    sequence (literals or parameters)."""
    trail = real_table(conn, schema, Change.__tablename__)
    if conn.dialect.name == "postgresql":
        values = ", ".join(_pg_value(conn, c) for c in table.columns)
        decoded = (
            f" CROSS JOIN LATERAL jsonb_populate_record("
            f"NULL::{real_table(conn, schema, table.name)}, c.after::jsonb) AS r"
        )
    else:
        values = ", ".join(_sqlite_value(conn, c) for c in table.columns)
        decoded = ""
    return (
        f"SELECT {values} FROM {trail} AS c "
        f"JOIN (SELECT entity_id, max(sequence) AS last FROM {trail} "
        f"WHERE entity_type = {name} AND sequence <= {sequence} GROUP BY entity_id) AS m "
        f"ON c.sequence = m.last{decoded} WHERE c.after IS NOT NULL"
    )


def _pg_value(conn: AsyncConnection, column: Column[Any]) -> str:
    value = f"r.{conn.dialect.identifier_preparer.quote(column.name)}"
    if column.server_default is None:
        return value
    # A state written before the column existed lacks it: the column's default then.
    key = column.key.replace("'", "''")
    return f"CASE WHEN c.after::jsonb ? '{key}' THEN {value} ELSE {_default(column)} END"


def _sqlite_value(conn: AsyncConnection, column: Column[Any]) -> str:
    """The column's stored form from its canonical JSON (app/audit/records.encode)."""
    path = '$."' + column.key.replace("'", "''").replace('"', '""') + '"'
    raw = f"json_extract(c.after, '{path}')"
    kind = column.type
    if isinstance(kind, ExactDecimal):
        value = _scaled_integer(raw, kind.scale)
    elif isinstance(kind, UTCDateTime):
        # "2024-05-01T12:00:00.000000+00:00" (always UTC, microseconds) → SQLite's form.
        value = f"substr({raw}, 1, 10) || ' ' || substr({raw}, 12, 15)"
    else:  # dates, enums, text, integers and booleans are stored as the JSON has them
        value = raw
    if column.server_default is None:
        return value
    return (
        f"CASE WHEN json_type(c.after, '{path}') IS NULL THEN {_default(column)} ELSE {value} END"
    )


def _scaled_integer(text_: str, scale: int) -> str:
    """SQLite SQL: the integer count of 10**-scale units SQLite stores for a decimal
    spelled `text_` ("12.50"), which may have fewer decimals than `scale`: a state
    spells money with two, three only where the third is not zero (app/audit/records.py),
    so the digits are scaled by the decimals they lack: "12.50" is 12500 thousandths.
    (`text_`, a JSON lookup per row, is read once, in a subquery.)"""
    decimals = "CASE instr(v, '.') WHEN 0 THEN 0 ELSE length(v) - instr(v, '.') END"
    factor = " ".join(f"WHEN {d} THEN {10 ** (scale - d)}" for d in range(scale + 1))
    return (
        f"(SELECT CAST(replace(v, '.', '') AS INTEGER) * CASE {decimals} {factor} END "
        f"FROM (SELECT {text_} AS v))"
    )


def _default(column: Column[Any]) -> str:
    arg = getattr(column.server_default, "arg", None)
    text_ = arg if isinstance(arg, str) else str(getattr(arg, "text", "NULL"))
    return "'" + text_.replace("'", "''") + "'" if isinstance(arg, str) else text_


def _ids(values: Iterable[int]) -> str:
    # Integers only (they come from an API key's list), so inlining them is safe.
    return ", ".join(str(int(v)) for v in sorted(values)) or "NULL"


def scope_condition(table: Table, alias: str, initiatives: frozenset[int]) -> str | None:
    """What a partner with `initiatives` sees of `table`, as SQL on `alias`; None: all.

    Conditions on programmes and citations read the shadows of initiatives and of the
    cited records, so those must be scoped first (`SCOPE_ORDER`).
    """
    if table.name == "initiatives":
        return f"{alias}.id IN ({_ids(initiatives)})"
    if "initiative_id" in table.columns:
        return f"{alias}.initiative_id IN ({_ids(initiatives)})"
    if table.name == "programs":
        return f"{alias}.id IN (SELECT program_id FROM initiatives)"
    if table.name == "citations":
        scoped = ", ".join(f"'{kind.value}'" for kind in SCOPED_SUBJECTS)
        visible = " OR ".join(
            f"({alias}.subject_type = '{kind.value}' "
            f"AND {alias}.subject_id IN (SELECT id FROM {subjects}))"
            for kind, subjects in SCOPED_SUBJECTS.items()
        )
        return f"({alias}.subject_type NOT IN ({scoped}) OR {visible})"
    return None  # organisations, beneficiary groups, rates, documents: shared by all


def scope_order(tables: Iterable[Table]) -> list[Table]:
    """Initiatives, then their records, then programmes, then citations, then the rest."""

    def rank(table: Table) -> int:
        if table.name == "initiatives":
            return 0
        if table.name == "programs":
            return 2
        if table.name == "citations":
            return 3
        return 1 if "initiative_id" in table.columns else 4

    return sorted(tables, key=rank)


def relevance_condition(table: Table, alias: str, initiatives: frozenset[int]) -> str | None:
    """Which trail entries of `table`'s records (SQL on the trail's `alias`) may change
    what a partner with `initiatives` sees of the table; None: every entry. An entry
    names the initiative its record belongs to after the change
    (`app.audit.records.initiative_of`, none: taken as may); a record that has just
    left the partner's initiatives is still in its shadow. The partner's own rows are
    in its shadows, so an entry of anyone else's initiative changes nothing it sees.
    Kept beside `scope_condition`: a new kind of scope there is a new case here."""
    if table.name == "initiatives":
        return f"{alias}.entity_id IN ({_ids(initiatives)})"
    if "initiative_id" in table.columns:
        return (
            f"({alias}.initiative_id IS NULL OR {alias}.initiative_id IN ({_ids(initiatives)}) "
            f"OR {alias}.entity_id IN (SELECT id FROM {table.name}))"
        )
    return None  # programmes and citations by the shadows they read; shared tables: all


# The columns of a record that scope conditions read (`scope_condition`): changing one
# may move the record, or the records scoped by it, into or out of a partner's view.
SCOPING_COLUMNS = ("initiative_id", "program_id")


def regroup_condition(conn: AsyncConnection, table: Table, alias: str) -> str:
    """Which trail entries of `table`'s records (SQL on the trail's `alias`) may change
    which records of other tables a partner sees through them (`scope_condition`): a
    record created or archived, or one of its `SCOPING_COLUMNS` changed. Other changes
    to it (a title, an amount) are read again into its own shadow only."""
    clauses = [f"{alias}.before IS NULL", f"{alias}.after IS NULL"]
    for column in SCOPING_COLUMNS:
        if column in table.columns:
            before = _state_value(conn, f"{alias}.before", column)
            after = _state_value(conn, f"{alias}.after", column)
            if conn.dialect.name == "postgresql":
                clauses.append(f"{before} IS DISTINCT FROM {after}")
            else:
                clauses.append(f"{before} IS NOT {after}")
    return " OR ".join(clauses)


def _state_value(conn: AsyncConnection, state: str, key: str) -> str:
    """SQL: the value of `key` in the canonical JSON `state` (a trail entry's)."""
    if conn.dialect.name == "postgresql":
        return f"({state}::jsonb -> '{key}')"
    return f"json_extract({state}, '$.\"{key}\"')"


@dataclass(frozen=True)
class TableChanges:
    """A table's trail entries since a view's head that may change its shadow."""

    entries: int
    # Of those, how many created a record, and how many archived one.
    created: int
    archived: int
    # Of those, how many may change what the partner sees of other tables
    # (`regroup_condition`).
    regrouped: int
    # The records they name.
    ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class TrailSince:
    """What the trail holds after a view's head, read in one snapshot."""

    # Where the trail ends now (None: it is empty).
    head: tuple[int, str] | None
    # The hash the trail has now at the view's head sequence (None: no such entry).
    hash_at_head: str | None
    # By table, the entries since the view's head that may change what the view holds
    # (`relevance_condition`), when the trail ends within `up_to` entries of the head.
    tables: dict[str, TableChanges]


@dataclass(frozen=True)
class _TrailRead:
    """SQL pieces of the statements that read the trail after a live partner view's
    head (on the trail's alias `c`): the real trail and its head, which entries may
    change what the partner sees (`relevance_condition`), and, as 1 or 0 for one entry,
    whether it may change what the partner sees through other tables
    (`regroup_condition`)."""

    trail: str
    head: str
    relevant: str
    regroups: str


def _trail_read(
    conn: AsyncConnection, schema: str, tables: list[Table], initiatives: frozenset[int]
) -> _TrailRead:
    conditions = {t.name: relevance_condition(t, "c", initiatives) for t in tables}
    filtered = [name for name, condition in conditions.items() if condition is not None]
    names = ", ".join(f"'{name}'" for name in filtered) or "NULL"
    regroups = " ".join(
        f"WHEN c.entity_type = '{t.name}' THEN (CASE WHEN {regroup_condition(conn, t, 'c')} "
        "THEN 1 ELSE 0 END)"
        for t in tables
    )
    relevant = " OR ".join(
        [f"c.entity_type NOT IN ({names})"]
        + [f"(c.entity_type = '{name}' AND {conditions[name]})" for name in filtered]
    )
    return _TrailRead(
        real_table(conn, schema, Change.__tablename__),
        real_table(conn, schema, ChainHead.__tablename__),
        relevant,
        f"CASE {regroups} ELSE 0 END",
    )


def trail_since_sql(
    conn: AsyncConnection, schema: str, tables: Iterable[Table], initiatives: frozenset[int]
) -> str:
    """The statement `trail_since` runs for a partner's view of `initiatives` (the same
    for all its refreshes: built once). It reads the real trail: a partner's trail view
    leaves out the entries of records that left its initiatives."""
    read = _trail_read(conn, schema, list(tables), initiatives)
    trail, head = read.trail, read.head
    # Numbered parameters, each used where it is named: `$1` for asyncpg, `?1` for SQLite.
    postgresql = conn.dialect.name == "postgresql"
    mark = "$" if postgresql else "?"
    # The records named, as "12,15" (at most `up_to` of them).
    ids = (
        "string_agg(DISTINCT CAST(c.entity_id AS TEXT), ',')"
        if postgresql
        else "group_concat(DISTINCT c.entity_id)"
    )
    return (
        f"SELECT h.last_sequence, h.last_hash, "
        f"(SELECT o.hash FROM {trail} AS o WHERE o.sequence = {mark}1) AS at_head, "
        "c.entity_type, c.entries, c.created, c.archived, c.regrouped, c.ids FROM "
        f"{head} AS h LEFT JOIN (SELECT c.entity_type, count(*) AS entries, "
        f"{ids} AS ids, "
        "sum(CASE WHEN c.before IS NULL THEN 1 ELSE 0 END) AS created, "
        "sum(CASE WHEN c.after IS NULL THEN 1 ELSE 0 END) AS archived, "
        f"sum({read.regroups}) AS regrouped "
        f"FROM {trail} AS c WHERE c.sequence > {mark}1 AND c.sequence <= {mark}2 "
        f"AND ({read.relevant}) GROUP BY c.entity_type) AS c ON 1 = 1 WHERE h.id = 1"
    )


def refresh_at_once_sql(
    conn: AsyncConnection,
    schema: str,
    tables: Iterable[Table],
    initiatives: frozenset[int],
    copied: frozenset[str],
) -> str:
    """PostgreSQL: one statement (`refresh_at_once`) that reads what `trail_since_sql`
    reads and, in the same snapshot, brings the shadows up to the trail's end when it
    may: when the trail still holds the view's head ($1, with its hash $3; NULL: the
    view was built on an empty trail), within $2, every entry since names a record of
    one of the `copied` tables, and none regroups (`regroup_condition`). Each record an
    entry names is then dropped from its shadow and copied again from the real table
    where the partner sees it, as `refresh_rows` does with `refresh_condition` when
    nothing regroups (the records named, no others). A regroup changes which rows of
    other shadows the partner sees, which the copies of one statement cannot read from
    each other (each reads the shadows as they were): then nothing is copied, and the
    refresh plans its script from the rows returned, as after `trail_since_sql`.

    Each table a statement may copy costs it, changed or not (PostgreSQL sets up every
    copy): so `copied` names the tables the caller expects writes to (with none, this
    reads only). Its rows are `trail_since_sql`'s, each with whether the copies ran
    (`applied`). Each copy's drop runs before its insert (the insert reads the drop's
    count first): an indexed shadow's key is unique."""
    tables = list(tables)
    read = _trail_read(conn, schema, tables, initiatives)
    quote = conn.dialect.identifier_preparer.quote
    # Entries of other tables than `copied` (with none: every entry) stop the copies.
    others = (
        "e.entity_type NOT IN (" + ", ".join(f"'{name}'" for name in sorted(copied)) + ")"
        if copied
        else "1 = 1"
    )
    copies: list[str] = []
    for n, table in enumerate(t for t in tables if t.name in copied):
        name = quote(table.name)
        columns = ", ".join(quote(c.name) for c in table.columns)
        named = f"(SELECT e.entity_id FROM e WHERE e.entity_type = '{table.name}')"
        scope = scope_condition(table, "src", initiatives)
        copies += [
            f"d{n} AS (DELETE FROM {name} WHERE (SELECT ok FROM gate) AND id IN {named} "
            "RETURNING 1)",
            f"i{n} AS (INSERT INTO {name} ({columns}) SELECT {columns} FROM "
            f"{real_table(conn, schema, table.name)} AS src WHERE (SELECT ok FROM gate) "
            f"AND (SELECT count(*) FROM d{n}) >= 0 AND src.id IN {named}"
            + (f" AND {scope}" if scope else "")
            + " RETURNING 1)",
        ]
    return (
        "WITH e AS MATERIALIZED (SELECT c.entity_type, c.entity_id, "
        "CASE WHEN c.before IS NULL THEN 1 ELSE 0 END AS created, "
        "CASE WHEN c.after IS NULL THEN 1 ELSE 0 END AS archived, "
        f"{read.regroups} AS regrouped FROM {read.trail} AS c "
        f"WHERE c.sequence > $1 AND c.sequence <= $2 AND ({read.relevant})), "
        "h AS MATERIALIZED (SELECT h.last_sequence, h.last_hash, "
        f"(SELECT o.hash FROM {read.trail} AS o WHERE o.sequence = $1) AS at_head "
        f"FROM {read.head} AS h WHERE h.id = 1), "
        "gate AS MATERIALIZED (SELECT coalesce(bool_and(h.last_sequence <= $2 "
        "AND ($3::text IS NULL OR h.at_head = $3::text)), false) "
        f"AND NOT EXISTS (SELECT 1 FROM e WHERE e.regrouped = 1 OR {others}) AS ok FROM h)"
        + "".join(", " + copy for copy in copies)
        + " SELECT h.last_sequence, h.last_hash, h.at_head, c.entity_type, c.entries, "
        "c.created, c.archived, c.regrouped, c.ids, (SELECT ok FROM gate) AS applied "
        "FROM h LEFT JOIN (SELECT e.entity_type, count(*) AS entries, "
        "string_agg(DISTINCT CAST(e.entity_id AS TEXT), ',') AS ids, "
        "sum(e.created) AS created, sum(e.archived) AS archived, "
        "sum(e.regrouped) AS regrouped FROM e GROUP BY e.entity_type) AS c ON 1 = 1"
    )


async def trail_since(conn: AsyncConnection, sql: str, sequence: int, up_to: int) -> TrailSince:
    """The trail's end, its hash at `sequence`, and what changed after `sequence` that
    a partner's view may hold (up to `up_to` entries), read by `sql` (`trail_since_sql`)
    in one statement outside any transaction: on PostgreSQL one round trip, on SQLite
    one call to the driver's thread."""
    rows = await _fetch_outside_transaction(conn, sql, int(sequence), int(sequence) + up_to)
    return _trail_of(rows)


async def refresh_at_once(
    conn: AsyncConnection, sql: str, head: tuple[int, str] | None, up_to: int
) -> tuple[TrailSince, bool]:
    """What `trail_since` reads after the view's `head` (None: the trail was empty
    when the view was built), and whether the same statement (`sql`:
    `refresh_at_once_sql`) brought the view up to the trail's end: PostgreSQL, one
    round trip, outside any transaction (one statement reads one snapshot)."""
    since = head[0] if head is not None else 0
    hash_ = head[1] if head is not None else None
    rows = await _fetch_outside_transaction(conn, sql, int(since), int(since) + up_to, hash_)
    return _trail_of(rows), bool(rows) and bool(rows[0][9])


def _trail_of(rows: list[Any]) -> TrailSince:
    if not rows:
        return TrailSince(None, None, {})
    first = rows[0]
    return TrailSince(
        (int(first[0]), str(first[1])),
        None if first[2] is None else str(first[2]),
        {
            str(row[3]): TableChanges(
                int(row[4]),
                int(row[5]),
                int(row[6]),
                int(row[7]),
                frozenset(int(i) for i in str(row[8]).split(",")),
            )
            for row in rows
            if row[3] is not None
        },
    )


async def _fetch_outside_transaction(conn: AsyncConnection, sql: str, *params: Any) -> list[Any]:
    """The rows of one statement run on the driver's connection in no transaction (its
    own snapshot). Through SQLAlchemy it would begin one (on PostgreSQL two round trips
    more: BEGIN, then the end of the transaction)."""
    assert not conn.in_transaction()
    raw = await driver_of(conn)
    if conn.dialect.name == "postgresql":
        return list(await raw.fetch(sql, *params))
    return list(await raw.execute_fetchall(sql, params))


def refresh_condition(
    table: Table, changed: dict[str, frozenset[int]], regrouped: frozenset[str]
) -> str | None:
    """Which rows of `table`'s shadow a partner's refresh must read again from the real
    table, as SQL on its bare columns (None: none), when trail entries since the view's
    head changed the records `changed` names, by table (those the view may hold:
    `relevance_condition`; the others change nothing it sees), those of the
    `regrouped` tables among them in a way that may change what the partner sees
    through them (`regroup_condition`), and the shadows the table is scoped by
    (`scope_condition`) are refreshed before it (`scope_order`): the records changed
    themselves, and those whose visibility reads a shadow whose rows came or went — a
    programme's by its initiatives (all read again: a partner's programmes are few), a
    citation's by its subject. The records are named by their ids (integers read from
    the trail, at most `REFRESH_UP_TO` of them), so the refresh reads the trail once.
    Kept beside `scope_condition`: a new dependency there is a new clause here."""
    if table.name == "programs" and "initiatives" in regrouped:
        return "1 = 1"
    clauses = []
    if table.name in changed:
        clauses.append(f"id IN ({_ids(changed[table.name])})")
    if table.name == "citations":
        for kind, subjects in SCOPED_SUBJECTS.items():
            if subjects == "programs" and "initiatives" in regrouped:
                clauses.append(f"subject_type = '{kind.value}'")
            elif subjects in regrouped:
                clauses.append(
                    f"(subject_type = '{kind.value}' AND subject_id IN ({_ids(changed[subjects])}))"
                )
    return " OR ".join(clauses) or None


def refresh_rows(
    conn: AsyncConnection, schema: str, table: Table, rows: str, initiatives: frozenset[int]
) -> list[str]:
    """The statements that read again into a partner's shadow the `rows`
    (`refresh_condition`) of `table`: dropped, then copied from the real table where
    the partner sees them."""
    quote = conn.dialect.identifier_preparer.quote
    name = quote(table.name)
    columns = ", ".join(quote(c.name) for c in table.columns)
    condition = scope_condition(table, "src", initiatives)
    where = f"({rows})" + (f" AND {condition}" if condition else "")
    return [
        f"DELETE FROM {name} WHERE {rows}",
        f"INSERT INTO {name} ({columns}) SELECT {columns} "
        f"FROM {real_table(conn, schema, table.name)} AS src WHERE {where}",
    ]


async def run_upkeep(conn: AsyncConnection, statements: list[str]) -> None:
    """Run `statements` (no parameters) outside any transaction: the upkeep of shadows a
    refresh copied into (indexes, statistics), which reads no snapshot of the ledger. On
    PostgreSQL one script, one round trip; nothing sent when there are none."""
    if not statements:
        return
    assert not conn.in_transaction()
    raw = await driver_of(conn)
    if conn.dialect.name == "postgresql":
        await raw.execute(";\n".join(statements))
    else:
        await raw.executescript(";\n".join(statements) + ";")


# A TEMP table of a live partner's view that the check of a refresh writes to
# (`run_at_head`): its CHECK fails, and with it the refresh, when the trail moved.
_CHECK_TABLE = "view_trail_check"
_MOVED = "trail_moved"


def create_check_table() -> list[str]:
    """SQL of the table `run_at_head` checks the trail's end with (once, as a view is
    built): one row, whose `found` must stay 1."""
    return [
        f"CREATE TEMP TABLE {_CHECK_TABLE} "
        f"(found INTEGER NOT NULL, CONSTRAINT {_MOVED} CHECK (found = 1))",
        f"INSERT INTO {_CHECK_TABLE} (found) VALUES (1)",
    ]


async def run_at_head(
    conn: AsyncConnection, schema: str, head: tuple[int, str], statements: list[str]
) -> bool:
    """Run `statements` (no parameters) in one transaction whose reads see the trail
    ending at `head`, as it did when read outside a transaction (`trail_since`); False,
    with nothing done, when the trail has moved on since. Every write to ledger data
    moves the trail's end, so the rows read are those of the moment `head` was read.

    One script, sent at once: on PostgreSQL one round trip (the simple query protocol
    takes several statements), on SQLite one call to the driver's thread. Its first
    statement checks the trail's end, failing the check table's CHECK when it moved;
    every later one reads the snapshot that check read (REPEATABLE READ on PostgreSQL;
    on SQLite a transaction reads one snapshot from its first read on)."""
    assert not conn.in_transaction()
    raw = await driver_of(conn)
    chain = real_table(conn, schema, ChainHead.__tablename__)
    sequence, hash_ = int(head[0]), head[1].replace("'", "''")
    postgresql = conn.dialect.name == "postgresql"
    script = [
        "BEGIN ISOLATION LEVEL REPEATABLE READ" if postgresql else "BEGIN",
        f"UPDATE {_CHECK_TABLE} SET found = (SELECT count(*) FROM {chain} "
        f"WHERE id = 1 AND last_sequence = {sequence} AND last_hash = '{hash_}')",
        *statements,
        "COMMIT",
    ]
    try:
        if postgresql:
            await raw.execute(";\n".join(script))
        else:
            # No transaction is open, so the driver commits nothing before the script.
            assert not raw.in_transaction
            await raw.executescript(";\n".join(script) + ";")
    except Exception as error:
        # An error leaves the script's transaction open.
        if raw.is_in_transaction() if postgresql else raw.in_transaction:
            await (raw.execute("ROLLBACK") if postgresql else raw.rollback())
        if _MOVED in str(error):
            return False
        raise
    return True


def copy_scoped(
    conn: AsyncConnection, schema: str, table: Table, initiatives: frozenset[int] | None
) -> str:
    """SQL that fills a shadow from the real table: every row, or what a partner sees."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c.name) for c in table.columns)
    condition = scope_condition(table, "src", initiatives) if initiatives is not None else None
    where = f" WHERE {condition}" if condition else ""
    return (
        f"INSERT INTO {quote(table.name)} ({columns}) "
        f"SELECT {columns} FROM {real_table(conn, schema, table.name)} AS src{where}"
    )


def apply_scope(conn: AsyncConnection, table: Table, initiatives: frozenset[int]) -> str | None:
    """SQL that removes from a filled shadow what a partner does not see (None: it sees
    every row)."""
    condition = scope_condition(table, "src", initiatives)
    if condition is None:
        return None
    name = conn.dialect.identifier_preparer.quote(table.name)
    keep = f"SELECT src.id FROM {name} AS src WHERE {condition}"
    return f"DELETE FROM {name} WHERE id NOT IN ({keep})"


def shadow_trail(
    conn: AsyncConnection, schema: str, sequence: int | None, initiatives: frozenset[int] | None
) -> str:
    """SQL: a TEMP VIEW over the trail (nothing copied): entries up to the view's
    moment, and for a partner only its initiatives' entries, so a record's history read
    in the view ends where the view does."""
    conditions = []
    if sequence is not None:
        conditions.append(f"sequence <= {int(sequence)}")
    if initiatives is not None:
        conditions.append(f"initiative_id IN ({_ids(initiatives)})")
    where = " AND ".join(conditions) or "1 = 1"
    name = conn.dialect.identifier_preparer.quote(Change.__tablename__)
    real = real_table(conn, schema, Change.__tablename__)
    return f"CREATE TEMP VIEW {name} AS SELECT * FROM {real} WHERE {where}"


def hide_real_tables(conn: AsyncConnection) -> list[str]:
    """SQL run after the shadows are built (PostgreSQL): search only `pg_catalog`, and
    `pg_temp`, which PostgreSQL searches first for tables whenever the path does not
    name it. A query of a table the view did not shadow then fails ("relation does not
    exist") instead of reading the real table, i.e. a partner's scope fails closed.
    SQLite has no search path; there the shadows alone decide."""
    if conn.dialect.name == "postgresql":
        return ["SET search_path TO pg_catalog"]
    return []


async def run_statements(conn: AsyncConnection, statements: list[str]) -> list[int]:
    """Run `statements` (no parameters, every value a literal rendered here) in order in
    the connection's open transaction; returns the rows each one changed on SQLite (one
    driver call each, as a script would commit first), nothing on PostgreSQL: there they
    go as one script in one round trip (the simple query protocol takes several
    statements; the extended one SQLAlchemy uses would take two round trips each, a
    prepare and an execute), and the caller counts rows afterwards (`count_rows`)."""
    if not statements:
        return []
    if conn.dialect.name != "postgresql":
        return [int((await conn.execute(text(s))).rowcount) for s in statements]
    raw = await driver_of(conn)
    # The transaction was begun by a statement through SQLAlchemy (`real_schema`): the
    # script then runs inside it, and its end (commit, or rollback on any error) is
    # SQLAlchemy's.
    assert raw.is_in_transaction()
    try:
        await raw.execute(";\n".join(statements))
    except BaseException:
        # The driver's error (not SQLAlchemy's, which would have judged the connection):
        # a build that failed or was cancelled midway is never read, and its connection
        # is not set back for reuse (`lost`) but dropped.
        await conn.invalidate()
        raise
    return []


async def count_rows(conn: AsyncConnection, tables: list[str]) -> dict[str, int]:
    """How many rows each of the shadows `tables` holds, in one statement."""
    if not tables:
        return {}
    quote = conn.dialect.identifier_preparer.quote
    counts = ", ".join(f"(SELECT count(*) FROM {quote(name)})" for name in tables)
    row = (await conn.execute(text(f"SELECT {counts}"))).one()
    return {name: int(count) for name, count in zip(tables, row, strict=True)}
