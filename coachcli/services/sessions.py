"""Coaching sessions as records: what a session's record holds, who may see
it (and its private notes), the queries that find and list sessions, and why
one is kept for good. Changing a session: coaching.py and scheduling.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import aliased, undefer
from sqlmodel import Session, col, select

from coachcli.choices import SessionTab
from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.models import (
    ActionItem,
    CoachingSession,
    Form,
    MiniGoal,
    PerformancePath,
    RuleFiring,
    SessionAcknowledgement,
    User,
    stored_id,
)
from coachcli.db.scope import session_rule
from coachcli.errors import forbidden, not_found
from coachcli.forms import FormSpec
from coachcli.records import WITHHELD, column, keys
from coachcli.services.forms import form_spec
from coachcli.services.people import COACHING_ROLES, find_user, in_scope

STATES = tuple(tab.value for tab in SessionTab)
_Agent = aliased(User, name="agent")
_Coach = aliased(User, name="coach")


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int = column("ID")
    title: str = column("Title")
    agent: str = column("Agent")
    coach: str | None = column("Coach")
    form: str | None = column("Form")
    plan_id: int | None = column("Plan")
    state: str = column("State")
    date: dt.date | None = column("Date")
    start: str | None = column("Start", listed=False)
    timezone: str | None = column("Time zone", listed=False)
    duration_minutes: int | None = column("Duration (min)", listed=False)
    meeting_link: str | None = column("Meeting link", listed=False)
    path: str | None = column("Path", listed=False)
    kpi: str | None = column("KPI metric", listed=False)
    target: float | None = column("Target", listed=False)
    target_date: dt.date | None = column("Target date", listed=False)
    notes: str = column("Notes", listed=False)
    answers: dict = column(None)
    created_at: dt.datetime = column(None)
    coached_at: dt.datetime | None = column("Coached at", listed=False)
    minigoal_id: int | None = column("Goal")
    acknowledged_at: dt.datetime | None = column("Acknowledged at", listed=False)
    agent_comment: str | None = column("Agent comment", listed=False)
    # The rule whose firing requested this session (SPEC §16), or None.
    rule: str | None = column(None)
    # WITHHELD for a viewer who may not see them (sees_private_notes).
    private_notes: str = column("Private notes", listed=False)


def _session_query(viewer: User):
    """Sessions with what a record shows of them; the private notes (a
    deferred column) loaded with them for a viewer who sees them."""
    query = (
        select(  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
            CoachingSession,
            _Agent.handle,
            _Coach.handle,
            Form.name,
            PerformancePath.name,
            MiniGoal.id,
            SessionAcknowledgement.acknowledged_at,
            SessionAcknowledgement.comment,
            RuleFiring.rule,
        )
        .join(_Agent, _Agent.id == CoachingSession.agent_id)
        .join(_Coach, _Coach.id == CoachingSession.coach_id, isouter=True)
        .join(Form, Form.id == CoachingSession.form_id, isouter=True)
        .join(PerformancePath, PerformancePath.id == CoachingSession.path_id, isouter=True)
        .join(MiniGoal, MiniGoal.session_id == CoachingSession.id, isouter=True)
        .join(SessionAcknowledgement, SessionAcknowledgement.session_id == CoachingSession.id, isouter=True)
        .join(RuleFiring, RuleFiring.session_id == CoachingSession.id, isouter=True)
    )
    if sees_private_notes(viewer):
        query = query.options(undefer(CoachingSession.private_notes))  # type: ignore[arg-type]  # a deferred column
    return query


def sees_private_notes(viewer: User) -> bool:
    """Private notes are for coaches and admins; an agent never gets them."""
    return viewer.role in COACHING_ROLES


def session_keys(viewer: User) -> list[str]:
    """A session's keys as `viewer` gets them: the header of their list,
    when it has no row to take it from."""
    return [key for key in keys(SessionRecord) if key != "private_notes" or sees_private_notes(viewer)]


def _record(row, sees_notes: bool) -> SessionRecord:
    session, agent, coach, form, path, minigoal_id, acknowledged_at, agent_comment, rule = row
    return SessionRecord(
        id=session.id,
        title=session.title,
        agent=agent,
        coach=coach,
        form=form,
        plan_id=session.plan_id,
        state=session.state,
        date=session.date,
        start=session.start,
        timezone=session.timezone,
        duration_minutes=session.duration_minutes,
        meeting_link=session.meeting_link,
        path=path,
        kpi=session.kpi,
        target=session.target,
        target_date=session.target_date,
        notes=session.notes,
        answers=session.answers,
        created_at=session.created_at,
        coached_at=session.coached_at,
        minigoal_id=minigoal_id,
        acknowledged_at=acknowledged_at,
        agent_comment=agent_comment,
        rule=rule,
        private_notes=session.private_notes if sees_notes else WITHHELD,
    )


def visible(actor: User):
    """SQL condition: the actor may see this session (its agent is in scope,
    or the actor is its coach): the rule row-level security uses too."""
    return session_rule(in_scope(actor, CoachingSession.agent_id), stored_id(actor), CoachingSession.coach_id)


def session_records(db: Session, viewer: User, session_ids: list[int]) -> list[SessionRecord]:
    """The sessions as `viewer` may see them (private notes only for coaches and admins)."""
    rows = db.exec(_session_query(viewer).where(col(CoachingSession.id).in_(session_ids))).all()
    sees_notes = sees_private_notes(viewer)
    by_id = {row[0].id: _record(row, sees_notes) for row in rows}
    return [by_id[session_id] for session_id in session_ids if session_id in by_id]


def session_record(db: Session, viewer: User, session_id: int) -> SessionRecord:
    return session_records(db, viewer, [session_id])[0]


def list_sessions(
    db: Session,
    actor: User,
    *,
    agent: str | None = None,
    plan_id: int | None = None,
    tab: SessionTab | None = None,
    unacknowledged: bool = False,
) -> Iterator[SessionRecord]:
    """The sessions in the actor's scope, newest first, read as they are
    used (inside the caller's transaction). Filters are checked at once."""
    query = _session_query(actor).where(visible(actor))
    if unacknowledged:
        query = query.where(CoachingSession.state == "coached", col(SessionAcknowledgement.session_id).is_(None))
    if agent:
        query = query.where(CoachingSession.agent_id == find_user(db, agent).id)
    if plan_id is not None:
        query = query.where(CoachingSession.plan_id == plan_id)
    if tab is not None:
        query = query.where(CoachingSession.state == SessionTab(tab).value)
    query = query.order_by(col(CoachingSession.id).desc())
    return _streamed(db, query, sees_private_notes(actor))


def _streamed(db: Session, query, sees_notes: bool) -> Iterator[SessionRecord]:
    for row in db.exec(query.execution_options(yield_per=STREAMED_ROWS)):
        yield _record(row, sees_notes)


def find_session(db: Session, actor: User, session_id: int) -> CoachingSession:
    session = db.get(CoachingSession, session_id)
    if session is None:
        raise not_found(f"no coaching session {session_id}; see `coach session list`")
    allowed = db.exec(select(CoachingSession.id).where(CoachingSession.id == session_id, visible(actor))).first()
    if allowed is None:
        raise forbidden(f"session {session_id} is outside the scope of '{actor.handle}'")
    return session


def session_form(db: Session, session: CoachingSession) -> FormSpec | None:
    if session.form_id is None:
        return None
    form = db.get(Form, session.form_id)
    assert form is not None  # session.form_id is a foreign key
    return form_spec(form)


def why_kept(db: Session, session: CoachingSession) -> str | None:
    """Why the session can never be deleted, or None when it can be (by one
    allowed to): every path to `session delete`, and every hint that
    suggests it, asks here."""
    if session.state == "coached":
        return f"session {session.id} is coached; coached sessions are kept for good"
    agreed = db.exec(select(ActionItem.id).where(ActionItem.session_id == session.id).limit(1)).first()
    if agreed is not None:
        return (
            f"session {session.id} has action items, which are kept for good; "
            "coach the session (or keep it as a draft) instead of deleting it"
        )
    goal = db.exec(select(MiniGoal).where(MiniGoal.session_id == session.id)).first()
    if goal is not None and goal.state != "in_progress":
        # Its result has been told to the agent and the coach: keep the record.
        return (
            f"session {session.id} carries mini-goal {goal.id}, which has ended {goal.state}; "
            "it is kept as the record of that result"
        )
    return None
