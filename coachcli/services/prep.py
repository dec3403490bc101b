"""The 1:1 sheet (SPEC §16): what the next conversation with an agent needs,
on one page — each metric's recent window against the one before, goals in
progress with their running score, open action items, the last coached
session, what the agent has not acknowledged, and open requests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, literal, select
from sqlmodel import Session, col

from coachcli.choices import ActionState, GoalState, SessionTab
from coachcli.db.expressions import END_OF_DAY, iso_date, local_date
from coachcli.db.models import CoachingSession, KpiObservation, MiniGoal, User, stored_id
from coachcli.errors import CoachError
from coachcli.metrics import METRICS
from coachcli.records import column, extended
from coachcli.services.actions import ActionRecord, list_actions
from coachcli.services.minigoals import MiniGoalRecord, list_minigoals, meets_target, score_of
from coachcli.services.people import coachable_agent
from coachcli.services.reminders import AT_RISK_DAYS
from coachcli.services.reports import gain_of, round_figure
from coachcli.services.sessions import SessionRecord, list_sessions, session_record

DEFAULT_DAYS = 14
MAX_DAYS = 365


def check_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise CoachError(f"invalid --days {days!r}: give a whole number of days from 1 to {MAX_DAYS}, e.g. 14")
    return days


@dataclass(frozen=True)
class Windows:
    """The recent window (the N days before as-of) and the previous one (the N before those)."""

    as_of: dt.date
    days: int

    @property
    def previous_from(self) -> dt.date:
        return self.as_of - dt.timedelta(days=2 * self.days)

    @property
    def recent_from(self) -> dt.date:
        return self.as_of - dt.timedelta(days=self.days)

    @property
    def last_day(self) -> dt.date:
        return self.as_of - dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class MetricWindowsRecord:
    """A metric's average over the recent window against the previous one,
    the change (positive is better), and its daily averages over both
    windows, oldest first (None for a day without data), for a trend line."""

    metric: str = column("KPI")
    recent: float | None = column("Recent")
    recent_samples: int = column(None)
    previous: float | None = column("Previous")
    previous_samples: int = column(None)
    change: float | None = column("Change")
    daily: list[float | None] = column("Trend (previous │ recent, a block a day)")


@dataclass(frozen=True, slots=True)
class PrepGoalRecord(MiniGoalRecord):
    """A goal in progress with its running score (its start date through the
    as-of date, M5), whether that meets the target now, and `at_risk` as
    `coach remind` has it (§8): due within 3 days and missing its target so
    far, or without data yet."""

    running_score: float | None = column("So far")
    running_samples: int = column(None)
    meets_target: bool | None = column(None)
    at_risk: bool = column("At risk")


@dataclass(frozen=True, slots=True)
class PrepRecord:
    """The 1:1 sheet; its lists are shown in sections of their own."""

    agent: str = column("Agent")
    as_of: dt.date = column("As of")
    days: int = column("Windows")
    metrics: list[MetricWindowsRecord] = column(None)
    goals: list[PrepGoalRecord] = column(None)
    actions: list[ActionRecord] = column(None)
    last_session: SessionRecord | None = column("Last coached")
    unacknowledged: list[int] = column("Not acknowledged")
    requests: list[SessionRecord] = column(None)


def prep(
    db: Session, actor: User, handle: str, *, as_of: dt.date, days: int = DEFAULT_DAYS, zone: str = "UTC"
) -> PrepRecord:
    """The sheet for one agent in the actor's scope (coaches and admins)."""
    agent = coachable_agent(db, actor, handle, "prepare a coaching conversation")
    windows = Windows(as_of, check_days(days))
    coached = list_sessions(db, actor, agent=agent.handle, tab=SessionTab.coached)
    last = _last_coached(db, stored_id(agent), zone)
    return PrepRecord(
        agent=agent.handle,
        as_of=as_of,
        days=windows.days,
        metrics=_metrics(db, stored_id(agent), windows),
        goals=_goals(db, actor, agent, as_of),
        actions=list(list_actions(db, actor, agent=agent.handle, state=ActionState.open, today=as_of)),
        last_session=session_record(db, actor, last) if last is not None else None,
        unacknowledged=sorted(record.id for record in coached if record.acknowledged_at is None),
        requests=list(list_sessions(db, actor, agent=agent.handle, tab=SessionTab.requested))[::-1],
    )


