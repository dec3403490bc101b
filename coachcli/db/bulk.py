"""Bulk writes that must be fast, in SQLite's own SQL: the KPI import's staging
table and upsert, and the executemany writes of mini-goal evaluation (goal
results, their history, notifications).

They work on the raw DBAPI connection of the caller's session, inside the
caller's transaction: nothing here begins or commits one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from sqlmodel import Session

from coachcli.db.types import UTCDateTime

STAGING_TABLE = "temp.kpi_import"
UPDATE_COUNTER = "temp.kpi_import_updates"
UPDATE_TRIGGER = "temp.kpi_import_count_updates"
# Page caches for the import's connection, in KiB (SQLite takes a negative
# number as a size rather than a page count). The main cache holds the hot
# part of kpi_observations' B-tree while rows land in it; staging spills to
# SQLite's temp file beyond its cache. Together they keep a 1M-row import
# near 150 MB peak.
MAIN_CACHE_KIB = 48 * 1024
TEMP_CACHE_KIB = 32 * 1024
_TIMESTAMP = UTCDateTime()


# Bound parameters per statement (IN lists, executemany batches) stay well
# under every backend's limit.
CHUNK = 500


def chunks(values: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_sessions_in_order(db: Session, rows: list[dict]) -> list[int]:
    """Insert sessions in executemany batches and return their ids in row order.

    The ids are given explicitly, counting on from the highest one: the
    caller's write transaction (BEGIN IMMEDIATE) holds SQLite's write lock,
    so nobody else can take them meanwhile. (RETURNING in row order would
    make SQLite insert one row per statement; another backend would use its
    sequence here.)"""
    from sqlalchemy import func, insert, select

    from coachcli.db.models import CoachingSession

    first = (db.execute(select(func.max(CoachingSession.id))).scalar() or 0) + 1
    ids = list(range(first, first + len(rows)))
    numbered = [{"id": session_id, **row} for session_id, row in zip(ids, rows, strict=True)]
    for batch in chunks(numbered, 1000):
        db.execute(insert(CoachingSession.__table__), batch)
    return ids


def raw_connection(db: Session) -> Any:
    """The sqlite3 connection under the session, already inside its transaction."""
    return db.connection().connection.dbapi_connection


class KpiStaging:
    """A TEMP table collecting one import's rows in file order, then applied to
    kpi_observations with one INSERT … SELECT … ON CONFLICT DO UPDATE.

    Temp tables live in SQLite's separate temp database, so staging writes
    nothing to the database file until `apply`. Rows are applied in file
    order, so a key repeated within the file keeps its last value, and each
    row is counted once: inserted (a new key), updated (a changed value) or
    unchanged.
    """

    def __init__(self, db: Session):
        self._raw = raw_connection(db)
        self.rows = 0
        cursor = self._raw.cursor()
        cursor.execute(f"PRAGMA main.cache_size = -{MAIN_CACHE_KIB}")
        cursor.execute(f"PRAGMA temp.cache_size = -{TEMP_CACHE_KIB}")
        self.discard()
        cursor.execute(
            f"""CREATE TABLE {STAGING_TABLE} (
                agent_id INTEGER NOT NULL,
                metric TEXT NOT NULL,
                observed_at TEXT NOT NULL,
                value REAL NOT NULL
            )"""
        )
        cursor.close()

    def add(self, rows: Sequence[tuple[int, str, str, float]]) -> None:
        """Stage a batch of (agent_id, metric key, observed_at, value)."""
        self._raw.executemany(f"INSERT INTO {STAGING_TABLE} VALUES (?, ?, ?, ?)", rows)
        self.rows += len(rows)

    def apply(self) -> dict[str, int]:
        """Upsert the staged rows; returns the counts inserted, updated and unchanged."""
        cursor = self._raw.cursor()
        # The upsert's change count is inserts plus real updates; a temporary
        # trigger, firing only on a real update, tells the two apart without
        # a lookup per row. (A trigger body names its tables unqualified; the
        # temp schema is searched first.)
        cursor.execute(f"CREATE TABLE {UPDATE_COUNTER} (updated INTEGER NOT NULL)")
        cursor.execute(f"INSERT INTO {UPDATE_COUNTER} VALUES (0)")
        cursor.execute(
            f"""CREATE TRIGGER {UPDATE_TRIGGER} AFTER UPDATE OF value ON main.kpi_observations
                BEGIN UPDATE {UPDATE_COUNTER.removeprefix("temp.")} SET updated = updated + 1; END"""
        )
        cursor.execute(
            f"""INSERT INTO main.kpi_observations (agent_id, metric, observed_at, value)
                SELECT agent_id, metric, observed_at, value FROM {STAGING_TABLE} ORDER BY rowid
                ON CONFLICT (agent_id, metric, observed_at)
                DO UPDATE SET value = excluded.value
                WHERE kpi_observations.value IS NOT excluded.value"""
        )
        changed = cursor.rowcount
        (updated,) = cursor.execute(f"SELECT updated FROM {UPDATE_COUNTER}").fetchone()
        cursor.close()
        self.discard()
        return {"inserted": changed - updated, "updated": updated, "unchanged": self.rows - changed}

    def discard(self) -> None:
        """Drop the staging table and the counting trigger (a no-op when absent)."""
        self._raw.execute(f"DROP TRIGGER IF EXISTS {UPDATE_TRIGGER}")
        self._raw.execute(f"DROP TABLE IF EXISTS {UPDATE_COUNTER}")
        self._raw.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")


# Sorts after every observation time on a day ("…T23:59:59") and before the next day.
END_OF_DAY = "T24"

# Every goal's window aggregate in one statement: for each goal, a range scan
# of kpi_observations' primary key (agent_id, metric, observed_at).
# observed_at is text ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS"); a DATE column
# has NUMERIC affinity in SQLite, and compared as is it would keep the index
# from bounding the range, hence the CAST. Observations after the as-of date
# do not count yet, so evaluating "as of" a past date sees only what was
# known by then.
_GOAL_WINDOWS_SQL = """
    SELECT g.id, g.metric, g.target, g.due_date, g.score, g.samples, g.state,
           avg(k.value), count(k.value)
    FROM minigoals AS g
    LEFT JOIN kpi_observations AS k
      ON k.agent_id = g.assignee_id
     AND k.metric = g.metric
     AND k.observed_at >= CAST(g.start_date AS TEXT)
     AND k.observed_at < (CASE WHEN g.due_date < :as_of THEN g.due_date ELSE :as_of END) || :end_of_day
    GROUP BY g.id
