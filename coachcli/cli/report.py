"""coach report: does coaching work? Impact against a control group, and
whether every agent is coached often enough and followed up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from coachcli.choices import DEFAULT_CADENCE, DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, Grouping
from coachcli.cli.completion import complete_coach, complete_metric
from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.output import FormatOption, OutputFormat, View, emit, resolve
from coachcli.records import as_dict, list_columns

if TYPE_CHECKING:
    from coachcli.services.reports import CadenceRecord, ImpactSummary, SessionImpact

app = command_group()

# Columns a table adds to the records' own, for a person at a terminal.
INTERVAL_COLUMN = ("interval", "95% CI of impact")
ATTENTION_COLUMN = ("attention", "Needs attention")
NEEDS_ATTENTION_STYLE = "bold red"
# Beyond this many sessions a bar a session is more to scroll than to look at.
SESSION_CHART_ROWS = 30

MetricFilter = Annotated[
    str | None,
    typer.Option(
        "--metric", autocompletion=complete_metric, help="Only this KPI metric (key or name).", show_default=False
    ),
]
CoachFilter = Annotated[
    str | None,
    typer.Option(
        "--coach", autocompletion=complete_coach, help="Only sessions of this coach (handle).", show_default=False
    ),
]
TeamFilter = Annotated[str | None, typer.Option("--team", help="Only agents of this team.", show_default=False)]
FromDate = Annotated[str | None, typer.Option("--from", help="Sessions on or after this date.", show_default=False)]
ToDate = Annotated[str | None, typer.Option("--to", help="Sessions on or before this date.", show_default=False)]


@app.callback()
def report() -> None:
    """Reports on coaching: impact and cadence."""


@app.command("impact")
def impact(
    metric: MetricFilter = None,
    coach: CoachFilter = None,
    team: TeamFilter = None,
    start: FromDate = None,
    end: ToDate = None,
    window: Annotated[
        int,
        typer.Option(
            "--window",
            min=1,
            max=MAX_WINDOW_DAYS,
            help="Days before and after the session to compare.",
            metavar="DAYS",
        ),
    ] = DEFAULT_WINDOW_DAYS,
    by: Annotated[
        Grouping, typer.Option("--by", case_sensitive=False, help="One row a session, coach or metric.")
    ] = Grouping.session,
    format: FormatOption = None,
) -> None:
    """Did coached agents improve on the session's KPI, by more than their team-mates?

    For each coached session with a KPI metric: the agent's average over the
    DAYS before the session date against the DAYS after it (the day itself
    counts in neither), the gain (positive is better), the same gain for
    team-mates not coached on the metric then (the control group), and
    impact = gain - control gain."""
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services import reports

    zone = default_timezone_name()
    today = today_in(zone)
    start_date = parse_date(start, today) if start else None
    end_date = parse_date(end, today) if end else None
    with unit_of_work(write=False) as db:
        records = reports.impact(
            db,
            acting_user(db),
            zone=zone,
            metric=metric,
            coach=coach,
            team=team,
            start=start_date,
            end=end_date,
            window=window,
            by=by,
        )
    on_terminal = resolve(format) is OutputFormat.table
    if by is Grouping.session:
        view = View(
            title=f"Coaching impact, {window} days before and after",
            record=reports.SessionImpact,
            aside=_session_chart,
        )
    else:
        summary = reports.SUMMARY_RECORDS[by]
        view = View(
            title=f"Coaching impact by {by.value}, {window} days before and after",
            record=summary,
            columns=[*list_columns(summary), INTERVAL_COLUMN] if on_terminal else None,
            aside=_summary_chart(by.value),
        )
    emit([_displayed_impact(record) for record in records] if on_terminal else records, format, view)


@app.command("cadence")
def cadence(
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day of the period [default: the 1st of --to's month, or of this month].",
            metavar="DATE",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Last day of the period [default: the last of --from's month, or of this month].",
            metavar="DATE",
            show_default=False,
        ),
    ] = None,
    minimum: Annotated[
        int,
        typer.Option(
            "--min",
            # At least one: a cadence of none would be met by every agent and flag nobody.
            min=1,
            help="Sessions in the period that meet the cadence.",
            metavar="SESSIONS",
        ),
    ] = DEFAULT_CADENCE,
    format: FormatOption = None,
) -> None:
    """Is every agent coached often enough, and followed up?

    One row an agent: sessions coached in the period (by the day they were
    coached in COACH_TZ), the last day ever coached, how many of the period's
    sessions the agent acknowledged, open and overdue action items, and
    whether they were coached at least SESSIONS times. A period given by one
    end only runs to the other end of that date's month."""
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services import reports

    zone = default_timezone_name()
    today = today_in(zone)
    start_date = parse_date(start, today) if start else None
    end_date = parse_date(end, today) if end else None
    on_terminal = resolve(format) is OutputFormat.table
    with unit_of_work(write=False) as db:
        records = reports.cadence(
            db, acting_user(db), zone=zone, today=today, start=start_date, end=end_date, minimum=minimum
        )
        first, last = reports.cadence_period(today, start_date, end_date)
        sessions = "session" if minimum == 1 else "sessions"
        view = View(
            title=f"Coaching cadence, {first} to {last}, at least {minimum} {sessions} each",
            record=reports.CadenceRecord,
            columns=[*list_columns(reports.CadenceRecord), ATTENTION_COLUMN] if on_terminal else None,
            row_style=_needs_attention_style,
        )
        emit((_displayed_cadence(record, minimum) for record in records) if on_terminal else records, format, view)


