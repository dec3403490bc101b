"""coach remind: reminders for cron — upcoming sessions, sessions not acknowledged,
action items due, mini-goals at risk."""

from typing import Annotated

import typer

from coachcli.cli.context import single_command, unit_of_work
from coachcli.cli.output import DryRunOption, FormatOption, OutputFormat, View, emit, resolve, say

app = single_command()


@app.command()
def remind(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Remind as of this date or date-time (default: now; without a UTC offset, in COACH_TZ).",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    format: FormatOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """Write the reminders that are due (run from cron, e.g. hourly).

    A scheduled session starting within 24 hours (to its agent and coach); a
    session coached 3 or more days ago and not acknowledged (to its agent); an
    open action item due by tomorrow or overdue (to its owner); a mini-goal in
    progress, due within 3 days, whose score so far would miss its target (to
    its assignee and coach). Each reminder goes out once,
    however often this runs. Prints what it wrote, and nothing when nothing
    (-o json always prints the summary); `coach notify send` delivers them.
    An --as-of after now is a dry run: reminders are never used up in advance."""
    from coachcli.db.types import utc_now
    from coachcli.parse import default_timezone_name, parse_moment, today_in
    from coachcli.services import reminders, runs

    zone = default_timezone_name()
    moment = parse_moment(as_of, zone, today_in(zone)) if as_of else utc_now()
    why_dry = runs.dry_run_reason(moment, zone, requested=dry_run)
    with unit_of_work(write=True, dry_run=why_dry is not None) as db:
        written = reminders.remind(db, moment, zone)
    if why_dry:
        say(why_dry)
    if quiet:
        return
    if resolve(format) is OutputFormat.json:
        emit(reminders.RemindRun(as_of=moment, reminders=written), format)
        return
    if written:
        emit(written, format, View(title="Reminders written", record=reminders.ReminderRecord))
