"""coach init: create or upgrade the database, optionally with sample data."""

from typing import Annotated

import typer

from coachcli.cli.context import settings, single_command, unit_of_work
from coachcli.cli.output import FormatOption, View, emit, say

app = single_command()


@app.command()
def init(
    sample: Annotated[
        bool, typer.Option("--sample", help="Fill a new database with a realistic sample team, then show its plans.")
    ] = False,
    format: FormatOption = None,
) -> None:
    """Create the database (or upgrade its schema)."""
    from coachcli.db.engine import shown_location

    with unit_of_work(write=True, create=True) as db:
        if sample:
            from coachcli.parse import default_timezone_name, today_in
            from coachcli.services.sample import load_sample

            load_sample(db, today_in(default_timezone_name()))
    say(f"Database ready: {shown_location(settings.database)}")
    if sample:
        from coachcli.choices import PlanState
        from coachcli.services.people import find_user
        from coachcli.services.plans import PlanRecord, list_plans
        from coachcli.services.sample import SAMPLE_ADMIN

        with unit_of_work(write=False) as db:
            records = list(list_plans(db, find_user(db, SAMPLE_ADMIN), state=PlanState.all))
        emit(records, format, View(title="Performance plans", record=PlanRecord))
        say(
            f"Try: coach --as calvin plan show {records[-1].id}   ·   "
            "coach --as calvin minigoal list   ·   coach --as lee inbox"
        )
