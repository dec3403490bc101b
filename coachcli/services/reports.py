"""Reports: does coaching work?

`impact` compares, for each coached session with a KPI metric, the agent's
average of that metric in the N days before the session with the N days
after it, and sets that change against the same change for the agent's
team-mates who were not coached on the metric around then (the control
group): impact = the agent's gain − the control group's mean gain.

One SQL statement does the work for every session at once: the sessions and
their window bounds; the team-mates who qualify as controls; the coached
agent's window averages and each control's change as correlated subqueries,
range scans of kpi_observations' primary key (agent_id, metric,
observed_at) — one over D−N … D+N for a control's change; and the control
group's mean change per session. (Subqueries rather than one join grouped by
window: on SQLite the grouping sorted every joined observation, ten times
slower at 10,000 sessions.) Python then applies the metric's direction,
rounds, and groups the rows for `--by coach|metric`.

`cadence` lists, for every agent in scope, how often they were coached in a
period and what is left to follow up: acknowledgements, open and overdue
action items. One statement counts for every agent (sessions and action
items grouped by agent, joined to the agents), one more lists their teams.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, func, literal, select
from sqlmodel import Session, col

from coachcli.choices import DEFAULT_CADENCE, DEFAULT_WINDOW_DAYS, Grouping
from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.expressions import END_OF_DAY, iso_date, local_date, shifted_date
from coachcli.db.models import (
    ActionItem,
    CoachingSession,
    KpiObservation,
    SessionAcknowledgement,
    TeamMembership,
    User,
    stored_id,
)
from coachcli.errors import CoachError
from coachcli.metrics import find_metric
from coachcli.records import column
from coachcli.services.actions import is_overdue
from coachcli.services.people import COACHING_ROLES, a_role, find_team, find_user, in_scope, require_coaching_role
from coachcli.services.users import team_names_by_user
from coachcli.stats import mean_interval

DECIMALS = 2


@dataclass(frozen=True, slots=True)
class SessionImpact:
    """`report impact`: one coached session against its control group."""

    session_id: int = column("Session")
    agent: str = column("Agent")
    coach: str | None = column("Coach")
    metric: str = column("Metric")
    date: dt.date = column("Date")
    before: float | None = column("Before")
    before_samples: int = column("n")
    after: float | None = column("After")
    after_samples: int = column("n")
    gain: float | None = column("Gain")
    control_gain: float | None = column("Control gain")
    control_agents: int = column("Controls")
    impact: float | None = column("Impact")
    improved: bool | None = column("Improved")


# `report impact --by coach|metric`: the sessions of one coach or metric
# summed up. The two differ only in their first key, which names the group.
# ci_low and ci_high: the 95% confidence interval of the mean impact
# (Student's t over the sessions measured against a control); none below two
# of them. A table shows them as one column of its own.


@dataclass(frozen=True, slots=True)
class CoachImpact:
    coach: str | None = column("Coach")
    sessions: int = column("Sessions")
    measured: int = column("Measured")
    improved: int = column("Improved")
    mean_gain: float | None = column("Mean gain")
    mean_impact: float | None = column("Mean impact")
    ci_low: float | None = column(None)
    ci_high: float | None = column(None)


@dataclass(frozen=True, slots=True)
class MetricImpact:
    metric: str = column("Metric")
    sessions: int = column("Sessions")
    measured: int = column("Measured")
    improved: int = column("Improved")
    mean_gain: float | None = column("Mean gain")
    mean_impact: float | None = column("Mean impact")
    ci_low: float | None = column(None)
    ci_high: float | None = column(None)


ImpactSummary = CoachImpact | MetricImpact
SUMMARY_RECORDS: dict[Grouping, type[CoachImpact] | type[MetricImpact]] = {
    Grouping.coach: CoachImpact,
    Grouping.metric: MetricImpact,
}


def impact(
    db: Session,
    actor: User,
    *,
    zone: str,
    metric: str | None = None,
    coach: str | None = None,
    team: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    window: int = DEFAULT_WINDOW_DAYS,
    by: Grouping = Grouping.session,
) -> list[SessionImpact] | list[ImpactSummary]:
    """The impact report, one record a session (`by="session"`, ordered by
    session date then id) or one a coach or metric (by handle or key).

    A session's date is its scheduled date, else the date in `zone` it was
    coached. Filters: metric (key or name), coach (handle), team (the agent's,
    by name), session dates from `start` through `end`.
    """
    require_coaching_role(actor, "run reports, which compare agents with their team-mates")
    by = Grouping(by)
    if start is not None and end is not None and start > end:
        raise CoachError(f"--from {start.isoformat()} is after --to {end.isoformat()}: give the earlier date first")
    filters = _SessionFilters(
        metric=find_metric(metric).key if metric is not None else None,
        coach_id=_coach_id(db, coach) if coach is not None else None,
        team_id=find_team(db, team).id if team is not None else None,
        start=start.isoformat() if start is not None else None,
        end=end.isoformat() if end is not None else None,
    )
    rows = db.execute(_impact_statement(actor, filters, window, zone)).all()
    measured = [_measured(row) for row in rows]
    if by is Grouping.session:
        return [session.record for session in measured]
    return _summaries(measured, by)


def _coach_id(db: Session, handle: str) -> int:
    user = find_user(db, handle)
    if user.role not in COACHING_ROLES:
        raise CoachError(f"'{user.handle}' is {a_role(user.role)}, not a coach; give --coach a coach's handle")
    return stored_id(user)


@dataclass(frozen=True)
class _SessionFilters:
    """The filters as the SQL compares them: ids, a metric key, 'YYYY-MM-DD' text."""

    metric: str | None
    coach_id: int | None
    team_id: int | None
    start: str | None
    end: str | None


def session_dates(zone: str):
    """Every coached session with a KPI metric, and its date D as 'YYYY-MM-DD'
    text: the scheduled date, else the local date it was coached."""
    sessions = CoachingSession.__table__.c
    day = func.coalesce(iso_date(sessions.date), local_date(sessions.coached_at, literal(zone)))
    return (
        select(
            sessions.id,
            sessions.agent_id,
            sessions.coach_id,
            sessions.kpi.label("metric"),
            day.label("day"),
        )
        .where(sessions.state == "coached", sessions.kpi.is_not(None))
        .cte("coached_sessions")
        .prefix_with("MATERIALIZED")
    )


def _impact_statement(actor: User, filters: _SessionFilters, window: int, zone: str):
    coached = session_dates(zone)
    memberships = TeamMembership.__table__
    users = User.__table__

    # The chosen sessions, each with its window bounds.
    conditions = [in_scope(actor, coached.c.agent_id)]
    if filters.metric is not None:
        conditions.append(coached.c.metric == filters.metric)
    if filters.coach_id is not None:
        conditions.append(coached.c.coach_id == filters.coach_id)
    if filters.team_id is not None:
        agent_team = memberships.alias("agent_team")
        conditions.append(
            exists().where(agent_team.c.user_id == coached.c.agent_id, agent_team.c.team_id == filters.team_id)
        )
    if filters.start is not None:
        conditions.append(coached.c.day >= filters.start)
    if filters.end is not None:
        conditions.append(coached.c.day <= filters.end)
    chosen = (
        select(
            coached.c.id,
            coached.c.agent_id,
            coached.c.coach_id,
            coached.c.metric,
            coached.c.day,
            shifted_date(coached.c.day, literal(-window)).label("before_from"),
            shifted_date(coached.c.day, literal(1)).label("after_from"),
            shifted_date(coached.c.day, literal(window)).label("after_to"),
        )
        .where(*conditions)
        .cte("chosen")
        .prefix_with("MATERIALIZED")
    )

    # The control group: agents sharing a team with the coached agent, not
    # coached on the metric within D−N … D+N themselves, each counted once.
    own_team = memberships.alias("own_team")
    mate_team = memberships.alias("mate_team")
    mate = users.alias("mate")
    other = coached.alias("other_session")
    candidates = (
        select(chosen.c.id.label("session_id"), mate_team.c.user_id.label("agent_id"))
        .distinct()
        .select_from(chosen)
        .join(own_team, own_team.c.user_id == chosen.c.agent_id)
        .join(mate_team, and_(mate_team.c.team_id == own_team.c.team_id, mate_team.c.user_id != chosen.c.agent_id))
        .join(mate, and_(mate.c.id == mate_team.c.user_id, mate.c.role == "agent"))
        .where(
            ~exists().where(
                other.c.agent_id == mate_team.c.user_id,
                other.c.metric == chosen.c.metric,
                other.c.day >= chosen.c.before_from,
                other.c.day <= chosen.c.after_to,
            )
        )
        .cte("control_candidates")
        .prefix_with("MATERIALIZED")
    )
    # A candidate's change in one range scan over D−N … D+N; without data in
    # either window it is NULL, and the candidate is no control.
    changes = (
        select(candidates.c.session_id, _change(candidates.c.agent_id, chosen).label("change"))
        .select_from(candidates)
        .join(chosen, chosen.c.id == candidates.c.session_id)
        .cte("control_changes")
        .prefix_with("MATERIALIZED")
    )
    control = (
        select(
            changes.c.session_id,
            func.avg(changes.c.change).label("control_change"),
            func.count(changes.c.change).label("control_agents"),
        )
        .group_by(changes.c.session_id)
        .cte("control_groups")
    )

    agent = users.alias("agent")
    coach = users.alias("coach")
    return (
        select(
            chosen.c.id,
            agent.c.handle.label("agent"),
            coach.c.handle.label("coach"),
            chosen.c.metric,
            chosen.c.day,
            _before(func.avg, chosen.c.agent_id, chosen),
            _before(func.count, chosen.c.agent_id, chosen),
            _after(func.avg, chosen.c.agent_id, chosen),
            _after(func.count, chosen.c.agent_id, chosen),
            control.c.control_change,
            func.coalesce(control.c.control_agents, 0),
        )
        .select_from(chosen)
        .join(agent, agent.c.id == chosen.c.agent_id)
        .join(coach, coach.c.id == chosen.c.coach_id, isouter=True)
        .join(control, control.c.session_id == chosen.c.id, isouter=True)
        .order_by(chosen.c.day, chosen.c.id)
    )


def _change(agent_id, sessions):
    """The agent's average over the after window minus the before one, as
    one range scan of kpi_observations' primary key over D−N … D+N (day D
    itself in neither window)."""
    kpi = KpiObservation.__table__.c
    before = case((kpi.observed_at < sessions.c.day, kpi.value))
    after = case((kpi.observed_at >= sessions.c.after_from, kpi.value))
    return (
        select(func.avg(after) - func.avg(before))
        .where(
            kpi.agent_id == agent_id,
            kpi.metric == sessions.c.metric,
            kpi.observed_at >= sessions.c.before_from,
            kpi.observed_at < sessions.c.after_to + END_OF_DAY,
        )
        .scalar_subquery()
    )


def _window(aggregate, agent_id, metric, lowest: object, below: object):
    """aggregate(value) over one agent's observations of the metric with
    lowest <= observed_at < below (text comparison): one range scan of
    kpi_observations' primary key (agent_id, metric, observed_at)."""
    kpi = KpiObservation.__table__.c
    return (
        select(aggregate(kpi.value))
        .where(kpi.agent_id == agent_id, kpi.metric == metric, kpi.observed_at >= lowest, kpi.observed_at < below)
        .scalar_subquery()
    )


