"""Reading import files: CSV with a header, or JSON Lines, streamed row by row.

Every import (users, sessions, KPI data) reads through here, so they all
accept the same two formats and report bad lines the same way.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import chain
from operator import itemgetter

from coachcli.errors import CoachError

SHOWN_PROBLEMS = 5


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


def _header_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def read_rows(
    lines: Iterable[str],
    source: str,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    aliases: dict[str, str] | None = None,
) -> Iterator[tuple[int, tuple]]:
    """Yield (line number, values in `columns` order) for each data row.

    The format is told by the first non-blank character: `{` means JSON
    Lines, anything else CSV with a header row. Missing optional columns
    give None; unknown columns are refused (a typo would otherwise lose data
    silently). CSV values are strings; JSON values keep their JSON type.
    """
    aliases = aliases or {}
    iterator = iter(lines)
    first = ""
    blank_lines = 0
    for first in iterator:
        if first.strip():
            break
        blank_lines += 1
    if not first.strip():
        raise CoachError(f"{source} is empty; expected a CSV header ({','.join(columns)}) or JSON Lines")
    everything = chain([first], iterator)
    # Line numbers count from the top of the file, blank lines before the data included.
    if first.lstrip().startswith("{"):
        rows = _json_lines(everything, source, columns, required, aliases)
    else:
        rows = _csv_rows(everything, source, columns, required, aliases)
    if not blank_lines:
        yield from rows
        return
    for line, values in rows:
        yield line + blank_lines, values


def _resolve_header(names: list[str], source: str, columns, required, aliases) -> list[str]:
    resolved = []
    for name in names:
        key = _header_key(name)
        key = aliases.get(key, key)
        if key not in columns:
            raise CoachError(f"{source}: unknown column '{name}'; the columns are {','.join(columns)}")
        if key in resolved:
            raise CoachError(f"{source}: column '{name}' appears twice")
        resolved.append(key)
    missing = [column for column in required if column not in resolved]
    if missing:
        raise CoachError(f"{source}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return resolved


def _csv_rows(lines, source, columns, required, aliases) -> Iterator[tuple[int, tuple]]:
    reader = csv.reader(lines)
    try:
        header = _resolve_header(next(reader), source, columns, required, aliases)
    except csv.Error as error:
        raise CoachError(f"{source}: line 1: unreadable CSV header ({error})") from None
    width = len(header)
    positions = [header.index(column) if column in header else None for column in columns]
    # One C call per row when every column is present (the KPI import's hot path).
    if None not in positions and len(positions) > 1:
        pick = itemgetter(*positions)
    else:
        pick = lambda row: tuple(None if p is None else row[p] for p in positions)  # noqa: E731
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                # The shape error is the row's problem; the caller reports it.
                yield reader.line_num, ValueError(f"expected {width} fields, found {len(row)}")
                continue
            yield reader.line_num, pick(row)
    except csv.Error as error:
        raise CoachError(f"{source}: line {reader.line_num}: unreadable CSV ({error})") from None


def _json_lines(lines, source, columns, required, aliases) -> Iterator[tuple[int, tuple]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, ValueError(f"not valid JSON ({error.msg})")
            continue
        if not isinstance(data, dict):
            yield number, ValueError("each line must be a JSON object")
            continue
        row = {}
        unknown = []
        for name, value in data.items():
            key = aliases.get(_header_key(name), _header_key(name))
            if key in columns:
                row[key] = value
            else:
                unknown.append(name)
        if unknown:
            yield number, ValueError(f"unknown key {', '.join(map(repr, unknown))}")
            continue
        missing = [column for column in required if row.get(column) in (None, "")]
        if missing:
            yield number, ValueError(f"missing {', '.join(missing)}")
            continue
        yield number, tuple(row.get(column) for column in columns)
