"""Budget lines and transactions. New lines are checked by the rules of their own
values and the rule of a period's original (`check_budget_type`, told what the file
leaves each period), their money's convertibility asked once for all, and written in
bulk; a changed stored line goes through the ORM and its full rules; then the
programme's budgets are held to its pledge. Transactions are the bulk of a file:
each new one is checked by the rules of its own values (`check_transaction_values`),
its references are the file's keys, resolved here, and whether its money converts is
asked of the one rate rule for all rows at once; then they are written in bulk, each
with its trail entry. A changed stored
transaction goes through the ORM and its full rules, as an update would."""

from __future__ import annotations

import operator
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import Table

from app import models as m
from app.errors import DomainError
from app.finance.rules import (
    budget_line_values,
    check_budget_line_values,
    check_budget_type,
    check_transaction_values,
    transaction_values,
    validate_budget_line,
    validate_transaction,
)
from app.imports import document as d
from app.imports import keys
from app.imports import repository as repo
from app.imports.archived import notes_for_new
from app.imports.report import Action, Problem, RowChange
from app.imports.service import PROGRAM_NAMES, Importer, given, problems_at
from app.money.repository import applicable_rates
from app.programs.rules import check_program_money
from app.reports.budget.repository import Dimension
from app.reports.budget.service import current_budgets
from app.writes import checks
from app.writes.errors import Problems

TRANSACTION_NAMES = {
    "budget_line_id": "budget_line",
    "provider_id": "provider",
    "receiver_id": "receiver",
}
# What a file sets of a transaction, in the order the bulk insert writes them.
TRANSACTION_COLUMNS = (
    "initiative_id",
    "ref",
    "budget_line_id",
    "type",
    "transaction_date",
    "amount",
    "currency",
    "value_date",
    "provider_id",
    "receiver_id",
    "description",
)
_COMPARED = TRANSACTION_COLUMNS[2:]
# A new transaction's values as the bulk insert's row (an itemgetter: 100,000 rows).
_transaction_row = operator.itemgetter(*TRANSACTION_COLUMNS)


