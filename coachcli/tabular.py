"""Reading import files: CSV delimited by `,`, `;` or a tab (told from the
header line), JSON Lines, or a sheet of an Excel workbook, streamed row by row.

Every import (users, sessions, KPI data) reads through here, so they all
accept the same formats and report bad lines the same way: by the file's
line number, or the sheet's row number.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import IO, Any, TypeVar

from coachcli import strict_json
from coachcli.errors import CoachError

SHOWN_PROBLEMS = 5
# In the order a tie between them is settled: a one-column header is a CSV.
DELIMITERS = (",", ";", "\t")
_SEPARATORS = re.compile(r"[\s_-]+")
# A number with a decimal comma, as a ;-delimited CSV from a European Excel writes it.
_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d+,\d+\s*", re.ASCII)


class Problems:
    """Bad rows collected over a whole file, so one run names them all (the
    first few) instead of stopping at the first."""

    def __init__(self, source: str):
        self.source = source
        self.count = 0
        self.samples: list[str] = []

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.samples) < SHOWN_PROBLEMS:
            self.samples.append(f"line {line}: {reason}")

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = f"; and {self.count - len(self.samples)} more" if self.count > len(self.samples) else ""
        raise CoachError(
            f"{self.source}: {self.count} bad row{'s' if self.count > 1 else ''}, nothing imported — "
            + "; ".join(self.samples)
            + more
            + " (fix them and import the file again)"
        )


def header_key(name: str) -> str:
    """A column name as headers are compared: without regard to case, spaces,
    underscores or hyphens ("Observed At" is observed_at)."""
    return _SEPARATORS.sub("", name).lower()


def is_nameless(name: str) -> bool:
    """A header cell with no name (Excel's empty columns, a trailing delimiter):
    its column's cells must be empty."""
    return not header_key(name)


class Sheet:
    """The rows of one sheet of a workbook: (row number, cells as text)."""

    def __init__(self, rows: Iterable[tuple[int, Sequence[str]]], size: int | None = None):
        self.rows = rows
        self.size = size

    def __iter__(self) -> Iterator[tuple[int, Sequence[str]]]:
        return iter(self.rows)


# What an import reads: the lines of a text file, or the rows of a sheet.
Content = Iterable[str] | Sheet


Picked = TypeVar("Picked")


class Table:
    """An import file's header and its rows, whatever the file's format.

    `names` are the header's column names as written ("" for a column with no
    name, whose cells must be empty), or None for JSON Lines, whose rows are
    objects. `decimal_comma` says numbers may be written 300,5.
    """

    def __init__(self, source: str, names: list[str] | None, *, decimal_comma: bool = False):
        self.source = source
        self.names = names
        self.decimal_comma = decimal_comma

    def rows(self, pick: Callable[[Sequence[str]], Picked]) -> Iterator[tuple[int, Picked | ValueError]]:
        """(line number, pick(cells)) for each data row, every row as wide as
        the header; a row of the wrong shape comes as (line number, ValueError)."""
        raise NotImplementedError

    def rows_as(
        self,
        columns: tuple[str, ...],
        required: tuple[str, ...],
        aliases: dict[str, str] | None = None,
        numbers: tuple[str, ...] = (),
    ) -> Iterator[tuple[int, tuple | ValueError]]:
        """Yield (line number, values in `columns` order) for each data row.

        Missing optional columns give None; unknown columns are refused (a
        typo would otherwise lose data silently). CSV and sheet values are
        strings; JSON values keep their JSON type. A decimal comma in a
        `numbers` column becomes a point.
        """
        lookup = _column_names(columns, aliases or {})
        if self.names is None:
            return self._objects(columns, required, lookup, numbers)
        resolved = _resolve_header(self.names, self.source, columns, required, lookup)
        positions = [resolved.index(column) if column in resolved else None for column in columns]
        # One C call per row when every column is present (the KPI import's hot path).
        pick: Callable[[Sequence[str]], Any]
        if None not in positions and len(positions) > 1:
            pick = itemgetter(*positions)
        else:
            pick = lambda row: tuple(None if p is None else row[p] for p in positions)  # noqa: E731
        comma_columns = [columns.index(column) for column in numbers if column in resolved]
        if self.decimal_comma and comma_columns:
            pick = _with_decimal_points(pick, comma_columns)
        return self.rows(pick)

    def _objects(self, columns, required, lookup, numbers) -> Iterator[tuple[int, tuple | ValueError]]:
        raise NotImplementedError


def open_table(content: Content, source: str) -> Table:
    """The table in an import's content: a sheet's rows, or the lines of a
    CSV file, JSON Lines or a JSON array of objects (told by the first
    non-blank character: `{` or `[`)."""
    if isinstance(content, Sheet):
        return _SheetTable(content, source)
    iterator = iter(content)
    first = ""
    blank_lines = 0
    for first in iterator:
        if not blank_lines:
            # A byte-order mark is not part of the header.
            first = first.removeprefix("\ufeff")
        if first.strip():
            break
        blank_lines += 1
    if not first.strip():
        raise CoachError(f"{source} is empty; expected a CSV header or JSON Lines")
    lines = chain([first], iterator)
    if first.lstrip().startswith("{"):
        return _JsonTable(source, _json_lines(lines, blank_lines + 1))
    if first.lstrip().startswith("["):
        return _JsonTable(source, _json_array(source, "".join(lines), blank_lines))
    return _CsvTable(source, lines, blank_lines, sniff_delimiter(first))


def read_rows(
    content: Content,
    source: str,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    aliases: dict[str, str] | None = None,
    numbers: tuple[str, ...] = (),
) -> Iterator[tuple[int, tuple | ValueError]]:
    """The rows of an import file with fixed columns: see Table.rows_as."""
    return open_table(content, source).rows_as(columns, required, aliases, numbers)


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header line into the most columns."""
    widths = {}
    for delimiter in DELIMITERS:
        try:
            widths[delimiter] = len(next(csv.reader([header_line], delimiter=delimiter), []))
        except csv.Error:
            widths[delimiter] = 0
    return max(DELIMITERS, key=widths.__getitem__)


def _column_names(columns: tuple[str, ...], aliases: dict[str, str]) -> dict[str, str]:
    """Each accepted header key, for the column it names."""
    return {header_key(column): column for column in columns} | {
        header_key(alias): column for alias, column in aliases.items()
    }


def _resolve_header(names: list[str], source: str, columns, required, lookup: dict[str, str]) -> list[str | None]:
    resolved: list[str | None] = []
    for name in names:
        if is_nameless(name):
            resolved.append(None)
            continue
        column = lookup.get(header_key(name))
        if column is None:
            raise CoachError(f"{source}: unknown column '{name}'; the columns are {','.join(columns)}")
        if column in resolved:
            earlier = names[resolved.index(column)]
            if header_key(earlier) == header_key(name):
                raise CoachError(f"{source}: column '{name}' appears twice")
            raise CoachError(f"{source}: columns '{earlier}' and '{name}' both name the {column} column; keep one")
        resolved.append(column)
    missing = [column for column in required if column not in resolved]
    if missing:
        raise CoachError(f"{source}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return resolved


def _with_decimal_points(pick: Callable, positions: list[int]) -> Callable:
    def picked(row):
        values = list(pick(row))
        for position in positions:
            value = values[position]
            if isinstance(value, str) and _DECIMAL_COMMA.fullmatch(value):
                values[position] = value.replace(",", ".")
        return tuple(values)

    return picked


def _nameless_problem(names: list[str], row: Sequence[str]) -> ValueError | None:
    for position, name in enumerate(names):
        if is_nameless(name) and row[position].strip():
            return ValueError(f"a value ({row[position]!r}) in column {position + 1}, which has no name in the header")
    return None


class _CsvTable(Table):
    names: list[str]

    def __init__(self, source: str, lines: Iterator[str], blank_lines: int, delimiter: str):
        self._reader = csv.reader(lines, delimiter=delimiter)
        # Line numbers count from the top of the file, blank lines before the header included.
        self._offset = blank_lines
        try:
            names = next(self._reader)
        except csv.Error as error:
            raise CoachError(f"{source}: line {blank_lines + 1}: unreadable CSV header ({error})") from None
        super().__init__(source, names, decimal_comma=delimiter == ";")

    def rows(self, pick):
        reader, offset, names = self._reader, self._offset, self.names
        width = len(names)
        nameless = any(map(is_nameless, names))
        try:
            for row in reader:
                # Blank lines, and the empty rows (;;;) Excel writes below the data.
                if not row or (not row[0].strip() and not "".join(row).strip()):
                    continue
                if len(row) != width:
                    # The shape error is the row's problem; the caller reports it.
                    yield reader.line_num + offset, ValueError(f"expected {width} fields, found {len(row)}")
                    continue
                if nameless:
                    problem = _nameless_problem(names, row)
                    if problem is not None:
                        yield reader.line_num + offset, problem
                        continue
                yield reader.line_num + offset, pick(row)
        except csv.Error as error:
            raise CoachError(f"{self.source}: line {reader.line_num + offset}: unreadable CSV ({error})") from None


class _SheetTable(Table):
    """A sheet: the first row with a value is the header; rows Excel left
    shorter than the header are padded with empty cells."""

    names: list[str]

    def __init__(self, sheet: Sheet, source: str):
        self._rows = iter(sheet)
        for _, cells in self._rows:
            if any(cell.strip() for cell in cells):
                break
        else:
            raise CoachError(f"{source} has an empty sheet; expected a header row and data rows")
        names = list(cells)
        # Excel reports formatted but empty columns to the right as cells too.
        while names and is_nameless(names[-1]):
            names.pop()
        super().__init__(source, names)

    def rows(self, pick):
        names = self.names
        width = len(names)
        nameless = any(map(is_nameless, names))
        for number, cells in self._rows:
            if len(cells) != width:
                beyond = [cell for cell in cells[width:] if cell.strip()]
                if beyond:
                    yield number, ValueError(f"a value ({beyond[0]!r}) to the right of the last column")
                    continue
                cells = [*cells[:width], *[""] * (width - len(cells))]
            if not any(cell.strip() for cell in cells):
                continue
            if nameless:
                problem = _nameless_problem(names, cells)
                if problem is not None:
                    yield number, problem
                    continue
            yield number, pick(cells)


def _json_lines(lines: Iterable[str], first_line: int) -> Iterator[tuple[int, object]]:
    """(line number, value or ValueError) for each non-blank line of JSON Lines."""
    for number, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        try:
            yield number, strict_json.loads(line)
        except json.JSONDecodeError as error:
            yield number, ValueError(f"not valid JSON ({error.msg})")
        except strict_json.RepeatedKey as repeated:
            yield number, ValueError(f"key {repeated.key!r} appears twice in the object; keep one")


def _json_array(source: str, text: str, blank_lines: int) -> Iterator[tuple[int, object]]:
    """(line number, value or ValueError) for each item of a JSON array of rows
    (as a script that builds a list writes it)."""
    try:
        for number, item in strict_json.array_items(text, text.index("[")):
            if isinstance(item, strict_json.RepeatedKey):
                yield number + blank_lines, ValueError(f"key {item.key!r} appears twice in the object; keep one")
            else:
                yield number + blank_lines, item
    except json.JSONDecodeError as error:
        raise CoachError(
            f"{source}: not a valid JSON array at line {error.lineno + blank_lines}, column {error.colno}: "
            f"{error.msg}; nothing imported"
        ) from None


class _JsonTable(Table):
    """Rows as JSON objects: JSON Lines, or the items of a JSON array. A JSON
    value keeps its type: a boolean where a number belongs is refused."""

    def __init__(self, source: str, items: Iterator[tuple[int, object]]):
        self._items = items
        super().__init__(source, None)

    def _objects(self, columns, required, lookup, numbers):
        for number, data in self._items:
            if isinstance(data, ValueError):
                yield number, data
                continue
            if not isinstance(data, dict):
                yield number, ValueError("each row must be a JSON object")
                continue
            row = {}
            unknown = []
            for name, value in data.items():
                column = lookup.get(header_key(name))
                if column is not None:
                    row[column] = value
                else:
                    unknown.append(name)
            if unknown:
                yield number, ValueError(f"unknown key {', '.join(map(repr, unknown))}")
                continue
            missing = [column for column in required if row.get(column) in (None, "")]
            if missing:
                yield number, ValueError(f"missing {', '.join(missing)}")
                continue
            booleans = [column for column in numbers if isinstance(row.get(column), bool)]
            if booleans:
                column = booleans[0]
                yield number, ValueError(f"{column}: {json.dumps(row[column])} is a boolean, not a number")
                continue
            yield number, tuple(row.get(column) for column in columns)


# --- Excel workbooks ---------------------------------------------------------

# The first bytes of a file: a zip archive (.xlsx) and an OLE2 compound file (.xls).
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"


def read_sheet(file: IO[bytes], source: str, sheet: str | None = None) -> Sheet:
    """A sheet of an .xlsx workbook (the first, or the one named), read
    streaming with openpyxl's read-only mode; every cell as the text a CSV
    export of it would hold (see cell_text)."""
    try:
        from openpyxl import load_workbook
    except ImportError:
        raise CoachError(
            "reading .xlsx workbooks needs openpyxl, which coach depends on: reinstall coach "
            "(pip install --force-reinstall coachcli) or pip install openpyxl, or save the sheet as CSV"
        ) from None
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    # openpyxl raises whatever its zip and XML readers raise on a damaged file.
    except Exception as error:  # noqa: BLE001
        raise CoachError(
            f"{source} is not an Excel workbook coach can read ({type(error).__name__}: {error}); "
            "save it again from Excel as .xlsx, or as CSV"
        ) from None
    names = workbook.sheetnames
    if sheet is None:
        worksheets = workbook.worksheets
        if not worksheets:
            raise CoachError(f"{source} has no worksheet to import")
        worksheet = worksheets[0]
    else:
        name = sheet if sheet in names else next((n for n in names if n.casefold() == sheet.casefold()), None)
        if name is None or not hasattr(workbook[name], "iter_rows"):
            raise CoachError(
                f"{source} has no sheet {sheet!r}; its sheets are {', '.join(map(repr, names))} (pass one with --sheet)"
            )
        worksheet = workbook[name]
    return Sheet(_sheet_rows(workbook, worksheet, source), worksheet.max_row)


def _sheet_rows(workbook, worksheet, source: str) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        # Read-only mode yields every row, empty ones included, so counting gives row numbers.
        for number, row in enumerate(worksheet.iter_rows(), start=1):
            yield number, [cell_text(cell.value, cell.number_format) for cell in row]
    # As in read_sheet: a damaged sheet fails in openpyxl's zip or XML reader.
    except Exception as error:  # noqa: BLE001
        raise CoachError(
            f"{source}: row {number + 1}: unreadable sheet ({type(error).__name__}: {error}); "
            "save it again from Excel as .xlsx, or as CSV"
        ) from None
    finally:
        workbook.close()


def cell_text(value: object, number_format: str | None = "General") -> str:
    """A cell's value as a report prints it, so that one set of parsers reads
    CSV and Excel alike: a date cell as YYYY-MM-DD (with THH:MM:SS when it
    has a time of day), a duration or time-of-day cell as H:MM:SS, a cell
    formatted as a percentage as 95%, whole numbers without a fraction."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if number_format and "%" in number_format:
            return _number_text(round(value * 100, 9)) + "%"
        return _number_text(value)
    if isinstance(value, dt.datetime):
        moment = _to_second(value)
        if moment.time() == dt.time():
            return moment.date().isoformat()
        return moment.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _clock(value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6)
    if isinstance(value, dt.timedelta):
        return _clock(value.total_seconds())
    return str(value)


def _number_text(number: float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return repr(number) if isinstance(number, float) else str(number)


def _to_second(moment: dt.datetime) -> dt.datetime:
    """Excel keeps times as fractions of a day, so 09:30 can come back as
    09:29:59.999999: the nearest whole second is what was typed."""
    try:
        return (moment + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
    except OverflowError:  # the last second of year 9999
        return moment.replace(microsecond=0)


def _clock(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    hours, remainder = divmod(round(abs(seconds)), 3600)
    minutes, whole_seconds = divmod(remainder, 60)
    return f"{sign}{hours}:{minutes:02d}:{whole_seconds:02d}"
