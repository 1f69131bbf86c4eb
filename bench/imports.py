"""Import against generate: the same rows, loaded from a file, at most twice as slow.

For each backend: `generate` a synthetic programme into a fresh database (timed), write
it out as a document of the import format (a small writer, below; budget lines,
transactions and milestones get refs made of their ids), then `import` that file into
another fresh database (timed), and import it again (nothing to write; timed). Both
commands are timed as whole processes, start-up included.

    .venv/bin/python bench/imports.py --backend both --transactions 100000
    .venv/bin/python bench/imports.py --backend sqlite --format xlsx   # or csv: the same
        # document as a workbook or a folder of CSV files (docs/imports.md), text cells
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import select

from app import models as m
from app.engines import ledger_engine, ledger_sessions

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class Timed(NamedTuple):
    wall: float
    cpu: float  # the command's own CPU seconds (user + system; not PostgreSQL's)


def cli(url: str, *args: str) -> Timed:
    """Run a command on `url`; its wall time and CPU time in seconds. On a shared
    machine the CPU time varies less than the wall time: both are reported."""
    env = {**os.environ, "DATABASE_URL": url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "pledge-ledger"), *args], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {done.returncode}\n{done.stdout[:3000]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(wall, cpu)


async def fresh(backend: str, name: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def _text(value: Any) -> Any:
    """A value as the format spells it: decimals and dates as strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "value"):  # an enum
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return format(value, "f")


def _record(row: Any, names: list[str]) -> dict[str, Any]:
    return {name: _text(getattr(row, name)) for name in names if getattr(row, name) is not None}


async def write_document(url: str, path: Path) -> int:
    """The database's one programme as a document; the rows it holds."""
    engine = ledger_engine(url)
    try:
        async with ledger_sessions(engine)() as s:
            orgs = {o.id: o for o in await s.scalars(select(m.Organization))}
            groups = {g.id: g for g in await s.scalars(select(m.BeneficiaryGroup))}
            program = (await s.scalars(select(m.Program))).one()
            rates = list(await s.scalars(select(m.ExchangeRate)))
            initiatives = list(await s.scalars(select(m.Initiative).order_by(m.Initiative.id)))
            children: dict[str, dict[int, list[Any]]] = {}
            for kind, model in (
                ("participants", m.Participation),
                ("budget_lines", m.BudgetLine),
                ("transactions", m.Transaction),
                ("milestones", m.Milestone),
                ("beneficiaries", m.BeneficiaryFigure),
                ("shares", m.BeneficiaryShare),
            ):
                by: dict[int, list[Any]] = defaultdict(list)
                for row in await s.scalars(select(model).order_by(model.id)):
                    by[row.initiative_id].append(row)
                children[kind] = by
    finally:
        await engine.dispose()
    money = ["type", "amount", "currency", "value_date", "description"]
    document = {
        "format": "pledge-ledger/1",
        "organizations": [
            _record(o, ["ref", "name", "kind", "headquarters", "description"])
            for o in orgs.values()
        ],
        "program": _record(program, ["ref", "name", "summary", "announced_on", "deadline"])
        | {
            "sponsor": orgs[program.sponsor_id].ref,
            "pledged": {
                "amount": _text(program.pledged_amount),
                "currency": program.pledged_currency,
            },
        },
        "exchange_rates": [
            _record(r, ["base", "quote", "rate", "rate_date", "source"]) for r in rates
        ],
        "beneficiary_groups": [
            _record(g, ["code", "name", "description"]) for g in groups.values()
        ],
        "initiatives": [],
    }
    rows = 1 + len(orgs) + len(rates) + len(groups)
    for i in initiatives:
        item = _record(
            i,
            ["code", "position", "title", "summary", "focus_area", "status", "planned_start",
             "actual_start", "planned_end", "actual_end", "region"],
        )  # fmt: skip
        item["participants"] = [
            {"org": orgs[p.organization_id].ref, "role": p.role.value}
            for p in children["participants"][i.id]
        ]
        item["budget_lines"] = [
            _record(b, ["period_start", "period_end", "status", "category", *money])
            | {"ref": f"B{b.id}"}
            for b in children["budget_lines"][i.id]
        ]
        item["transactions"] = [
            _record(t, ["transaction_date", *money])
            | {"ref": f"T{t.id}"}
            | ({"budget_line": f"B{t.budget_line_id}"} if t.budget_line_id else {})
            | ({"provider": orgs[t.provider_id].ref} if t.provider_id else {})
            | ({"receiver": orgs[t.receiver_id].ref} if t.receiver_id else {})
            for t in children["transactions"][i.id]
        ]
        item["milestones"] = [
            _record(
                ms,
                ["title", "description", "planned_date", "forecast_date", "actual_date", "status"],
            )
            | {"ref": f"M{ms.id}"}
            for ms in children["milestones"][i.id]
        ]
        item["beneficiaries"] = [
            _record(f, ["unit", "target_value", "target_date", "reached_value",
                        "reached_qualifier", "reached_as_of"])
            | {"group": groups[f.group_id].code}
            for f in children["beneficiaries"][i.id]
        ]  # fmt: skip
        item["shares"] = [
            {"group": groups[s.group_id].code, "percentage": _text(s.percentage)}
            for s in children["shares"][i.id]
        ]
        rows += 1 + sum(len(item[k]) for k in children)
        document["initiatives"].append(item)  # type: ignore[attr-defined]
    # The file is the benchmark's input, written before anything is timed.
    await asyncio.to_thread(path.write_text, json.dumps(document), "utf-8")
    return rows


