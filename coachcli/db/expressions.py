"""SQL expressions that every backend spells its own way, written once for
the services: each compiles for SQLite and for PostgreSQL.

The date constructs yield a calendar date as 'YYYY-MM-DD' text, the form that
compares correctly with the text of kpi_observations.observed_at
('YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS'), so the services can bound
observation windows without knowing the backend.

SQLite has no time-zone database, so `local_date` calls a function that
coach registers on every SQLite connection (`register_sqlite_functions`):
Python's zoneinfo gives each timestamp the offset in force at that moment,
daylight saving included, which one fixed UTC offset passed in could not.
PostgreSQL does the same with AT TIME ZONE.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, String, Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session

LOCAL_DATE_FUNCTION = "coach_local_date"
# Sorts after every observation time on a day ("…T23:59:59") and before the
# next day: a whole day's observations are `>= day` and `< day || END_OF_DAY`.
END_OF_DAY = "T24"


class iso_date(FunctionElement):
    """A DATE column (or NULL) as 'YYYY-MM-DD' text."""

    type = String()
    name = "iso_date"
    inherit_cache = True


class shifted_date(FunctionElement):
    """shifted_date(day, days): the 'YYYY-MM-DD' date `days` (a whole number,
    negative for earlier) after `day`, itself a DATE or 'YYYY-MM-DD' text."""

    type = String()
    name = "shifted_date"
    inherit_cache = True


class local_date(FunctionElement):
    """local_date(timestamp, zone): the 'YYYY-MM-DD' date, in the IANA zone
    named, of an ISO-8601 UTC timestamp stored as text (db/types.UTCDateTime)."""

    type = String()
    name = "local_date"
    inherit_cache = True


def _arguments(element, compiler, **kw) -> list[str]:
    return [compiler.process(argument, **kw) for argument in element.clauses]


@compiles(iso_date, "sqlite")
def _iso_date_sqlite(element, compiler, **kw):
    # SQLite keeps a DATE as its 'YYYY-MM-DD' text already.
    (day,) = _arguments(element, compiler, **kw)
    return f"CAST({day} AS TEXT)"


@compiles(iso_date, "postgresql")
def _iso_date_postgresql(element, compiler, **kw):
    (day,) = _arguments(element, compiler, **kw)
    return f"to_char({day}, 'YYYY-MM-DD')"


@compiles(shifted_date, "sqlite")
def _shifted_date_sqlite(element, compiler, **kw):
    day, days = _arguments(element, compiler, **kw)
    return f"date({day}, CAST({days} AS INTEGER) || ' days')"


@compiles(shifted_date, "postgresql")
def _shifted_date_postgresql(element, compiler, **kw):
    day, days = _arguments(element, compiler, **kw)
    return f"to_char(CAST({day} AS DATE) + CAST({days} AS INTEGER), 'YYYY-MM-DD')"


@compiles(local_date, "sqlite")
def _local_date_sqlite(element, compiler, **kw):
    moment, zone = _arguments(element, compiler, **kw)
    return f"{LOCAL_DATE_FUNCTION}({moment}, {zone})"


@compiles(local_date, "postgresql")
def _local_date_postgresql(element, compiler, **kw):
    moment, zone = _arguments(element, compiler, **kw)
    return f"to_char(CAST({moment} AS TIMESTAMPTZ) AT TIME ZONE {zone}, 'YYYY-MM-DD')"


def _local_date_of(moment: str | None, zone: str | None) -> str | None:
    if moment is None or zone is None:
        return None
    return dt.datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).date().isoformat()


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """What `local_date` needs on a SQLite connection (called as it connects)."""
    connection.create_function(LOCAL_DATE_FUNCTION, 2, _local_date_of, deterministic=True)


class rounded(FunctionElement):
    """round(value, places) on a double, as both backends round it: half away
    from zero. (PostgreSQL rounds to places only as numeric.)"""

    type = Float()
    name = "rounded"
    inherit_cache = True


@compiles(rounded)
def _rounded(element: rounded, compiler: Any, **options: Any) -> str:
    value, places = _arguments(element, compiler, **options)
    return f"round({value}, {places})"


@compiles(rounded, "postgresql")
def _rounded_postgresql(element: rounded, compiler: Any, **options: Any) -> str:
    value, places = _arguments(element, compiler, **options)
    return f"CAST(round(CAST({value} AS numeric), {places}) AS double precision)"


def end_of_day(date: SQLCoreOperations) -> ColumnElement:
    """The exclusive upper text bound of a day's observations."""
    return iso_date(date) + END_OF_DAY


def insert_skipping_duplicates(db: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: a row that a unique key already holds
    is skipped, not refused. SQLAlchemy spells it only in each dialect's own
    insert construct."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()
