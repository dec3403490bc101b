"""Bulk work that must be fast, in SQLite's own SQL: the KPI import's staging
table and upsert, the batched insert of imported sessions, and the set-based
nightly evaluation of mini-goals.

They work on the raw DBAPI connection of the caller's session, inside the
caller's transaction: nothing here begins or commits one.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Sequence
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

EVALUATION_TABLE = "temp.minigoal_evaluation"

# Every goal's window aggregate, one range scan of kpi_observations' primary
# key (agent_id, metric, observed_at) a goal. observed_at is text
# ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS"); a DATE column has NUMERIC affinity
# in SQLite, and compared as is it would keep the index from bounding the
# range, hence the CAST. Observations after the as-of date do not count yet,
# so evaluating "as of" a past date sees only what was known by then.
# MATERIALIZED keeps SQLite from copying a rule's call into each place its
# result is used. (The statement starts with INSERT, not WITH, so the driver
# reports its row count.)
_DECIDE_SQL = f"""
    INSERT INTO {EVALUATION_TABLE} (id, score, samples, state, old_state)
    WITH windows AS MATERIALIZED (
        SELECT g.id, g.metric, g.target, g.due_date,
               g.score AS old_score, g.samples AS old_samples, g.state AS old_state,
               coach_goal_score(avg(k.value), count(k.value)) AS score, count(k.value) AS samples
        FROM main.minigoals AS g
        LEFT JOIN main.kpi_observations AS k
          ON k.agent_id = g.assignee_id
         AND k.metric = g.metric
         AND k.observed_at >= CAST(g.start_date AS TEXT)
         AND k.observed_at < (CASE WHEN g.due_date < :as_of THEN g.due_date ELSE :as_of END) || :end_of_day
        GROUP BY g.id
    ),
    decided AS MATERIALIZED (
        SELECT *, coach_goal_state(:as_of, due_date, score, target, metric) AS state FROM windows
    )
    SELECT id, score, samples, state, old_state FROM decided
    WHERE score IS NOT old_score OR samples IS NOT old_samples OR state IS NOT old_state
