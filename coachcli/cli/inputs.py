"""Reading what the user hands us: a file path, or `-` for stdin."""

from __future__ import annotations

import codecs
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, TextIO

import typer

from coachcli.errors import CoachError
from coachcli.tabular import XLS_MAGIC, XLSX_MAGIC, Content, Sheet, read_sheet


@contextmanager
def open_source(source: str) -> Iterator[IO[str]]:
    if source == "-":
        yield sys.stdin
        return
    with _open_path(source, encoding="utf-8-sig", newline="") as handle:
        yield handle


def _open_path(source: str, mode: str = "r", **options) -> IO:
    try:
        return Path(source).expanduser().open(mode, **options)
    except FileNotFoundError:
        raise CoachError(f"no such file: {source}") from None
    except (IsADirectoryError, PermissionError) as error:
        raise CoachError(f"cannot read {source}: {error.strerror}") from None


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

EncodingOption = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        metavar="NAME",
        help="The text file's encoding, e.g. cp1252 or latin-1 (default UTF-8, with or without a BOM).",
        show_default=False,
    ),
]
SheetOption = Annotated[
    str | None,
    typer.Option(
        "--sheet",
        metavar="NAME",
        help="The sheet of an .xlsx workbook to read (default: the first).",
        show_default=False,
    ),
]


def source_name(source: str) -> str:
    return "stdin" if source == "-" else source


@contextmanager
def import_content(source: str, *, encoding: str | None = None, sheet: str | None = None) -> Iterator[Content]:
    """What an import reads from a path or `-`: the rows of an Excel
    workbook's sheet (told by the file's first bytes, whatever its name), or
    the lines of a text file in `encoding` (UTF-8 by default, a BOM dropped);
    with a progress bar on a terminal.

    stdin is copied to a temporary file first: a slow pipe must not keep the
    database's write lock while it trickles in, a copy on disk keeps memory
    flat however big the input, and a workbook needs a file it can seek in.
    A decoding error anywhere in the `with` block (the import reads as it
    goes) is refused with a message naming --encoding."""
    name = source_name(source)
    with _seekable_bytes(source) as raw:
        magic = raw.read(4)
        raw.seek(0)
        codec = _text_codec(encoding, magic)
        if magic == XLS_MAGIC:
            raise CoachError(
                f"{name} is an old-style .xls workbook; save it from Excel as .xlsx (or CSV) and import that"
            )
        if magic == XLSX_MAGIC:
            yield _progress_rows(read_sheet(raw, name, sheet), name)
            return
        if sheet is not None:
            raise CoachError(f"{name} is a text file, not an .xlsx workbook: --sheet is for workbooks; leave it out")
        with io.TextIOWrapper(raw, encoding=codec, newline="") as text:
            try:
                yield progress_lines(text, name)
            except UnicodeDecodeError:
                raise CoachError(
                    f"{name} is not {encoding or codec.upper().removesuffix('-SIG')} text; nothing imported — pass --encoding with the file's "
                    "encoding (e.g. --encoding cp1252 for a file saved by Excel on Windows)"
                ) from None


# A byte-order mark names its encoding: Excel's "Unicode Text" is UTF-16 with one.
# (UTF-32's little-endian mark begins with UTF-16's, so it is looked for first.)
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _text_codec(encoding: str | None, head: bytes = b"") -> str:
    """The codec a text file is read with: --encoding, else the one its
    byte-order mark names, else UTF-8 (a BOM dropped)."""
    if encoding is None:
        return next((codec for mark, codec in _BYTE_ORDER_MARKS if head.startswith(mark)), "utf-8-sig")
    try:
        name = codecs.lookup(encoding).name
        # Refuses codecs that are not text encodings (base64, rot13…).
        io.TextIOWrapper(io.BytesIO(), encoding=name)
    except LookupError:
        raise CoachError(
            f"unknown --encoding {encoding!r}: give one such as utf-8, cp1252, latin-1 or utf-16"
        ) from None
    # A UTF-8 file from Windows starts with a byte-order mark; it is not part of the header.
    return "utf-8-sig" if name == "utf-8" else name


@contextmanager
def _seekable_bytes(source: str) -> Iterator[IO[bytes]]:
    """The file opened for reading bytes; stdin, or a pipe given as a path,
    copied to a temporary file first."""
    if source == "-":
        with _spooled(sys.stdin.buffer) as spool:
            yield spool
        return
    with _open_path(source, "rb") as handle:
        if handle.seekable():
            yield handle
            return
        with _spooled(handle) as spool:
            yield spool


@contextmanager
def _spooled(stream: IO[bytes]) -> Iterator[IO[bytes]]:
    import shutil
    import tempfile

    with tempfile.TemporaryFile("w+b") as spool:
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.seek(0)
        yield spool


def progress_lines(handle: TextIO, source: str) -> Iterator[str]:
    """The lines of an import file, with a progress bar on stderr when a
    person is watching (never for a pipe, a script or cron)."""
    if not sys.stderr.isatty():
        yield from handle
        return
    import os

    try:
        total = os.fstat(handle.fileno()).st_size
    except (OSError, ValueError):
        total = None
    with _progress(f"Reading {source}", total) as advance:
        done = 0
        for number, line in enumerate(handle, start=1):
            done += len(line)
            if number % PROGRESS_EVERY_LINES == 0:
                advance(done)
            yield line
        advance(total or done)


def _progress_rows(sheet: Sheet, source: str) -> Sheet:
    """The sheet's rows, with a progress bar on stderr when a person is watching."""
    if not sys.stderr.isatty():
        return sheet

    def rows() -> Iterator[tuple[int, Sequence[str]]]:
        with _progress(f"Reading {source}", sheet.size) as advance:
            number = 0
            for number, cells in sheet:
                if number % PROGRESS_EVERY_LINES == 0:
                    advance(number)
                yield number, cells
            advance(sheet.size or number)

    return Sheet(rows(), sheet.size)


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)
