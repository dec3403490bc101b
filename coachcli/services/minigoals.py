"""Mini-goals (M5–M8): scores from KPI observations, states, and the nightly
evaluation that records every state change and tells the people concerned.

A goal's window runs from its start date through its due date, both whole
days: `observed_at` is text, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS", so a
window bound is compared as text — anything on the due date sorts before
"<due date>T24" — which keeps kpi_observations' primary key usable for the
range. (A DATE column has NUMERIC affinity in SQLite; compared with it as
is, observed_at could not use its index, hence the CAST to TEXT.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, func, text
from sqlmodel import Session, col, or_, select

from coachcli.db import bulk
from coachcli.db.models import CoachingSession, KpiObservation, MiniGoal, User
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, forbidden, not_found
from coachcli.metrics import Metric, achieved, find_metric, format_value
from coachcli.services import audit
from coachcli.services.people import in_scope

STATES = ("in_progress", "achieved", "missed")
STATE_LABELS = {"in_progress": "In Progress", "achieved": "Achieved", "missed": "Missed"}
FINAL_STATES = ("achieved", "missed")
SCORE_DECIMALS = 2

# Who and what a state change concerns, read only for the goals that changed.
_CHANGED_GOALS_SQL = text(
    """
    SELECT g.id, g.name, u.handle, g.assignee_id, s.coach_id, g.start_date
    FROM minigoals AS g
    JOIN users AS u ON u.id = g.assignee_id
    JOIN sessions AS s ON s.id = g.session_id
    WHERE g.id IN :ids
    """
).bindparams(bindparam("ids", expanding=True))
# Bound parameters per statement stay well under every backend's limit.
_IDS_PER_STATEMENT = 5000


def state_for(as_of: dt.date | str, due_date: dt.date | str, score: float | None, target: float, metric: Metric) -> str:
    """M6: in progress through the due date; then achieved or missed, and
    missed when the window had no observations at all."""
    as_of_text = as_of if isinstance(as_of, str) else as_of.isoformat()
    due_text = due_date if isinstance(due_date, str) else due_date.isoformat()
    if as_of_text <= due_text:
        return "in_progress"
    if score is None:
        return "missed"
    return "achieved" if achieved(score, target, metric) else "missed"


def evaluate(db: Session, as_of: dt.date) -> dict:
    """M8: compute and store every goal's score, samples and state as of a date.

    Only goals whose result changed are written (with evaluated_at), so a
    second run with the same data writes nothing. Each state change is kept in
    minigoal_changes; a goal that ends achieved or missed notifies its
    assignee and its session's coach. Returns {"as_of", "evaluated",
    "updated" (goals whose stored score, samples or state changed),
    "changes": [{"id", "name", "assignee", "metric", "from", "to", "score"}]}
    where changes are the state changes.
    """
    as_of_text = as_of.isoformat()
    rows = bulk.goal_window_aggregates(db, as_of_text)
    now = bulk.timestamp(utc_now())
    evaluated = 0
    metrics: dict[str, Metric] = {}
    results: list[tuple] = []
    state_changes: dict[int, tuple] = {}
    for goal_id, metric_key, target, due, old_score, old_samples, old_state, average, samples in rows:
        evaluated += 1
        metric = metrics.get(metric_key)
        if metric is None:
            metric = metrics[metric_key] = find_metric(metric_key)
        score = round(average, SCORE_DECIMALS) if samples else None
        state = state_for(as_of_text, due, score, target, metric)
        if score == old_score and samples == old_samples and state == old_state:
            continue
        results.append((score, samples, state, now, goal_id))
        if state != old_state:
            state_changes[goal_id] = (metric, target, due, old_state, state, score, samples)

    history, messages, changes = _record_state_changes(db, state_changes, as_of_text, now)
    bulk.update_minigoal_results(db, results)
    bulk.insert_minigoal_changes(db, history)
    bulk.insert_notifications(db, messages)
    if results:
        audit.record(
            db, None, "minigoal.evaluate", "minigoal", None,
            as_of=as_of_text, updated=len(results), state_changes=len(changes), notifications=len(messages),
        )
    return {"as_of": as_of, "evaluated": evaluated, "updated": len(results), "changes": changes}


def _record_state_changes(
    db: Session, state_changes: dict[int, tuple], as_of_text: str, now: str
) -> tuple[list[tuple], list[tuple], list[dict]]:
    """History rows, notifications and reported changes for the goals whose
    state changed; their names and people are read in one statement."""
    history: list[tuple] = []
    messages: list[tuple] = []
    changes: list[dict] = []
    if not state_changes:
        return history, messages, changes
    ids = sorted(state_changes)
    details = [
        row
        for first in range(0, len(ids), _IDS_PER_STATEMENT)
        for row in db.execute(_CHANGED_GOALS_SQL, {"ids": ids[first : first + _IDS_PER_STATEMENT]})
    ]
    wanted_texts: dict[tuple[str, float], str] = {}
    for goal_id, name, handle, assignee_id, coach_id, start in sorted(details):
        metric, target, due, old_state, state, score, samples = state_changes[goal_id]
        history.append((goal_id, now, as_of_text, old_state, state, score, samples))
        changes.append(
            {"id": goal_id, "name": name, "assignee": handle, "metric": metric.key,
             "from": old_state, "to": state, "score": score}
        )
        if state in FINAL_STATES:
            wanted = wanted_texts.get((metric.key, target))
            if wanted is None:
                wanted = wanted_texts[(metric.key, target)] = _wanted(metric, target)
            message = _final_message(name, handle, metric, state, score, wanted, start, due)
            kind = f"minigoal.{state}"
            messages.append((assignee_id, kind, message, "minigoal", goal_id, now))
            if coach_id is not None and coach_id != assignee_id:
                messages.append((coach_id, kind, message, "minigoal", goal_id, now))
    return history, messages, changes


def _wanted(metric: Metric, target: float) -> str:
    return f"target {'at most' if metric.lower_is_better else 'at least'} {format_value(target, metric)}"


def _final_message(
    name: str, handle: str, metric: Metric, state: str, score: float | None, wanted: str, start: str, due: str
) -> str:
    goal = f'Mini-goal "{name}" ({handle}, {metric.name}, {start} to {due})'
    if score is None:
        return f"{goal} missed: no {metric.name} data in the window ({wanted})."
    return f"{goal} {STATE_LABELS[state].lower()}: score {format_value(score, metric)}, {wanted}."


def _visible(actor: User):
    """The goal's assignee is in the actor's scope, or the actor coaches its session."""
    return or_(in_scope(actor, MiniGoal.assignee_id), CoachingSession.coach_id == actor.id)


def _goal_query():
    return (
        select(MiniGoal, User.handle)
        .join(User, User.id == MiniGoal.assignee_id)
        .join(CoachingSession, CoachingSession.id == MiniGoal.session_id)
    )


def _record(goal: MiniGoal, handle: str) -> dict:
    return {
        "id": goal.id,
        "name": goal.name,
        "assignee": handle,
        "metric": goal.metric,
        "target": goal.target,
        "start_date": goal.start_date,
        "due_date": goal.due_date,
        "score": goal.score,
        "samples": goal.samples,
        "state": goal.state,
        "session_id": goal.session_id,
        "evaluated_at": goal.evaluated_at,
    }


def list_minigoals(db: Session, actor: User, *, agent: User | None = None, state: str | None = None) -> list[dict]:
    """M7: the goals within the actor's scope, soonest due first."""
    query = _goal_query().where(_visible(actor))
    if agent is not None:
        query = query.where(MiniGoal.assignee_id == agent.id)
    if state is not None:
        wanted = state.strip().lower().replace("-", "_").replace(" ", "_")
        if wanted not in STATES:
            raise CoachError(f"bad state '{state}': use one of {', '.join(STATES)}")
        query = query.where(MiniGoal.state == wanted)
    rows = db.exec(query.order_by(col(MiniGoal.due_date), col(MiniGoal.id))).all()
    return [_record(goal, handle) for goal, handle in rows]


