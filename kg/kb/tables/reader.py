"""Reading rating tables: CSV, TSV and XLSX files into rows keyed by our column names.

Headers are matched without regard to case, spaces or underscores. A file's header is its first
non-empty row; rows are numbered as a spreadsheet shows them (the header of a CSV file is row 1), so a
finding's row number leads straight to the cell.
"""
from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kg.errors import InputError

# Our column key -> the normalised header names that fill it.
COLUMNS: dict[str, tuple[str, ...]] = {
    "panel": ("panel",),
    "topic": ("topic", "topictitle"),
    "topic_id": ("topicid",),
    "variant": ("variant",),
    "variant_number": ("variantnumber",),
    "procedure": ("procedure",),
    "category": ("appropriatenesscategory",),
    "soe": ("soe",),
    "adult_rrl": ("adultrrl",),
    "peds_rrl": ("pedsrrl",),
    "rating": ("rating",),
    "median": ("median",),
    "sources": ("sources",),  # our own tables only (with a sidecar): a row's sources beyond the sidecar's
}
# How the message for a missing column writes each.
DISPLAY = {"panel": "Panel", "topic": "Topic", "topic_id": "Topic ID", "variant": "Variant",
           "variant_number": "Variant Number", "procedure": "Procedure", "category": "Appropriateness Category"}
_BY_HEADER = {name: key for key, names in COLUMNS.items() for name in names}
# Each tuple: a table needs at least one column of it.
REQUIRED = (("panel",), ("topic", "topic_id"), ("variant", "variant_number"), ("procedure",), ("category",))
SUFFIXES = {".csv": ",", ".tsv": "\t", ".xlsx": None, ".xlsm": None}


def normalise_header(text: str) -> str:
    return "".join(str(text).split()).replace("_", "").casefold()


def column_letter(index: int) -> str:
    """Spreadsheet letters for a 0-based column index: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(frozen=True)
class Sheet:
    """One table: a CSV/TSV file, or one sheet of a workbook."""

    file: str
    name: str | None  # the sheet of a workbook; None for CSV and TSV
    columns: dict[str, tuple[int, str]]  # our key -> (0-based index, header as written)

    def where(self, row: int, key: str | None = None) -> str:
        sheet = f"[{self.name}]" if self.name else ""
        if key is None:
            return f"{self.file}{sheet}:{row}"
        index, header = self.columns[key]
        return f"{self.file}{sheet}:{row}, column {header!r} ({column_letter(index)})"


@dataclass(frozen=True)
class Row:
    sheet: Sheet
    number: int
    values: dict[str, str]  # our key -> the cell's text, stripped ('' when empty)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # spreadsheets store 7 as 7.0
    return str(value).strip()


def _sheet(file: str, name: str | None, header: list, header_row: int) -> Sheet | None:
    columns: dict[str, tuple[int, str]] = {}
    for index, cell in enumerate(header):
        key = _BY_HEADER.get(normalise_header(_text(cell)))
        if key is None:
            continue
        if key in columns:
            first = columns[key][1]
            where = f"{file}[{name}]" if name else file
            raise InputError(f"columns {first!r} ({column_letter(columns[key][0])}) and {_text(cell)!r} "
                             f"({column_letter(index)}) both give the {key.replace('_', ' ')}",
                             source=where, line=header_row)
        columns[key] = (index, _text(cell))
    if not columns and name is not None:
        return None  # a workbook's notes sheet, not a table
    missing = [" or ".join(repr(DISPLAY[k]) for k in need) for need in REQUIRED
               if not any(k in columns for k in need)]
    if missing:
        where = f"{file}[{name}]" if name else file
        raise InputError(f"the header row lacks the column(s) {', '.join(missing)} "
                         f"(found: {', '.join(repr(_text(c)) for c in header if _text(c)) or 'none'})",
                         source=where, line=header_row)
    return Sheet(file, name, columns)


def _rows(file: str, name: str | None, records: Iterator[tuple[int, list]]) -> Iterator[Row]:
    sheet = None
    for number, record in records:
        if not any(_text(v) for v in record):
            continue
        if sheet is None:
            sheet = _sheet(file, name, list(record), number)
            if sheet is None:
                return
            continue
        yield Row(sheet, number, {key: _text(record[i]) if i < len(record) else ""
                                  for key, (i, _) in sheet.columns.items()})


def _csv_records(path: Path, delimiter: str) -> Iterator[tuple[int, list]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            yield from enumerate(csv.reader(handle, delimiter=delimiter), start=1)
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}); save the table as UTF-8 CSV", source=str(path)) from exc
    except csv.Error as exc:
        raise InputError(f"malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}", source=str(path)) from exc


def read_table(path: Path) -> Iterator[Row]:
    """Every non-empty data row of the file, sheet by sheet for a workbook."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"unknown table format {suffix or '(no suffix)'!r}; use one of "
                         f"{', '.join(sorted(SUFFIXES))}", source=str(path))
    if SUFFIXES[suffix] is not None:
        yield from _rows(str(path), None, _csv_records(path, SUFFIXES[suffix]))
        return
    import openpyxl  # only workbooks need it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputError(f"not a readable XLSX workbook: {exc}", source=str(path)) from exc
    try:
        for worksheet in workbook.worksheets:
            records = enumerate((list(r) for r in worksheet.iter_rows(values_only=True)), start=1)
            yield from _rows(str(path), worksheet.title, records)
    finally:
        workbook.close()
