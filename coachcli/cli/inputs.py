"""Reading what the user hands us: a file path, or `-` for stdin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from coachcli.errors import CoachError


@contextmanager
def open_source(source: str) -> Iterator[TextIO]:
    if source == "-":
        yield sys.stdin
        return
    path = Path(source).expanduser()
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise CoachError(f"no such file: {source}") from None
    except (IsADirectoryError, PermissionError) as error:
        raise CoachError(f"cannot read {source}: {error.strerror}") from None
    with handle:
        yield handle


def read_text(source: str) -> str:
    with open_source(source) as handle:
        try:
            return handle.read()
        except UnicodeDecodeError:
            raise CoachError(f"{source} is not UTF-8 text") from None


def interactive() -> bool:
    """Prompts only for a person at a terminal; never for a script or cron."""
    return sys.stdin.isatty() and sys.stdout.isatty()
