"""coach path: performance paths, assigned to agents."""

from typing import Annotated

import typer

from coachcli.cli.completion import complete_agent
from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.output import FormatOption, QuietOption, View, emit, emit_id, say

app = command_group()


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Path name.", metavar="NAME")],
    agents: Annotated[
        list[str] | None,
        typer.Option(
            "--agent",
            autocompletion=complete_agent,
            help="Agent to assign the path to; repeatable.",
            show_default=False,
        ),
    ] = None,
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Add a path, or assign an existing one to more agents."""
    from coachcli.db.models import stored_id
    from coachcli.services import paths

    with unit_of_work(write=True) as db:
        actor = acting_user(db)
        path, created, assigned = paths.add_path(db, actor, name, agents or [])
        record = paths.path_record(db, actor, path)
    if not created:
        say(f"Path '{path.name}' already existed; assigned it to {', '.join(assigned) or 'nobody new'}.")
    if quiet:
        emit_id(stored_id(path))
    else:
        emit(record, format, View(title="Performance path"))


@app.command("list")
def list_(format: FormatOption = None) -> None:
    """List performance paths with their agents within your scope."""
    from coachcli.services import paths

    with unit_of_work(write=False) as db:
        records = paths.list_paths(db, acting_user(db))
    emit(records, format, View(title="Performance paths", record=paths.PathRecord))
