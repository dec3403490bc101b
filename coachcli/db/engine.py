"""The engine: where the database lives, how connections are set up on each
backend, and how write transactions begin.

Everything that differs between SQLite and PostgreSQL about connections stays
here, so the rules in `coachcli.services` run unchanged on both.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlmodel import Session

from coachcli.db.expressions import register_sqlite_functions
from coachcli.errors import CoachError, ExitCode

BUSY_TIMEOUT_SECONDS = 30
# Rows fetched at a time when a list streams (yield_per: a server-side
# cursor on PostgreSQL), so a list of millions takes constant memory.
STREAMED_ROWS = 1_000
CONNECT_TIMEOUT_SECONDS = 10
# Every coach writer on a PostgreSQL database queues on one lock, as SQLite
# writers queue on BEGIN IMMEDIATE: writers never interleave, so none meets a
# serialization failure or deadlock. It is a lock on a table that never holds
# a row, which only coach's own roles may lock (LOCK TABLE needs a privilege
# on it): a role with nothing but CONNECT cannot take it, or hold it.
WRITE_LOCK = "LOCK TABLE coach_write_lock IN EXCLUSIVE MODE"
# Creating or upgrading a schema (init, db copy) happens before that table
# exists: those writers queue on a transaction-scoped advisory lock instead.
SCHEMA_LOCK_KEY = 0x636F616368  # "coach"
# The nightly evaluation uses UPDATE … FROM (3.33) and MATERIALIZED (3.35).
MINIMUM_SQLITE = (3, 35, 0)
_WRITE_OPTION = "coach_write"


def default_database_path() -> Path:
    """coach.db in the per-user app folder. An empty (or relative)
    XDG_CONFIG_HOME counts as unset, as the XDG specification says — never
    a `coach/` folder in whatever the current folder happens to be."""
    import typer

    folder = Path(typer.get_app_dir("coach"))
    if not folder.is_absolute():
        folder = Path("~/.config/coach").expanduser()
    return folder / "coach.db"


def database_url(target: str | None) -> str:
    """`--db` / `COACH_DB` is a file path or a SQLAlchemy URL."""
    if not target:
        return f"sqlite:///{default_database_path()}"
    if "://" in target:
        return _with_psycopg(target)
    return f"sqlite:///{Path(target).expanduser()}"


def _with_psycopg(url: str) -> str:
    """A plain postgresql:// URL means psycopg2 to SQLAlchemy; coach ships
    psycopg 3, and a URL naming another driver is refused naming it."""
    scheme, rest = url.split("://", 1)
    backend, _, driver = scheme.lower().partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise CoachError(
                f"coach talks to PostgreSQL through psycopg 3 (the psycopg package), not {driver}: "
                "write the URL postgresql://… (or postgresql+psycopg://…) instead",
                ExitCode.DATABASE,
            )
        return f"postgresql+psycopg://{rest}"
    return url


def shown_location(target: str | None) -> str:
    """Where --db / COACH_DB points, as a user may see it: the file, or the URL
    with its password hidden."""
    url = database_url(target)
    return str(sqlite_file(url) or shown_url(url))


# Query parameters of a URL that libpq reads as a secret.
_SECRET_PARAMETERS = ("password", "sslpassword")


def shown_url(url: str | URL) -> str:
    """A database URL as people may see it (every message, `db info`, `init`):
    a password is shown as ***, wherever the URL carries it — `user:pw@` or
    a query parameter (`?password=`)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "the database URL given"  # unparsable: not echoed, as it may hold a password
    secret = [key for key in parsed.query if key.lower() in _SECRET_PARAMETERS]
    public = parsed.difference_update_query(secret)
    shown = public.render_as_string(hide_password=True)
    if secret:
        shown += ("&" if public.query else "?") + "&".join(f"{key}=***" for key in secret)
    return shown


def without_password(url: str) -> str:
    """The URL with every password it carries left out (a program given it
    then authenticates as libpq does without one: ~/.pgpass, a certificate,
    the server's trust)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return ""
    secret = [key for key in parsed.query if key.lower() in _SECRET_PARAMETERS]
    if parsed.password is None and not secret:
        return url
    # URL.set() keeps a value given as None; a URL is a named tuple.
    return parsed._replace(password=None).difference_update_query(secret).render_as_string(hide_password=False)


def without_secrets(text: str, url: str | URL) -> str:
    """A driver's message with every password the URL carries replaced by ***
    (drivers may quote what they were given)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return text
    values = [parsed.password] + [parsed.query[key] for key in parsed.query if key.lower() in _SECRET_PARAMETERS]
    for value in values:
        for secret in [value] if isinstance(value, str) else list(value or ()):
            if secret:
                text = text.replace(secret, "***")
    return text


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


def make_private(path: Path) -> None:
    """An existing (empty) file made readable by its owner only, as a new one is."""
    try:
        os.chmod(path, 0o600)
    except OSError as error:
        raise CoachError(
            f"cannot make {path} private to its owner ({error.strerror}); check the file's owner", ExitCode.DATABASE
        ) from None


def read_only_reason(path: Path) -> str | None:
    """Why coach may not write this SQLite file, or None when it may. SQLite
    needs the folder too: it makes the -wal and -shm files there."""
    if os.statvfs(path).f_flag & os.ST_RDONLY:
        return "it is on a read-only file system"
    if not os.access(path, os.W_OK):
        return "coach may not write the file"
    if not os.access(path.parent, os.W_OK):
        return "coach may not write its folder"
    return None


