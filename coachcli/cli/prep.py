"""coach prep: the 1:1 sheet — what the next conversation with an agent needs, on one page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from coachcli.cli.completion import complete_agent
from coachcli.cli.context import acting_user, single_command, unit_of_work
from coachcli.cli.output import FormatOption, OutputFormat, Section, View, emit, resolve

if TYPE_CHECKING:
    from coachcli.services.prep import MetricWindowsRecord, PrepGoalRecord, PrepRecord

app = single_command()

ACTION_COLUMNS = [("id", "Item"), ("session_id", "Session"), ("owner", "Owner"), ("text", "Text"), ("due_date", "Due")]
REQUEST_COLUMNS = [("id", "Request"), ("title", "Title"), ("kpi", "KPI"), ("rule", "Rule"), ("created_at", "Asked")]
WINDOW_MARK = "│"


@app.command()
def prep(
    agent: Annotated[
        str,
        typer.Argument(help="The agent (handle).", metavar="AGENT", autocompletion=complete_agent, show_default=False),
    ],
    days: Annotated[
        int | None,
        typer.Option("--days", help="Days in each window, 1-365 [default: 14].", metavar="DAYS", show_default=False),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day of the conversation (default: today in COACH_TZ).", show_default=False),
    ] = None,
    format: FormatOption = None,
) -> None:
    """The page to open before a 1:1 with an agent (coaches and admins).

    Each KPI's average over the DAYS before the as-of date against the DAYS
    before those, the change (positive is better) and a trend line; goals in
    progress with their score so far; open action items; the last coached
    session; sessions not acknowledged; open requests, a rule's included."""
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services import prep as sheets

    zone = default_timezone_name()
    today = today_in(zone)
    day = parse_date(as_of, today) if as_of else today
    chosen_days = sheets.DEFAULT_DAYS if days is None else days
    with unit_of_work(write=False) as db:
        sheet = sheets.prep(db, acting_user(db), agent, as_of=day, days=chosen_days, zone=zone)
    if resolve(format) is not OutputFormat.table:
        emit(sheet, format)
        return
    emit(_displayed(sheet), format, _page(sheet))


def _displayed(sheet: PrepRecord) -> PrepRecord:
    import datetime as dt

    from coachcli.records import shown
    from coachcli.services.prep import Windows

    last = sheet.last_session
    windows = Windows(sheet.as_of, sheet.days)
    day_before = dt.timedelta(days=1)
    return shown(
        sheet,
        days=f"recent {windows.recent_from} to {windows.last_day}, "
        f"previous {windows.previous_from} to {windows.recent_from - day_before}",
        last_session="never" if last is None else _last_session(last),
        unacknowledged=", ".join(map(str, sheet.unacknowledged)) or "none",
    )


def _last_session(session) -> str:
    when = session.date or (session.coached_at.date() if session.coached_at else "")
    return f"{session.id} “{session.title}” on {when} with {session.coach or 'no coach'}"


def _page(sheet: PrepRecord) -> View:
    return View(
        title=f"Before your 1:1 with {sheet.agent}",
        sections=[
            Section("KPIs", [_metric_row(entry) for entry in sheet.metrics]),
            Section("Goals in progress", [_goal_row(goal) for goal in sheet.goals]),
            Section("Open action items", sheet.actions, ACTION_COLUMNS),
            Section("Open requests", [_request_row(request) for request in sheet.requests], REQUEST_COLUMNS),
        ],
    )


def _metric_row(entry: MetricWindowsRecord) -> MetricWindowsRecord:
    from coachcli.cli.minigoal import sparkline
    from coachcli.cli.report import _signed
    from coachcli.metrics import find_metric, format_value
    from coachcli.records import shown

    metric = find_metric(entry.metric)
    daily = entry.daily
    half = len(daily) // 2
    better = "lower" if metric.lower_is_better else "higher"
    trend = f"{sparkline(daily[:half], None, daily)}{WINDOW_MARK}{sparkline(daily[half:], None, daily)}"
    return shown(
        entry,
        metric=metric.name,
        previous=_figure(entry.previous, entry.previous_samples, metric, format_value),
        recent=_figure(entry.recent, entry.recent_samples, metric, format_value),
        change=_signed(entry.change, metric),
        daily=f"{trend} ({better} is better)",
    )


def _figure(value, samples: int, metric, format_value) -> str:
    if value is None:
        return "no data"
    return f"{format_value(value, metric)} (n={samples})"


def _goal_row(goal: PrepGoalRecord) -> PrepGoalRecord:
    from coachcli.cli.minigoal import displayed_goal
    from coachcli.metrics import find_metric, format_value

    metric = find_metric(goal.metric)
    if goal.running_score is None:
        running = "no data yet"
    else:
        verdict = "meets the target" if goal.meets_target else "misses the target"
        running = f"{format_value(goal.running_score, metric)}, {verdict}"
    return displayed_goal(goal, running_score=running, at_risk="AT RISK" if goal.at_risk else "")


def _request_row(request) -> dict:
    from coachcli.metrics import find_metric
    from coachcli.records import as_dict

    return {**as_dict(request), "kpi": find_metric(request.kpi).name if request.kpi else "", "rule": request.rule or ""}
