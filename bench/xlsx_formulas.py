"""What finding formulas with no saved result costs a workbook's reading.

A sheet is byte-searched for a formula first; only a sheet that has one is parsed a
second time (app/imports/sheets.py). This reads one workbook of 20,000 transaction
rows with and without that check, interleaved, best of six each, without and with
one formula cell:

    .venv/bin/python bench/xlsx_formulas.py
"""

from __future__ import annotations

import io
import time
from datetime import date

from openpyxl import Workbook

from app.imports import sheets
from app.imports.sheets import read_archive

ROWS = 20_000


def workbook(formula: bool) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("transactions")
    sheet.append(["ref", "initiative", "transaction_date", "type", "amount", "currency"])
    for i in range(ROWS):
        sheet.append(
            [f"T{i}", "AS-1", date(2024, 1, 1 + i % 28), "disbursement", 1000.5 + i, "EUR"]
        )
    if formula:
        sheet.append(["TX", "AS-1", date(2024, 1, 1), "disbursement", "=1+1", "EUR"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def timed(data: bytes) -> float:
    start = time.perf_counter()
    read_archive(data)
    return time.perf_counter() - start


def main() -> None:
    check = sheets._unsaved_formulas
    plain, with_formula = workbook(False), workbook(True)
    best: dict[str, float] = {}
    for _ in range(6):
        for name, found in (("with check", check), ("without", lambda _sheet: {})):
            sheets._unsaved_formulas = found
            for label, data in (("no formula", plain), ("one formula", with_formula)):
                key = f"{label}, {name}"
                best[key] = min(best.get(key, float("inf")), timed(data))
    sheets._unsaved_formulas = check
    for label in ("no formula", "one formula"):
        before, after = best[f"{label}, without"], best[f"{label}, with check"]
        print(f"{label}: without {before:.2f} s, with check {after:.2f} s, "
              f"ratio {after / before:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
