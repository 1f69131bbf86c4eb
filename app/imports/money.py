"""Budget lines and transactions. Lines go one at a time through their rules (a revised
line needs its original, and the programme's budgets stay within its pledge).
Transactions are the bulk of a file: each new one is checked by the rules of its own
values (`check_transaction_values`), its references are the file's keys, resolved
here, and whether its money converts is asked of the one rate rule for all rows at
once; then they are written in bulk, each with its trail entry. A changed stored
transaction goes through the ORM and its full rules, as an update would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from app import models as m
from app.errors import DomainError
from app.finance.rules import (
    budget_line_values,
    check_transaction_values,
    transaction_values,
    validate_budget_line,
    validate_transaction,
)
from app.imports import repository as repo
from app.imports.initiatives import _once
from app.imports.report import Action, Problem, RowChange
from app.imports.service import Importer, problems_at
from app.money.repository import applicable_rates
from app.programs.rules import check_within_pledge
from app.writes import checks
from app.writes.errors import Problems, as_field_errors

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


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def load_budget_lines(run: Importer) -> None:
    stored_lines = await repo.children(run.session, m.BudgetLine, run.stored_initiatives)
    stored = {(line.initiative_id, line.ref): line for line in stored_lines if line.ref}
    for line in stored_lines:
        if line.ref:
            run.lines.setdefault(line.initiative_id, {})[line.ref] = line.id
    written = False
    rows = 0
    for n, initiative_id in run.initiatives:
        lines = list(enumerate(run.document.initiatives[n].budget_lines))
        # Originals first: a revised line of the same file replaces one of them.
        lines.sort(key=lambda pair: pair[1].type != m.BudgetType.ORIGINAL)
        seen: set[str] = set()
        for k, line in lines:
            place = f"initiatives[{n}].budget_lines[{k}]"
            problems = Problems()
            _once(problems, seen, line.ref)
            values = budget_line_values(line.model_dump(exclude={"cite"}))
            values["initiative_id"] = initiative_id
            before = run.report.changes
            record = await run.upsert(
                kind="budget_line",
                place=place,
                key=line.ref,
                model=m.BudgetLine,
                stored=stored.get((initiative_id, line.ref)),
                values=values,
                validate=validate_budget_line,
                problems=problems,
            )
            written = written or run.report.changes > before
            if record is not None:
                run.lines.setdefault(initiative_id, {})[line.ref] = record.id
                run.cited(m.SubjectType.BUDGET_LINE, record, place, line.cite)
            rows += 1
    run.advance(rows)
    if (written or run.pledge_changed) and run.initiatives:
        await _within_pledge(run, run.initiatives[0][1])


async def _within_pledge(run: Importer, initiative_id: int) -> None:
    try:
        await check_within_pledge(run.session, initiative_id)
    except DomainError as error:
        for found in problems_at("program", as_field_errors(error), {"amount": "pledged.amount"}):
            run.report.problem(found.place, found.code, found.message)


async def load_transactions(run: Importer) -> None:
    assert run.program is not None
    session, report, pledge = run.session, run.report, run.program.pledged_currency
    stored = {
        (row.initiative_id, row.ref): row
        for row in await repo.keyed_rows(session, m.Transaction, _COMPARED, run.stored_initiatives)
    }
    new: list[tuple[Any, ...]] = []
    meta: list[tuple[str, str, Any]] = []  # (place, ref, cites) of each new row
    changed: list[tuple[int, dict[str, Any], str, str, Problems, Any]] = []
    for n, initiative_id in run.initiatives:
        lines = run.lines.get(initiative_id, {})
        seen: set[str] = set()
        unchanged = 0
        for k, t in enumerate(run.document.initiatives[n].transactions):
            place = f"initiatives[{n}].transactions[{k}]"
            problems = Problems()
            _once(problems, seen, t.ref)
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
            found = stored.get((initiative_id, t.ref))
            if found is not None:
                if problems.errors or _differs(found, values):
                    changed.append((found.id, values, place, t.ref, problems, t.cite))
                else:
                    unchanged += 1
                    if t.cite:
                        run.cite_id(m.SubjectType.TRANSACTION, found.id, place, t.cite)
                continue
            tx = m.Transaction(**values)
            check_transaction_values(problems, tx)
            if problems.errors:
                report.refuse(place, "transaction", t.ref, _at(place, problems))
                continue
            new.append(tuple(getattr(tx, name) for name in TRANSACTION_COLUMNS))
            meta.append((place, t.ref, t.cite))
        report.count("transaction", Action.UNCHANGED, unchanged)
        run.advance(unchanged)
    new, meta = await _convertible(run, pledge, new, meta)
    await _write_new(run, new, meta)
    records = await repo.by_ids(session, m.Transaction, [c[0] for c in changed])
    for pk, values, place, ref, problems, cites in changed:
        record = await run.upsert(
            kind="transaction",
            place=place,
            key=ref,
            model=m.Transaction,
            stored=records[pk],
            values=values,
            validate=validate_transaction,
            rename=TRANSACTION_NAMES,
            problems=problems,
        )
        if record is not None:
            run.cited(m.SubjectType.TRANSACTION, record, place, cites)
    run.advance(len(changed))


def _at(place: str, problems: Problems) -> list[Problem]:
    return problems_at(place, problems.errors, TRANSACTION_NAMES)


def _same(stored: Any, given: Any) -> bool:
    # Text is stored stripped (app/writes/checks.py `text`).
    if isinstance(given, str) and isinstance(stored, str):
        return stored == given.strip()
    return bool(stored == given)


def _differs(row: Any, values: dict[str, Any]) -> bool:
    return not all(_same(getattr(row, name), values[name]) for name in _COMPARED)


_CURRENCY = TRANSACTION_COLUMNS.index("currency")
_VALUE_DATE = TRANSACTION_COLUMNS.index("value_date")


async def _convertible(
    run: Importer, pledge: str, rows: list[tuple[Any, ...]], meta: list[tuple[str, str, Any]]
) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, Any]]]:
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
        run.report.refuse(info[0], "transaction", info[1], _at(info[0], problems))
    return kept, kept_meta


async def _write_new(
    run: Importer, rows: list[tuple[Any, ...]], meta: list[tuple[str, str, Any]]
) -> None:
    if not rows:
        return
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
    for pk, (place, ref, cites) in zip(ids, meta, strict=True):
        run.report.row(RowChange(place, "transaction", ref, Action.CREATE))
        if cites:
            run.cite_id(m.SubjectType.TRANSACTION, pk, place, cites)
