"""The calendar (SPEC §8): the scheduled sessions a person may see, with what
an iCalendar event of each needs — and nothing else, so a private field of a
session can never reach a calendar file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from coachcli.db.models import CoachingSession, User
from coachcli.errors import CoachError
from coachcli.services.people import find_user
from coachcli.services.sessions import visible


@dataclass(frozen=True, slots=True)
class CalendarSession:
    """A scheduled session as its calendar event needs it."""

    id: int
    title: str
    date: dt.date
    start: str  # "HH:MM", local to `timezone`
    timezone: str
    duration_minutes: int | None
    meeting_link: str | None
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    agent: str
    agent_name: str
    coach: str
    coach_name: str


def scheduled_sessions(
    db: Session,
    actor: User,
    *,
    agent: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[CalendarSession]:
    """Scheduled sessions within the actor's scope (or one agent's, by handle),
    soonest first; `start` and `end` bound their dates, both inclusive (a
    session's date is its own, in its own time zone)."""
    if start is not None and end is not None and start > end:
        raise CoachError(f"--from {start.isoformat()} is after --to {end.isoformat()}; swap them")
    agent_user, coach_user = aliased(User, name="agent"), aliased(User, name="coach")
    session = CoachingSession
    query = (
        # sqlmodel types select() for up to 4 columns; this one reads 14.
        select(  # type: ignore[call-overload, misc]  # see above: runtime takes any number
            session.id,
            session.title,
            session.date,
            session.start,
            session.timezone,
            session.duration_minutes,
            session.meeting_link,
            session.notes,
            session.created_at,
            session.updated_at,
            col(agent_user.handle).label("agent"),
            col(agent_user.name).label("agent_name"),
            col(coach_user.handle).label("coach"),
            col(coach_user.name).label("coach_name"),
        )
        .join(agent_user, agent_user.id == session.agent_id)
        .join(coach_user, coach_user.id == session.coach_id)
        .where(
            session.state == "scheduled",
            visible(actor),
            col(session.date).is_not(None),
            col(session.start).is_not(None),
            col(session.timezone).is_not(None),
        )
    )
    if agent:
        query = query.where(session.agent_id == find_user(db, agent).id)
    if start is not None:
        query = query.where(col(session.date) >= start)
    if end is not None:
        query = query.where(col(session.date) <= end)
    rows = db.exec(query.order_by(col(session.date), col(session.start), col(session.id))).all()
    # Each column is named as the record's field.
    return [CalendarSession(**row._mapping) for row in rows]
