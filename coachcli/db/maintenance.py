"""The database as a whole: what it holds, whether it is sound, and a
consistent copy of it onto either backend (`coach db info|check|copy`)."""

from __future__ import annotations

import errno
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    URL,
    CompoundSelect,
    Connection,
    Engine,
    String,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from coachcli.db.engine import BUSY_TIMEOUT_SECONDS, describe_database_error, file_fault, shown_url, sqlite_file, writer
from coachcli.db.migrations import LATEST_VERSION, MIGRATIONS, PROTECTING_TRIGGERS, migrate
from coachcli.errors import CoachError, ExitCode
from coachcli.records import WITHHELD, column

COPY_BATCH = 10_000


def location(engine: Engine) -> str:
    """Where the database is, the password never shown."""
    path = sqlite_file(engine.url.render_as_string(hide_password=False))
    return str(path) if path else shown_url(engine.url)


def _tables() -> list:
    import coachcli.db.models  # noqa: F401  (the tables register themselves)

    return list(SQLModel.metadata.sorted_tables)


def counting_statement() -> CompoundSelect:
    """Every table's row count, in one statement. Each row carries its
    table's name: SQL gives a UNION ALL no order, and a parallel plan may
    return the branches in whatever order its workers finish."""
    return union_all(
        *(
            select(literal(table.name, String).label("table"), func.count().label("rows")).select_from(table)
            for table in _tables()
        )
    )


def row_counts(connection) -> dict[str, int]:
    by_name = {name: rows for name, rows in connection.execute(counting_statement())}
    return {table.name: by_name[table.name] for table in _tables()}


@dataclass(frozen=True, slots=True)
class TableRows:
    """A table's row count, as `db info` and `db copy` list them."""

    table: str = column("Table")
    rows: int = column("Rows")


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    backend: str = column("Backend")
    location: str = column("Location")
    schema_version: int = column("Schema version")
    tables: dict[str, int] = column("Tables")
    # The coach groups of the login role: PostgreSQL's alone (left out on SQLite).
    roles: list[str] = column("Roles")


@dataclass(frozen=True, slots=True)
class DatabaseCheck:
    backend: str = column("Backend")
    location: str = column("Location")
    schema_version: int = column("Schema version")
    integrity: str = column("Integrity")
    triggers: int = column("Triggers")


@dataclass(frozen=True, slots=True)
class DatabaseCopy:
    target: str = column("Target")
    tables: dict[str, int] = column("Tables")


@dataclass(frozen=True, slots=True)
class DatabaseVacuum:
    backend: str = column("Backend")
    tables: int = column("Tables")
    # False when other transactions kept old row versions they may see.
    complete: bool = column("Complete")


def table_rows(tables: dict[str, int]) -> list[TableRows]:
    return [TableRows(table=name, rows=rows) for name, rows in tables.items()]


def info(engine: Engine) -> DatabaseInfo:
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version FROM coach_schema")).scalar_one()
        roles = WITHHELD
        if engine.dialect.name == "postgresql":
            from coachcli.db.security import current_groups

            roles = current_groups(connection)
        return DatabaseInfo(
            backend=engine.dialect.name,
            location=location(engine),
            schema_version=version,
            tables=row_counts(connection),
            roles=roles,
        )


def check(engine: Engine) -> DatabaseCheck:
    """The backend's integrity check, the schema version, and every
    protecting trigger present, firing, and as coach installed it (with, on
    PostgreSQL, every function coach installed); refuses with the reason
    (exit 6) when anything is wrong."""
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version FROM coach_schema")).scalar_one()
        if version != LATEST_VERSION:
            _unsound(f"schema version {version}, expected {LATEST_VERSION}; run `coach init`")
        if engine.dialect.name == "sqlite":
            problems = [row for (row,) in connection.exec_driver_sql("PRAGMA integrity_check") if row != "ok"]
            problems += [
                f"foreign key broken in {row[0]}" for row in connection.exec_driver_sql("PRAGMA foreign_key_check")
            ]
            if problems:
                _unsound("integrity check failed: " + "; ".join(problems[:5]))
            expected = _protecting_definitions("sqlite")
            installed: dict[str, str] = {
                name: sql
                for name, sql in connection.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                )
            }
            for name, definition in expected.items():
                if name not in installed:
                    _unsound(f"protecting trigger {name} is missing; restore it from a backup")
                if installed[name] != definition:
                    _unsound(f"protecting trigger {name} is not the one coach installed; restore it from a backup")
        else:
            expected = _check_server_protection(connection)
        return DatabaseCheck(
            backend=engine.dialect.name,
            location=location(engine),
            schema_version=version,
            integrity="ok",
            triggers=len(expected),
        )