def find_minigoal(db: Session, actor: User, goal_id: int) -> tuple[MiniGoal, str]:
    row = db.exec(_goal_query().where(MiniGoal.id == goal_id)).first()
    if row is None:
        raise not_found(f"no mini-goal {goal_id}; see `coach minigoal list`")
    allowed = db.exec(_goal_query().with_only_columns(MiniGoal.id).where(MiniGoal.id == goal_id, _visible(actor))).first()
    if allowed is None:
        raise forbidden(f"mini-goal {goal_id} is outside the scope of '{actor.handle}'")
    return row[0], row[1]


def show_minigoal(db: Session, actor: User, goal_id: int, today: dt.date) -> dict:
    """The goal, plus its window so far as of `today`: the running score against
    the target, whether it would meet it now, and the daily averages."""
    goal, handle = find_minigoal(db, actor, goal_id)
    metric = find_metric(goal.metric)
    window_end = min(goal.due_date, today)
    days: list[tuple[str, float, int]] = []
    if window_end >= goal.start_date:
        day = func.substr(KpiObservation.observed_at, 1, 10)
        days = db.exec(
            select(day, func.sum(KpiObservation.value), func.count(KpiObservation.value))
            .where(
                KpiObservation.agent_id == goal.assignee_id,
                KpiObservation.metric == goal.metric,
                KpiObservation.observed_at >= goal.start_date.isoformat(),
                KpiObservation.observed_at < window_end.isoformat() + bulk.END_OF_DAY,
            )
            .group_by(day)
            .order_by(day)
        ).all()
    samples = sum(count for _, _, count in days)
    running = round(sum(total for _, total, _ in days) / samples, SCORE_DECIMALS) if samples else None
    return {
        **_record(goal, handle),
        "as_of": today,
        "window_from": goal.start_date,
        "window_to": window_end if window_end >= goal.start_date else None,
        "running_score": running,
        "running_samples": samples,
        "meets_target": achieved(running, goal.target, metric) if running is not None else None,
        "daily": [
            {"date": dt.date.fromisoformat(date), "average": round(total / count, SCORE_DECIMALS), "samples": count}
            for date, total, count in days
        ],
    }