def read_only_uris(path: Path) -> list[str]:
    """How to read a file coach may not write, best first: read-only mode,
    then (where SQLite cannot make the shared-memory file a WAL reader needs,
    in a read-only folder or mount) as an immutable file, which reads the
    main file alone — right only when no WAL holds newer pages."""
    base = path.absolute().as_uri()
    return [f"{base}?mode=ro", f"{base}?immutable=1"]


def make_engine(url: str, *, read_only: str | None = None) -> Engine:
    """The engine for `url`; for a SQLite file coach may not write,
    `read_only` is the URI its connections read it through (read_only_uris)."""
    if read_only is None:
        engine = create_engine(url, connect_args=_connect_args(url))
    else:
        uri = read_only
        engine = create_engine(
            url,
            creator=lambda: sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False),
        )
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, read_only=read_only is not None)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


def _connect_args(url: str) -> dict:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"timeout": BUSY_TIMEOUT_SECONDS}
    if backend == "postgresql":
        # UTC sessions, so nothing the server formats depends on its settings;
        # no JIT, whose compiling costs more than coach's short statements take;
        # options the URL gives (a search_path, say) are kept.
        ours = f"-c timezone=UTC -c datestyle=ISO -c jit=off -c lock_timeout={BUSY_TIMEOUT_SECONDS * 1000}"
        given = make_url(url).query.get("options")
        return {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": "coach",
            "options": f"{given} {ours}" if given else ours,
        }
    return {}


def _configure_sqlite(engine: Engine, *, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: sqlite3.Connection, _record) -> None:
        # pysqlite's own transaction handling would begin transactions lazily
        # and DEFERRED; turning it off lets the "begin" hook below say when.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
        if not read_only:  # switching to WAL writes the file
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Deleted and overwritten content is zeroed, not left in free space:
        # the file holds personal data, and an erasure must leave no copy.
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # A writer takes the write lock up front, so two writers queue on the
        # busy timeout instead of failing mid-transaction with "locked".
        if connection.get_execution_options().get(_WRITE_OPTION):
            if read_only:
                path = sqlite_file(engine.url.render_as_string(hide_password=False))
                assert path is not None  # a read-only engine is a SQLite file's
                raise CoachError(
                    f"{path} is read-only ({read_only_reason(path)}): reading commands work on it, "
                    "this one writes — run it where coach may write the file and its folder",
                    ExitCode.DATABASE,
                )
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION)
        if writing == _SCHEMA_CHANGE:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
        elif writing:
            connection.exec_driver_sql(WRITE_LOCK)


_SCHEMA_CHANGE = "schema"


def writer(engine: Engine, *, schema_change: bool = False) -> Engine:
    """The same engine, its transactions taking the write lock as they begin
    (`schema_change`: the lock for making or upgrading the schema)."""
    return engine.execution_options(**{_WRITE_OPTION: _SCHEMA_CHANGE if schema_change else True})


@contextmanager
def transaction(engine: Engine, *, write: bool, commit: bool = True) -> Iterator[Session]:
    """One unit of work: commits once on success (unless `commit` is False:
    a dry run, which does all its work and keeps none), rolls back on any error."""
    bound = writer(engine) if write else engine
    with Session(bound, expire_on_commit=False, autoflush=True) as session:
        try:
            yield session
            if commit:
                session.commit()
            else:
                session.rollback()
        except BaseException:
            session.rollback()
            raise


def describe_database_error(error: DBAPIError, url: str) -> CoachError:
    """Turn a driver error into one line a user can act on (never the password)."""
    text = without_secrets(_primary_message(error), url)
    where = sqlite_file(url) or shown_url(url)
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(error, IntegrityError):
        # The schema's own guards (triggers, constraints) speak for themselves.
        return CoachError(f"refused by the database: {text}", ExitCode.REFUSED)
    if "locked" in text or "busy" in text or sqlstate == "55P03":
        message = (
            f"the database {where} stayed busy for {BUSY_TIMEOUT_SECONDS}s; "
            "another coach process holds it — try again when it has finished"
        )
    elif "not a database" in text or "malformed" in text:
        message = f"{where} is not a readable coach database ({text}); check --db / COACH_DB"
    elif sqlstate == "25006":  # read_only_sql_transaction: a standby, or a read-only default
        message = f"the database {where} is read-only ({text}): reading commands work on it, this one writes"
    elif "readonly" in text or "unable to open" in text:
        message = f"cannot write {where} ({text}); check the path and its permissions"
    elif sqlstate is None and make_url(url).get_backend_name() == "postgresql":
        message = f"cannot connect to {where} ({text}); check the server, the database name and the credentials in --db / COACH_DB"
    else:
        message = f"database error on {where}: {text}"
    return CoachError(message, ExitCode.DATABASE)


def file_fault(error: OSError, path: Path) -> CoachError:
    """A file or folder coach may not read or write (permissions, a
    read-only file system, a full disk): one line with the path and the
    reason, exit 6."""
    reason = error.strerror or type(error).__name__
    return CoachError(
        f"cannot use {path}: {reason}; check that coach may read and write it and its folder", ExitCode.DATABASE
    )


def _primary_message(error: DBAPIError) -> str:
    """The driver's own message, without the context lines PostgreSQL adds
    (which PL/pgSQL function, which connection attempt)."""
    original = error.orig
    diagnostic = getattr(original, "diag", None)
    primary = getattr(diagnostic, "message_primary", None)
    if primary:
        return primary
    text = str(original) if original is not None else str(error)
    return next((line.strip() for line in text.splitlines() if line.strip()), text)