def _protecting_definitions(dialect: str) -> dict[str, str]:
    """Each protecting trigger's definition as coach installs it."""
    import re

    latest = {re.match(r"\s*CREATE TRIGGER (\w+)", s).group(1): s for s in _trigger_statements(dialect)}  # type: ignore[union-attr]  # only CREATE TRIGGER statements
    return {name: latest[name] for name in PROTECTING_TRIGGERS[dialect]}


def _check_server_protection(connection: Connection) -> dict[str, str]:
    """Every protecting trigger present, enabled (not disabled, not only as
    replica), defined as coach defines it, and every function coach installs
    (the triggers' included) with the body, search_path and rights it was
    installed with."""
    import re

    from coachcli.db.security import SERVER_TRIGGERS, current_groups, expected_functions

    schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    expected = _protecting_definitions("postgresql")
    quoted = '"' + schema.replace('"', '""') + '"'
    expected |= {name: statement.format(schema=quoted) for name, (_, statement) in SERVER_TRIGGERS.items()}
    installed: dict[str, tuple[str, str]] = {
        name: (enabled, definition)
        for name, enabled, definition in connection.exec_driver_sql(
            """SELECT t.tgname, t.tgenabled, pg_get_triggerdef(t.oid) FROM pg_trigger AS t
               JOIN pg_class AS c ON c.oid = t.tgrelid
               WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"""
        )
    }

    def normalized(definition: str) -> str:
        for prefix in (f"{quoted}.", f"{schema}."):
            definition = definition.replace(prefix, "")
        definition = re.sub(r"::[a-z ]+?(?=[)\s,])", "", definition.lower())
        return re.sub(r"[\s()]", "", definition)

    for name, definition in expected.items():
        if name not in installed:
            _unsound(f"protecting trigger {name} is missing; restore it from a backup or run `coach init`")
        enabled, found = installed[name]
        if enabled == "D":
            _unsound(f"protecting trigger {name} is disabled; ALTER TABLE … ENABLE TRIGGER {name}")
        if enabled == "R":
            _unsound(f"protecting trigger {name} fires only as a replica; ALTER TABLE … ENABLE TRIGGER {name}")
        if normalized(found) != normalized(definition):
            _unsound(f"protecting trigger {name} is not the one coach installed; run `coach init` to restore it")
    functions = {
        name: (body, definer, config)
        for name, body, definer, config in connection.exec_driver_sql(
            """SELECT proname, prosrc, prosecdef, proconfig FROM pg_proc
               WHERE pronamespace = current_schema()::regnamespace"""
        )
    }
    for function in expected_functions(schema, current_groups(connection)):
        found_function = functions.get(function.name)
        if found_function is None:
            _unsound(f"function {function.name} is missing; run `coach init` to restore it")
        elif found_function != (function.body, function.security_definer, [f"search_path={function.search_path}"]):
            _unsound(f"function {function.name} is not the one coach installed; run `coach init` to restore it")
    return expected


def _unsound(reason: str) -> None:
    raise CoachError(f"the database is not sound: {reason}", ExitCode.DATABASE)


# The files SQLite keeps beside a database: a copy refuses to start while one
# exists, because it would be taken for part of the new file.
SIDECARS = ("-wal", "-shm", "-journal")


def copy_to(source: Engine, target: str) -> DatabaseCopy:
    """Copy the database into `target` (--to): a new SQLite file, or an empty
    PostgreSQL database. Returns where it went and the row counts.

    A failed copy leaves nothing behind: on PostgreSQL the schema and the data
    go in one transaction, so the database is as empty as before; a SQLite
    copy is built in a private temporary file next to the target and linked
    into place only when complete, never over an existing name.
    """
    from coachcli.db import checked_url

    url = checked_url(target)
    path = sqlite_file(url)
    if path is None:
        engine = _target_engine(url)
        try:
            return DatabaseCopy(target=location(engine), tables=_copy_translated(source, engine, url))
        finally:
            engine.dispose()
    with _new_sqlite_file(path) as building:
        engine = _target_engine(URL.create("sqlite", database=str(building)).render_as_string())
        try:
            counts = _copy_translated(source, engine, url)
            _self_contained(engine)
        finally:
            engine.dispose()
    return DatabaseCopy(target=str(path), tables=counts)


def _target_engine(url: str) -> Engine:
    from coachcli.db import new_engine

    return new_engine(url)


def _copy_translated(source: Engine, target: Engine, url: str) -> dict[str, int]:
    try:
        return copy(source, target)
    except DBAPIError as error:
        raise describe_database_error(error, url) from error


