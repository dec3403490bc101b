"""coach log: the append-only audit trail of every change."""

from typing import Annotated

import typer

from coachcli.cli.completion import complete_handle
from coachcli.cli.context import acting_user, single_command, unit_of_work
from coachcli.cli.output import FormatOption, View, emit

app = single_command()


@app.command()
def log(
    record: Annotated[
        str | None,
        typer.Option("--record", help="Only this record: TYPE or TYPE:ID, e.g. plan:3 or session.", show_default=False),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user", autocompletion=complete_handle, help="Only changes made by this handle.", show_default=False
        ),
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="From this date (inclusive).", show_default=False)] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Through this date (inclusive).", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many entries, newest first.")] = 200,
    format: FormatOption = None,
) -> None:
    """Show the audit trail (admins only): who changed what, and when."""
    from coachcli.services import audit

    with unit_of_work(write=False) as db:
        entries = audit.search(
            db, acting_user(db), record=record, actor_handle=user, since=since, until=until, limit=limit
        )
        emit(entries, format, View(title="Audit log", record=audit.AuditRecord))
