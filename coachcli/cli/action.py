"""coach action: action items agreed in coaching sessions. There is no delete: items are kept."""

from typing import Annotated

import typer

from coachcli.choices import ActionState
from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.ids import record_id
from coachcli.cli.output import AgentFilter, FormatOption, QuietOption, View, emit, emit_id, say

app = command_group()

ActionId = Annotated[
    int, typer.Argument(parser=record_id("action item"), help="Action item id.", metavar="ID", show_default=False)
]


def _today():
    from coachcli.parse import default_timezone_name, today_in

    return today_in(default_timezone_name())


@app.command("add")
def add(
    session_id: Annotated[
        int,
        typer.Argument(
            parser=record_id("coaching session"),
            help="The session it was agreed in.",
            metavar="SESSION",
            show_default=False,
        ),
    ],
    text: Annotated[str, typer.Option("--text", help="What was agreed.")],
    due: Annotated[str | None, typer.Option("--due", help="Due date: YYYY-MM-DD, +7d, …", show_default=False)] = None,
    owner: Annotated[str, typer.Option("--owner", help="Who does it: agent or coach.")] = "agent",
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Add an action item to a draft or coached session (its coach, or an admin)."""
    from coachcli.db.models import stored_id
    from coachcli.services import actions

    with unit_of_work(write=True) as db:
        item = actions.add_action(db, acting_user(db), session_id, text, due=due, owner=owner, today=_today())
        record = actions.action_record(db, stored_id(item))
    if quiet:
        emit_id(record.id)
        return
    emit(record, format, View(title="Action item"))


@app.command("done")
def done(
    item_id: ActionId,
    note: Annotated[str | None, typer.Option("--note", help="How it went.", show_default=False)] = None,
    format: FormatOption = None,
) -> None:
    """Mark an action item done (its owner, the session's coach, or an admin); once."""
    from coachcli.db.models import stored_id
    from coachcli.services import actions

    with unit_of_work(write=True) as db:
        item = actions.complete_action(db, acting_user(db), item_id, note)
        record = actions.action_record(db, stored_id(item))
    say(f"Action item {item_id} done.")
    emit(record, format, View(title="Action item"))


@app.command("list")
def list_(
    agent: AgentFilter = None,
    state: Annotated[ActionState, typer.Option("--state", case_sensitive=False, help="Only items in this state.")] = (
        ActionState.open
    ),
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open items due before today.")] = False,
    format: FormatOption = None,
) -> None:
    """List action items within your scope, soonest due first."""
    from coachcli.services import actions

    with unit_of_work(write=False) as db:
        records = actions.list_actions(db, acting_user(db), agent=agent, state=state, overdue=overdue, today=_today())
        emit(records, format, View(title="Action items", record=actions.ActionRecord))