"""


def goal_window_aggregates(db: Session, as_of: str) -> list[tuple]:
    """(id, metric, target, due_date, score, samples, state, average, count)
    for every mini-goal, read straight from the driver: ten thousand rows
    need no ORM or Row objects."""
    db.flush()
    cursor = raw_connection(db).execute(_GOAL_WINDOWS_SQL, {"as_of": as_of, "end_of_day": END_OF_DAY})
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def timestamp(moment: dt.datetime) -> str:
    """A timestamp as the models store it (UTCDateTime), for raw writes."""
    return _TIMESTAMP.process_bind_param(moment, None)


def _write_many(db: Session, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """One plain-SQL statement over many parameter rows on the raw connection,
    for writes of tens of thousands of rows where per-row ORM or Core
    processing would cost more than the SQL itself. Pending ORM changes go
    first, and loaded objects are expired after, so the session never shows
    stale rows."""
    if not rows:
        return
    db.flush()
    raw_connection(db).executemany(statement, rows)
    db.expire_all()


def update_minigoal_results(db: Session, rows: Sequence[tuple[float | None, int, str, str, int]]) -> None:
    """(score, samples, state, evaluated_at, id) for each goal whose result changed."""
    _write_many(db, "UPDATE minigoals SET score = ?, samples = ?, state = ?, evaluated_at = ? WHERE id = ?", rows)


def insert_minigoal_changes(
    db: Session, rows: Sequence[tuple[int, str, str, str, str, float | None, int]]
) -> None:
    """(minigoal_id, changed_at, as_of, from_state, to_state, score, samples) history rows."""
    _write_many(
        db,
        "INSERT INTO minigoal_changes (minigoal_id, changed_at, as_of, from_state, to_state, score, samples) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def insert_notifications(db: Session, rows: Sequence[tuple[int, str, str, str, int, str]]) -> None:
    """(user_id, kind, message, record_type, record_id, created_at), undelivered and unread."""
    _write_many(
        db,
        "INSERT INTO notifications (user_id, kind, message, record_type, record_id, created_at, attempts) "
        "VALUES (?, ?, ?, ?, ?, ?, 0)",
        rows,
    )
