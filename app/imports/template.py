"""An empty workbook, or folder of CSV files, with the columns of every table of the
layout (app/imports/tables.py): what a finance team fills in or maps its export to."""

from __future__ import annotations

import csv
from pathlib import Path

from app.imports.tables import LAYOUT

# Said with every template written: what a re-import makes of empty cells and columns.
CELLS = (
    "on re-import an empty cell clears an optional value (a required one is refused at "
    "its cell) and a column left out leaves the stored values as they are "
    "(docs/imports.md)"
)


def write_template(path: Path) -> str:
    """A workbook at `path` when it ends in .xlsx, else a folder of CSV files there;
    says what it wrote."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        for kind, columns in LAYOUT.items():
            workbook.create_sheet(kind).append(list(columns))
        workbook.save(path)
        return f"wrote {path}: {len(LAYOUT)} sheets, each with its columns in row 1; {CELLS}"
    path.mkdir(parents=True, exist_ok=True)
    for kind, columns in LAYOUT.items():
        with (path / f"{kind}.csv").open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerow(columns)
    return f"wrote {len(LAYOUT)} CSV files into {path}, each with its columns in row 1; {CELLS}"
