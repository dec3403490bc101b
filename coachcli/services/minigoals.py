"""Mini-goals (M5–M8): scores from KPI observations, states, and the nightly
evaluation that records every state change and tells the people concerned.

The rules are written once, as SQL expressions, so that they run inside the
set-based evaluation on either backend and in `minigoal show` alike: the
score (M5: the window's average, rounded to two decimals) and the state (M6).

A goal's window runs from its start date through its due date, both whole
days: `observed_at` is text, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS", so a
window bound is compared as text — anything on the due date sorts before
"<due date>T24" — which keeps kpi_observations' primary key usable for the
range.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    not_,
    update,
)
from sqlalchemy import select as select_columns  # sqlmodel's select types only ORM queries
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.expression import ColumnElement
from sqlmodel import Session, col, or_, select

from coachcli.choices import GoalState
from coachcli.db import bulk
from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.expressions import END_OF_DAY, end_of_day, iso_date, rounded
from coachcli.db.models import (
    CoachingSession,
    KpiObservation,
    MiniGoal,
    MiniGoalChange,
    Notification,
    User,
    stored_id,
)
from coachcli.db.types import UTCDateTime, utc_now
from coachcli.errors import forbidden, not_found
from coachcli.metrics import METRICS, Metric, find_metric, format_value
from coachcli.records import WITHHELD, column
from coachcli.services import audit, runs
from coachcli.services.people import find_user, in_scope

STATES = tuple(state.value for state in GoalState)
STATE_LABELS = {"in_progress": "In Progress", "achieved": "Achieved", "missed": "Missed"}
FINAL_STATES = ("achieved", "missed")
SCORE_DECIMALS = 2
LOWER_IS_BETTER = tuple(metric.key for metric in METRICS if metric.lower_is_better)
# The nightly evaluation's name in run_marks: it never runs as of an earlier date.
EVALUATION_RUN = "minigoal.evaluate"
# A window's first or last day: a date, or a DATE column.
Day = dt.date | SQLCoreOperations[dt.date]


def score_of(average: ColumnElement, samples: ColumnElement) -> ColumnElement:
    """M5/M6: the score is the window's average rounded to two decimals; none
    without observations."""
    return case((samples > 0, rounded(average, SCORE_DECIMALS)), else_=None)


def observed_within(agent_id: Any, metric: Any, first_day: Day, last_day: Day) -> ColumnElement[bool]:
    """A window of observations (M5): one agent's, of one metric, from the
    first day through the last, both whole days. The days are dates or DATE
    columns; either way the bounds are text, so the window is one range scan
    of kpi_observations' primary key (agent_id, metric, observed_at)."""
    observation = KpiObservation.__table__.c
    return and_(
        observation.agent_id == agent_id,
        observation.metric == metric,
        observation.observed_at >= (first_day.isoformat() if isinstance(first_day, dt.date) else iso_date(first_day)),
        observation.observed_at
        < (last_day.isoformat() + END_OF_DAY if isinstance(last_day, dt.date) else end_of_day(last_day)),
    )


def meets_target(score: SQLCoreOperations, target: SQLCoreOperations, metric: SQLCoreOperations) -> ColumnElement:
    """M6: a (rounded) score meets its target by the metric's direction: at
    most the target when lower is better, at least it otherwise."""
    lower = metric.in_(LOWER_IS_BETTER)
    return or_(and_(lower, score <= target), and_(not_(lower), score >= target))


def state_of(
    as_of: ColumnElement, due_date: ColumnElement, score: ColumnElement, target: ColumnElement, metric: ColumnElement
) -> ColumnElement:
    """M6: in progress through the due date; then achieved or missed, and
    missed when the window had no observations at all."""
    return case(
        (as_of <= due_date, "in_progress"),
        (score.is_(None), "missed"),
        (meets_target(score, target, metric), "achieved"),
        else_="missed",
    )


@dataclass(frozen=True, slots=True)
class GoalChangeRecord:
    """A goal whose state an evaluation changed."""

    id: int = column("ID")
    name: str = column("Name")
    assignee: str = column("Assignee")
    metric: str = column(None)
    old_state: str = column("From", key="from")
    new_state: str = column("To", key="to")
    score: float | None = column("Score")


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    as_of: dt.date = column("As of")
    evaluated: int = column("Evaluated")
    updated: int = column("Updated")
    # The state changes; WITHHELD (no key at all) when not asked for.
    changes: list[GoalChangeRecord] = column(None)