def _before(aggregate, agent_id, sessions):
    """Over D−N … D−1: anything on day D sorts at or after 'D'."""
    return _window(aggregate, agent_id, sessions.c.metric, sessions.c.before_from, sessions.c.day)


def _after(aggregate, agent_id, sessions):
    """Over D+1 … D+N: anything on day D+N sorts before 'D+N' || 'T24'."""
    return _window(aggregate, agent_id, sessions.c.metric, sessions.c.after_from, sessions.c.after_to + END_OF_DAY)


def gain_of(change: float | None, metric_key: str) -> float | None:
    """Positive means better: after − before, or before − after when lower is better."""
    if change is None:
        return None
    return -change if find_metric(metric_key).lower_is_better else change


def round_figure(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS) + 0.0  # + 0.0: never "-0.0"


@dataclass(frozen=True)
class _Measured:
    """A session's record, and its gain and impact before rounding (for the means)."""

    record: SessionImpact
    gain: float | None
    impact: float | None


def _measured(row) -> _Measured:
    (
        session_id,
        agent,
        coach,
        metric,
        day,
        before,
        before_samples,
        after,
        after_samples,
        control_change,
        control_agents,
    ) = row
    gain = gain_of(after - before, metric) if before_samples and after_samples else None
    control_gain = gain_of(control_change, metric) if control_agents else None
    impact = gain - control_gain if gain is not None and control_gain is not None else None
    record = SessionImpact(
        session_id=session_id,
        agent=agent,
        coach=coach,
        metric=metric,
        date=dt.date.fromisoformat(day),
        before=round_figure(before),
        before_samples=before_samples,
        after=round_figure(after),
        after_samples=after_samples,
        gain=round_figure(gain),
        control_gain=round_figure(control_gain),
        control_agents=control_agents,
        impact=round_figure(impact),
        improved=None if gain is None else round(gain, DECIMALS) > 0,
    )
    return _Measured(record, gain, impact)


