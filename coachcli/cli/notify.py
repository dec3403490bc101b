"""coach notify: deliver pending notifications through COACH_NOTIFY_COMMAND."""

from __future__ import annotations

import os

from coachcli.cli.context import command_group, unit_of_work
from coachcli.cli.output import FormatOption, View, emit
from coachcli.errors import CoachError, ExitCode

app = command_group()

SEND_COLUMNS = [("delivered", "Delivered"), ("failed", "Failed")]


@app.callback()
def notify() -> None:
    """Deliver pending notifications."""
    # A callback keeps `send` a subcommand: Typer would otherwise make a
    # one-command app that command itself.


@app.command("send")
def send(format: FormatOption = None) -> None:
    """Deliver every pending notification through COACH_NOTIFY_COMMAND.

    The command (split like a shell would, run without one) gets one
    notification as a JSON object on stdin: id, user, name, kind, message,
    record_type, record_id, created_at. Exit status 0 means delivered; anything
    else, or running longer than COACH_NOTIFY_TIMEOUT seconds (default 10),
    leaves the notification pending for the next run, and this command exits 7.
    """
    from coachcli.services import delivery

    command = delivery.hook_command(os.environ)
    timeout = delivery.hook_timeout(os.environ)
    # Read, deliver, record: no transaction stays open while hooks run.
    with unit_of_work(write=False) as db:
        notes = delivery.pending(db)
    outcomes = [(note["id"], delivery.run_hook(command, note, timeout)) for note in notes]
    if outcomes:
        with unit_of_work(write=True) as db:
            counts = delivery.record_outcomes(db, outcomes)
    else:
        counts = {"delivered": 0, "failed": 0}
    emit(counts, format, View(title="Notifications sent", columns=SEND_COLUMNS))
    if counts["failed"]:
        first = next(error for _, error in outcomes if error is not None)
        plural = "s" if counts["failed"] > 1 else ""
        raise CoachError(
            f"{counts['failed']} notification{plural} not delivered (first: {first}); "
            "they stay pending and the next `coach notify send` retries them",
            ExitCode.DELIVERY,
        )
