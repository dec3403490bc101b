"""The calendar (SPEC §8): the scheduled sessions a person may see, with what
an iCalendar event of each needs — and nothing else, so a private field of a
session can never reach a calendar file."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from coachcli.db.models import CoachingSession, User
from coachcli.errors import CoachError
from coachcli.services.people import find_user
from coachcli.services.sessions import visible


def scheduled_sessions(
    db: Session,
    actor: User,
    *,
    agent: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict]:
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
            agent_user.handle,
            agent_user.name,
            coach_user.handle,
            coach_user.name,
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
    return [
        {
            "id": session_id,
            "title": title,
            "date": date,
            "start": start_time,
            "timezone": zone,
            "duration_minutes": minutes,
            "meeting_link": link,
            "notes": notes,
            "created_at": created_at,
            "updated_at": updated_at,
            "agent": agent_handle,
            "agent_name": agent_name,
            "coach": coach_handle,
            "coach_name": coach_name,
        }
        for (
            session_id,
            title,
            date,
            start_time,
            zone,
            minutes,
            link,
            notes,
            created_at,
            updated_at,
            agent_handle,
            agent_name,
            coach_handle,
            coach_name,
        ) in rows
    ]
