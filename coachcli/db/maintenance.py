"""The database as a whole: what it holds, whether it is sound, and a
consistent copy of it onto either backend (`coach db info|check|copy`)."""

from __future__ import annotations

from sqlalchemy import Engine, func, insert, inspect, select, text, union_all
from sqlmodel import SQLModel

from coachcli.db.engine import database_url, shown_url, sqlite_file, writer
from coachcli.db.migrations import LATEST_VERSION, MIGRATIONS, PROTECTING_TRIGGERS
from coachcli.errors import CoachError, ExitCode

COPY_BATCH = 10_000


def location(engine: Engine) -> str:
    """Where the database is, the password never shown."""
    path = sqlite_file(engine.url.render_as_string(hide_password=False))
    return str(path) if path else shown_url(engine.url)


def _tables() -> list:
    import coachcli.db.models  # noqa: F401  (the tables register themselves)

    return list(SQLModel.metadata.sorted_tables)


def row_counts(connection) -> dict[str, int]:
    """Every table's row count, in one statement."""
    tables = _tables()
    counts = union_all(*(select(func.count().label("rows")).select_from(table) for table in tables))
    return dict(zip((table.name for table in tables), connection.execute(counts).scalars(), strict=True))


def info(engine: Engine) -> dict:
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version FROM coach_schema")).scalar_one()
        return {
            "backend": engine.dialect.name,
            "location": location(engine),
            "schema_version": version,
            "tables": row_counts(connection),
        }


def check(engine: Engine) -> dict:
    """The backend's integrity check, the schema version, and every
    protecting trigger present (and, on PostgreSQL, enabled); refuses with
    the reason (exit 6) when anything is wrong."""
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version FROM coach_schema")).scalar_one()
        if version != LATEST_VERSION:
            _unsound(f"schema version {version}, expected {LATEST_VERSION}; run `coach init`")
        if engine.dialect.name == "sqlite":
            problems = [row for (row,) in connection.exec_driver_sql("PRAGMA integrity_check") if row != "ok"]
            problems += [
                f"foreign key broken in {row[0]}" for row in connection.exec_driver_sql("PRAGMA foreign_key_check")
            ]
            present = set(connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
        else:
            problems = []
            present = set(
                connection.exec_driver_sql(
                    """SELECT t.tgname FROM pg_trigger AS t
                       JOIN pg_class AS c ON c.oid = t.tgrelid
                       WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
                         AND c.relnamespace = current_schema()::regnamespace"""
                ).scalars()
            )
        if problems:
            _unsound("integrity check failed: " + "; ".join(problems[:5]))
        missing = sorted(set(PROTECTING_TRIGGERS[engine.dialect.name]) - present)
        if missing:
            _unsound(f"protecting trigger(s) missing or disabled: {', '.join(missing)}; restore them from a backup")
        return {
            "backend": engine.dialect.name,
            "location": location(engine),
            "schema_version": version,
            "integrity": "ok",
            "triggers": len(PROTECTING_TRIGGERS[engine.dialect.name]),
        }


def _unsound(reason: str) -> None:
    raise CoachError(f"the database is not sound: {reason}", ExitCode.DATABASE)


def refuse_unless_new(target: str) -> None:
    """A copy goes only into a new SQLite file or an empty PostgreSQL database."""
    url = database_url(target)
    path = sqlite_file(url)
    if path is not None:
        if path.exists():
            raise CoachError(
                f"{path} already exists; `db copy` writes only a new file — choose another name", ExitCode.REFUSED
            )
        return
    from coachcli.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise CoachError(
            f"{shown_url(url)} is not empty ({len(tables)} tables); `db copy` writes only into an empty database",
            ExitCode.REFUSED,
        )


def remove_new_file(target: str) -> None:
    """After a failed copy, the SQLite file it made (and its WAL) goes, so
    that trying again is not refused as "already exists"."""
    path = sqlite_file(database_url(target))
    if path is not None:
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)


def copy(source: Engine, target: Engine) -> dict[str, int]:
    """Copy every table from a consistent snapshot of the source into the new,
    migrated target, in one transaction on each side; returns the row counts,
    checked equal on both sides.

    The target's protecting triggers are dropped for the copy and made again
    before it commits: they refuse, rightly, what a copy must do (a closed
    plan's sessions arriving after the plan was closed, say).
    """
    snapshot = {"isolation_level": "REPEATABLE READ"} if source.dialect.name == "postgresql" else {}
    dialect = target.dialect.name
    with source.connect().execution_options(**snapshot) as reading, writer(target).begin() as writing:
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


def forget_old_pages(engine: Engine) -> bool:
    """After an erasure has committed: leave no old copy of the erased text in
    the SQLite file or its WAL. VACUUM rebuilds the file from live rows (it
    cannot run inside a transaction, hence after the commit), and a TRUNCATE
    checkpoint copies the WAL into the file and empties it. Returns False when
    another process kept the WAL from being emptied (its old frames then go at
    the next checkpoint). On PostgreSQL old row versions are the server's
    business (autovacuum); no table holds the text any more.
    """
    if engine.dialect.name != "sqlite":
        return True
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("VACUUM")
        busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        connection.close()
    return not busy


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
