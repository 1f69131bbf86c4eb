"""The rows of a sheet or CSV file, cell by cell, as the values a document takes.

Row 1 names the columns (trimmed, in lower case, a space read as "_"); every further
row that is not empty is one record.

Cells become the text and values a document holds:
- an empty cell is None: "no value" (app/imports/tables.py says what that does to each
  field: it clears an optional one); a row of empty cells is no row. A text cell of
  only spaces (or other blanks) is an empty cell too, in a workbook as in a CSV file;
- a formula cell is the result the workbook saved for it; one with no saved result
  (a workbook written by a program that does not calculate) is refused where it is,
  never read as empty: it would clear the value (app/imports/xlsx.py finds them);
- a date cell is a date (one with a time of day other than midnight is refused by
  the document, which takes calendar dates);
- a number cell is its decimal text. Excel stores numbers as binary floating point, so
  an amount typed as 1250.5 is read back from the float nearest it: the shortest
  decimal that gives that float again (`repr`), which is the number typed whenever it
  has at most 15 significant digits (every such decimal has a float of its own). A
  number cell of more digits may not be the number shown (0.1 + 0.2 is stored as
  0.30000000000000004), so it is refused: write such amounts as text.
- a number cell formatted as a percentage (`PercentCell`: "100%" is kept as 1) reads
  as the number it shows, 100 times the number kept, in a column whose field is a
  percentage (a share's, tables.PERCENTAGES); the decimal typed is found as for any
  number cell, then its point moved two places, so 0.575 is 57.5 exactly (in floating
  point, 57.49999999999999). In any other column it is refused: an amount typed as "5%"
  is no amount of 5 (nor of 0.05);
- an error cell (`ErrorCell`: "#N/A", "#DIV/0!": a formula that failed) is refused
  in every column: the sheet shows no value there. Text typed as "#N/A" is text.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.errors import ErrorCode
from app.imports.report import Problem
from app.imports.tables import MAX_CELL, MAX_COLUMNS, PERCENTAGES, cell_place

# Significant digits a float keeps for every decimal (C's DBL_DIG).
_EXACT_DIGITS = 15

UNSAVED_MESSAGE = (
    "a formula with no saved result: open and save the workbook in a spreadsheet program"
)


class _UnsavedFormula:
    """What a formula cell with no saved result reads as (not None: not empty)."""


UNSAVED_FORMULA = _UnsavedFormula()


class ErrorCell:
    """An error cell (t="e"): the error the sheet shows, "#N/A" (app/imports/xlsx.py)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"ErrorCell({self.text!r})"


class PercentCell:
    """A number cell formatted as a percentage: the number kept (1 for "100%"), an int
    or a float as any number cell's (app/imports/xlsx.py)."""

    __slots__ = ("number",)

    def __init__(self, number: int | float) -> None:
        self.number = number

    def __str__(self) -> str:  # a header's name; never a value
        try:
            return f"{percent_text(self.number)}%"
        except ValueError:
            return f"{self.number!r}"

    def __repr__(self) -> str:
        return f"PercentCell({self.number!r})"


def is_empty(cell: Any) -> bool:
    """An empty cell: none, or text that is empty once blanks are stripped."""
    return cell is None or (isinstance(cell, str) and not cell.strip())


def too_wide(label: str, width: int) -> Problem:
    return Problem(
        label, ErrorCode.DOCUMENT_TOO_LARGE, f"{width} columns; at most {MAX_COLUMNS} are read"
    )


def too_many(label: str, limit: int) -> Problem:
    return Problem(
        label,
        ErrorCode.DOCUMENT_TOO_LARGE,
        f"more than {limit} rows of this kind; at most {limit} are imported at once",
    )


def header_of(label: str, cells: tuple[Any, ...], problems: list[Problem]) -> list[str | None]:
    names: list[str | None] = []
    for cell in cells:
        name = None if cell is None else str(cell).strip().lower().replace(" ", "_") or None
        if name is not None and name in names:
            problems.append(
                Problem(
                    cell_place(label, 1, name), ErrorCode.DOCUMENT_INVALID, "a column named twice"
                )
            )
        names.append(name)
    return names