def _summaries(sessions: list[_Measured], by: Grouping) -> list[ImpactSummary]:
    groups: dict[str | None, list[_Measured]] = {}
    for session in sessions:
        key = session.record.coach if by is Grouping.coach else session.record.metric
        groups.setdefault(key, []).append(session)
    return [_summary(by, key, groups[key]) for key in sorted(groups, key=_none_last)]


def _none_last(key: str | None) -> tuple[bool, str]:
    return (key is None, key or "")


def _summary(by: Grouping, key: str | None, sessions: list[_Measured]) -> ImpactSummary:
    gains = [session.gain for session in sessions if session.gain is not None]
    impacts = [session.impact for session in sessions if session.impact is not None]
    interval = mean_interval(impacts)
    return SUMMARY_RECORDS[by](
        key,  # type: ignore[arg-type]  # a metric group's key is never None
        sessions=len(sessions),
        measured=len(gains),
        improved=sum(1 for session in sessions if session.record.improved),
        mean_gain=round_figure(_mean(gains)),
        mean_impact=round_figure(_mean(impacts)),
        ci_low=round_figure(interval[0]) if interval else None,
        ci_high=round_figure(interval[1]) if interval else None,
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


# --- cadence ----------------------------------------------------------------


def cadence_period(today: dt.date, start: dt.date | None = None, end: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day of the period: this month by default; a period
    given by one end only runs to the other end of that date's month."""
    if start is None:
        start = (end or today).replace(day=1)
    if end is None:
        end = _last_day_of_month(start)
    if start > end:
        raise CoachError(f"--from {start.isoformat()} is after --to {end.isoformat()}: give the earlier date first")
    return start, end


def _last_day_of_month(day: dt.date) -> dt.date:
    first_of_next = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first_of_next - dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CadenceRecord:
    """`report cadence`: one agent's coaching in the period, and follow-up."""

    agent: str = column("Agent")
    teams: list[str] = column("Teams")
    coached: int = column("Coached")
    last_coached: dt.date | None = column("Last coached")
    acknowledged: int = column("Acknowledged")
    open_actions: int = column("Open actions")
    overdue_actions: int = column("Overdue")
    meets_cadence: bool = column("Meets cadence")


def cadence(
    db: Session,
    actor: User,
    *,
    zone: str,
    today: dt.date,
    start: dt.date | None = None,
    end: dt.date | None = None,
    minimum: int = DEFAULT_CADENCE,
) -> Iterator[CadenceRecord]:
    """One record an agent in scope, by handle: sessions coached from `start`
    through `end` (by the date in `zone` they were coached; the period of
    `cadence_period`), the last date ever coached, how many of the period's
    sessions the agent acknowledged, their sessions' open action items and
    how many of those are overdue on `today`, and whether they were coached
    at least `minimum` times. Read as they are consumed (the caller keeps
    the transaction open until then)."""
    require_coaching_role(actor, "run reports, which compare agents with their team-mates")
    start, end = cadence_period(today, start, end)
    agents = User.__table__.alias("agent")
    in_view = (agents.c.role == "agent", in_scope(actor, agents.c.id))
    teams = team_names_by_user(db, select(agents.c.id).where(*in_view))
    statement = _cadence_statement(actor, agents, in_view, zone, start, end, today)
    rows = db.execute(statement.execution_options(yield_per=STREAMED_ROWS))
    return (
        CadenceRecord(
            agent=handle,
            teams=teams.get(agent_id, []),
            coached=coached,
            last_coached=dt.date.fromisoformat(last_coached) if last_coached else None,
            acknowledged=acknowledged,
            open_actions=open_actions,
            overdue_actions=overdue_actions,
            meets_cadence=coached >= minimum,
        )
        for agent_id, handle, coached, last_coached, acknowledged, open_actions, overdue_actions in rows
    )


def _cadence_statement(actor: User, agents, in_view, zone: str, start: dt.date, end: dt.date, today: dt.date):
    sessions = CoachingSession.__table__.c
    acknowledgements = SessionAcknowledgement.__table__.c
    coached_sessions = (
        select(
            sessions.id,
            sessions.agent_id,
            sessions.coached_at,
            local_date(sessions.coached_at, literal(zone)).label("day"),
        )
        .where(sessions.state == "coached", in_scope(actor, sessions.agent_id))
        .cte("coached_sessions")
    )
    in_period = and_(coached_sessions.c.day >= start.isoformat(), coached_sessions.c.day <= end.isoformat())
    coaching = (
        select(
            coached_sessions.c.agent_id,
            func.count(case((in_period, 1))).label("coached"),
            func.count(case((and_(in_period, acknowledgements.session_id.is_not(None)), 1))).label("acknowledged"),
            # The latest moment is the latest local date, converted once an agent.
            local_date(func.max(coached_sessions.c.coached_at), literal(zone)).label("last_coached"),
        )
        .select_from(coached_sessions)
        .join(SessionAcknowledgement.__table__, acknowledgements.session_id == coached_sessions.c.id, isouter=True)
        .group_by(coached_sessions.c.agent_id)
        .cte("coaching")
    )
    follow_up = (
        select(
            col(CoachingSession.agent_id),
            func.count().label("open_actions"),
            func.count(case((is_overdue(today), 1))).label("overdue_actions"),
        )
        .select_from(ActionItem)
        .join(CoachingSession, col(CoachingSession.id) == ActionItem.session_id)
        .where(col(ActionItem.state) == "open", in_scope(actor, CoachingSession.agent_id))
        .group_by(col(CoachingSession.agent_id))
        .cte("follow_up")
    )
    return (
        select(
            agents.c.id,
            agents.c.handle,
            func.coalesce(coaching.c.coached, 0),
            coaching.c.last_coached,
            func.coalesce(coaching.c.acknowledged, 0),
            func.coalesce(follow_up.c.open_actions, 0),
            func.coalesce(follow_up.c.overdue_actions, 0),
        )
        .select_from(agents)
        .join(coaching, coaching.c.agent_id == agents.c.id, isouter=True)
        .join(follow_up, follow_up.c.agent_id == agents.c.id, isouter=True)
        .where(*in_view)
        .order_by(agents.c.handle)
    )