def evaluate(db: Session, as_of: dt.date, *, with_changes: bool = True) -> EvaluationRecord:
    """M8: compute and store every goal's score, samples and state as of a date
    (refused when earlier than the date of an evaluation already made).

    Only goals whose result changed are written (with evaluated_at), so a
    second run with the same data writes nothing. Each state change is kept in
    minigoal_changes. A goal that ends achieved or missed notifies its
    assignee, and each coach gets one digest of the goals of their sessions
    that ended in the run. Returns {"as_of", "evaluated", "updated" (goals
    whose stored score, samples or state changed), and with `with_changes`
    "changes": [{"id", "name", "assignee", "metric", "from", "to", "score"}]}
    where changes are the state changes.
    """
    runs.refuse_going_back(db, EVALUATION_RUN, as_of)
    now = utc_now()
    with bulk.scratch_table(db, _EVALUATION):
        evaluated, updated = _decide(db, as_of)
        state_changes = _store(db, now, as_of)
        changes = _state_changes(db)
    notifications = _notify_ended(db, as_of, [change for change in changes if change.state in FINAL_STATES], now)
    if updated:
        audit.record(
            db,
            None,
            "minigoal.evaluate",
            "minigoal",
            None,
            as_of=as_of.isoformat(),
            updated=updated,
            state_changes=state_changes,
            notifications=notifications,
        )
    runs.mark(db, EVALUATION_RUN, as_of)
    return EvaluationRecord(
        as_of=as_of,
        evaluated=evaluated,
        updated=updated,
        changes=[
            GoalChangeRecord(
                id=goal_id, name=name, assignee=assignee, metric=metric, old_state=old, new_state=new, score=score
            )
            for goal_id, name, assignee, _, _, metric, old, new, score, *_ in changes
        ]
        if with_changes
        else WITHHELD,
    )


