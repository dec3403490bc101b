"""Storage: opening a coach database safely, and its schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from coachcli.db import migrations
from coachcli.db.engine import (
    create_private_file,
    database_url,
    describe_database_error,
    make_engine,
    require_sqlite_features,
    shown_url,
    sqlite_file,
    transaction,
    without_secrets,
)
from coachcli.db.migrations import _VERSION_TABLE as VERSION_TABLE
from coachcli.db.migrations import refuse_foreign, refuse_newer, upgrade
from coachcli.errors import CoachError, ExitCode

__all__ = ["open_database", "transaction"]

_SQLITE_HEADER = b"SQLite format 3\x00"


def open_database(target: str | None, *, create: bool = False) -> Engine:
    """Open (or, with `create`, make) the database and bring its schema up to date.

    A missing file is an error unless `create`: a typo in --db should not
    silently start an empty database.
    """
    url = database_url(target)
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        raise CoachError(
            # Not echoed: an unparsable URL may still hold a password.
            "cannot open the database named by --db / COACH_DB: it is neither a file path nor "
            "a SQLAlchemy URL such as sqlite:///coach.db",
            ExitCode.DATABASE,
        ) from None
    if backend not in ("sqlite", "postgresql"):
        raise CoachError(
            f"coach runs on SQLite or PostgreSQL, not {backend}: give --db / COACH_DB a file path "
            "or a postgresql:// URL",
            ExitCode.DATABASE,
        )
    if backend == "sqlite":
        require_sqlite_features()
    path = sqlite_file(url)
    stored_version = None
    if path is not None:
        if path.is_dir():
            raise CoachError(
                f"{path} is a folder; give --db / COACH_DB a file name, e.g. {path / 'coach.db'}", ExitCode.DATABASE
            )
        if not path.exists():
            if not create:
                raise CoachError(
                    f"no coach database at {path}; run `coach init` first "
                    "(or point --db / COACH_DB at an existing one)",
                    ExitCode.DATABASE,
                )
            create_private_file(path)
        _refuse_damaged_file(path)
        stored_version = _refuse_foreign_or_newer(path)
    try:
        engine = make_engine(url)
    except (NoSuchModuleError, ImportError) as error:
        raise CoachError(
            f"cannot open {shown_url(url)}: PostgreSQL needs psycopg 3 ({without_secrets(str(error), url)}); "
            "install it with: pip install 'coachcli[postgres]'",
            ExitCode.DATABASE,
        ) from error
    except ArgumentError as error:
        raise CoachError(
            f"cannot open {shown_url(url)}: {without_secrets(str(error), url)}; "
            "give --db / COACH_DB a file path or a postgresql:// URL",
            ExitCode.DATABASE,
        ) from error
    if stored_version == migrations.LATEST_VERSION:
        # Already read through the plain connection: no second look at the
        # schema (an inspector's queries) on every command.
        return engine
    try:
        upgrade(engine, create=create)
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
        raise CoachError(f"{path} is not a SQLite database; check --db / COACH_DB", ExitCode.DATABASE)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    if len(header) < 100 or size % page_size or size < page_count * page_size:
        raise CoachError(
            f"{path} is truncated or damaged ({size} bytes); restore it from a backup",
            ExitCode.DATABASE,
        )


def _refuse_foreign_or_newer(path: Path) -> int | None:
    """Read the schema through a plain connection, before the engine's
    connect hook switches the file to WAL: a database that coach refuses (another
    program's, or a newer coach's) is left exactly as it was. Returns the
    stored schema version (None for a new, empty file)."""
    import sqlite3

    if path.stat().st_size == 0:
        return None
    connection = sqlite3.connect(path)  # only SELECTs: no transaction, no write
    try:
        tables = {
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        version = None
        if VERSION_TABLE in tables:
            row = connection.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
            version = row[0] if row else None
    except sqlite3.DatabaseError as error:
        raise CoachError(
            f"{path} is not a readable coach database ({error}); check --db / COACH_DB", ExitCode.DATABASE
        ) from None
    finally:
        connection.close()
    if VERSION_TABLE not in tables:
        refuse_foreign(tables)
    refuse_newer(version)
    return version
