"""The one output path: every command that prints records comes through here.

A Rich table on a terminal; TSV, untruncated and uncoloured, when stdout is a
pipe; or whatever `--format/-o` asks for.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Annotated, Any

import typer

from coachcli.cli.completion import complete_agent
from coachcli.records import as_dict, detail_columns, is_record, list_columns, plain_value
from coachcli.records import keys as record_keys


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    tsv = "tsv"


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-o",
        case_sensitive=False,
        help="table, json, csv or tsv [default: table on a terminal, tsv when piped]",
        show_default=False,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the new id.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print what would be written, and write nothing (notify no one).")
]
AgentFilter = Annotated[
    str | None,
    typer.Option(
        "--agent", autocompletion=complete_agent, help="Only this agent's records (handle).", show_default=False
    ),
]

Columns = Sequence[tuple[str, str]]
"""(record key, table header) pairs: what a table shows of each record."""


@dataclass
class Section:
    """A titled list of records shown under a single record, as a table (its
    columns: the records' own, unless given)."""

    title: str
    records: list
    columns: Columns | None = None


@dataclass
class View:
    title: str | None = None
    columns: Columns | None = None
    sections: list[Section] = field(default_factory=list)
    # A list's companion on a terminal only (a chart): called with the records
    # shown, returns a Rich renderable placed beside the table, or None.
    aside: Callable[[list[dict]], Any] | None = None
    # On a terminal only: a Rich style for a list's row (e.g. "red" for one
    # that needs attention), or None to leave it plain.
    row_style: Callable[[dict], str | None] | None = None
    # The record dataclass of a list: its columns, and the CSV/TSV header of
    # a list with no rows. (A list of dicts gives `columns`, and `keys` when
    # the columns are not all of them.)
    record: type | None = None
    keys: Sequence[str] | None = None

    def list_columns(self, first: dict | None) -> Columns:
        if self.columns is not None:
            return self.columns
        if self.record is not None:
            return list_columns(self.record)
        return [(key, key) for key in first or {}]

    def header(self) -> list[str]:
        if self.keys is not None:
            return list(self.keys)
        if self.record is not None:
            return record_keys(self.record)
        return [key for key, _ in self.columns or []]


def resolve(format: OutputFormat | None) -> OutputFormat:
    if format is not None:
        return format
    return OutputFormat.table if sys.stdout.isatty() else OutputFormat.tsv


def emit(data: Any, format: OutputFormat | None, view: View | None = None) -> None:
    """Print one record (a record dataclass, or a dict) or a list of them. A
    list may be any iterable: JSON, CSV and TSV write each record as it comes
    (a list of millions streams in constant memory, and its first row reaches
    a pipe at once); only a table, for a person at a terminal, collects them."""
    view = view or View()
    chosen = resolve(format)
    _display_zone()  # a bad COACH_TZ is refused before anything is printed
    one = isinstance(data, dict) or is_record(data)
    if isinstance(data, dict):
        # A dict may carry records (a plan's sessions): written as a record's own are.
        data = {key: plain_value(value) for key, value in data.items()}
    if chosen is OutputFormat.table:
        # For a person at a terminal: the whole list, and its columns from
        # the records' own type when the view does not name it.
        shown = [data] if one else list(data)
        if view.record is None and shown and is_record(shown[0]):
            view = replace(view, record=type(shown[0]))
        rows = list(_plain_records(shown))
        _table(rows[0] if one else rows, view)
    elif chosen is OutputFormat.json:
        if one:
            sys.stdout.write(_json(next(_plain_records([data]))) + "\n")
        else:
            _json_array(_plain_records(data))
    else:
        _delimited(_plain_records([data] if one else data), chosen, view)
    # Written out now, inside the command: a reader that has gone (`| head`)
    # is then met here, the same way for every format.
    sys.stdout.flush()


def _plain_records(records: Iterable[Any]) -> Iterator[dict]:
    for record in records:
        yield record if isinstance(record, dict) else as_dict(record)


def emit_id(record_id: int) -> None:
    sys.stdout.write(f"{record_id}\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """A line for the person at the terminal, kept off stdout so pipes stay clean."""
    sys.stderr.write(message + "\n")


def _display_zone():
    from zoneinfo import ZoneInfo

    from coachcli.parse import default_timezone_name

    return ZoneInfo(default_timezone_name())


def _json(data: Any) -> str:
    return json.dumps(data, default=_json_value, ensure_ascii=False, indent=2)


def _json_array(records: Iterable[dict]) -> None:
    """The records as one JSON array, written one record at a time: byte for
    byte what json.dumps(list(records), indent=2) writes (a string's newline
    is escaped inside it, so every line of a record moves in by two)."""
    written = False
    for record in records:
        sys.stdout.write(("[\n  " if not written else ",\n  ") + _json(record).replace("\n", "\n  "))
        if not written:
            sys.stdout.flush()  # the first record reaches a pipe at once
            written = True
    sys.stdout.write("\n]\n" if written else "[]\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(_display_zone()).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _plain(value: Any) -> str:
    """A cell for CSV/TSV: scripts get ISO dates, ';'-joined lists, JSON objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return _json_value(value)
    if isinstance(value, list):
        return ";".join(_plain(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    return str(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse_formula(cell: str) -> str:
    """OWASP CSV injection: a spreadsheet would run a cell starting like a
    formula, so prefix it with a quote — unless it is just a number."""
    if not cell.startswith(_FORMULA_STARTS):
        return cell
    try:
        float(cell)
    except ValueError:
        return "'" + cell
    return cell


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _tsv_cell(value: Any) -> str:
    """TSV has no quoting: a tab, newline or backslash inside a value is
    written as \\t, \\n or \\\\, so every line is one record for cut and awk."""
    return _plain(value).translate(_TSV_ESCAPES)


def _delimited(records: Iterable[dict], chosen: OutputFormat, view: View) -> None:
    """CSV or TSV, a line a record as it comes. The header is the keys of the
    first record (every record of a list has the same), or for an empty list
    the view's, so a script reads "no rows", not "no file"."""
    rows = iter(records)
    first = next(rows, None)
    keys = list(first) if first is not None else view.header()
    if chosen is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(keys)

        def write(record: dict) -> None:
            writer.writerow([defuse_formula(_plain(record.get(key))) for key in keys])
    else:
        sys.stdout.write("\t".join(keys) + "\n")

        def write(record: dict) -> None:
            sys.stdout.write("\t".join(_tsv_cell(record.get(key)) for key in keys) + "\n")

    if first is None:
        return
    write(first)
    sys.stdout.flush()  # the first row reaches a pipe at once
    for record in rows:
        write(record)


# C0 (a line break excepted) and C1 controls and DEL; the bidirectional
# embeddings, overrides, isolates and marks, which reorder what a reader
# sees; and the Unicode line and paragraph separators.
_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)] if code != 0x0A} | {
    code: f"\\u{code:04x}" for code in [0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
}


def _visible(text: str) -> str:
    """Control characters and bidirectional overrides shown as escapes, so
    that text from a file cannot move the cursor, recolour or retitle the
    supervisor's terminal, nor show a text in another order than it has."""
    return text.translate(_CONTROL)


def _human(value: Any) -> str:
    """A cell for a person: local times to the minute, lists comma-joined."""
    if isinstance(value, dt.datetime):
        return value.astimezone(_display_zone()).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return ", ".join(_human(item) for item in value)
    if isinstance(value, dict):
        return "\n".join(f"{key}: {_human(item)}" for key, item in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _plain(value)


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _list_table(records: list[dict], columns: Columns, title: str | None, row_style=None):
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for _, header in columns:
        table.add_column(header, overflow="fold")
    for record in records:
        style = row_style(record) if row_style else None
        table.add_row(*(_escape(_human(record.get(key))) for key, _ in columns), style=style)
    return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(_visible(text))


def _table(data: dict | list[dict], view: View) -> None:
    console = _console()
    with console.capture() as captured:
        _print_table(console, data, view)
    _write_in_pieces(captured.get())


# A table is written a pipe's worth at a time, as the other formats write a
# line at a time: a reader that has gone (`| head -1`) is then met by the next
# write (exit 1, quietly), where one write larger than the pipe would end
# part-way with no error at all.
_PIECE = 16 * 1024


def _write_in_pieces(text: str) -> None:
    for start in range(0, len(text), _PIECE):
        sys.stdout.write(text[start : start + _PIECE])
        sys.stdout.flush()


def _print_table(console, data: dict | list[dict], view: View) -> None:
    if isinstance(data, list):
        columns = view.list_columns(data[0] if data else None)
        if not data:
            say(f"No {view.title.lower() if view.title else 'records'}.")
            return
        table = _list_table(data, columns, view.title, view.row_style)
        companion = view.aside(data) if view.aside else None
        if companion is None:
            console.print(table)
            return
        from rich.columns import Columns as SideBySide

        # Beside the table when the terminal is wide enough, else below it.
        console.print(SideBySide([table, companion], padding=(0, 4)))
        return
    from rich.table import Table

    record_table = Table(title=view.title, title_justify="left", show_header=False, box=None)
    record_table.add_column(style="bold")
    record_table.add_column(overflow="fold")
    if view.columns is not None:
        shown = view.columns
    elif view.record is not None:
        shown = detail_columns(view.record)
    else:
        shown = [(key, key.replace("_", " ").capitalize()) for key in data]
    for key, header in shown:
        record_table.add_row(header, _escape(_human(data.get(key))))
    console.print(record_table)
    for section in view.sections:
        console.print()
        if section.records:
            rows = list(_plain_records(section.records))
            console.print(_list_table(rows, _section_columns(section, rows[0]), section.title))
        else:
            console.print(f"{section.title}: none")


def _section_columns(section: Section, first: dict) -> Columns:
    if section.columns is not None:
        return section.columns
    if is_record(section.records[0]):
        return list_columns(type(section.records[0]))
    return [(key, key) for key in first]
