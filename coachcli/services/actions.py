"""Action items (SPEC §7): what a session agreed, owned by the agent or the
coach, done once, never deleted, and carried over to the next conversation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from coachcli.choices import ActionState
from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.models import ActionItem, CoachingSession, User, stored_id
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, forbidden, not_found, refused
from coachcli.parse import check_text, parse_date
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.people import find_user
from coachcli.services.sessions import find_session, visible

OWNERS = ("agent", "coach")
STATES = ("open", "done", "all")
# Things agreed in a conversation: a session that has not happened yet has none.
SESSION_STATES_TAKING_ACTIONS = ("draft", "coached")
_Agent = aliased(User, name="agent")
_Owner = aliased(User, name="owner")
_DoneBy = aliased(User, name="done_by")


def _action_query():
    return (
        select(ActionItem, CoachingSession.plan_id, _Agent.handle, _Owner.handle, _DoneBy.handle)  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
        .join(CoachingSession, CoachingSession.id == ActionItem.session_id)
        .join(_Agent, _Agent.id == CoachingSession.agent_id)
        .join(_Owner, _Owner.id == ActionItem.owner_id)
        .join(_DoneBy, _DoneBy.id == ActionItem.done_by_id, isouter=True)
    )


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: int = column("ID")
    session_id: int = column("Session")
    plan_id: int | None = column("Plan")
    agent: str = column("Agent")
    owner: str = column("Owner")
    text: str = column("Action")
    due_date: dt.date | None = column("Due")
    state: str = column("State")
    created_at: dt.datetime = column("Agreed at", listed=False)
    done_at: dt.datetime | None = column("Done at", listed=False)
    done_by: str | None = column("Done by", listed=False)
    note: str | None = column("Note", listed=False)


def _record(row) -> ActionRecord:
    item, plan_id, agent, owner, done_by = row
    return ActionRecord(
        id=item.id,
        session_id=item.session_id,
        plan_id=plan_id,
        agent=agent,
        owner=owner,
        text=item.text,
        due_date=item.due_date,
        state=item.state,
        created_at=item.created_at,
        done_at=item.done_at,
        done_by=done_by,
        note=item.note,
    )


def action_record(db: Session, item_id: int) -> ActionRecord:
    return _record(db.exec(_action_query().where(ActionItem.id == item_id)).one())


def add_action(
    db: Session,
    actor: User,
    session_id: int,
    text: str,
    *,
    due: str | None = None,
    owner: str = "agent",
    today: dt.date,
) -> ActionItem:
    """An item agreed in a draft or coached session, by its coach or an admin."""
    session = find_session(db, actor, session_id)
    if actor.role != "admin" and actor.id != session.coach_id:
        raise forbidden(
            f"only the coach of session {session.id} or an admin can add action items to it; "
            f"'{actor.handle}' is not its coach"
        )
    if session.state not in SESSION_STATES_TAKING_ACTIONS:
        raise refused(
            f"session {session.id} is {session.state}: action items are agreed in a conversation, "
            f"so add them once it is saved (`coach session save {session.id}`) or coached"
        )
    text = " ".join(check_text(text or "", "action text", lines=True).split())
    if not text:
        raise CoachError("an action item needs its text: what was agreed? pass --text TEXT")
    owner = (owner or "").strip().lower()
    if owner not in OWNERS:
        raise CoachError(f"bad --owner '{owner}': use agent or coach")
    due_date = parse_date(due, today) if due and due.strip() else None
    owner_id = session.agent_id if owner == "agent" else session.coach_id
    if owner_id is None:
        # A requested session saved before anyone coached it has no coach yet.
        raise refused(f"session {session.id} has no coach yet, so an item cannot be the coach's; use --owner agent")
    item = ActionItem(
        session_id=stored_id(session),
        owner_id=owner_id,
        text=text,
        due_date=due_date,
        created_by_id=stored_id(actor),
    )
    db.add(item)
    db.flush()
    audit.record(
        db,
        actor,
        "action.add",
        "action",
        item.id,
        session_id=session.id,
        owner=owner,
        due_date=due_date.isoformat() if due_date else None,
    )
    return item


def find_action(db: Session, actor: User, item_id: int) -> ActionItem:
    item = db.get(ActionItem, item_id)
    if item is None:
        raise not_found(f"no action item {item_id}; see `coach action list --state all`")
    in_view = db.exec(
        select(ActionItem.id)
        .join(CoachingSession, col(CoachingSession.id) == ActionItem.session_id)
        .where(ActionItem.id == item_id, visible(actor))
    ).first()
    if in_view is None:
        raise forbidden(f"action item {item_id} is outside the scope of '{actor.handle}'")
    return item


def complete_action(db: Session, actor: User, item_id: int, note: str | None = None) -> ActionItem:
    """Mark an item done, by its owner, the session's coach or an admin; once."""
    item = find_action(db, actor, item_id)
    session = db.get(CoachingSession, item.session_id)
    assert session is not None  # item.session_id is a foreign key
    if actor.role != "admin" and actor.id not in (item.owner_id, session.coach_id):
        owner = db.get(User, item.owner_id)
        assert owner is not None  # item.owner_id is a foreign key (an erased user keeps their row)
        raise forbidden(
            f"only the owner of action item {item.id} ('{owner.handle}'), the session's coach "
            "or an admin can mark it done"
        )
    if item.state == "done":
        raise refused(
            f"action item {item.id} is already done (on {item.done_at:%Y-%m-%d}); a done item stays as it was"
        )
    item.state = "done"
    item.done_at = utc_now()
    item.done_by_id = actor.id
    item.note = check_text(note or "", "note", lines=True).strip() or None
    db.add(item)
    db.flush()
    audit.record(db, actor, "action.done", "action", item.id, note=True if item.note else None)
    return item


