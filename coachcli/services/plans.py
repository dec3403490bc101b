"""Performance plans (P1–P12): a purpose, one form, a series of sessions,
closed with a written reason, never deleted."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from coachcli.choices import PlanState
from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.models import CoachingSession, Form, Plan, User, stored_id
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, forbidden, not_found, refused
from coachcli.forms import FormSpec
from coachcli.parse import check_text
from coachcli.records import column, extended
from coachcli.services import audit
from coachcli.services.actions import ActionRecord, open_actions_before
from coachcli.services.coaching import create_draft
from coachcli.services.forms import find_form, form_spec
from coachcli.services.people import coachable_agent, find_user, in_scope
from coachcli.services.sessions import SessionRecord, session_records, why_kept

PLAN_STATES = ("active", "closed")
RECENT_SESSIONS_SHOWN = 5
MIN_REASON_LENGTH = 20
MIN_REASON_WORDS = 4
_Agent = aliased(User, name="agent")
_Coach = aliased(User, name="coach")
_Closer = aliased(User, name="closer")


def _plan_query():
    return (
        select(Plan, _Agent.handle, Form.name, _Coach.handle, _Closer.handle)  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
        .join(_Agent, _Agent.id == Plan.agent_id)
        .join(_Coach, _Coach.id == Plan.coach_id)
        .join(_Closer, _Closer.id == Plan.closed_by_id, isouter=True)
        .join(Form, Form.id == Plan.form_id)
    )


def _sessions_by_plan(db: Session, plan_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """(session id, state) per plan, newest first — one query for all plans."""
    rows = db.exec(
        select(CoachingSession.plan_id, CoachingSession.id, CoachingSession.state)
        .where(col(CoachingSession.plan_id).in_(plan_ids))
        .order_by(col(CoachingSession.id).desc())
    ).all()
    sessions: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for plan_id, session_id, state in rows:
        # Stored rows of the plans asked for: neither id is None.
        assert plan_id is not None and session_id is not None
        sessions[plan_id].append((session_id, state))
    return sessions


def current_session_id(sessions: list[tuple[int, str]]) -> int | None:
    """The open (not yet coached) session if there is one, else the latest."""
    open_ids = [session_id for session_id, state in sessions if state != "coached"]
    if open_ids:
        return open_ids[0]
    return sessions[0][0] if sessions else None


@dataclass(frozen=True, slots=True)
class PlanRecord:
    id: int = column("ID")
    agent: str = column("Agent")
    form: str = column("Form")
    purpose: str = column("Purpose")
    state: str = column("State")
    coach: str = column("Coach")
    created_at: dt.datetime = column("Opened at", listed=False)
    closed_at: dt.datetime | None = column("Closed at", listed=False)
    close_reason: str | None = column("Close reason", listed=False)
    closed_by: str | None = column("Closed by", listed=False)
    current_session_id: int | None = column("Current session")
    session_ids: list[int] = column("Sessions")


@dataclass(frozen=True, slots=True)
class PlanOverview(PlanRecord):
    """P3: the plan with its open action items from earlier sessions, its
    current session and the most recent others (each shown in a section of
    its own, not as a line of the plan)."""

    open_actions: list[ActionRecord] = column(None)
    current_session: SessionRecord | None = column(None)
    recent_sessions: list[SessionRecord] = column(None)


def _records(db: Session, rows: Sequence[Sequence[Any]]) -> Iterator[PlanRecord]:
    """The plans of a batch of query rows, with one query for their sessions."""
    sessions = _sessions_by_plan(db, [row[0].id for row in rows])
    for plan, agent, form, coach, closer in rows:
        plan_sessions = sessions.get(plan.id, [])
        yield PlanRecord(
            id=stored_id(plan),
            agent=agent,
            form=form,
            purpose=plan.purpose,
            state=plan.state,
            coach=coach,
            created_at=plan.created_at,
            closed_at=plan.closed_at,
            close_reason=plan.close_reason,
            closed_by=closer,
            current_session_id=current_session_id(plan_sessions),
            session_ids=[session_id for session_id, _ in plan_sessions],
        )


def plan_record(db: Session, plan_id: int) -> PlanRecord:
    return next(_records(db, db.exec(_plan_query().where(Plan.id == plan_id)).all()))


def list_plans(
    db: Session, actor: User, *, agent: str | None = None, state: PlanState = PlanState.active
) -> Iterator[PlanRecord]:
    """The plans within the actor's scope, newest first, read as the caller
    consumes them (inside its transaction): a batch of rows at a time, with
    one query for the batch's sessions. The filters are checked at once."""
    query = _plan_query().where(in_scope(actor, Plan.agent_id))
    if agent:
        query = query.where(Plan.agent_id == find_user(db, agent).id)
    if PlanState(state) is not PlanState.all:
        query = query.where(Plan.state == PlanState(state).value)
    batches = db.exec(query.order_by(col(Plan.id).desc()).execution_options(yield_per=STREAMED_ROWS)).partitions()
    return (record for batch in batches for record in _records(db, batch))


def find_plan(db: Session, actor: User, plan_id: int) -> Plan:
    plan = db.get(Plan, plan_id)
    if plan is None:
        raise not_found(f"no performance plan {plan_id}; see `coach plan list --state all`")
    visible = db.exec(select(Plan.id).where(Plan.id == plan_id, in_scope(actor, Plan.agent_id))).first()
    if visible is None:
        raise forbidden(f"plan {plan_id} is outside the scope of '{actor.handle}'")
    return plan