def _displayed_cadence(record: CadenceRecord, minimum: int) -> dict:
    """An agent's row as a supervisor reads it, saying what needs doing."""
    attention = []
    if not record.meets_cadence:
        short = minimum - record.coached
        attention.append("not coached" if record.coached == 0 else f"{short} session{'s' if short > 1 else ''} short")
    if record.overdue_actions:
        attention.append(f"{record.overdue_actions} overdue")
    return {
        **as_dict(record),
        "last_coached": record.last_coached or "never",
        "attention": ", ".join(attention),
    }


def _needs_attention_style(row: dict) -> str | None:
    return NEEDS_ATTENTION_STYLE if row["attention"] else None


def _displayed_impact(record: SessionImpact | ImpactSummary) -> dict:
    from coachcli.services.reports import SessionImpact

    if isinstance(record, SessionImpact):
        return _displayed_session(record)
    return _displayed_summary(record)


def _displayed_session(record: SessionImpact) -> dict:
    """A session's row as a person reads it: the metric's name and units, signed gains."""
    from coachcli.metrics import find_metric, format_value

    metric = find_metric(record.metric)
    return {
        **as_dict(record),
        "metric": metric.name,
        "before": format_value(record.before, metric),
        "after": format_value(record.after, metric),
        "gain": _signed(record.gain, metric),
        "control_gain": _signed(record.control_gain, metric),
        "impact": _signed(record.impact, metric),
        "improved": "" if record.improved is None else record.improved,
        # For the chart beside the table.
        "chart_label": f"{record.session_id} {record.agent}",
        "chart_gain": record.gain,
        "chart_impact": record.impact,
    }


def _displayed_summary(record: ImpactSummary) -> dict:
    from coachcli.metrics import find_metric
    from coachcli.services.reports import MetricImpact

    label = {"metric": find_metric(record.metric).name} if isinstance(record, MetricImpact) else {}
    return {
        **as_dict(record),
        **label,
        "mean_gain": _signed(record.mean_gain),
        "mean_impact": _signed(record.mean_impact),
        "interval": "needs 2 impacts"
        if record.ci_low is None or record.ci_high is None
        else f"{_signed(record.ci_low)} to {_signed(record.ci_high)}",
        # For the chart beside the table.
        "chart_gain": record.mean_gain,
        "chart_impact": record.mean_impact,
        "chart_ci_low": record.ci_low,
        "chart_ci_high": record.ci_high,
    }


def _signed(value: float | None, metric=None) -> str:
    """+60 s, -1.5 %, 0: a gain with its sign, in the metric's unit when there is one."""
    if value is None:
        return "no data"
    unit = {"seconds": " s", "percent": " %"}.get(metric.unit, "") if metric else ""
    number = f"{value:+.2f}".rstrip("0").rstrip(".") if value else "0"
    return number + unit


def _session_chart(rows: list[dict]):
    from coachcli.cli.charts import gain_and_impact

    if len(rows) > SESSION_CHART_ROWS:
        return None
    return gain_and_impact(
        rows, "chart_label", "chart_gain", "chart_impact", "Gain, and impact beyond the control group"
    )


def _summary_chart(grouping: str):
    def chart(rows: list[dict]):
        from coachcli.cli.charts import gain_and_impact

        return gain_and_impact(
            rows,
            grouping,
            "chart_gain",
            "chart_impact",
            f"Mean gain, and mean impact beyond the control group, by {grouping}",
            interval_keys=("chart_ci_low", "chart_ci_high"),
        )

    return chart
