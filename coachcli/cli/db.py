"""coach db: what the database holds, whether it is sound, copies of it, and
rewriting its storage.

No acting user; on a PostgreSQL server they are for the owner, superusers,
the service role and linked admins (db/identity.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from coachcli.cli.context import command_group, settings
from coachcli.cli.output import FormatOption, View, emit, say

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from coachcli.db.maintenance import DatabaseCopy, DatabaseInfo

app = command_group()


def _with_tables(record: DatabaseInfo | DatabaseCopy, title: str, format: FormatOption) -> None:
    """The whole record as JSON; else its tables' row counts, a line a table."""
    from coachcli.cli.output import OutputFormat, resolve
    from coachcli.db.maintenance import TableRows, table_rows

    if resolve(format) is OutputFormat.json:
        emit(record, format)
        return
    emit(table_rows(record.tables), format, View(title=title, record=TableRows))


@contextmanager
def _database(target: str | None, *, create: bool = False) -> Iterator[Engine]:
    from coachcli.db import open_database
    from coachcli.db.identity import connected, require_maintainer

    engine = open_database(target, create=create)
    try:
        with engine.connect() as connection:
            require_maintainer(connected(connection))
        yield engine
    finally:
        engine.dispose()


@app.command("info")
def info(format: FormatOption = None) -> None:
    """The backend, where the database is (password hidden), its schema version and row counts."""
    from coachcli.db.maintenance import info as read_info

    with _database(settings.database) as engine:
        record = read_info(engine)
    say(f"{record.backend} database at {record.location}, schema version {record.schema_version}")
    _with_tables(record, "Tables", format)


@app.command("check")
def check(format: FormatOption = None) -> None:
    """Run the backend's integrity check and verify the schema version and every protecting trigger."""
    from coachcli.db.maintenance import check as run_check

    with _database(settings.database) as engine:
        record = run_check(engine)
    emit(record, format, View(title="Database check"))


@app.command("copy")
def copy(
    to: Annotated[str, typer.Option("--to", help="A new SQLite file, or the URL of an empty PostgreSQL database.")],
    format: FormatOption = None,
) -> None:
    """Copy the whole database, as one consistent snapshot, into a new SQLite file or an empty PostgreSQL database."""
    from coachcli.db.maintenance import copy_to

    with _database(settings.database) as source:
        copied = copy_to(source, to)
    say(f"Copied into {copied.target}")
    _with_tables(copied, "Rows copied", format)


@app.command("vacuum")
def vacuum(format: FormatOption = None) -> None:
    """Rewrite coach's tables so no old row version keeps erased or deleted text in
    the storage (PostgreSQL: VACUUM FULL, as the tables' owner; SQLite: VACUUM and a checkpoint)."""
    from coachcli.db.maintenance import location
    from coachcli.db.maintenance import vacuum as rewrite

    with _database(settings.database) as engine:
        record = rewrite(engine)
        where = location(engine)
    say(f"Rewrote the {record.tables} tables of {where}")
    if not record.complete:
        typer.echo(
            "coach: note: other transactions were still open, and old row versions they may see were kept; "
            "run `coach db vacuum` again when they have ended",
            err=True,
        )
    emit(record, format, View(title="Database vacuumed"))
