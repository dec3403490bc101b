"""The engine: where the database lives, its pragmas, and how transactions begin.

Everything SQLite-specific about connections stays in this package so that the
rules in `coachcli.services` work unchanged on another SQLAlchemy backend.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from coachcli.db.expressions import register_sqlite_functions
from coachcli.errors import CoachError, ExitCode

BUSY_TIMEOUT_SECONDS = 30
# The nightly evaluation uses UPDATE … FROM (3.33) and MATERIALIZED (3.35).
MINIMUM_SQLITE = (3, 35, 0)
_WRITE_OPTION = "coach_write"


def default_database_path() -> Path:
    import typer

    return Path(typer.get_app_dir("coach")) / "coach.db"


def database_url(target: str | None) -> str:
    """`--db` / `COACH_DB` is a file path or a SQLAlchemy URL."""
    if not target:
        return f"sqlite:///{default_database_path()}"
    if "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser()}"


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def require_sqlite_features() -> None:
    """Refuse, before touching any file, a Python whose SQLite is too old."""
    if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
        needed = ".".join(map(str, MINIMUM_SQLITE))
        raise CoachError(
            f"coach needs SQLite {needed} or newer, and this Python has SQLite {sqlite3.sqlite_version}; "
            "install coach with a newer Python (python.org and most current systems have one)",
            ExitCode.DATABASE,
        )


def create_private_file(path: Path) -> None:
    """Create the database file (and any missing folders) readable by its owner only.

    SQLite gives its -wal and -shm files the permissions of the database file,
    so creating this one 0600 keeps all three private.
    """
    if path.exists():
        return
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


def make_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args=_connect_args(url))
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _connect_args(url: str) -> dict:
    if make_url(url).get_backend_name() == "sqlite":
        return {"timeout": BUSY_TIMEOUT_SECONDS}
    return {}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record) -> None:
        # pysqlite's own transaction handling would begin transactions lazily
        # and DEFERRED; turning it off lets the "begin" hook below say when.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # A writer takes the write lock up front, so two writers queue on the
        # busy timeout instead of failing mid-transaction with "locked".
        if connection.get_execution_options().get(_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, beginning its transactions with BEGIN IMMEDIATE."""
    return engine.execution_options(**{_WRITE_OPTION: True})


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Session]:
    """One unit of work: commits once on success, rolls back on any error."""
    bound = writer(engine) if write else engine
    with Session(bound, expire_on_commit=False, autoflush=True) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def describe_database_error(error: DBAPIError, url: str) -> CoachError:
    """Turn a driver error into one line a user can act on."""
    text = str(error.orig) if error.orig is not None else str(error)
    where = sqlite_file(url) or url
    if isinstance(error, IntegrityError):
        # The schema's own guards (triggers, constraints) speak for themselves.
        return CoachError(f"refused by the database: {text}", ExitCode.REFUSED)
    if "locked" in text or "busy" in text:
        message = (
            f"the database {where} stayed busy for {BUSY_TIMEOUT_SECONDS}s; "
            "another coach process holds it — try again when it has finished"
        )
    elif "not a database" in text or "malformed" in text:
        message = f"{where} is not a readable coach database ({text}); check --db / COACH_DB"
    elif "readonly" in text or "unable to open" in text:
        message = f"cannot write {where} ({text}); check the path and its permissions"
    else:
        message = f"database error on {where}: {text}"
    return CoachError(message, ExitCode.DATABASE)