def row_of(
    kind: str,
    label: str,
    number: int,
    header: list[str | None],
    cells: tuple[Any, ...],
    problems: list[Problem],
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    percentages = PERCENTAGES.get(kind, frozenset())
    # Past the named columns, only empty cells (a workbook's rows come padded).
    width = len(header) if all(is_empty(cell) for cell in cells[len(header) :]) else None
    filled = False
    for at, cell in enumerate(cells[:width]):
        name = header[at] if at < len(header) else None
        # Most cells are text: told apart first (what is_empty and cell_value say of it).
        if cell.__class__ is str and len(cell) <= MAX_CELL:
            if not cell.strip():
                if name is not None:
                    row[name] = None
                continue
            filled = True
            if name is not None:
                row[name] = cell
                continue
        elif is_empty(cell):
            if name is not None:
                row[name] = None
            continue
        filled = True
        if name is None:
            problems.append(
                Problem(
                    cell_place(label, number),
                    ErrorCode.VALIDATION,
                    f"a value in column {at + 1}, which has no name in row 1",
                )
            )
            continue
        try:
            row[name] = cell_value(cell, percentage=name in percentages)
        except TooLong as error:
            problems.append(
                Problem(cell_place(label, number, name), ErrorCode.DOCUMENT_TOO_LARGE, str(error))
            )
        except ValueError as error:
            problems.append(
                Problem(cell_place(label, number, name), ErrorCode.VALIDATION, str(error))
            )
    if not filled:
        return {}
    # A row shorter than the header (a workbook's row ends at its last cell, a CSV line
    # may stop early): the cells it lacks are empty ones.
    for name in header[len(cells) :]:
        if name is not None:
            row[name] = None
    return row


class TooLong(ValueError):
    pass


def cell_value(cell: Any, *, percentage: bool = False) -> Any:
    """A cell's value as the document takes it, in a column whose field is a percentage
    or not (see the module's notes)."""
    if cell is UNSAVED_FORMULA:
        raise ValueError(UNSAVED_MESSAGE)
    if isinstance(cell, ErrorCell):
        raise ValueError(
            f"the sheet shows an error here ({cell.text}), not a value: correct the formula "
            "or the cells it reads, or clear the cell"
        )
    if isinstance(cell, PercentCell):
        shown = percent_text(cell.number)
        if not percentage:
            raise ValueError(
                f"a percentage ({shown}%) where no percentage is due: this column is not one; "
                "format the cell as a plain number or as text"
            )
        return shown
    if isinstance(cell, str):
        if len(cell) > MAX_CELL:
            raise TooLong(f"{len(cell)} characters; a cell holds at most {MAX_CELL}")
        return cell
    if isinstance(cell, bool):
        return cell
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return float_text(cell)
    if isinstance(cell, datetime):
        return cell.date() if cell.time() == datetime.min.time() else cell.isoformat(sep=" ")
    if isinstance(cell, date):
        return cell
    return str(cell)  # a time of day or a duration: the document refuses it by name


def float_text(value: float) -> str:
    """The decimal a number cell was typed as (see the module's notes)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a number")
    # A float's trailing zeros say nothing (1.0 is 1): normalised, a whole number reads
    # as one where the document wants an integer (an initiative's position).
    exact = Decimal(repr(value)).normalize()
    if len(exact.as_tuple().digits) > _EXACT_DIGITS:
        raise ValueError(
            f"a number cell of more than {_EXACT_DIGITS} digits ({exact}) may not be the "
            "number shown; write it as text"
        )
    return format(exact, "f")


def percent_text(number: int | float) -> str:
    """The number a percentage cell shows, as decimal text: 100 times the decimal the
    cell was typed as (float_text), exactly (0.575 is 57.5, never 57.49999999999999)."""
    typed = Decimal(float_text(number)) if isinstance(number, float) else Decimal(number)
    return format(typed.scaleb(2).normalize(), "f")
