"""The sheets' XML to cell values (app/imports/xlsx.py) alone, CPU, best of three.

    .venv/bin/python bench/xlsx_read.py /work/main; .venv/bin/python bench/xlsx_read.py .

The argument is the checkout whose reader is timed: two runs side by side compare two
versions on one workbook (100,000 rows of nine cells, written once to /tmp)."""

from __future__ import annotations

import io
import sys
import time
import zipfile
from pathlib import Path

WORKBOOK = Path("/tmp/bench_xlsx_read.xlsx")


def main() -> None:
    sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else ".")
    from app.imports import xlsx

    if not WORKBOOK.exists():
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("transactions")
        for at in range(100_000):
            sheet.append(
                [
                    f"AS-{at}",
                    "disbursement",
                    "2024-01-02",
                    1234.5 + at,
                    "EUR",
                    "note",
                    at,
                    None,
                    "x",
                ]
            )
        book.save(WORKBOOK)
    data = WORKBOOK.read_bytes()
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        book = xlsx.open_workbook(zipfile.ZipFile(io.BytesIO(data)))
        rows = sum(1 for _title, part in book.sheets for _row in xlsx.sheet_rows(book, part))
        best = min(best, time.process_time() - start)
    print(f"{sys.argv[1:]} {rows} rows {best:.2f} s")


if __name__ == "__main__":
    main()