@contextmanager
def _new_sqlite_file(path: Path) -> Iterator[Path]:
    """A private temporary file beside `path` to build the copy in, linked to
    `path` when the block succeeds; on any failure it goes, with its journal
    files and any folder made for it. Refuses, touching nothing, when `path`
    (even a dangling symlink) or a stray journal file of it exists."""
    _refuse_taken(path)
    made = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    building: Path | None = None
    try:
        for folder in reversed(made):
            folder.mkdir(mode=0o700)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".copying", dir=path.parent)
        os.close(handle)
        building = Path(name)
        yield building
        _refuse_taken(path)
        _link_into_place(building, path)
    except OSError as error:
        raise file_fault(error, path) from error
    finally:
        if building is not None:
            for leftover in (building, *_sidecars(building)):
                leftover.unlink(missing_ok=True)
        if not os.path.lexists(path):
            for folder in made:
                with suppress(OSError):
                    folder.rmdir()


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in SIDECARS]


def _refuse_taken(path: Path) -> None:
    if os.path.lexists(path):
        kind = " (a symbolic link)" if path.is_symlink() else ""
        raise CoachError(
            f"{path} already exists{kind}; `db copy` writes only a new file — choose another name", ExitCode.REFUSED
        )
    for sidecar in _sidecars(path):
        if os.path.lexists(sidecar):
            raise CoachError(
                f"{sidecar} exists (left by another program or a crash); `db copy` would take it for part of the "
                "new file and does not remove what it did not make — move it away or choose another name",
                ExitCode.REFUSED,
            )


def _link_into_place(building: Path, path: Path) -> None:
    """A hard link never replaces an existing name. A file system without
    hard links gets a rename, just after checking again that the name is free."""
    try:
        os.link(building, path)
    except FileExistsError:
        _refuse_taken(path)
        raise
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        _refuse_taken(path)
        os.rename(building, path)


