"""Bulk work that must be fast, in each backend's own fast path: the KPI
import's staging table and upsert (SQLite executemany, PostgreSQL COPY), the
batched insert of imported sessions, many rows at once (COPY or
executemany), and a scratch table for a set-based run.

They work inside the caller's transaction: nothing here begins or commits one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import (
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session

from coachcli.db.types import stored_utc

# Bound parameters per statement (IN lists, executemany batches) stay well
# under every backend's limit.
CHUNK = 500


def chunks(values: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _dialect(db: Session) -> str:
    return db.get_bind().dialect.name


def insert_sessions_in_order(db: Session, rows: list[dict]) -> list[int]:
    """Insert sessions in executemany batches and return their ids in row order.

    The ids are allocated first and given explicitly: RETURNING in row order
    would make SQLite insert one row per statement. On SQLite they count on
    from the highest one, which the caller's write lock (BEGIN IMMEDIATE)
    keeps for us; on PostgreSQL they come from the table's own sequence."""
    from coachcli.db.models import CoachingSession

    if _dialect(db) == "postgresql":
        ids = list(
            db.execute(
                text("SELECT nextval(pg_get_serial_sequence('sessions', 'id')) FROM generate_series(1, :n)"),
                {"n": len(rows)},
            ).scalars()
        )
    else:
        first = (db.execute(select(func.max(CoachingSession.id))).scalar() or 0) + 1
        ids = list(range(first, first + len(rows)))
    numbered = [{"id": session_id, **row} for session_id, row in zip(ids, rows, strict=True)]
    for batch in chunks(numbered, 1000):
        db.execute(insert(CoachingSession.__table__), batch)
    return ids


