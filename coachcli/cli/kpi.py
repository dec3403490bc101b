"""coach kpi: the twelve metrics and the KPI observations behind mini-goals."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Optional, TextIO

import typer

from coachcli.cli.context import command_group, settings, unit_of_work
from coachcli.cli.output import AgentFilter, FormatOption, OutputFormat, View, emit, resolve
from coachcli.errors import CoachError

app = command_group()

METRIC_COLUMNS = [("key", "Key"), ("name", "Name"), ("direction", "Better when"), ("unit", "Unit")]
OBSERVATION_COLUMNS = [("agent", "Agent"), ("metric", "Metric"), ("observed_at", "Observed at"), ("value", "Value")]
IMPORT_COLUMNS = [
    ("inserted", "Inserted"),
    ("updated", "Updated"),
    ("unchanged", "Unchanged"),
    ("skipped", "Skipped"),
]


@app.command("metrics")
def metrics(format: FormatOption = None) -> None:
    """The twelve KPI metrics: key, name, which direction is better, unit."""
    from coachcli.services.kpi import metric_records

    records = metric_records()
    if resolve(format) is OutputFormat.table:
        records = [{**record, "direction": f"{record['direction']} is better"} for record in records]
    emit(records, format, View(title="KPI metrics", columns=METRIC_COLUMNS))


@app.command("import")
def import_(
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="CSV (agent,metric,observed_at,value) or JSON Lines; - reads stdin.")],
    skip_unknown: Annotated[
        bool, typer.Option("--skip-unknown", help="Leave out (and count) rows of agents coach does not know.")
    ] = False,
    format: FormatOption = None,
) -> None:
    """Import KPI observations; the same agent, metric and time again replaces the value.

    All or nothing: a file with any bad row is refused whole."""
    from coachcli.cli.inputs import progress_lines
    from coachcli.services import kpi, people

    with _import_source(source) as handle:
        try:
            with unit_of_work(write=True) as db:
                actor = people.acting_user(db, settings.acting_handle) if settings.acting_handle else None
                counts = kpi.import_observations(
                    db, actor, progress_lines(handle, source), _source_name(source), skip_unknown=skip_unknown
                )
        except UnicodeDecodeError:
            raise CoachError(f"{_source_name(source)} is not UTF-8 text; nothing imported") from None
    emit(counts, format, View(title="KPI import", columns=IMPORT_COLUMNS))


def _source_name(source: str) -> str:
    return "stdin" if source == "-" else source


@contextmanager
def _import_source(source: str) -> Iterator[TextIO]:
    """The file, or stdin copied to a temporary file first: a slow pipe must not
    keep the database's write lock while it trickles in, and a copy on disk
    keeps memory flat however big the input."""
    from coachcli.cli.inputs import open_source

    if source != "-":
        with open_source(source) as handle:
            yield handle
        return
    import shutil
    import tempfile

    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        try:
            # A byte-order mark is not part of the header (files get the same
            # treatment from open_source's utf-8-sig).
            spool.write(sys.stdin.read(1 << 16).removeprefix("\ufeff"))
            shutil.copyfileobj(sys.stdin, spool, 1 << 20)
        except UnicodeDecodeError:
            raise CoachError("stdin is not UTF-8 text; nothing imported") from None
        spool.seek(0)
        yield spool


@app.command("list")
def list_(
    agent: AgentFilter = None,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Only this metric (key or name).", show_default=False)] = None,
    start: Annotated[Optional[str], typer.Option("--from", help="From this date (inclusive).", show_default=False)] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Through this date (inclusive).", show_default=False)] = None,
    format: FormatOption = None,
) -> None:
    """List KPI observations within your scope."""
    from coachcli.cli.context import acting_user
    from coachcli.metrics import find_metric, format_value
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services import kpi

    today = today_in(default_timezone_name())
    start_date = parse_date(start, today) if start else None
    end_date = parse_date(end, today) if end else None
    with unit_of_work(write=False) as db:
        records = kpi.list_observations(db, acting_user(db), agent=agent, metric=metric, start=start_date, end=end_date)
    if resolve(format) is OutputFormat.table:
        records = [
            {**record, "metric": find_metric(record["metric"]).name,
             "value": format_value(record["value"], find_metric(record["metric"]))}
            for record in records
        ]
    emit(records, format, View(title="KPI observations", columns=OBSERVATION_COLUMNS))
