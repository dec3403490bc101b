"""Storage: opening a coach database safely, and its schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from coachcli.db.engine import (
    create_private_file,
    database_url,
    describe_database_error,
    make_engine,
    sqlite_file,
    transaction,
)
from coachcli.db.migrations import upgrade
from coachcli.errors import CoachError, ExitCode

__all__ = ["open_database", "transaction"]

_SQLITE_HEADER = b"SQLite format 3\x00"


def open_database(target: str | None, *, create: bool = False) -> Engine:
    """Open (or, with `create`, make) the database and bring its schema up to date.

    A missing file is an error unless `create`: a typo in --db should not
    silently start an empty database.
    """
    url = database_url(target)
    path = sqlite_file(url)
    if path is not None:
        if not path.exists():
            if not create:
                raise CoachError(
                    f"no coach database at {path}; run `coach init` first "
                    "(or point --db / COACH_DB at an existing one)",
                    ExitCode.DATABASE,
                )
            create_private_file(path)
        _refuse_damaged_file(path)
    engine = make_engine(url)
    try:
        upgrade(engine)
    except DBAPIError as error:
        engine.dispose()
        raise describe_database_error(error, url) from error
    return engine


def _refuse_damaged_file(path: Path) -> None:
    """Check the header before SQLite opens the file, so that a file that is
    not a database, or a truncated one, is refused without being written to."""
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb") as handle:
        header = handle.read(100)
    if not header.startswith(_SQLITE_HEADER):
        raise CoachError(
            f"{path} is not a SQLite database; check --db / COACH_DB", ExitCode.DATABASE
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    if len(header) < 100 or size % page_size or size < page_count * page_size:
        raise CoachError(
            f"{path} is truncated or damaged ({size} bytes); restore it from a backup",
            ExitCode.DATABASE,
        )