# The nightly evaluation is set-based: a fixed number of statements whatever
# the number of goals. One aggregate scores every goal (the rules above run
# inside it, on either backend); only goals whose result changed land in this
# scratch table, from which single statements update the goals and append
# their history; the state changes are then read back in one query.
_EVALUATION = Table(
    "minigoal_evaluation",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("score", Float),
    Column("samples", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("old_state", Text, nullable=False),
    prefixes=["TEMPORARY"],
)


def _decide(db: Session, as_of: dt.date) -> tuple[int, int]:
    """Score and decide every goal as of a date: (goals evaluated, goals whose
    stored score, samples or state changed)."""
    goal, observation = MiniGoal.__table__.c, KpiObservation.__table__.c
    as_of_date = bindparam("as_of", as_of, type_=Date)
    # Observations after the as-of date do not count yet, so evaluating "as
    # of" a past date sees only what was known by then.
    window_end = case((goal.due_date < as_of_date, goal.due_date), else_=as_of_date)
    samples = func.count(observation.value)
    windows = (
        select_columns(
            goal.id,
            goal.metric,
            goal.target,
            goal.due_date,
            goal.score.label("old_score"),
            goal.samples.label("old_samples"),
            goal.state.label("old_state"),
            score_of(func.avg(observation.value), samples).label("score"),
            samples.label("samples"),
        )
        .select_from(
            MiniGoal.__table__.outerjoin(
                KpiObservation.__table__,
                observed_within(goal.assignee_id, goal.metric, goal.start_date, window_end),
            )
        )
        .group_by(goal.id)
        .subquery("windows")
    )
    decided = select_columns(
        windows.c.id,
        windows.c.score,
        windows.c.samples,
        state_of(as_of_date, windows.c.due_date, windows.c.score, windows.c.target, windows.c.metric).label("state"),
        windows.c.old_state,
        windows.c.old_score,
        windows.c.old_samples,
    ).subquery("decided")
    changed = bulk.rows_written(
        db,
        insert(_EVALUATION)
        .execution_options(preserve_rowcount=True)
        .from_select(
            ["id", "score", "samples", "state", "old_state"],
            select_columns(
                decided.c.id, decided.c.score, decided.c.samples, decided.c.state, decided.c.old_state
            ).where(
                or_(
                    decided.c.score.is_distinct_from(decided.c.old_score),
                    decided.c.samples.is_distinct_from(decided.c.old_samples),
                    decided.c.state.is_distinct_from(decided.c.old_state),
                )
            ),
        ),
    )
    evaluated = db.execute(select_columns(func.count()).select_from(MiniGoal.__table__)).scalar_one()
    return evaluated, changed


def _store(db: Session, now: dt.datetime, as_of: dt.date) -> int:
    """Write the changed results, and a history row for each state change;
    returns the number of state changes."""
    evaluation = _EVALUATION.c
    db.execute(
        update(MiniGoal.__table__)
        .where(MiniGoal.__table__.c.id == evaluation.id)
        .values(score=evaluation.score, samples=evaluation.samples, state=evaluation.state, evaluated_at=now)
    )
    return bulk.rows_written(
        db,
        insert(MiniGoalChange.__table__)
        .execution_options(preserve_rowcount=True)
        .from_select(
            ["minigoal_id", "changed_at", "as_of", "from_state", "to_state", "score", "samples"],
            select_columns(
                evaluation.id,
                literal(now, UTCDateTime),
                literal(as_of, Date),
                evaluation.old_state,
                evaluation.state,
                evaluation.score,
                evaluation.samples,
            )
            .where(evaluation.state != evaluation.old_state)
            .order_by(evaluation.id),
        ),
    )


def _state_changes(db: Session) -> list[Row]:
    """Each goal whose state changed, by id: id, name, assignee (handle),
    assignee_id, coach_id, metric, old_state, state, score, target,
    start_date, due_date."""
    evaluation = _EVALUATION.c
    goal, session, user = MiniGoal.__table__.c, CoachingSession.__table__.c, User.__table__.c
    return list(
        db.execute(
            select_columns(
                evaluation.id,
                goal.name,
                user.handle.label("assignee"),
                goal.assignee_id,
                session.coach_id,
                goal.metric,
                evaluation.old_state,
                evaluation.state,
                evaluation.score,
                goal.target,
                goal.start_date,
                goal.due_date,
            )
            .select_from(_EVALUATION)
            .join(MiniGoal.__table__, goal.id == evaluation.id)
            .join(User.__table__, user.id == goal.assignee_id)
            .join(CoachingSession.__table__, session.id == goal.session_id)
            .where(evaluation.state != evaluation.old_state)
            .order_by(evaluation.id)
        )
    )


NOTIFICATION_COLUMNS = ("user_id", "kind", "message", "record_type", "record_id", "created_at", "attempts")


def _notify_ended(db: Session, as_of: dt.date, ended: list, now: dt.datetime) -> int:
    """One notification per ended goal to its assignee, then one digest per
    coach (of sessions whose agent is someone else), in one statement;
    returns the notifications written. (This is the first evaluation's hot
    loop when thousands of goals end at once: each score is formatted once.)"""
    stamp = bulk.stored_timestamp(now)
    rows = []
    by_coach: dict[int, list[str]] = defaultdict(list)
    for goal_id, name, assignee, assignee_id, coach_id, metric_key, _, state, score, target, start, due in ended:
        metric = find_metric(metric_key)
        shown = None if score is None else format_value(score, metric)
        goal = f'Mini-goal "{name}" ({assignee}, {metric.name}, {start} to {due})'
        rows.append(
            (
                assignee_id,
                f"minigoal.{state}",
                _final_message(goal, state, metric, target, shown),
                "minigoal",
                goal_id,
                stamp,
                0,
            )
        )
        if coach_id is not None and coach_id != assignee_id:
            result = "no data" if shown is None else f"score {shown}"
            by_coach[coach_id].append(f'"{name}" ({assignee}, {metric.name}) {state}, {result}')
    rows += [
        (coach_id, "minigoal.digest", _digest(as_of, goals), "user", coach_id, stamp, 0)
        for coach_id, goals in by_coach.items()
    ]
    bulk.insert_rows(db, Notification.__table__, NOTIFICATION_COLUMNS, rows)
    return len(rows)


def _final_message(goal: str, state: str, metric: Metric, target: float, score: str | None) -> str:
    """What the assignee is told when a goal ends achieved or missed."""
    wanted = target_wanted(metric, target)
    if score is None:
        return f"{goal} missed: no {metric.name} data in the window ({wanted})."
    return f"{goal} {STATE_LABELS[state].lower()}: score {score}, {wanted}."


def _digest(as_of: dt.date, goals: list[str]) -> str:
    """A coach's one notification for a run: each goal of their sessions that
    ended, with its assignee, result and score."""
    count = f"{len(goals)} mini-goal{'s' if len(goals) != 1 else ''}"
    return f"{count} of your sessions ended as of {as_of.isoformat()}: " + "; ".join(goals) + "."


@functools.lru_cache(maxsize=1024)
def target_wanted(metric: Metric, target: float) -> str:
    """The target in words and units, e.g. "target at most 400 s (6:40)"."""
    return f"target {'at most' if metric.lower_is_better else 'at least'} {format_value(target, metric)}"


def _visible(actor: User):
    """The goal's assignee is in the actor's scope, or the actor coaches its session."""
    return or_(in_scope(actor, MiniGoal.assignee_id), CoachingSession.coach_id == actor.id)


def _goal_query():
    return (
        select(MiniGoal, User.handle)
        .join(User, col(User.id) == MiniGoal.assignee_id)
        .join(CoachingSession, col(CoachingSession.id) == MiniGoal.session_id)
    )


@dataclass(frozen=True, slots=True)
class MiniGoalRecord:
    id: int = column("ID")
    name: str = column("Name")
    assignee: str = column("Assignee")
    metric: str = column("Metric")
    target: float = column("Target")
    start_date: dt.date = column(None)
    due_date: dt.date = column("Due date")
    score: float | None = column("Score", listed=False)
    samples: int | None = column(None)
    state: str = column("Result")
    session_id: int = column("Session", listed=False)
    evaluated_at: dt.datetime | None = column("Evaluated at", listed=False)


@dataclass(frozen=True, slots=True)
class DailyRecord:
    """A day of a goal's window: its average and whether that meets the target."""

    date: dt.date = column("Date")
    average: float = column("Average")
    samples: int = column("Observations")
    meets_target: bool = column("Meets target")


@dataclass(frozen=True, slots=True)
class MiniGoalDetail(MiniGoalRecord):
    """The goal with its window so far as of a day: the running score against
    the target, whether it would meet it now, and the daily averages."""

    as_of: dt.date = column(None)
    window_from: dt.date = column("Window")
    window_to: dt.date | None = column(None)
    running_score: float | None = column("So far")
    running_samples: int = column(None)
    meets_target: bool | None = column(None)
    daily: list[DailyRecord] = column("Daily trend")


GoalRecord = TypeVar("GoalRecord", bound=MiniGoalRecord)


def _record(goal: MiniGoal, handle: str, record_type: type[GoalRecord], **more: Any) -> GoalRecord:
    """The goal as a record of this type (`more`: the fields it adds)."""
    return record_type(
        id=stored_id(goal),
        name=goal.name,
        assignee=handle,
        metric=goal.metric,
        target=goal.target,
        start_date=goal.start_date,
        due_date=goal.due_date,
        score=goal.score,
        samples=goal.samples,
        state=goal.state,
        session_id=goal.session_id,
        evaluated_at=goal.evaluated_at,
        **more,
    )


def list_minigoals(
    db: Session, actor: User, *, agent: str | None = None, state: GoalState | None = None
) -> Iterator[MiniGoalRecord]:
    """M7: the goals within the actor's scope (or one agent's, by handle),
    soonest due first, read as the caller consumes them (inside its
    transaction). The filters are checked at once."""
    query = _goal_query().where(_visible(actor))
    if agent:
        query = query.where(MiniGoal.assignee_id == find_user(db, agent).id)
    if state is not None:
        query = query.where(MiniGoal.state == GoalState(state).value)
    rows = db.exec(query.order_by(col(MiniGoal.due_date), col(MiniGoal.id)).execution_options(yield_per=STREAMED_ROWS))
    return (_record(goal, handle, MiniGoalRecord) for goal, handle in rows)


def find_minigoal(db: Session, actor: User, goal_id: int) -> tuple[MiniGoal, str]:
    row = db.exec(_goal_query().where(MiniGoal.id == goal_id)).first()
    if row is None:
        raise not_found(f"no mini-goal {goal_id}; see `coach minigoal list`")
    allowed = db.exec(
        _goal_query().with_only_columns(MiniGoal.id).where(MiniGoal.id == goal_id, _visible(actor))
    ).first()
    if allowed is None:
        raise forbidden(f"mini-goal {goal_id} is outside the scope of '{actor.handle}'")
    return row[0], row[1]


def show_minigoal(db: Session, actor: User, goal_id: int, today: dt.date) -> MiniGoalDetail:
    """The goal, plus its window so far as of `today`: the running score against
    the target, whether it would meet it now, and the daily averages."""
    goal, handle = find_minigoal(db, actor, goal_id)
    window_end = min(goal.due_date, today)
    days: Sequence[Any] = []
    running, samples, meets = None, 0, None
    if window_end >= goal.start_date:
        in_window = observed_within(goal.assignee_id, goal.metric, goal.start_date, window_end)
        target, metric = literal(goal.target), literal(goal.metric)
        day = func.substr(KpiObservation.observed_at, 1, 10)
        average = score_of(func.avg(KpiObservation.value), func.count(col(KpiObservation.value)))
        days = db.exec(
            select(day, average, func.count(col(KpiObservation.value)), meets_target(average, target, metric))
            .where(in_window)
            .group_by(day)
            .order_by(day)
        ).all()
        running, samples, meets = db.exec(
            select(average, func.count(col(KpiObservation.value)), meets_target(average, target, metric)).where(
                in_window
            )
        ).one()
    return _record(
        goal,
        handle,
        MiniGoalDetail,
        as_of=today,
        window_from=goal.start_date,
        window_to=window_end if window_end >= goal.start_date else None,
        running_score=running,
        running_samples=samples,
        meets_target=bool(meets) if running is not None else None,
        daily=[
            DailyRecord(date=dt.date.fromisoformat(date), average=average, samples=count, meets_target=bool(met))
            for date, average, count, met in days
        ],
    )