_NESTED = ("participants", "budget_lines", "transactions", "milestones", "beneficiaries", "shares")


def write_tables(source: Path, form: str) -> Path:
    """The document at `source` as a workbook or a folder of CSV files, one table per
    record kind (the synthetic programme cites nothing, so no citations table)."""
    from openpyxl import Workbook

    from app.imports.tables import LAYOUT

    document = json.loads(source.read_text("utf-8"))
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    program = dict(document["program"])
    pledged = program.pop("pledged")
    rows["program"].append(
        program | {"pledged_amount": pledged["amount"], "pledged_currency": pledged["currency"]}
    )
    for kind in ("sources", "organizations", "exchange_rates", "beneficiary_groups"):
        rows[kind] += document.get(kind, [])
    for item in document["initiatives"]:
        rows["initiatives"].append({k: v for k, v in item.items() if k not in _NESTED})
        for kind in _NESTED:
            rows[kind] += [{"initiative": item["code"], **row} for row in item.get(kind, [])]
    if form == "csv":
        folder = source.with_suffix("")
        folder.mkdir()
        for kind, found in rows.items():
            with (folder / f"{kind}.csv").open("w", encoding="utf-8", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=LAYOUT[kind])
                writer.writeheader()
                writer.writerows(found)
        return folder
    workbook = Workbook(write_only=True)
    for kind, found in rows.items():
        sheet = workbook.create_sheet(kind)
        sheet.append(list(LAYOUT[kind]))
        for row in found:
            sheet.append([row.get(name) for name in LAYOUT[kind]])
    path = source.with_suffix(".xlsx")
    workbook.save(path)
    return path


async def run(backend: str, args: argparse.Namespace, workdir: Path) -> None:
    source = await fresh(backend, "bench_import_source", workdir)
    target = await fresh(backend, "bench_import_target", workdir)
    cli(source, "db", "upgrade")
    cli(target, "db", "upgrade")
    sizes = [
        f"--initiatives={args.initiatives}",
        f"--budget-lines={args.budget_lines}",
        f"--transactions={args.transactions}",
        "--seed=1",
    ]
    generated = cli(source, "generate", *sizes)
    path = workdir / f"{backend}.json"
    rows = await write_document(source, path)
    if args.format != "json":
        path = write_tables(path, args.format)
    imported = cli(target, "import", str(path))
    again = cli(target, "import", str(path))
    files = path.glob("*.csv") if path.is_dir() else [path]
    size = sum(p.stat().st_size for p in files) / 1e6
    print(
        f"{backend:<10} {args.format:<5} rows {rows:>8}  file {size:6.1f} MB  "
        f"generate {generated.wall:6.1f} s  import {imported.wall:6.1f} s  "
        f"ratio {imported.wall / generated.wall:4.2f}  "
        f"re-import (nothing to write) {again.wall:6.1f} s  |  CPU: generate "
        f"{generated.cpu:5.1f} s  import {imported.cpu:5.1f} s  "
        f"ratio {imported.cpu / generated.cpu:4.2f}  re-import {again.cpu:5.1f} s  "
        f"(load average {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--initiatives", type=int, default=30)
    parser.add_argument("--budget-lines", type=int, default=1000)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--format", choices=["json", "xlsx", "csv"], default="json")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            asyncio.run(run(backend, args, Path(tmp)))


if __name__ == "__main__":
    main()