def _metrics(db: Session, agent_id: int, windows: Windows) -> list[MetricWindowsRecord]:
    """Every metric with data in either window, in the metrics' own order:
    one statement (sums and counts by metric and day)."""
    observations = KpiObservation.__table__.c
    day = func.substr(observations.observed_at, 1, 10)
    rows = db.execute(
        select(observations.metric, day, func.sum(observations.value), func.count(observations.value))
        .where(
            observations.agent_id == agent_id,
            observations.observed_at >= windows.previous_from.isoformat(),
            observations.observed_at < windows.last_day.isoformat() + END_OF_DAY,
        )
        .group_by(observations.metric, day)
    ).all()
    by_metric: dict[str, dict[str, tuple[float, int]]] = {}
    for metric, date, total, count in rows:
        by_metric.setdefault(metric, {})[date] = (total, count)
    recent_from = windows.recent_from.isoformat()
    sheet = []
    for metric in METRICS:
        daily = by_metric.get(metric.key)
        if not daily:
            continue
        previous_total, previous_count = _totals(figures for date, figures in daily.items() if date < recent_from)
        recent_total, recent_count = _totals(figures for date, figures in daily.items() if date >= recent_from)
        previous = previous_total / previous_count if previous_count else None
        recent = recent_total / recent_count if recent_count else None
        change = gain_of(recent - previous, metric.key) if recent is not None and previous is not None else None
        days = [windows.previous_from + dt.timedelta(days=offset) for offset in range(2 * windows.days)]
        sheet.append(
            MetricWindowsRecord(
                metric=metric.key,
                recent=round_figure(recent),
                recent_samples=recent_count,
                previous=round_figure(previous),
                previous_samples=previous_count,
                change=round_figure(change),
                daily=[_average(daily.get(day.isoformat())) for day in days],
            )
        )
    return sheet


def _totals(figures) -> tuple[float, int]:
    total, count = 0.0, 0
    for day_total, day_count in figures:
        total += day_total
        count += day_count
    return total, count


def _average(figures: tuple[float, int] | None) -> float | None:
    return None if figures is None else round_figure(figures[0] / figures[1])


def _goals(db: Session, actor: User, agent: User, as_of: dt.date) -> list[PrepGoalRecord]:
    """The agent's goals in progress, as PrepGoalRecord has them."""
    goals = list(list_minigoals(db, actor, agent=agent.handle, state=GoalState.in_progress))
    if not goals:
        return []
    goal, observations = MiniGoal.__table__.c, KpiObservation.__table__.c
    samples = func.count(observations.value)
    score = score_of(func.avg(observations.value), samples)
    running = {
        goal_id: (running_score, count, meets)
        for goal_id, running_score, count, meets in db.execute(
            select(goal.id, score, samples, meets_target(score, goal.target, goal.metric))
            .select_from(MiniGoal.__table__)
            .outerjoin(
                KpiObservation.__table__,
                and_(
                    observations.agent_id == goal.assignee_id,
                    observations.metric == goal.metric,
                    observations.observed_at >= iso_date(goal.start_date),
                    observations.observed_at < as_of.isoformat() + END_OF_DAY,
                ),
            )
            .where(col(goal.id).in_([record.id for record in goals]))
            .group_by(goal.id, goal.target, goal.metric)
        )
    }
    sheet = []
    for record in goals:
        running_score, count, meets = running[record.id]
        due_soon = as_of <= record.due_date <= as_of + dt.timedelta(days=AT_RISK_DAYS)
        missing = running_score is None or not meets
        sheet.append(
            extended(
                record,
                PrepGoalRecord,
                running_score=running_score,
                running_samples=count,
                meets_target=None if running_score is None else bool(meets),
                at_risk=due_soon and missing,
            )
        )
    return sheet


def _last_coached(db: Session, agent_id: int, zone: str) -> int | None:
    """The agent's coached session of the latest day: its scheduled date,
    else the day it was coached (in `zone`), as `report impact` dates it."""
    sessions = CoachingSession.__table__.c
    day = func.coalesce(iso_date(sessions.date), local_date(sessions.coached_at, literal(zone)))
    return db.execute(
        select(sessions.id)
        .where(sessions.agent_id == agent_id, sessions.state == "coached")
        .order_by(day.desc(), sessions.coached_at.desc(), sessions.id.desc())
        .limit(1)
    ).scalar()
