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


PROGRESS_EVERY_LINES = 500


def progress_lines(handle: TextIO, source: str) -> Iterator[str]:
    """The lines of an import file, with a progress bar on stderr when a
    person is watching (never for a pipe, a script or cron)."""
    if not sys.stderr.isatty():
        yield from handle
        return
    import os

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    total = None
    if source != "-":
        try:
            total = os.fstat(handle.fileno()).st_size
        except (OSError, ValueError):
            total = None
    columns = [TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"Reading {source}", total=total)
        done = 0
        for number, line in enumerate(handle, start=1):
            done += len(line)
            if number % PROGRESS_EVERY_LINES == 0:
                progress.update(task, completed=done)
            yield line
        progress.update(task, completed=total or done)


def read_import_lines(source: str) -> list[str]:
    """All lines of an import file, read before any transaction begins so that
    a slow pipe never holds the database's write lock."""
    with open_source(source) as handle:
        try:
            return list(progress_lines(handle, source))
        except UnicodeDecodeError:
            raise CoachError(f"{source} is not UTF-8 text") from None