class _Values:
    """A new transaction's values as the rules see a record: attributes they read and
    set (normalised amounts, stripped text) land in the dict. Not an ORM object: the
    mapper's instrumentation cost more than all the rules together (3 s per 100,000)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        return self._values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[name] = value


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def load_budget_lines(run: Importer) -> None:
    """New lines are checked in bulk and written by the bulk writer; the stored lines
    the file lists go one at a time through the ORM and their full rules."""
    stored_lines = await repo.children(run.session, m.BudgetLine, run.stored_initiatives)
    stored = keys.by_file_key(keys.LINE, stored_lines)
    for (initiative_id, key), found_line in stored.items():
        run.lines.setdefault(initiative_id, {})[key] = found_line.id
    # Each stored line's initiative, type and period once the file is imported.
    final = {
        line.id: (line.initiative_id, line.type, line.period_start, line.period_end)
        for line in stored_lines
    }
    new: list[_NewLine] = []
    listed: list[tuple[str, d.BudgetLine, dict[str, Any], Any, Problems]] = []
    for n, initiative_id in run.initiatives:
        lines = list(enumerate(run.document.initiatives[n].budget_lines))
        # Originals first: a revised line of the same file replaces one of them.
        lines.sort(key=lambda pair: pair[1].type != m.BudgetType.ORIGINAL)
        seen: set[str] = set()
        for k, line in lines:
            place = f"initiatives[{n}].budget_lines[{k}]"
            problems = Problems()
            run.once(problems, seen, line.ref, "ref")
            values = budget_line_values(line.model_dump(exclude={"cite"}))
            values["initiative_id"] = initiative_id
            found = stored.get((initiative_id, line.ref))
            if found is None:
                new.append(_NewLine(place, line, values, problems))
                continue
            values["ref"] = found.ref  # a line found by its id keeps having no ref
            chosen = given(line, values, {})
            final[found.id] = (
                initiative_id,
                chosen.get("type", found.type),
                chosen.get("period_start", found.period_start),
                chosen.get("period_end", found.period_end),
            )
            listed.append((place, line, values, found, problems))
    originals = {
        (initiative, start, end)
        for initiative, kind, start, end in final.values()
        if kind == m.BudgetType.ORIGINAL
    }
    written = await _write_new_lines(run, new, originals)
    written = await _update_lines(run, listed) or written
    run.advance(len(new) + len(listed))
    if run.pledge_from_budgets:
        await _pledge_from_budgets(run)
    elif written or run.pledge_changed:
        await _program_money(run)


class _NewLine(NamedTuple):
    place: str
    row: d.BudgetLine
    values: dict[str, Any]
    problems: Problems


LINE_COLUMNS = (
    "initiative_id",
    "ref",
    "period_start",
    "period_end",
    "type",
    "status",
    "category",
    "amount",
    "currency",
    "value_date",
    "description",
)


async def _write_new_lines(
    run: Importer, new: list[_NewLine], originals: set[tuple[int, Any, Any]]
) -> bool:
    """The file's new lines by the rules of a line (app/finance/rules.py): their own
    values, the period's original as the file leaves the initiative's lines
    (`originals`, which each accepted original joins), and convertibility, asked of
    the rate rule once for all; then written in bulk, each with its trail entry."""
    assert run.program is not None
    report, pledge = run.report, run.program.pledged_currency
    accepted: list[_NewLine] = []
    for item in new:
        record = cast(m.BudgetLine, _Values(item.values))
        check_budget_line_values(item.problems, record)
        period = (record.initiative_id, record.period_start, record.period_end)
        if not item.problems.errors:
            check_budget_type(item.problems, record, period in originals)
        if item.problems.errors:
            report.refuse(item.place, "budget_line", item.row.ref, _line_at(item))
            continue
        if record.type == m.BudgetType.ORIGINAL:
            originals.add(period)
        accepted.append(item)
    rates = {(i.values["currency"], pledge, i.values["value_date"]) for i in accepted}
    converted = await applicable_rates(run.session, rates)
    rows = []
    for item in accepted:
        currency, on = item.values["currency"], item.values["value_date"]
        if (currency, pledge, on) not in converted:
            checks.not_convertible(item.problems, currency, pledge, on)
            report.refuse(item.place, "budget_line", item.row.ref, _line_at(item))
            continue
        rows.append(item)
    if not rows:
        return False
    noted = await notes_for_new(
        run, m.BudgetLine, keys.LINE, ((i.values["initiative_id"], i.row.ref) for i in rows)
    )
    trail = await run.bulk()
    ids: list[int] = []
    await trail.insert(
        _table(m.BudgetLine),
        LINE_COLUMNS,
        (tuple(item.values[name] for name in LINE_COLUMNS) for item in rows),
        created_at=trail.occurred_at,
        on_ids=ids.extend,
    )
    await trail.finish()
    for pk, item in zip(ids, rows, strict=True):
        run.lines.setdefault(item.values["initiative_id"], {})[item.row.ref] = pk
        if report.listing:
            note = noted.get((item.values["initiative_id"], item.row.ref), "")
            report.row(RowChange(item.place, "budget_line", item.row.ref, Action.CREATE, note=note))
        else:
            report.unlisted("budget_line", Action.CREATE)
        run.cite_id(m.SubjectType.BUDGET_LINE, pk, item.place, item.row.cite)
    return True


def _line_at(item: _NewLine) -> list[Problem]:
    return problems_at(item.place, item.problems.errors, {})


async def _update_lines(
    run: Importer, listed: list[tuple[str, d.BudgetLine, dict[str, Any], Any, Problems]]
) -> bool:
    """The stored lines the file lists, each through `upsert` and its full rules."""
    written = False
    accepted: list[tuple[Any, str, list[d.Cite]]] = []
    # The periods of lines written but not flushed: a line's rules read the other lines
    # of its period from the database, so a line of such a period waits for a flush.
    pending: set[tuple[int, Any, Any]] = set()
    for place, line, values, found, problems in listed:
        initiative_id = found.initiative_id
        periods = {
            (initiative_id, line.period_start, line.period_end),
            (initiative_id, found.period_start, found.period_end),  # a moved line's old one
        }
        if periods & pending:
            await run.session.flush()
            pending.clear()
        before = run.report.changes
        record = await run.upsert(
            kind="budget_line",
            place=place,
            key=line.ref,
            row=line,
            model=m.BudgetLine,
            stored=found,
            values=values,
            validate=validate_budget_line,
            problems=problems,
        )
        if run.report.changes > before:
            written = True
            pending |= periods
        if record is not None:
            accepted.append((record, place, line.cite))
    await run.session.flush()
    for record, place, cites in accepted:
        run.cited(m.SubjectType.BUDGET_LINE, record, place, cites)
    return written


async def _pledge_from_budgets(run: Importer) -> None:
    """The file states no pledge for its new programme: its current budget, by the one
    rule of the current budget (`current_budgets`), in the pledge's currency, stands in."""
    program = run.program
    assert program is not None
    code = program.pledged_currency
    try:
        budgets = await current_budgets(run.session, Dimension.PROGRAM, [program.id], code)
    except DomainError as error:
        run.report.problem("program.pledged.currency", error.code, error.message)
        return
    program.pledged_amount = budgets.get(program.id, Decimal(0))
    await run.session.flush()
    run.report.notes.append(
        f"the file states no pledge: the programme's current budget "
        f"({format(program.pledged_amount, 'f')} {code}) stands in"
    )