def _self_contained(engine: Engine) -> None:
    """The finished copy in one file, no -wal beside it: it is linked into
    place alone, and opens even where no -shm file can be made (read-only
    media). coach switches it back to WAL when it next writes to it."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode = DELETE")
        cursor.close()
    finally:
        connection.close()


def copy(source: Engine, target: Engine) -> dict[str, int]:
    """Copy every table from a consistent snapshot of the source into an empty
    target, in one transaction on each side (the target's schema made in the
    same one); returns the row counts, checked equal on both sides.

    The target's protecting triggers are dropped for the copy and made again
    before it commits: they refuse, rightly, what a copy must do (a closed
    plan's sessions arriving after the plan was closed, say).
    """
    snapshot = {"isolation_level": "REPEATABLE READ"} if source.dialect.name == "postgresql" else {}
    dialect = target.dialect.name
    with (
        source.connect().execution_options(**snapshot) as reading,
        writer(target, schema_change=True).begin() as writing,
    ):
        _refuse_unless_empty(writing)
        migrate(writing, None)
        counts = row_counts(reading)
        for name in PROTECTING_TRIGGERS[dialect]:
            writing.exec_driver_sql(_drop_trigger(dialect, name))
        for table in _tables():
            rows = reading.execution_options(yield_per=COPY_BATCH).execute(select(table))
            for batch in rows.partitions():
                writing.execute(insert(table), [row._asdict() for row in batch])
            if dialect == "postgresql" and "id" in table.c:
                writing.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                )
        for statement in _trigger_statements(dialect):
            writing.exec_driver_sql(statement)
        copied = row_counts(writing)
        if copied != counts:
            differing = [name for name in counts if copied.get(name) != counts[name]]
            raise CoachError(
                f"the copy does not match its source in {', '.join(differing)}; nothing was written", ExitCode.DATABASE
            )
        reading.rollback()
    return counts


def _refuse_unless_empty(writing: Connection) -> None:
    """Checked under the target's write lock, inside the copy's transaction."""
    tables = inspect(writing).get_table_names()
    if tables:
        raise CoachError(
            f"{shown_url(writing.engine.url)} is not empty ({len(tables)} tables); `db copy` writes only into an empty database",
            ExitCode.REFUSED,
        )


def forget_old_rows(engine: Engine, tables: list[str]) -> str | None:
    """After text was destroyed and committed (an erasure): leave no old copy
    of it in the storage. On SQLite, VACUUM rebuilds the file from live rows
    (secure_delete zeroes what it frees) and a TRUNCATE checkpoint copies the
    WAL into the file and empties it. On PostgreSQL an UPDATE leaves the old
    row version in the table file, and VACUUM only marks it free: VACUUM FULL
    writes `tables` (and their indexes) anew from live rows, when the acting
    role may (the tables' or the database's owner). Neither can run inside a
    transaction, hence after the commit. Returns what the user should know
    when it could not be done now (never an error: the erasure stands)."""
    if engine.dialect.name == "sqlite":
        if _vacuum_sqlite(engine):
            return None
        return (
            "another process had the database open, so old copies of the erased text may stay "
            "in its -wal file until the last process using it closes it"
        )
    owner_runs = "the tables' owner runs, on this database: coach db vacuum"
    try:
        with _autocommit(engine) as connection:
            if _not_rewritable(connection, tables):
                return f"old row versions in the PostgreSQL table files may still hold the erased text; {owner_runs}"
            if not _vacuum_full(connection, tables):
                return (
                    "transactions begun before the erasure were still open, and their old row versions may "
                    f"still hold the erased text in the table files; when they have ended, {owner_runs}"
                )
    except DBAPIError as error:  # a lock held past the lock timeout, say
        return (
            f"the tables could not be rewritten now ({describe_database_error(error, str(engine.url)).message}); "
            f"{owner_runs}"
        )
    return None


def vacuum(engine: Engine) -> DatabaseVacuum:
    """`coach db vacuum`: rewrite coach's tables so that no deleted or
    overwritten row keeps its old text in the storage. PostgreSQL: VACUUM FULL
    of every coach table (their owner's right); SQLite: VACUUM and a TRUNCATE
    checkpoint."""
    tables = [table.name for table in _tables()]
    if engine.dialect.name == "sqlite":
        return DatabaseVacuum(backend="sqlite", tables=len(tables), complete=_vacuum_sqlite(engine))
    with _autocommit(engine) as connection:
        denied = _not_rewritable(connection, tables)
        if denied:
            raise CoachError(
                f"only the owner of coach's tables may rewrite them ({', '.join(denied)}); "
                "run `coach db vacuum` as that role",
                ExitCode.DATABASE,
            )
        complete = _vacuum_full(connection, tables)
    return DatabaseVacuum(backend="postgresql", tables=len(tables), complete=complete)


def _vacuum_sqlite(engine: Engine) -> bool:
    """VACUUM and a TRUNCATE checkpoint; False when another process kept the
    WAL from being emptied (its old frames then go at the next checkpoint)."""
    import sqlite3

    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("VACUUM")
        busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    except sqlite3.Error as error:
        path = sqlite_file(engine.url.render_as_string(hide_password=False))
        raise CoachError(f"cannot rewrite {path}: {error}", ExitCode.DATABASE) from error
    finally:
        connection.close()
    return not busy


@contextmanager
def _autocommit(engine: Engine) -> Iterator[Connection]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


def _not_rewritable(connection: Connection, tables: list[str]) -> list[str]:
    """Those of `tables` the acting role may not VACUUM FULL: PostgreSQL
    skips them with a mere warning, so it is asked first."""
    may = "pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE')"
    if (connection.dialect.server_version_info or ()) >= (17,):
        may += " OR has_table_privilege(c.oid, 'MAINTAIN')"
    statement = text(
        "SELECT t.name FROM unnest(CAST(:tables AS text[])) WITH ORDINALITY AS t(name, position) "
        "JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name)) "
        f"JOIN pg_database d ON d.datname = current_database() WHERE NOT ({may}) ORDER BY t.position"
    )
    return list(connection.execute(statement, {"tables": tables}).scalars())


def _vacuum_full(connection: Connection, tables: list[str]) -> bool:
    """VACUUM FULL writes each table anew from its live rows — and from every
    old row version a running transaction may still see: one on any database
    of the server whose id is older holds them back. So it first waits (up to
    the busy timeout) for the transactions begun before now to end. Returns
    False when some had not, and old versions may have been kept."""
    horizon, started = connection.execute(
        text("SELECT CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text), clock_timestamp()")
    ).one()
    ended = text(
        "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= CAST(:horizon AS xid8) AND NOT EXISTS ("
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_xmin IS NOT NULL AND xact_start < :started)"
    )
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while not (settled := connection.execute(ended, {"horizon": horizon, "started": started}).scalar_one()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    quote = connection.dialect.identifier_preparer.quote
    for table in tables:
        connection.exec_driver_sql(f"VACUUM FULL {quote(table)}")
    return settled


def _drop_trigger(dialect: str, name: str) -> str:
    if dialect == "postgresql":
        table = _trigger_tables()[name]
        return f"DROP TRIGGER IF EXISTS {name} ON {table}"
    return f"DROP TRIGGER IF EXISTS {name}"


def _trigger_statements(dialect: str) -> list[str]:
    """Each trigger's latest definition: a later version may replace one."""
    import re

    latest: dict[str, str] = {}
    for migration in MIGRATIONS:
        for statement in migration[dialect]:
            created = re.match(r"\s*CREATE TRIGGER (\w+)", statement)
            if created:
                latest[created.group(1)] = statement
    return list(latest.values())


def _trigger_tables() -> dict[str, str]:
    """Each PostgreSQL trigger's table, read from its CREATE TRIGGER."""
    import re

    found = {}
    for statement in _trigger_statements("postgresql"):
        match = re.search(r"CREATE TRIGGER (\w+) .*? ON (\w+)", " ".join(statement.split()))
        if match:
            found[match.group(1)] = match.group(2)
    return found