def _session_title(plan: Plan, number: int) -> str:
    return f"Plan {plan.id}: session {number}"


def add_plan(db: Session, actor: User, agent_handle: str, form_name: str, purpose: str) -> tuple[Plan, CoachingSession]:
    """P1: the plan and its first (draft) session, together."""
    agent = coachable_agent(db, actor, agent_handle, "open performance plans")
    form = find_form(db, form_name)
    purpose = check_text(purpose, "purpose", lines=True).strip()
    if not purpose:
        raise CoachError("a plan needs a purpose: what should the agent achieve? pass --purpose TEXT")
    plan = Plan(agent_id=stored_id(agent), form_id=stored_id(form), purpose=purpose, coach_id=stored_id(actor))
    db.add(plan)
    db.flush()
    audit.record(db, actor, "plan.add", "plan", plan.id, agent=agent, form=form.name)
    session = create_draft(db, actor, agent, form, _session_title(plan, 1), plan)
    return plan, session


def _coachable_plan(db: Session, actor: User, plan_id: int, doing: str) -> Plan:
    plan = find_plan(db, actor, plan_id)
    agent = db.get(User, plan.agent_id)
    assert agent is not None  # plan.agent_id is a foreign key
    coachable_agent(db, actor, agent.handle, doing)
    return plan


def edit_plan(db: Session, actor: User, plan_id: int) -> tuple[CoachingSession, bool]:
    """P8: the plan's open draft, or a new blank one — the only way a session
    joins a plan. Returns the session and whether it was created."""
    plan = _coachable_plan(db, actor, plan_id, "edit performance plans")
    draft = db.exec(
        select(CoachingSession)
        .where(CoachingSession.plan_id == plan.id, CoachingSession.state != "coached")
        .order_by(col(CoachingSession.id).desc())
    ).first()
    if draft is not None:
        return draft, False
    if plan.state == "closed":
        raise refused(f"plan {plan.id} is closed and takes no new sessions; open a new plan with `coach plan add`")
    count = db.exec(select(func.count()).where(CoachingSession.plan_id == plan.id)).one()
    agent = db.get(User, plan.agent_id)
    form = db.get(Form, plan.form_id)
    assert agent is not None and form is not None  # foreign keys of the plan
    return create_draft(db, actor, agent, form, _session_title(plan, count + 1), plan), True


def check_close_reason(reason: str) -> str:
    """P11: the reason is the official record, so it must say something."""
    cleaned = " ".join(check_text(reason, "close reason").split())
    if not cleaned:
        raise CoachError("a close reason is required: say specifically why the plan is concluded (--reason TEXT)")
    if len(cleaned) < MIN_REASON_LENGTH or len(cleaned.split()) < MIN_REASON_WORDS:
        raise CoachError(
            f"the close reason is too short to document why the plan ended "
            f"(at least {MIN_REASON_WORDS} words and {MIN_REASON_LENGTH} characters), e.g. "
            '"Hold time under 5 minutes for six straight weeks; purpose met"'
        )
    return cleaned


def close_plan(db: Session, actor: User, plan_id: int, reason: str) -> Plan:
    plan = _coachable_plan(db, actor, plan_id, "close performance plans")
    if plan.state == "closed":
        raise refused(f"plan {plan.id} is already closed")
    draft = db.exec(
        select(CoachingSession).where(CoachingSession.plan_id == plan.id, CoachingSession.state != "coached")
    ).first()
    if draft is not None:
        # Only a way out that would be taken: a draft kept for good is not deleted.
        remove = "" if why_kept(db, draft) else f" or remove it with `coach session delete {draft.id}`"
        raise refused(
            f"plan {plan.id} still has an open session ({draft.id}); finish it with "
            f"`coach session coach {draft.id}`{remove} first"
        )
    plan.close_reason = check_close_reason(reason)
    plan.state = "closed"
    plan.closed_at = utc_now()
    plan.closed_by_id = actor.id
    db.add(plan)
    db.flush()
    audit.record(db, actor, "plan.close", "plan", plan.id)
    return plan


def plan_overview(db: Session, actor: User, plan_id: int) -> PlanOverview:
    """P3: the plan, its open action items from earlier sessions, its
    current session, and the five most recent others."""
    plan = find_plan(db, actor, plan_id)
    record = plan_record(db, plan_id)
    current_id = record.current_session_id
    others = [sid for sid in record.session_ids if sid != current_id][:RECENT_SESSIONS_SHOWN]
    wanted = ([current_id] if current_id else []) + others
    sessions = session_records(db, actor, wanted)
    current = sessions[0] if current_id else None
    # Carried over: what earlier sessions agreed and is still open. With no
    # open session, every open item is from an earlier one.
    open_actions = open_actions_before(
        db,
        agent_id=plan.agent_id,
        plan_id=plan.id,
        before_session_id=current_id if current and current.state != "coached" else None,
    )
    return extended(
        record,
        PlanOverview,
        open_actions=open_actions,
        current_session=current,
        recent_sessions=sessions[1:] if current_id else sessions,
    )


def plan_form(db: Session, plan_id: int) -> FormSpec:
    """The form every session of the plan uses (P2)."""
    plan = db.get(Plan, plan_id)
    if plan is None:
        raise not_found(f"no performance plan {plan_id}; see `coach plan list --state all`")
    form = db.get(Form, plan.form_id)
    assert form is not None  # plan.form_id is a foreign key
    return form_spec(form)