async def _program_money(run: Importer) -> None:
    """After its pledge or its budgets changed: the programme's money by its domain's
    rule (app/programs/rules.py), as a mutation of the programme checks it."""
    assert run.program is not None
    problems = Problems()
    await check_program_money(run.session, problems, run.program)
    for found in problems_at("program", problems.errors, PROGRAM_NAMES):
        run.report.problem(found.place, found.code, found.message)


async def load_transactions(run: Importer) -> None:
    assert run.program is not None
    session, report, pledge = run.session, run.report, run.program.pledged_currency
    stored = keys.by_file_key(
        keys.TRANSACTION,
        await repo.keyed_rows(session, m.Transaction, _COMPARED, run.stored_initiatives),
    )
    new: list[tuple[Any, ...]] = []
    meta: list[tuple[int, int, Any]] = []  # (initiative's index, row's index, row) of each
    changed: list[tuple[int, dict[str, Any], str, d.Transaction, Problems]] = []
    for n, initiative_id in run.initiatives:
        lines = run.lines.get(initiative_id, {})
        seen: set[str] = set()
        unchanged = 0
        for k, t in enumerate(run.document.initiatives[n].transactions):
            problems = Problems()
            run.once(problems, seen, t.ref, "ref")
            values = transaction_values(
                {
                    "initiative_id": initiative_id,
                    "ref": t.ref,
                    "budget_line_id": run.missing(
                        problems, lines, t.budget_line, "budget_line_id", "budget line"
                    ),
                    "type": t.type,
                    "transaction_date": t.transaction_date,
                    "amount": t.amount,
                    "currency": t.currency,
                    "value_date": t.value_date,
                    "provider_id": run.missing(
                        problems, run.organizations, t.provider, "provider_id", "organisation"
                    ),
                    "receiver_id": run.missing(
                        problems, run.organizations, t.receiver, "receiver_id", "organisation"
                    ),
                    "description": t.description,
                }
            )
            found = stored.get((initiative_id, t.ref)) if stored else None
            if found is not None:
                place = _place(n, k)
                values["ref"] = found.ref  # one found by its id keeps having no ref
                if problems.errors or _differs(found, given(t, values, TRANSACTION_NAMES)):
                    changed.append((found.id, values, place, t, problems))
                else:
                    unchanged += 1
                    if t.cite:
                        run.cite_id(m.SubjectType.TRANSACTION, found.id, place, t.cite)
                continue
            tx = _Values(values)
            check_transaction_values(problems, cast(m.Transaction, tx))
            if problems.errors:
                report.refuse(_place(n, k), "transaction", t.ref, _at(_place(n, k), problems))
                continue
            new.append(_transaction_row(values))
            meta.append((n, k, t))
        report.count("transaction", Action.UNCHANGED, unchanged)
        run.advance(unchanged)
    new, meta = await _convertible(run, pledge, new, meta)
    await _write_new(run, new, meta)
    records = await repo.by_ids(session, m.Transaction, [c[0] for c in changed])
    for pk, values, place, row, problems in changed:
        record = await run.upsert(
            kind="transaction",
            place=place,
            key=row.ref,
            row=row,
            model=m.Transaction,
            stored=records[pk],
            values=values,
            validate=validate_transaction,
            rename=TRANSACTION_NAMES,
            problems=problems,
        )
        if record is not None:
            run.cited(m.SubjectType.TRANSACTION, record, place, row.cite)
    await session.flush()
    run.advance(len(changed))


