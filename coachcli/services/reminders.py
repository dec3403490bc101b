"""Reminders (SPEC §8): what `coach remind` tells people, from cron, so that
nothing falls through the cracks — each reminder at most once per (kind,
record, person), however often it runs and however many run at once.

Each kind is one finder: a single query for what is due as of a moment,
returning the reminders to write. `remind` writes every kind's reminders in
one statement that skips those already written; the database keeps the
promise (a unique index over the reminder kinds, schema version 3), not a
look before the write.

The kinds: `session.upcoming`, `session.unacknowledged`, `action.due` and
`minigoal.at_risk`, each a function below, listed in FINDERS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, not_, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from coachcli.db.expressions import insert_skipping_duplicates
from coachcli.db.models import (
    ActionItem,
    CoachingSession,
    KpiObservation,
    MiniGoal,
    Notification,
    SessionAcknowledgement,
    User,
)
from coachcli.db.types import utc_now
from coachcli.metrics import find_metric, format_value
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.minigoals import meets_target, observed_within, score_of, target_wanted

UPCOMING_WINDOW = dt.timedelta(hours=24)
UNACKNOWLEDGED_AFTER = dt.timedelta(days=3)
AT_RISK_DAYS = 3
# No time zone is more than 14 hours from UTC, so a session starting within
# the next 24 hours has a local date from the day before the as-of moment's
# UTC date through two days after it.
_LOCAL_DATES_BEFORE, _LOCAL_DATES_AFTER = 1, 2


@dataclass(frozen=True)
class Reminder:
    kind: str
    user_id: int
    user: str  # handle
    record_type: str
    record_id: int
    message: str

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.kind, self.record_type, self.record_id, self.user_id)


@dataclass(frozen=True, slots=True)
class ReminderRecord:
    """A reminder written, as `coach remind` prints it."""

    kind: str = column("Kind")
    user: str = column("To")  # handle
    record_type: str = column("Record")
    record_id: int = column("ID")
    message: str = column("Message")


@dataclass(frozen=True, slots=True)
class RemindRun:
    """What a run wrote, as of when (`coach remind -o json`)."""

    as_of: dt.datetime = column("As of")
    reminders: list[ReminderRecord] = column(None)


@dataclass(frozen=True)
class AsOf:
    """The moment reminders are worked out for, and its date where the center is."""

    moment: dt.datetime
    today: dt.date


Finder = Callable[[Session, AsOf], list[Reminder]]


def upcoming_sessions(db: Session, as_of: AsOf) -> list[Reminder]:
    """session.upcoming: a scheduled session starting after the as-of moment
    and at most 24 hours later, to its agent and its coach."""
    agent, coach = aliased(User, name="agent"), aliased(User, name="coach")
    session = CoachingSession
    utc_day = as_of.moment.astimezone(dt.UTC).date()
    # A start is a wall-clock time in the session's own zone; placing it in
    # UTC needs the zone database, which SQLite does not have (and
    # PostgreSQL's need not match Python's). So SQL narrows the sessions down
    # by date, and Python places the few candidates exactly.
    candidates = db.exec(
        select(  # type: ignore[call-overload, misc]  # sqlmodel types select() for at most 4 columns
            session.id,
            session.title,
            session.date,
            session.start,
            session.timezone,
            session.duration_minutes,
            session.meeting_link,
            agent.id,
            agent.handle,
            agent.name,
            coach.id,
            coach.handle,
            coach.name,
        )
        .join(agent, agent.id == session.agent_id)
        .join(coach, coach.id == session.coach_id)
        .where(
            session.state == "scheduled",
            col(session.date).between(
                utc_day - dt.timedelta(days=_LOCAL_DATES_BEFORE), utc_day + dt.timedelta(days=_LOCAL_DATES_AFTER)
            ),
            col(session.start).is_not(None),
            col(session.timezone).is_not(None),
        )
        .order_by(col(session.id))
    ).all()
    window_end = as_of.moment + UPCOMING_WINDOW
    reminders = []
    for (
        session_id,
        title,
        day,
        start,
        zone,
        minutes,
        link,
        agent_id,
        agent_handle,
        agent_name,
        coach_id,
        coach_handle,
        coach_name,
    ) in candidates:
        local_start = dt.datetime.combine(day, dt.time.fromisoformat(start), ZoneInfo(zone))
        if not as_of.moment < local_start <= window_end:
            continue
        message = (
            f'Coaching session {session_id} "{title}" ({agent_name} with {coach_name}) starts '
            f"{local_start:%a %Y-%m-%d %H:%M} {zone}"
            + (f", {minutes} min" if minutes else "")
            + (f"; meeting link: {link}" if link else "; no meeting link")
        )
        for user_id, handle in ((agent_id, agent_handle), (coach_id, coach_handle)):
            reminders.append(Reminder("session.upcoming", user_id, handle, "session", session_id, message))
    return reminders


def goals_at_risk(db: Session, as_of: AsOf) -> list[Reminder]:
    """minigoal.at_risk: a goal in progress, due within 3 days, whose running
    score (its window's start through the as-of date, M5) would miss its
    target today — no observations yet included — to its assignee and its
    session's coach."""
    goal, observation, session = MiniGoal, KpiObservation, CoachingSession
    assignee, coach = aliased(User, name="assignee"), aliased(User, name="coach")
    samples = func.count(col(observation.value))
    score = score_of(func.avg(observation.value), samples)
    rows = db.exec(
        select(  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
            goal.id,
            goal.name,
            goal.metric,
            goal.target,
            goal.start_date,
            goal.due_date,
            assignee.id,
            assignee.handle,
            coach.id,
            coach.handle,
            score,
            samples,
        )
        .select_from(goal)
        .join(session, session.id == goal.session_id)
        .join(assignee, assignee.id == goal.assignee_id)
        .outerjoin(coach, coach.id == session.coach_id)
        .outerjoin(
            observation,
            observed_within(goal.assignee_id, goal.metric, col(goal.start_date), as_of.today),
        )
        .where(
            goal.state == "in_progress",
            col(goal.due_date).between(as_of.today, as_of.today + dt.timedelta(days=AT_RISK_DAYS)),
        )
        .group_by(goal.id, assignee.id, coach.id)
        .having(or_(score.is_(None), not_(meets_target(score, col(goal.target), col(goal.metric)))))
        .order_by(col(goal.id))
    ).all()
    reminders = []
    for (
        goal_id,
        name,
        metric_key,
        target,
        start_date,
        due_date,
        assignee_id,
        assignee_handle,
        coach_id,
        coach_handle,
        running,
        count,
    ) in rows:
        metric = find_metric(metric_key)
        if running is None:
            so_far = f"no {metric.name} data yet since {start_date.isoformat()}"
        else:
            so_far = (
                f"{format_value(running, metric)} so far from {count} observation{'s' if count != 1 else ''} "
                f"since {start_date.isoformat()}"
            )
        message = (
            f'Mini-goal "{name}" ({assignee_handle}, {metric.name}, due {due_date.isoformat()}) is at risk: '
            f"{so_far}, {target_wanted(metric, target)}."
        )
        recipients = [(assignee_id, assignee_handle)]
        if coach_id is not None and coach_id != assignee_id:
            recipients.append((coach_id, coach_handle))
        for user_id, handle in recipients:
            reminders.append(Reminder("minigoal.at_risk", user_id, handle, "minigoal", goal_id, message))
    return reminders


def unacknowledged_sessions(db: Session, as_of: AsOf) -> list[Reminder]:
    """session.unacknowledged: a session coached 3 or more days before the
    as-of moment that its agent has not acknowledged, to the agent."""
    session = CoachingSession
    rows = db.exec(
        select(session.id, session.title, session.coached_at, User.id, User.handle)  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
        .join(User, User.id == session.agent_id)
        .where(
            session.state == "coached",
            col(session.coached_at) <= as_of.moment - UNACKNOWLEDGED_AFTER,
            ~select(SessionAcknowledgement.session_id).where(SessionAcknowledgement.session_id == session.id).exists(),
        )
        .order_by(col(session.id))
    ).all()
    return [
        Reminder(
            "session.unacknowledged",
            agent_id,
            handle,
            "session",
            session_id,
            f'Coaching session {session_id} "{title}", coached on {coached_at.date().isoformat()}, '
            f"waits for your acknowledgement: coach session ack {session_id} [--comment TEXT]",
        )
        for session_id, title, coached_at, agent_id, handle in rows
    ]


def actions_due(db: Session, as_of: AsOf) -> list[Reminder]:
    """action.due: an open action item due today or tomorrow, or already
    overdue, to its owner."""
    tomorrow = as_of.today + dt.timedelta(days=1)
    rows = db.exec(
        select(ActionItem.id, ActionItem.text, ActionItem.due_date, ActionItem.session_id, User.id, User.handle)  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
        .join(User, User.id == ActionItem.owner_id)
        .where(ActionItem.state == "open", col(ActionItem.due_date) <= tomorrow)
        .order_by(col(ActionItem.id))
    ).all()
    reminders = []
    for item_id, text, due_date, session_id, owner_id, handle in rows:
        when = ("overdue since " if due_date < as_of.today else "due ") + due_date.isoformat()
        reminders.append(
            Reminder(
                "action.due",
                owner_id,
                handle,
                "action",
                item_id,
                f'Action item {item_id} from session {session_id} is {when}: "{text}" '
                f"(mark it done with: coach action done {item_id})",
            )
        )
    return reminders


FINDERS: tuple[Finder, ...] = (upcoming_sessions, unacknowledged_sessions, actions_due, goals_at_risk)


def remind(db: Session, moment: dt.datetime, zone_name: str) -> list[ReminderRecord]:
    """Write the reminders due as of a moment (aware) that were not written
    before; `zone_name` (COACH_TZ) says what date it is. Returns those written,
    in order."""
    as_of = AsOf(moment, moment.astimezone(ZoneInfo(zone_name)).date())
    due = [reminder for finder in FINDERS for reminder in finder(db, as_of)]
    if not due:
        return []
    now = utc_now()
    table = Notification.__table__
    written = db.execute(
        insert_skipping_duplicates(db, table).returning(
            table.c.id, table.c.kind, table.c.record_type, table.c.record_id, table.c.user_id
        ),
        [
            {
                "user_id": reminder.user_id,
                "kind": reminder.kind,
                "message": reminder.message,
                "record_type": reminder.record_type,
                "record_id": reminder.record_id,
                "created_at": now,
                "attempts": 0,
            }
            for reminder in due
        ],
    ).all()
    by_key = {reminder.key: reminder for reminder in due}
    sent = [
        by_key[(kind, record_type, record_id, user_id)] for _, kind, record_type, record_id, user_id in sorted(written)
    ]
    if sent:
        audit.record(db, None, "remind", "notification", None, as_of=moment.isoformat(), reminders=len(sent))
    return [
        ReminderRecord(
            kind=reminder.kind,
            user=reminder.user,
            record_type=reminder.record_type,
            record_id=reminder.record_id,
            message=reminder.message,
        )
        for reminder in sent
    ]
