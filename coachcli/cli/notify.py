"""coach notify: deliver pending notifications through COACH_NOTIFY_COMMAND."""

import os

from coachcli.cli.context import command_group, unit_of_work
from coachcli.cli.output import FormatOption, View, emit
from coachcli.errors import CoachError, ExitCode

app = command_group()


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
    Runs that overlap deliver each notification once: each claims what it sends.
    """
    from coachcli.services import delivery

    command = delivery.hook_command(os.environ)
    timeout = delivery.hook_timeout(os.environ)
    environment = delivery.hook_environment(os.environ)
    token, size = delivery.new_claim(), delivery.batch_size(timeout)
    counts = delivery.SendRecord(delivered=0, failed=0)
    errors: list[str] = []
    after_id = 0
    # Claim a batch (committed before any hook runs, so an overlapping run
    # skips it), deliver, record: no transaction stays open while hooks run.
    while True:
        with unit_of_work(write=True) as db:
            notes = delivery.claim(db, token, after_id=after_id, limit=size)
        if not notes:
            break
        after_id = notes[-1].id
        outcomes = [(note.id, delivery.run_hook(command, note, timeout, environment)) for note in notes]
        with unit_of_work(write=True) as db:
            batch = delivery.record_outcomes(db, token, outcomes)
        counts += batch
        errors += [error for _, error in outcomes if error is not None]
    emit(counts, format, View(title="Notifications sent"))
    if counts.failed:
        first = errors[0]
        plural = "s" if counts.failed > 1 else ""
        raise CoachError(
            f"{counts.failed} notification{plural} not delivered (first: {first}); "
            "they stay pending and the next `coach notify send` retries them",
            ExitCode.DELIVERY,
        )
