"""Rules as code (SPEC §16): coaching that starts itself.

A rule looks at each agent's average of one metric over a window of days
ending the day before the as-of date, and fires when it is worse — by the
metric's direction (M6, the `meets_target` expression of the mini-goals,
written once) — than a threshold, than most of the agent's team-mates
(`below_percentile`), or than the team's mean by some standard deviations
(`deviations`). The team-mates are the agents who share a team with the
agent and have enough data in the window themself, the agent included.

Each rule is ONE statement however many agents: the window's average per
agent (a range scan of kpi_observations' primary key an agent), the team
figures where the condition needs them, and whether an earlier request of
the rule is still open or its cooldown still runs. Python then keeps the
agent's first firing of the run in priority order, and makes the requests:
coaching requests on the Requested tab, their coaches notified as for any
request, each firing kept in rule_firings and audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, false, func, literal, not_, select, union
from sqlmodel import Session

from coachcli.db import bulk
from coachcli.db.models import (
    CoachingSession,
    KpiObservation,
    PathAssignment,
    PerformancePath,
    RuleFiring,
    TeamMembership,
    User,
)
from coachcli.db.types import utc_now
from coachcli.metrics import format_value
from coachcli.records import column
from coachcli.rules import Rule, refusal
from coachcli.services import audit
from coachcli.services.minigoals import meets_target, observed_within, score_of
from coachcli.services.people import coached_people
from coachcli.services.scheduling import notify_of_requests


def check_rules(db: Session, rules: list[Rule], source: str) -> dict[str, int]:
    """What a rules file needs of the database: every path it names exists.
    Returns the paths' ids by name; refuses the file (exit 2) naming the
    first rule whose path is unknown."""
    names = sorted({rule.path for rule in rules if rule.path is not None})
    found: dict[str, int] = {}
    if names:
        paths = PerformancePath.__table__.c
        found = {
            name: path_id for name, path_id in db.execute(select(paths.name, paths.id).where(paths.name.in_(names)))
        }
    for rule in rules:
        if rule.path is not None and rule.path not in found:
            raise refusal(
                source,
                rule.number,
                rule.name,
                "path",
                f"no performance path {rule.path!r}; see `coach path list`, or add it with `coach path add`",
            )
    return found


@dataclass(frozen=True)
class Match:
    """An agent whose window matches a rule, and what may hold the firing back."""

    agent_id: int
    handle: str
    name: str
    value: float
    samples: int
    open_request: bool
    cooling_down: bool
    path_assigned: bool


@dataclass(frozen=True, slots=True)
class FiringRecord:
    """A rule that fired for an agent: the window's average and observations,
    and the request it made (None in a dry run)."""

    rule: str = column("Rule")
    agent: str = column("Agent")
    metric: str = column("Metric")
    value: float = column("Average")
    samples: int = column("Observations")
    session_id: int | None = column("Request")


@dataclass(frozen=True, slots=True)
class RulesRunRecord:
    """A run: what fired, and how many matches were held back (one request
    an agent a run, an open request, or a cooldown)."""

    as_of: dt.date = column("As of")
    fired: list[FiringRecord] = column(None)
    held: int = column("Held back")


def run_rules(db: Session, rules: list[Rule], paths: dict[str, int], as_of: dt.date, *, write: bool) -> RulesRunRecord:
    """Fire every rule (in the priority order given) for each agent whose
    window matches: one coaching request an agent a run at most, none while
    the rule's earlier request is open (not yet coached, not deleted) or
    within its cooldown. With `write` False nothing is written (a dry run:
    no request ids)."""
    fired: list[tuple[Rule, Match]] = []
    agents_fired: set[int] = set()
    held = 0
    for rule in rules:
        for match in matches(db, rule, as_of, paths.get(rule.path) if rule.path else None):
            if match.open_request or match.cooling_down or match.agent_id in agents_fired:
                held += 1
                continue
            agents_fired.add(match.agent_id)
            fired.append((rule, match))
    session_ids = _request_coaching(db, fired, paths, as_of) if write and fired else [None] * len(fired)
    return RulesRunRecord(
        as_of=as_of,
        fired=[
            FiringRecord(
                rule=rule.name,
                agent=match.handle,
                metric=rule.metric.key,
                value=match.value,
                samples=match.samples,
                session_id=session_id,
            )
            for (rule, match), session_id in zip(fired, session_ids, strict=True)
        ],
        held=held,
    )


def matches(db: Session, rule: Rule, as_of: dt.date, path_id: int | None) -> list[Match]:
    """The agents whose window matches the rule as of a date, by handle: one statement."""
    return [
        Match(agent_id, handle, name, value, samples, bool(open_request), bool(cooling), bool(assigned))
        for agent_id, handle, name, value, samples, open_request, cooling, assigned in db.execute(
            match_statement(rule, as_of, path_id)
        )
    ]


def match_statement(rule: Rule, as_of: dt.date, path_id: int | None):
    observations = KpiObservation.__table__
    agents = User.__table__.alias("agent")
    metric = literal(rule.metric.key)
    samples = func.count(observations.c.value)
    windowed = (
        select(
            agents.c.id.label("agent_id"),
            agents.c.handle,
            agents.c.name,
            score_of(func.avg(observations.c.value), samples).label("score"),
            samples.label("samples"),
        )
        .select_from(agents)
        .join(observations, _in_window(rule, as_of, agents.c.id))
        .where(*coached_people(agents))
        .group_by(agents.c.id, agents.c.handle, agents.c.name)
        .having(samples >= rule.min_samples)
        .cte("windowed")
        .prefix_with("MATERIALIZED")
    )
    statement = select(
        windowed.c.agent_id,
        windowed.c.handle,
        windowed.c.name,
        windowed.c.score,
        windowed.c.samples,
        _open_request(rule, windowed.c.agent_id).label("open_request"),
        _cooling_down(rule, as_of, windowed.c.agent_id).label("cooling_down"),
        _path_assigned(path_id, windowed.c.agent_id).label("path_assigned"),
    ).select_from(windowed)
    if rule.condition == "threshold":
        # Worse than the threshold: the score would not meet it as a target.
        fires = not_(meets_target(windowed.c.score, literal(rule.amount), metric))
    else:
        team = _team_figures(rule, as_of, windowed, metric)
        statement = statement.join(team, team.c.agent_id == windowed.c.agent_id)
        if rule.condition == "below_percentile":
            # In the worst p%: the agent's place counted from the worst
            # (ties share the worse place) is within p% of the team.
            fires = 100 * (team.c.worse + 1) <= rule.amount * team.c.team_size
        else:
            # Worse than the mean, by k standard deviations or more
            # (squared on both sides: no square root on SQLite).
            distance = windowed.c.score - team.c.mean
            variance = team.c.mean_square - team.c.mean * team.c.mean
            fires = and_(
                not_(meets_target(windowed.c.score, team.c.mean, metric)),
                distance * distance >= rule.amount * rule.amount * variance,
            )
    return statement.where(fires).order_by(windowed.c.handle)


def _in_window(rule: Rule, as_of: dt.date, agent_id):
    """An agent's observations of the rule's metric in its window."""
    return observed_within(agent_id, rule.metric.key, *rule.window_days(as_of))


def _team_figures(rule: Rule, as_of: dt.date, windowed, metric):
    """For each agent with data: their team-mates with data (the agent among
    them, each counted once however many teams they share), how many of
    those are worse than the agent, and the mean and mean square of their
    scores (the population standard deviation follows).

    Every join goes from a CTE read once to an index (memberships, then each
    team-mate's window scanned again), so no plan — a fresh import has no
    statistics yet — can join two CTEs row by row."""
    mine = TeamMembership.__table__.alias("mine")
    theirs = TeamMembership.__table__.alias("theirs")
    pairs = (
        union(
            select(windowed.c.agent_id, windowed.c.score.label("own_score"), theirs.c.user_id.label("mate_id"))
            .select_from(windowed)
            .join(mine, mine.c.user_id == windowed.c.agent_id)
            .join(theirs, theirs.c.team_id == mine.c.team_id),
            select(windowed.c.agent_id, windowed.c.score, windowed.c.agent_id),
        )
        .cte("team_pairs")
        .prefix_with("MATERIALIZED")
    )
    mate = User.__table__.alias("mate")
    observations = KpiObservation.__table__
    samples = func.count(observations.c.value)
    mates = (
        select(
            pairs.c.agent_id,
            pairs.c.own_score,
            score_of(func.avg(observations.c.value), samples).label("score"),
        )
        .select_from(pairs)
        .join(mate, and_(mate.c.id == pairs.c.mate_id, *coached_people(mate)))
        .join(observations, _in_window(rule, as_of, pairs.c.mate_id))
        .group_by(pairs.c.agent_id, pairs.c.own_score, pairs.c.mate_id)
        .having(samples >= rule.min_samples)
        .subquery("team_scores")
    )
    return (
        select(
            mates.c.agent_id,
            func.count().label("team_size"),
            func.count(case((not_(meets_target(mates.c.score, mates.c.own_score, metric)), 1))).label("worse"),
            func.avg(mates.c.score).label("mean"),
            func.avg(mates.c.score * mates.c.score).label("mean_square"),
        )
        .group_by(mates.c.agent_id)
        .cte("team_figures")
        .prefix_with("MATERIALIZED")
    )


def _open_request(rule: Rule, agent_id):
    """The rule's earlier request for the agent is still open: its session
    exists (a deleted request forgets it) and is not yet coached."""
    firings = RuleFiring.__table__.c
    sessions = CoachingSession.__table__.c
    return exists().where(
        firings.agent_id == agent_id,
        firings.rule == rule.name,
        sessions.id == firings.session_id,
        sessions.state != "coached",
    )


def _cooling_down(rule: Rule, as_of: dt.date, agent_id):
    """The rule fired for the agent fewer than `cooldown` days before as-of
    (or on a later as-of: a run in the past never fires again)."""
    firings = RuleFiring.__table__.c
    return exists().where(
        firings.agent_id == agent_id,
        firings.rule == rule.name,
        firings.as_of > as_of - dt.timedelta(days=rule.cooldown),
    )


def _path_assigned(path_id: int | None, agent_id):
    """The rule's path is assigned to the agent (M1: a goal's path must be)."""
    if path_id is None:
        return false()
    assignments = PathAssignment.__table__.c
    return exists().where(assignments.path_id == path_id, assignments.user_id == agent_id)


# A rule's request, beside what each firing says: no coach yet, no requester,
# nothing scheduled, no form or answers (see `session schedule --from-request`).
_REQUEST_BLANKS: dict[str, object] = {
    "coach_id": None,
    "form_id": None,
    "plan_id": None,
    "state": "requested",
    "date": None,
    "start": None,
    "timezone": None,
    "duration_minutes": None,
    "meeting_link": None,
    "answers": {},
    "requested_by_id": None,
    "coached_at": None,
    "coached_by_id": None,
    "private_notes": "",
}
FIRING_COLUMNS = ("rule", "agent_id", "metric", "as_of", "value", "samples", "session_id", "fired_at")


def _request_coaching(db: Session, fired: list[tuple[Rule, Match]], paths: dict[str, int], as_of: dt.date) -> list[int]:
    """A coaching request a firing, as M2 makes them but asked by the rule
    (no requester): its title, metric, and the proposed path (when assigned
    to the agent), target and due date; the coaches are told; the firing is
    kept and audited. A few statements however many firings. Returns the
    requests' session ids."""
    now = utc_now()
    session_ids = bulk.insert_sessions_in_order(
        db,
        [
            {
                **_REQUEST_BLANKS,
                "title": rule.title,
                "agent_id": match.agent_id,
                "path_id": paths[rule.path] if rule.path is not None and match.path_assigned else None,
                "kpi": rule.metric.key,
                "target": rule.target,
                "target_date": rule.due_date(as_of),
                "notes": _why(rule, match, as_of),
                "created_at": now,
                "updated_at": now,
            }
            for rule, match in fired
        ],
    )
    stamp = bulk.stored_timestamp(now)
    bulk.insert_rows(
        db,
        RuleFiring.__table__,
        FIRING_COLUMNS,
        [
            (
                rule.name,
                match.agent_id,
                rule.metric.key,
                as_of.isoformat(),
                match.value,
                match.samples,
                session_id,
                stamp,
            )
            for (rule, match), session_id in zip(fired, session_ids, strict=True)
        ],
    )
    notify_of_requests(
        db,
        [
            (
                session_id,
                match.agent_id,
                rule.title,
                f"Rule “{rule.name}” requested coaching for {match.name} ({match.handle})",
            )
            for (rule, match), session_id in zip(fired, session_ids, strict=True)
        ],
    )
    # No free text in the log: the rule's name stays on its firing (found by
    # the request's id, or by agent and as-of date once a request is deleted).
    audit.record_many(
        db,
        None,
        "rule.fire",
        "session",
        [
            (session_id, {"agent_user_id": match.agent_id, "metric": rule.metric.key, "as_of": as_of.isoformat()})
            for (rule, match), session_id in zip(fired, session_ids, strict=True)
        ],
    )
    return session_ids


def _why(rule: Rule, match: Match, as_of: dt.date) -> str:
    """The request's notes: what the rule saw, so the coach knows why."""
    first, last = rule.window_days(as_of)
    count = f"{match.samples} observation{'s' if match.samples != 1 else ''}"
    return (
        f"Requested by rule “{rule.name}”: {rule.metric.name} averaged {format_value(match.value, rule.metric)} "
        f"from {first.isoformat()} to {last.isoformat()} ({count}); it fires when {rule.describe()}."
    )
