"""coach kpi: the twelve metrics and the KPI observations behind mini-goals."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from coachcli.cli.completion import complete_metric
from coachcli.cli.context import command_group, settings, unit_of_work
from coachcli.cli.inputs import EncodingOption, SheetOption, import_content, source_name
from coachcli.cli.output import AgentFilter, FormatOption, OutputFormat, View, emit, resolve

app = command_group()


class DateOrder(str, Enum):
    mdy = "mdy"
    dmy = "dmy"


METRIC_COLUMNS = [
    ("key", "Key"),
    ("name", "Name"),
    ("direction", "Better when"),
    ("unit", "Unit"),
    ("aliases", "Also named (in reports)"),
]
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
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE|-",
            help="CSV (, ; or tab), JSON Lines or .xlsx; long (agent,metric,observed_at,value) or wide "
            "(agent, a date, one column a metric); - reads stdin.",
        ),
    ],
    skip_unknown: Annotated[
        bool,
        typer.Option(
            "--skip-unknown",
            help="Leave out (and count) the observations of agents coach does not know, and a wide file's columns that are no metric.",
        ),
    ] = False,
    date_order: Annotated[
        DateOrder | None,
        typer.Option(
            "--date-order",
            case_sensitive=False,
            help="How the file writes dates like 03/04/2026: mdy (M/D/YYYY) or dmy (D/M/YYYY) "
            "[default: the order its dates show]",
            show_default=False,
        ),
    ] = None,
    encoding: EncodingOption = None,
    sheet: SheetOption = None,
    format: FormatOption = None,
) -> None:
    """Import KPI observations; the same agent, metric and time again replaces the value.

    All or nothing: a file with any bad row is refused whole."""
    from coachcli.services import kpi, people

    with import_content(source, encoding=encoding, sheet=sheet) as content:
        with unit_of_work(write=True) as db:
            actor = people.acting_user(db, settings.acting_handle) if settings.acting_handle else None
            counts = kpi.import_observations(
                db,
                actor,
                content,
                source_name(source),
                skip_unknown=skip_unknown,
                date_order=date_order.value if date_order else None,
            )
    emit(counts, format, View(title="KPI import", columns=IMPORT_COLUMNS))


@app.command("list")
def list_(
    agent: AgentFilter = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric", autocompletion=complete_metric, help="Only this metric (key or name).", show_default=False
        ),
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="From this date (inclusive).", show_default=False)] = None,
    end: Annotated[str | None, typer.Option("--to", help="Through this date (inclusive).", show_default=False)] = None,
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
            records = (
                {
                    **record,
                    "metric": find_metric(record["metric"]).name,
                    "value": format_value(record["value"], find_metric(record["metric"])),
                }
                for record in records
            )
        # Inside the transaction: the rows stream from the database to stdout.
        emit(records, format, View(title="KPI observations", columns=OBSERVATION_COLUMNS))
