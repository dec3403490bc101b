"""Storage: opening a coach database safely, and its schema."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from coachcli.db import migrations
from coachcli.db.engine import (
    create_private_file,
    database_url,
    describe_database_error,
    file_fault,
    make_engine,
    make_private,
    read_only_reason,
    read_only_uris,
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
    url = checked_url(target)
    path = sqlite_file(url)
    stored_version = None
    read_only = None
    if path is not None:
        try:
            stored_version, read_only = _check_file(path, create=create)
        except OSError as error:
            raise file_fault(error, path) from error
    engine = new_engine(url, read_only=read_only)
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


def _check_file(path: Path, *, create: bool) -> tuple[int | None, str | None]:
    """Everything about the SQLite file before the engine touches it: the
    stored schema version, and the URI to read it through when coach may not
    write it (None when it may)."""
    if path.is_dir():
        raise CoachError(
            f"{path} is a folder; give --db / COACH_DB a file name, e.g. {path / 'coach.db'}", ExitCode.DATABASE
        )
    if not path.exists():
        if not create:
            raise CoachError(
                f"no coach database at {path}; run `coach init` first (or point --db / COACH_DB at an existing one)",
                ExitCode.DATABASE,
            )
        create_private_file(path)
    elif path.stat().st_size == 0:
        # `: > coach.db` or a failed download: a new database only when asked.
        if not create:
            raise CoachError(
                f"{path} is an empty file, not a coach database yet; run `coach init` to make it one "
                "(or point --db / COACH_DB at an existing database)",
                ExitCode.DATABASE,
            )
        make_private(path)
    _refuse_damaged_file(path)
    return _refuse_foreign_or_newer(path)


def checked_url(target: str | None) -> str:
    """The URL a --db / COACH_DB (or `db copy --to`) value names, refused
    unless coach runs on its backend."""
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
    return url


def new_engine(url: str, *, read_only: str | None = None) -> Engine:
    """The engine for a checked URL; a missing driver or a bad URL is one line."""
    try:
        return make_engine(url, read_only=read_only)
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


def _refuse_damaged_file(path: Path) -> None:
    """Check the header before SQLite opens the file, so that a file that is
    not a database, or a truncated one, is refused without being written to.

    Pages past the main file's end are sound when the WAL holds them: a
    checkpoint that stopped half-way (a disk that filled) leaves the file
    shorter than its header says, and SQLite reads those pages from the WAL."""
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
    damaged = CoachError(f"{path} is truncated or damaged ({size} bytes); restore it from a backup", ExitCode.DATABASE)
    if len(header) < 100 or page_size not in _PAGE_SIZES:
        raise damaged
    whole_pages = size // page_size
    if size % page_size == 0 and whole_pages >= page_count:
        return
    committed_size, in_wal = _committed_wal_pages(path)
    if any(page not in in_wal for page in range(whole_pages + 1, (committed_size or page_count) + 1)):
        raise damaged


_PAGE_SIZES = {2**power for power in range(9, 17)}
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = 32
_WAL_FRAME_HEADER = 24


def _committed_wal_pages(path: Path) -> tuple[int, set[int]]:
    """The database's size in pages after the WAL's last committed
    transaction, and the pages its committed frames hold ((0, set()) without
    a WAL). Frames count while their salt matches the WAL header's, as SQLite
    reads them; a torn WAL's checksums are SQLite's to judge when it opens it."""
    try:
        handle = path.with_name(path.name + "-wal").open("rb")
    except FileNotFoundError:
        return 0, set()
    with handle:
        header = handle.read(_WAL_HEADER)
        if len(header) < _WAL_HEADER or int.from_bytes(header[:4], "big") not in _WAL_MAGIC:
            return 0, set()
        page_size = int.from_bytes(header[8:12], "big")
        salt = header[16:24]
        frames = (os.fstat(handle.fileno()).st_size - _WAL_HEADER) // (_WAL_FRAME_HEADER + page_size)
        committed_size, committed, pending = 0, set(), set()
        for number in range(frames):
            handle.seek(_WAL_HEADER + number * (_WAL_FRAME_HEADER + page_size))
            frame = handle.read(_WAL_FRAME_HEADER)
            if frame[8:16] != salt:
                break
            pending.add(int.from_bytes(frame[:4], "big"))
            size_after_commit = int.from_bytes(frame[4:8], "big")
            if size_after_commit:
                committed |= pending
                pending = set()
                committed_size = size_after_commit
        return committed_size, committed


def _refuse_foreign_or_newer(path: Path) -> tuple[int | None, str | None]:
    """Read the schema through a plain connection, before the engine's
    connect hook switches the file to WAL: a database that coach refuses (another
    program's, or a newer coach's) is left exactly as it was. Returns the
    stored schema version (None for a new, empty file), and for a file coach
    may not write, the URI it reads it through (None when it may write)."""
    import sqlite3

    if path.stat().st_size == 0:
        return None, None
    reason = read_only_reason(path)
    uri = None
    try:
        if reason is None:
            connection = sqlite3.connect(path)  # only SELECTs: no transaction, no write
        else:
            uri, connection = _read_only_connection(path, reason)
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
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise CoachError(
            f"{path} is not a readable coach database ({error}); check --db / COACH_DB", ExitCode.DATABASE
        ) from None
    if VERSION_TABLE not in tables:
        refuse_foreign(tables)
    refuse_newer(version)
    return version, uri


def _read_only_connection(path: Path, reason: str):
    """A connection that reads a file coach may not write, and its URI: read-only
    mode where SQLite can share the WAL index, else the file as immutable —
    only when no WAL holds committed pages it would miss."""
    import sqlite3

    read_only, immutable = read_only_uris(path)
    connection = sqlite3.connect(read_only, uri=True)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return read_only, connection
    except sqlite3.OperationalError:
        connection.close()
    if _committed_wal_pages(path)[1]:
        raise CoachError(
            f"cannot read {path}: {reason}, and its -wal file holds changes SQLite can read only where it may make "
            "the -shm file; copy the database and its -wal file to a folder coach may write",
            ExitCode.DATABASE,
        )
    return immutable, sqlite3.connect(immutable, uri=True)