def is_overdue(today: dt.date) -> ColumnElement[bool]:
    """SQL condition: the action item is overdue, open and due before today
    (an item due today is not overdue yet)."""
    return and_(col(ActionItem.state) == "open", col(ActionItem.due_date) < today)


def list_actions(
    db: Session,
    actor: User,
    *,
    agent: str | None = None,
    state: ActionState = ActionState.open,
    overdue: bool = False,
    today: dt.date,
) -> Iterator[ActionRecord]:
    """Items within the actor's scope, soonest due first (undated last),
    read as they are used; `overdue`: only the overdue ones. Filters are
    checked at once."""
    state = ActionState(state)
    query = _action_query().where(visible(actor))
    if agent:
        query = query.where(CoachingSession.agent_id == find_user(db, agent).id)
    if state is not ActionState.all:
        query = query.where(ActionItem.state == state.value)
    if overdue:
        query = query.where(is_overdue(today))
    undated_last = col(ActionItem.due_date).is_(None)
    query = query.order_by(undated_last, col(ActionItem.due_date), col(ActionItem.id))
    return _streamed(db, query)


def _streamed(db: Session, query) -> Iterator[ActionRecord]:
    for row in db.exec(query.execution_options(yield_per=STREAMED_ROWS)):
        yield _record(row)


def open_actions_before(
    db: Session, *, agent_id: int, plan_id: int | None, before_session_id: int | None
) -> list[ActionRecord]:
    """The open items of earlier sessions: of the same plan, or for a
    standalone session, of the agent's earlier standalone sessions."""
    query = _action_query().where(ActionItem.state == "open", CoachingSession.agent_id == agent_id)
    if plan_id is None:
        query = query.where(col(CoachingSession.plan_id).is_(None))
    else:
        query = query.where(CoachingSession.plan_id == plan_id)
    if before_session_id is not None:
        query = query.where(col(CoachingSession.id) < before_session_id)
    return [_record(row) for row in db.exec(query.order_by(col(ActionItem.session_id), col(ActionItem.id)))]


def carried_actions(db: Session, session: CoachingSession) -> list[ActionRecord]:
    """What the conversation in `session` starts from."""
    return open_actions_before(db, agent_id=session.agent_id, plan_id=session.plan_id, before_session_id=session.id)