def insert_rows(db: Session, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows at once on the backend's fast path: COPY on
    PostgreSQL, the driver's executemany on SQLite. The values are as stored
    (timestamps as `stored_timestamp` gives them)."""
    if not rows:
        return
    names = ", ".join(columns)
    db.flush()
    if _dialect(db) == "postgresql":
        with raw_connection(db).cursor() as cursor:
            # PostgreSQL refuses COPY into a table whose row-level security
            # applies to the role (a linked or service role, not the owner):
            # those rows go in as one pipelined INSERT a row.
            if cursor.execute("SELECT row_security_active(%s)", (table.name,)).fetchone()[0]:
                placeholders = ", ".join("%s" for _ in columns)
                cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", rows)
                return
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    raw_connection(db).executemany(f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})", rows)


def rows_written(db: Session, statement: Executable) -> int:
    """The rows an INSERT … SELECT wrote: Session.execute is typed as
    returning a Result, but a DML statement's result is a CursorResult."""
    return cast(CursorResult, db.execute(statement)).rowcount


@contextmanager
def scratch_table(db: Session, table: Table) -> Iterator[Table]:
    """A TEMPORARY table for the length of a set-based run inside the caller's
    transaction (a failed run is rolled back, and the table with it). Rows
    written through it bypass the ORM, so nothing loaded is kept after."""
    db.flush()
    db.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
    table.create(db.connection())
    try:
        yield table
        db.execute(text(f"DROP TABLE {table.name}"))
    finally:
        db.expire_all()


def stored_timestamp(moment: dt.datetime) -> str:
    """A timestamp as the models store it (UTCDateTime), for the bulk writes."""
    return stored_utc(moment)


def raw_connection(db: Session) -> Any:
    """The driver's connection under the session, already inside its transaction."""
    return db.connection().connection.dbapi_connection


def kpi_staging(db: Session) -> KpiStaging:
    """A staging table for one KPI import, on the backend's fast path, used as
    a context manager around the import. Both collect rows in file order and apply them with one upsert, so a key
    repeated within the file keeps its last value, and each row is counted
    once: inserted (a new key), updated (a changed value) or unchanged."""
    if _dialect(db) == "postgresql":
        return PostgresqlKpiStaging(db)
    return SqliteKpiStaging(db)


class SqliteKpiStaging:
    """A TEMP table filled with executemany, then applied to kpi_observations
    with one INSERT … SELECT … ON CONFLICT DO UPDATE in file order.

    Temp tables live in SQLite's separate temp database, so staging writes
    nothing to the database file until `apply`.
    """

    TABLE = "temp.kpi_import"
    UPDATE_COUNTER = "temp.kpi_import_updates"
    UPDATE_TRIGGER = "temp.kpi_import_count_updates"
    # Page caches for the import's connection, in KiB (SQLite takes a negative
    # number as a size rather than a page count). The main cache holds the hot
    # part of kpi_observations' B-tree while rows land in it; staging spills to
    # SQLite's temp file beyond its cache. Together they keep a 1M-row import
    # near 150 MB peak.
    MAIN_CACHE_KIB = 48 * 1024
    TEMP_CACHE_KIB = 32 * 1024

    def __init__(self, db: Session):
        self._raw = raw_connection(db)
        self.rows = 0
        cursor = self._raw.cursor()
        cursor.execute(f"PRAGMA main.cache_size = -{self.MAIN_CACHE_KIB}")
        cursor.execute(f"PRAGMA temp.cache_size = -{self.TEMP_CACHE_KIB}")
        self.discard()
        cursor.execute(
            f"""CREATE TABLE {self.TABLE} (
                agent_id INTEGER NOT NULL,
                metric TEXT NOT NULL,
                observed_at TEXT NOT NULL,
                value REAL NOT NULL
            )"""
        )
        cursor.close()

    def add(self, rows: Sequence[tuple[int, str, str, float]]) -> None:
        """Stage a batch of (agent_id, metric key, observed_at, value)."""
        self._raw.executemany(f"INSERT INTO {self.TABLE} VALUES (?, ?, ?, ?)", rows)
        self.rows += len(rows)

    def apply(self) -> dict[str, int]:
        """Upsert the staged rows; returns the counts inserted, updated and unchanged."""
        cursor = self._raw.cursor()
        # The upsert's change count is inserts plus real updates; a temporary
        # trigger, firing only on a real update, tells the two apart without
        # a lookup per row. (A trigger body names its tables unqualified; the
        # temp schema is searched first.)
        cursor.execute(f"CREATE TABLE {self.UPDATE_COUNTER} (updated INTEGER NOT NULL)")
        cursor.execute(f"INSERT INTO {self.UPDATE_COUNTER} VALUES (0)")
        cursor.execute(
            f"""CREATE TRIGGER {self.UPDATE_TRIGGER} AFTER UPDATE OF value ON main.kpi_observations
                BEGIN UPDATE {self.UPDATE_COUNTER.removeprefix("temp.")} SET updated = updated + 1; END"""
        )
        cursor.execute(
            f"""INSERT INTO main.kpi_observations (agent_id, metric, observed_at, value)
                SELECT agent_id, metric, observed_at, value FROM {self.TABLE} ORDER BY rowid
                ON CONFLICT (agent_id, metric, observed_at)
                DO UPDATE SET value = excluded.value
                WHERE kpi_observations.value IS NOT excluded.value"""
        )
        changed = cursor.rowcount
        (updated,) = cursor.execute(f"SELECT updated FROM {self.UPDATE_COUNTER}").fetchone()
        cursor.close()
        self.discard()
        return {"inserted": changed - updated, "updated": updated, "unchanged": self.rows - changed}

    def __enter__(self) -> SqliteKpiStaging:
        return self

    def __exit__(self, *failure) -> None:
        """Nothing to finish: after a failure the caller rolls back, and the table with it."""

    def discard(self) -> None:
        """Drop the staging table and the counting trigger (a no-op when absent)."""
        self._raw.execute(f"DROP TRIGGER IF EXISTS {self.UPDATE_TRIGGER}")
        self._raw.execute(f"DROP TABLE IF EXISTS {self.UPDATE_COUNTER}")
        self._raw.execute(f"DROP TABLE IF EXISTS {self.TABLE}")


class PostgresqlKpiStaging:
    """A TEMP table filled with COPY, each row with its line in the file, then
    applied with one statement.

    PostgreSQL refuses to touch a row twice in one upsert, so only each key's
    last row is written. When no key repeats in the file, the usual case, that
    counts each row exactly as SQLite's in-order upsert does: a plain INSERT
    when every key is new, else an upsert whose RETURNING tells inserts from
    real updates. When a key repeats, the exact count is taken row by row: a
    key's first row against the stored value, each later row against the one
    before it in the file.
    """

    # The key sort over a large file stays in memory rather than spilling.
    WORK_MEM = "256MB"

    def __init__(self, db: Session):
        self._raw = raw_connection(db)
        self.rows = 0
        self._copy: Any = None
        with self._raw.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{self.WORK_MEM}'")
            cursor.execute("DROP TABLE IF EXISTS kpi_import")
            cursor.execute(
                """CREATE TEMP TABLE kpi_import (
                    line BIGINT NOT NULL,
                    agent_id INTEGER NOT NULL,
                    metric TEXT COLLATE "C" NOT NULL,
                    observed_at TEXT COLLATE "C" NOT NULL,
                    value DOUBLE PRECISION NOT NULL
                ) ON COMMIT DROP"""
            )

    def add(self, rows: Sequence[tuple[int, str, str, float]]) -> None:
        """Stage a batch of (agent_id, metric key, observed_at, value).

        One COPY stays open from the first batch to `apply`, so the server
        stores rows while the file's next ones are being read and checked."""
        if self._copy is None:
            self._cursor = self._raw.cursor()
            self._copying = self._cursor.copy("COPY kpi_import (line, agent_id, metric, observed_at, value) FROM STDIN")
            self._copy = self._copying.__enter__()
        write = self._copy.write_row
        for line, row in enumerate(rows, self.rows + 1):
            write((line, *row))
        self.rows += len(rows)

    def _end_copy(self, failure: tuple = (None, None, None)) -> None:
        """Finish the COPY (or, after a failure, abandon it) so the connection
        takes statements again."""
        if self._copy is not None:
            self._copy = None
            try:
                self._copying.__exit__(*failure)
            finally:
                self._cursor.close()

    def __enter__(self) -> PostgresqlKpiStaging:
        return self

    def __exit__(self, *failure) -> None:
        self._end_copy(failure)

    def apply(self) -> dict[str, int]:
        """Upsert the staged rows; returns the counts inserted, updated and unchanged."""
        self._end_copy()
        with self._raw.cursor() as cursor:
            cursor.execute("ANALYZE kpi_import")
            counted = self._insert_new_keys(cursor)
            if counted is None:
                counted = self._upsert(cursor)
            if counted is None:
                counted = self._apply_with_repeated_keys(cursor)
            inserted, updated = counted
            cursor.execute("DROP TABLE kpi_import")
        return {"inserted": inserted, "updated": updated, "unchanged": self.rows - inserted - updated}

    # Each way below is tried in a savepoint, from the cheapest, and undone
    # when its counts would not be exact. Rows go in key order, so the primary
    # key's B-tree is filled in order.
    _LATEST = """WITH latest AS MATERIALIZED (
                     SELECT DISTINCT ON (agent_id, metric, observed_at) agent_id, metric, observed_at, value
                     FROM kpi_import ORDER BY agent_id, metric, observed_at, line DESC
                 )"""

    def _insert_new_keys(self, cursor: Any) -> tuple[int, int] | None:
        """A file of new keys only (the usual append of new days) is a plain
        INSERT, much cheaper than an upsert; the first stored key it meets
        undoes it."""
        import psycopg

        cursor.execute("SAVEPOINT kpi_insert")
        try:
            cursor.execute(
                f"""{self._LATEST},
                    inserted AS (
                        INSERT INTO kpi_observations (agent_id, metric, observed_at, value)
                        SELECT agent_id, metric, observed_at, value FROM latest
                    )
                    SELECT count(*) FROM latest"""
            )
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT kpi_insert")
            return None
        (keys,) = cursor.fetchone()
        if keys != self.rows:
            cursor.execute("ROLLBACK TO SAVEPOINT kpi_insert")
            return None
        cursor.execute("RELEASE SAVEPOINT kpi_insert")
        return keys, 0

    def _upsert(self, cursor: Any) -> tuple[int, int] | None:
        """Each key's last row upserted; RETURNING tells inserts from real updates."""
        cursor.execute("SAVEPOINT kpi_upsert")
        cursor.execute(
            f"""{self._LATEST},
                upserted AS (
                    INSERT INTO kpi_observations (agent_id, metric, observed_at, value)
                    SELECT agent_id, metric, observed_at, value FROM latest
                    ON CONFLICT (agent_id, metric, observed_at)
                    DO UPDATE SET value = excluded.value
                    WHERE kpi_observations.value IS DISTINCT FROM excluded.value
                    RETURNING xmax = 0 AS inserted
                )
                SELECT (SELECT count(*) FROM latest),
                       count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
                FROM upserted"""
        )
        keys, inserted, updated = cursor.fetchone()
        if keys != self.rows:
            cursor.execute("ROLLBACK TO SAVEPOINT kpi_upsert")
            return None
        cursor.execute("RELEASE SAVEPOINT kpi_upsert")
        return inserted, updated

    @staticmethod
    def _apply_with_repeated_keys(cursor: Any) -> tuple[int, int]:
        """The upsert and SQLite's row-by-row counts in one statement, whose
        parts all see the table as it was before it."""
        cursor.execute(
            """WITH staged AS MATERIALIZED (
                   SELECT agent_id, metric, observed_at, value,
                          lag(value) OVER file_order AS earlier_value,
                          row_number() OVER file_order AS position,
                          count(*) OVER (PARTITION BY agent_id, metric, observed_at) AS copies
                   FROM kpi_import
                   WINDOW file_order AS (PARTITION BY agent_id, metric, observed_at ORDER BY line)
               ),
               upserted AS (
                   INSERT INTO kpi_observations (agent_id, metric, observed_at, value)
                   SELECT agent_id, metric, observed_at, value FROM staged WHERE position = copies
                   ON CONFLICT (agent_id, metric, observed_at)
                   DO UPDATE SET value = excluded.value
                   WHERE kpi_observations.value IS DISTINCT FROM excluded.value
               )
               SELECT
                   count(*) FILTER (WHERE s.position = 1 AND k.agent_id IS NULL),
                   count(*) FILTER (WHERE CASE WHEN s.position = 1
                                               THEN k.agent_id IS NOT NULL AND k.value IS DISTINCT FROM s.value
                                               ELSE s.value IS DISTINCT FROM s.earlier_value END)
               FROM staged AS s
               LEFT JOIN kpi_observations AS k
                 ON s.position = 1
                AND k.agent_id = s.agent_id AND k.metric = s.metric AND k.observed_at = s.observed_at"""
        )
        return cursor.fetchone()


KpiStaging = SqliteKpiStaging | PostgresqlKpiStaging