"""
_STATE_CHANGED = "e.state IS NOT e.old_state"


class GoalEvaluation:
    """One run of the nightly evaluation, set-based: a handful of statements
    whatever the number of goals.

    The rules stay in the caller's Python, registered as SQL functions: the
    score from a window's average and count, and the state from the as-of
    date, due date, score, target and metric, which SQLite calls once per goal
    from the one aggregate statement; and a state change's message (NULL for
    none), called once per changed goal. Only goals whose result changed land
    in a TEMP table, from which single statements update the goals, append
    their history and write notifications.
    """

    def __init__(
        self,
        db: Session,
        *,
        score: Callable[[float | None, int], float | None],
        state: Callable[[str, str, float | None, float, str], str],
        message: Callable[..., str | None],
    ):
        db.flush()
        self._db = db
        self._raw = raw_connection(db)
        self._rule_failure: BaseException | None = None
        self._raw.create_function("coach_goal_score", 2, self._guarded(score), deterministic=True)
        self._raw.create_function("coach_goal_state", 5, self._guarded(state), deterministic=True)
        self._raw.create_function("coach_goal_message", 9, self._guarded(message), deterministic=True)
        self._raw.execute(f"DROP TABLE IF EXISTS {EVALUATION_TABLE}")
        self._raw.execute(
            f"""CREATE TABLE {EVALUATION_TABLE} (
                id INTEGER PRIMARY KEY,
                score REAL,
                samples INTEGER NOT NULL,
                state TEXT NOT NULL,
                old_state TEXT NOT NULL,
                message TEXT
            )"""
        )

    def _guarded(self, rule: Callable) -> Callable:
        """The rule, remembering what it raised: SQLite reports only "user-defined
        function raised exception", and turns even Ctrl-C into that."""

        def call(*arguments):
            try:
                return rule(*arguments)
            except BaseException as failure:
                self._rule_failure = failure
                raise

        return call

    def _execute(self, statement: str, parameters: dict | None = None) -> sqlite3.Cursor:
        """Run a statement; when a rule failed inside it, raise the rule's own error."""
        self._rule_failure = None
        try:
            return self._raw.execute(statement, parameters or {})
        except sqlite3.Error:
            if self._rule_failure is not None:
                raise self._rule_failure from None
            raise

    def __enter__(self) -> GoalEvaluation:
        return self

    def __exit__(self, failure: type[BaseException] | None, *_details) -> None:
        # After a failure the caller rolls back, and the table with it.
        if failure is None:
            self._raw.execute(f"DROP TABLE IF EXISTS {EVALUATION_TABLE}")
        # Goals were written behind the ORM's back; nothing loaded may show stale rows.
        self._db.expire_all()

    def decide(self, as_of: str) -> tuple[int, int]:
        """Score and decide every goal as of a date: (goals evaluated, goals whose
        stored score, samples or state changed)."""
        changed = self._execute(_DECIDE_SQL, {"as_of": as_of, "end_of_day": END_OF_DAY}).rowcount
        (evaluated,) = self._execute("SELECT count(*) FROM main.minigoals").fetchone()
        return evaluated, changed

    def store(self, now: str, as_of: str) -> int:
        """Write the changed results, and a history row for each state change;
        returns the number of state changes."""
        self._execute(
            f"""UPDATE main.minigoals
                SET score = e.score, samples = e.samples, state = e.state, evaluated_at = :now
                FROM {EVALUATION_TABLE} AS e WHERE minigoals.id = e.id""",
            {"now": now},
        )
        return self._execute(
            f"""INSERT INTO main.minigoal_changes
                    (minigoal_id, changed_at, as_of, from_state, to_state, score, samples)
                SELECT e.id, :now, :as_of, e.old_state, e.state, e.score, e.samples
                FROM {EVALUATION_TABLE} AS e WHERE {_STATE_CHANGED} ORDER BY e.id""",
            {"now": now, "as_of": as_of},
        ).rowcount

    def notify(self, now: str) -> int:
        """Tell the assignee, and the session's coach when that is someone else,
        of each state change that has a message; returns the notifications written."""
        self._execute(
            f"""UPDATE {EVALUATION_TABLE} AS e
                SET message = coach_goal_message(g.name, u.handle, g.metric, e.old_state, e.state,
                                                 e.score, g.target, g.start_date, g.due_date)
                FROM main.minigoals AS g JOIN main.users AS u ON u.id = g.assignee_id
                WHERE g.id = e.id AND {_STATE_CHANGED}"""
        )
        # Goal by goal, the assignee's notification and then the coach's: the
        # order `notify send` delivers them in.
        return self._execute(
            f"""INSERT INTO main.notifications
                    (user_id, kind, message, record_type, record_id, created_at, attempts)
                SELECT CASE who.rank WHEN 0 THEN g.assignee_id ELSE s.coach_id END,
                       'minigoal.' || e.state, e.message, 'minigoal', e.id, :now, 0
                FROM {EVALUATION_TABLE} AS e
                JOIN main.minigoals AS g ON g.id = e.id
                JOIN main.sessions AS s ON s.id = g.session_id
                JOIN (SELECT 0 AS rank UNION ALL SELECT 1) AS who
                  ON who.rank = 0 OR (s.coach_id IS NOT NULL AND s.coach_id != g.assignee_id)
                WHERE e.message IS NOT NULL
                ORDER BY e.id, who.rank""",
            {"now": now},
        ).rowcount

    def state_changes(self) -> list[tuple[int, str, str, str, str, str, float | None]]:
        """(id, name, assignee handle, metric, from state, to state, score) of
        each goal whose state changed, by id."""
        return self._execute(
            f"""SELECT e.id, g.name, u.handle, g.metric, e.old_state, e.state, e.score
                FROM {EVALUATION_TABLE} AS e
                JOIN main.minigoals AS g ON g.id = e.id
                JOIN main.users AS u ON u.id = g.assignee_id
                WHERE {_STATE_CHANGED} ORDER BY e.id"""
        ).fetchall()


def timestamp(moment: dt.datetime) -> str:
    """A timestamp as the models store it (UTCDateTime), for raw writes."""
    return _TIMESTAMP.process_bind_param(moment, None)