def _place(n: int, k: int) -> str:
    # Made only for the rows a report names: most rows are counted, not listed.
    return f"initiatives[{n}].transactions[{k}]"


def _at(place: str, problems: Problems) -> list[Problem]:
    return problems_at(place, problems.errors, TRANSACTION_NAMES)


def _same(stored: Any, given: Any) -> bool:
    # Text is stored stripped (app/writes/checks.py `text`).
    if isinstance(given, str) and isinstance(stored, str):
        return stored == given.strip()
    return bool(stored == given)


def _differs(row: Any, values: dict[str, Any]) -> bool:
    """Whether any compared value the file sets differs from the stored row's."""
    return not all(_same(getattr(row, name), values[name]) for name in _COMPARED if name in values)


_CURRENCY = TRANSACTION_COLUMNS.index("currency")
_VALUE_DATE = TRANSACTION_COLUMNS.index("value_date")


async def _convertible(
    run: Importer, pledge: str, rows: list[tuple[Any, ...]], meta: list[tuple[int, int, Any]]
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, Any]]]:
    """The rows a stored rate converts into the pledge currency; the rest refused,
    as `checks.convertible` refuses one (asked of the rate rule once for all)."""
    keys = {(row[_CURRENCY], pledge, row[_VALUE_DATE]) for row in rows}
    converted = await applicable_rates(run.session, keys)
    kept, kept_meta = [], []
    for row, info in zip(rows, meta, strict=True):
        currency, on = row[_CURRENCY], row[_VALUE_DATE]
        if (currency, pledge, on) in converted:
            kept.append(row)
            kept_meta.append(info)
            continue
        problems = Problems()
        checks.not_convertible(problems, currency, pledge, on)
        place = _place(info[0], info[1])
        run.report.refuse(place, "transaction", info[2].ref, _at(place, problems))
    return kept, kept_meta


async def _write_new(
    run: Importer, rows: list[tuple[Any, ...]], meta: list[tuple[int, int, Any]]
) -> None:
    if not rows:
        return
    initiative_of = dict(run.initiatives)
    noted = await notes_for_new(
        run, m.Transaction, keys.TRANSACTION, ((initiative_of[n], t.ref) for n, _, t in meta)
    )
    trail = await run.bulk()
    ids: list[int] = []
    await trail.insert(
        _table(m.Transaction),
        TRANSACTION_COLUMNS,
        rows,
        created_at=trail.occurred_at,
        progress=run.advance,
        on_ids=ids.extend,
    )
    await trail.finish()
    report = run.report
    for pk, (n, k, t) in zip(ids, meta, strict=True):
        if report.listing:
            note = noted.get((initiative_of[n], t.ref), "")
            report.row(RowChange(_place(n, k), "transaction", t.ref, Action.CREATE, note=note))
        else:
            report.unlisted("transaction", Action.CREATE)
        if t.cite:
            run.cite_id(m.SubjectType.TRANSACTION, pk, _place(n, k), t.cite)
