"""coach team: groups of agents and the coaches who supervise them."""

from typing import Annotated

import typer

from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.output import FormatOption, QuietOption, View, emit, emit_id

app = command_group()


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Team name.", metavar="NAME")],
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Add a team. A coach who adds a team supervises it."""
    from coachcli.db.models import stored_id
    from coachcli.services import users

    with unit_of_work(write=True) as db:
        actor = acting_user(db)
        team = users.add_team(db, actor, name)
        record = next(t for t in users.list_teams(db, actor) if t.id == stored_id(team))
    if quiet:
        emit_id(stored_id(team))
    else:
        emit(record, format, View(title="Team"))


@app.command("list")
def list_(format: FormatOption = None) -> None:
    """List the teams with their coaches and agents."""
    from coachcli.services import users

    with unit_of_work(write=False) as db:
        records = users.list_teams(db, acting_user(db))
    emit(records, format, View(title="Teams", record=users.TeamRecord))
