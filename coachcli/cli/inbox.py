"""coach inbox: the acting user's notifications."""

from __future__ import annotations

from typing import Annotated

import typer

from coachcli.cli.context import acting_user, single_command, unit_of_work
from coachcli.cli.output import FormatOption, View, emit

app = single_command()

INBOX_COLUMNS = [("created_at", "When"), ("kind", "Kind"), ("message", "Message"), ("unread", "New")]
INBOX_KEYS = ("id", "kind", "message", "record_type", "record_id", "created_at", "unread")


@app.command()
def inbox(
    unread: Annotated[bool, typer.Option("--unread", help="Only notifications not seen yet.")] = False,
    format: FormatOption = None,
) -> None:
    """Your notifications, newest first (reading marks them read)."""
    from coachcli.services import notifications

    with unit_of_work(write=True) as db:
        records = notifications.inbox(db, acting_user(db), unread_only=unread)
    emit(records, format, View(title="Notifications", columns=INBOX_COLUMNS, keys=INBOX_KEYS))
