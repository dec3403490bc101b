"""coach minigoal: short-term KPI targets set in coaching sessions."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from coachcli.choices import GoalState
from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.ids import record_id
from coachcli.cli.output import (
    AgentFilter,
    DryRunOption,
    FormatOption,
    OutputFormat,
    Section,
    View,
    emit,
    resolve,
    say,
)

if TYPE_CHECKING:
    from coachcli.services.minigoals import GoalChangeRecord, MiniGoalDetail, MiniGoalRecord

app = command_group()
GoalRecord = TypeVar("GoalRecord", bound="MiniGoalRecord")

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
NO_DATA_MARK = "·"

GoalId = Annotated[
    int,
    typer.Argument(
        parser=record_id("mini-goal"),
        help="Mini-goal id (see `coach minigoal list -o tsv`).",
        metavar="GOAL",
        show_default=False,
    ),
]


def _metric(key: str):
    from coachcli.metrics import find_metric

    return find_metric(key)


@app.command("list")
def list_(
    agent: AgentFilter = None,
    state: Annotated[
        GoalState | None,
        typer.Option("--state", case_sensitive=False, help="Only mini-goals in this state.", show_default=False),
    ] = None,
    format: FormatOption = None,
) -> None:
    """List mini-goals within your scope, soonest due first."""
    from coachcli.services import minigoals

    with unit_of_work(write=False) as db:
        records = minigoals.list_minigoals(db, acting_user(db), agent=agent, state=state)
        if resolve(format) is OutputFormat.table:
            records = (displayed_goal(record) for record in records)
        # Inside the transaction: the goals stream from the database to stdout.
        emit(records, format, View(title="Mini-goals", record=minigoals.MiniGoalRecord))


def displayed_goal(record: GoalRecord, **cells: Any) -> GoalRecord:
    """A goal as a person reads it: metric name, target and score in the
    metric's unit, its state in words (and any other cells given)."""
    from coachcli.metrics import format_value
    from coachcli.records import shown
    from coachcli.services.minigoals import STATE_LABELS

    metric = _metric(record.metric)
    score = format_value(record.score, metric)
    if record.state == "missed" and record.score is None:
        score = "no data"
    return shown(
        record,
        metric=metric.name,
        target=format_value(record.target, metric),
        score=score,
        state=STATE_LABELS.get(record.state, record.state),
        **cells,
    )


@app.command("show")
def show(goal_id: GoalId, format: FormatOption = None) -> None:
    """One mini-goal: its window, the score so far against the target, and a daily trend."""
    from coachcli.parse import default_timezone_name, today_in
    from coachcli.services import minigoals

    today = today_in(default_timezone_name())
    with unit_of_work(write=False) as db:
        record = minigoals.show_minigoal(db, acting_user(db), goal_id, today)
    if resolve(format) is not OutputFormat.table:
        emit(record, format, View(title="Mini-goal"))
        return
    from coachcli.metrics import format_value
    from coachcli.records import shown

    metric = _metric(record.metric)
    displayed = displayed_goal(
        record,
        window_from=f"{record.start_date.isoformat()} to {record.due_date.isoformat()} (both inclusive)",
        running_score=_running_text(record, metric),
        daily=_trend_text(record, metric),
    )
    daily = [shown(entry, average=format_value(entry.average, metric)) for entry in record.daily]
    emit(displayed, format, View(title="Mini-goal", sections=[Section("Daily", daily)]))


def _running_text(record: MiniGoalDetail, metric) -> str:
    from coachcli.metrics import format_value

    if record.window_to is None:
        return f"the window starts on {record.window_from.isoformat()}"
    span = f"{record.window_from.isoformat()} to {record.window_to.isoformat()}"
    if record.running_score is None:
        return f"no {metric.name} data from {span}"
    verdict = "meets the target" if record.meets_target else "does not meet the target yet"
    if record.window_to == record.due_date and record.as_of > record.due_date:
        verdict = "met the target" if record.meets_target else "did not meet the target"
    count = record.running_samples
    return (
        f"{format_value(record.running_score, metric)} from {count} observation{'s' if count != 1 else ''}, "
        f"{span}: {verdict}"
    )


def _trend_text(record: MiniGoalDetail, metric) -> str:
    """One block a day, from the window's start to today (or its due date);
    `·` is a day without data; the target's level is shown after the line."""
    if record.window_to is None or not record.daily:
        return ""
    averages = {entry.date: entry.average for entry in record.daily}
    days = (record.window_to - record.window_from).days + 1
    values: list[float | None] = [
        averages.get(record.window_from + dt.timedelta(days=offset)) for offset in range(days)
    ]
    line = sparkline(values, record.target)
    better = "lower" if metric.lower_is_better else "higher"
    return f"{line}  target {sparkline([record.target], record.target, values)} ({better} is better)"


def sparkline(values: list[float | None], target: float | None, scale: list[float | None] | None = None) -> str:
    """Unicode blocks ▁…█ scaled between the smallest and largest of the values
    and the target, if any (or of `scale`, to draw the target on another
    line's scale)."""
    known = [value for value in (scale if scale is not None else values) if value is not None]
    known += [target] if target is not None else []
    if not known:
        return NO_DATA_MARK * len(values)
    low, high = min(known), max(known)
    blocks = []
    for value in values:
        if value is None:
            blocks.append(NO_DATA_MARK)
        elif high == low:
            blocks.append(SPARK_LEVELS[len(SPARK_LEVELS) // 2])
        else:
            blocks.append(SPARK_LEVELS[round((value - low) / (high - low) * (len(SPARK_LEVELS) - 1))])
    return "".join(blocks)


@app.command("evaluate")
def evaluate(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Evaluate as of this date (default: today in COACH_TZ).", show_default=False),
    ] = None,
    dry_run: DryRunOption = False,
    format: FormatOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """Compute and store every goal's score and state (run nightly from cron).

    Idempotent: a second run changes nothing. Prints only what changed, and
    nothing at all when nothing did (-o json always prints the summary).
    Time only moves forward: an --as-of after today is a dry run, and one
    before the latest evaluation is refused."""
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services import minigoals, runs

    zone = default_timezone_name()
    today = today_in(zone)
    day = parse_date(as_of, today) if as_of else today
    why_dry = runs.dry_run_reason(day, zone, requested=dry_run)
    with unit_of_work(write=True, dry_run=why_dry is not None) as db:
        result = minigoals.evaluate(db, day, with_changes=not quiet)
    if why_dry:
        say(why_dry)
    if quiet:
        return
    chosen = resolve(format)
    if chosen is OutputFormat.json:
        emit(result, format)
        return
    if not result.changes:
        return
    changes = result.changes
    if chosen is OutputFormat.table:
        changes = [_displayed_change(change) for change in changes]
    emit(changes, format, View(title=f"Mini-goal changes as of {day.isoformat()}"))


def _displayed_change(change: GoalChangeRecord) -> GoalChangeRecord:
    from coachcli.metrics import format_value
    from coachcli.records import shown
    from coachcli.services.minigoals import STATE_LABELS

    score = format_value(change.score, _metric(change.metric)) if change.score is not None else "no data"
    return shown(
        change,
        old_state=STATE_LABELS.get(change.old_state, change.old_state),
        new_state=STATE_LABELS.get(change.new_state, change.new_state),
        score=score,
    )
