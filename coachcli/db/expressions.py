"""SQL expressions whose spelling differs by backend, written once for the
services: each compiles to SQLite's and to PostgreSQL's own SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Table, Text, cast
from sqlalchemy.sql.dml import Insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlmodel import Session

# Sorts after every observation time on a day ("…T23:59:59") and before the
# next day: a whole day's observations are `>= day` and `< day || END_OF_DAY`.
END_OF_DAY = "T24"


class rounded(FunctionElement):
    """round(value, places) on a double, as both backends round it: half away
    from zero. (PostgreSQL rounds to places only as numeric.)"""

    type = Float()
    name = "rounded"
    inherit_cache = True


@compiles(rounded)
def _rounded(element: rounded, compiler: Any, **options: Any) -> str:
    value, places = (compiler.process(clause, **options) for clause in element.clauses)
    return f"round({value}, {places})"


@compiles(rounded, "postgresql")
def _rounded_postgresql(element: rounded, compiler: Any, **options: Any) -> str:
    value, places = (compiler.process(clause, **options) for clause in element.clauses)
    return f"CAST(round(CAST({value} AS numeric), {places}) AS double precision)"


def day_text(date: ColumnElement) -> ColumnElement:
    """A DATE as its 'YYYY-MM-DD' text, to bound observed_at (text) by whole days."""
    return cast(date, Text)


def end_of_day(date: ColumnElement) -> ColumnElement:
    """The exclusive upper text bound of a day's observations."""
    return day_text(date) + END_OF_DAY


def insert_skipping_duplicates(db: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: a row that a unique key already holds
    is skipped, not refused. SQLAlchemy spells it only in each dialect's own
    insert construct."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()
