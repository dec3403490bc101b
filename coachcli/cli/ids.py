"""Record ids on the command line: every id argument and option is read by
one type, so an id past the database's range is "not found" everywhere, the
same on both backends (and never an overflow inside a query)."""

from __future__ import annotations

from collections.abc import Callable

import typer


def record_id(record: str) -> Callable[[str], int]:
    """The parser of an id of `record` ("coaching session"), for
    `typer.Argument(parser=...)` and `typer.Option(parser=...)`."""

    def parse(text: str) -> int:
        from coachcli.parse import parse_record_id

        if not (str(text).strip().isascii() and str(text).strip().isdigit()):
            raise typer.BadParameter(f"{text!r} is not an id: give a whole number such as 12")
        return parse_record_id(str(text), record)

    parse.__name__ = f"{record} id"
    return parse
