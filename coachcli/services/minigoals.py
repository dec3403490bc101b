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
import functools

from sqlalchemy import func
from sqlmodel import Session, col, or_, select

from coachcli.db import bulk
from coachcli.db.models import CoachingSession, KpiObservation, MiniGoal, User
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, forbidden, not_found
from coachcli.metrics import Metric, achieved, find_metric, format_value
from coachcli.services import audit
from coachcli.services.people import find_user, in_scope

STATES = ("in_progress", "achieved", "missed")
STATE_LABELS = {"in_progress": "In Progress", "achieved": "Achieved", "missed": "Missed"}
FINAL_STATES = ("achieved", "missed")
SCORE_DECIMALS = 2


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


def evaluate(db: Session, as_of: dt.date, *, with_changes: bool = True) -> dict:
    """M8: compute and store every goal's score, samples and state as of a date.

    Only goals whose result changed are written (with evaluated_at), so a
    second run with the same data writes nothing. Each state change is kept in
    minigoal_changes; a goal that ends achieved or missed notifies its
    assignee and its session's coach. Returns {"as_of", "evaluated",
    "updated" (goals whose stored score, samples or state changed), and, with
    changes, "changes": [{"id", "name", "assignee", "metric", "from", "to",
    "score"}]} where changes are the state changes.
    """
    as_of_text = as_of.isoformat()
    now = bulk.timestamp(utc_now())
    with bulk.GoalEvaluation(db, score=_score, state=_state, message=_final_message) as run:
        evaluated, updated = run.decide(as_of_text)
        state_changes = run.store(now, as_of_text)
        notifications = run.notify(now)
        changes = run.state_changes() if with_changes else []
    if updated:
        audit.record(
            db, None, "minigoal.evaluate", "minigoal", None,
            as_of=as_of_text, updated=updated, state_changes=state_changes, notifications=notifications,
        )
    result = {"as_of": as_of, "evaluated": evaluated, "updated": updated}
    if with_changes:
        result["changes"] = [
            {"id": goal_id, "name": name, "assignee": handle, "metric": metric, "from": old, "to": new, "score": score}
            for goal_id, name, handle, metric, old, new, score in changes
        ]
    return result


def _score(average: float | None, samples: int) -> float | None:
    return round(average, SCORE_DECIMALS) if samples else None


def _state(as_of: str, due_date: str, score: float | None, target: float, metric_key: str) -> str:
    return state_for(as_of, due_date, score, target, find_metric(metric_key))


def _final_message(
    name: str, handle: str, metric_key: str, old_state: str, state: str,
    score: float | None, target: float, start: str, due: str,
) -> str | None:
    """What the people concerned are told when a goal ends achieved or missed;
    None for any other change."""
    if state == old_state or state not in FINAL_STATES:
        return None
    metric = find_metric(metric_key)
    goal = f'Mini-goal "{name}" ({handle}, {metric.name}, {start} to {due})'
    wanted = _wanted(metric, target)
    if score is None:
        return f"{goal} missed: no {metric.name} data in the window ({wanted})."
    return f"{goal} {STATE_LABELS[state].lower()}: score {format_value(score, metric)}, {wanted}."


@functools.lru_cache(maxsize=1024)
def _wanted(metric: Metric, target: float) -> str:
    return f"target {'at most' if metric.lower_is_better else 'at least'} {format_value(target, metric)}"


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


def list_minigoals(db: Session, actor: User, *, agent: str | None = None, state: str | None = None) -> list[dict]:
    """M7: the goals within the actor's scope (or one agent's, by handle), soonest due first."""
    query = _goal_query().where(_visible(actor))
    if agent:
        query = query.where(MiniGoal.assignee_id == find_user(db, agent).id)
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
