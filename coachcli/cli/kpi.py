"""coach kpi: the twelve metrics and the KPI observations behind mini-goals."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coachcli.cli.completion import complete_metric
from coachcli.cli.context import command_group, settings, unit_of_work
from coachcli.cli.inputs import EncodingOption, SheetOption, import_content, source_name
from coachcli.cli.output import AgentFilter, FormatOption, OutputFormat, View, emit, resolve

if TYPE_CHECKING:
    from coachcli.services.kpi import ObservationRecord

app = command_group()


class DateOrder(str, Enum):
    mdy = "mdy"
    dmy = "dmy"


@app.command("metrics")
def metrics(format: FormatOption = None) -> None:
    """The twelve KPI metrics: key, name, which direction is better, unit."""
    from coachcli.records import shown
    from coachcli.services.kpi import MetricRecord, metric_records

    records = metric_records()
    if resolve(format) is OutputFormat.table:
        records = [shown(record, direction=f"{record.direction} is better") for record in records]
    emit(records, format, View(title="KPI metrics", record=MetricRecord))


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
    emit(counts, format, View(title="KPI import"))


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
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services import kpi

    today = today_in(default_timezone_name())
    start_date = parse_date(start, today) if start else None
    end_date = parse_date(end, today) if end else None
    with unit_of_work(write=False) as db:
        rows = kpi.list_observations(db, acting_user(db), agent=agent, metric=metric, start=start_date, end=end_date)
        records: Iterable[Any] = rows
        if resolve(format) is OutputFormat.table:
            records = (_displayed(kpi.ObservationRecord(**row)) for row in rows)
        # Inside the transaction: the rows stream from the database to stdout.
        emit(records, format, View(title="KPI observations", record=kpi.ObservationRecord))


def _displayed(observation: ObservationRecord) -> ObservationRecord:
    """An observation as a person reads it: the metric's name, the value in its unit."""
    from coachcli.metrics import find_metric, format_value
    from coachcli.records import shown

    metric = find_metric(observation.metric)
    return shown(observation, metric=metric.name, value=format_value(observation.value, metric))
