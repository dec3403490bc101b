"""coach inbox: the acting user's notifications."""

from typing import Annotated

import typer

from coachcli.cli.context import acting_user, single_command, unit_of_work
from coachcli.cli.output import FormatOption, View, emit

app = single_command()


@app.command()
def inbox(
    unread: Annotated[bool, typer.Option("--unread", help="Only notifications not seen yet.")] = False,
    format: FormatOption = None,
) -> None:
    """Your notifications, newest first (reading marks them read)."""
    from coachcli.services import notifications

    with unit_of_work(write=True) as db:
        records = notifications.inbox(db, acting_user(db), unread_only=unread)
    emit(records, format, View(title="Notifications", record=notifications.InboxRecord))
