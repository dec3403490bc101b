"""Running a coaching session: its draft, its answers saved as a draft (Save
Only) or made final (Save & Coached), autofill, Coach Again, the agent's
acknowledgement, deleting what is not kept, and the page a session is shown
on (with the action items carried over to it)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from coachcli.db.models import CoachingSession, Form, MiniGoal, Plan, SessionAcknowledgement, User, stored_id
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, forbidden, refused
from coachcli.forms import FormSpec, format_answer, merge_answers, missing_required
from coachcli.parse import check_text
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.actions import ActionRecord, carried_actions
from coachcli.services.forms import find_form, form_spec
from coachcli.services.notifications import notify
from coachcli.services.people import coachable_agent, require_coaching_role
from coachcli.services.sessions import SessionRecord, find_session, session_form, session_record, why_kept


@dataclass(frozen=True, slots=True)
class ShownSession(SessionRecord):
    """A session shown alone: its record, and the open action items of
    earlier sessions that its conversation starts from."""

    carried_actions: list[ActionRecord] = column(None)


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """A form field's answer, as a person reads it."""

    key: str = column(None)
    label: str = column("Field")
    answer: str = column("Answer")


def shown_session(db: Session, viewer: User, session: CoachingSession) -> ShownSession:
    record = session_record(db, viewer, stored_id(session))
    fields = {name: getattr(record, name) for name in SessionRecord.__dataclass_fields__}
    return ShownSession(**fields, carried_actions=carried_actions(db, session))


def answer_records(form: FormSpec, answers: dict) -> list[AnswerRecord]:
    """Every field of the form with the session's answer to it."""
    return [
        AnswerRecord(key=field.key, label=field.label, answer=format_answer(field, answers.get(field.key)))
        for field in form.fields
    ]


def _coachable_session(db: Session, actor: User, session_id: int, doing: str) -> CoachingSession:
    """A session the actor may run: an agent of their teams (or any, for an
    admin), or one they were named coach of when it was scheduled."""
    require_coaching_role(actor, doing)
    session = find_session(db, actor, session_id)
    if session.coach_id != actor.id:
        agent = db.get(User, session.agent_id)
        assert agent is not None  # session.agent_id is a foreign key
        coachable_agent(db, actor, agent.handle, doing)
    return session


def _require_open(session: CoachingSession, doing: str) -> None:
    if session.state == "coached":
        raise refused(
            f"session {session.id} is coached and final; it cannot be {doing} "
            f"(start a new one with `coach session coach-again {session.id}`)"
        )
    if session.state == "requested":
        raise refused(
            f"session {session.id} is still a request; schedule it first with "
            f"`coach session schedule --from-request {session.id} …`"
        )


def create_draft(
    db: Session, actor: User, agent: User, form: Form | None, title: str, plan: Plan | None = None
) -> CoachingSession:
    """A blank draft; the only place a session is born inside a plan."""
    title = check_text(title, "title").strip()
    if not title:
        raise CoachError("a session needs a title; pass --title TEXT")
    session = CoachingSession(
        title=title,
        agent_id=stored_id(agent),
        coach_id=actor.id,
        form_id=form.id if form else None,
        plan_id=plan.id if plan else None,
        state="draft",
    )
    db.add(session)
    db.flush()
    audit.record(db, actor, "session.new", "session", session.id, agent=agent, plan_id=session.plan_id)
    return session


def new_session(db: Session, actor: User, agent_handle: str, form_name: str, title: str | None) -> CoachingSession:
    agent = coachable_agent(db, actor, agent_handle, "start coaching sessions")
    form = find_form(db, form_name)
    return create_draft(db, actor, agent, form, title or f"{form.name}: {agent.name}")


def _form_for(db: Session, session: CoachingSession, form_name: str | None) -> Form | None:
    """The form a session is run with: its own, or — for a session scheduled
    without one — the one named now. Once a session has a form (always, in a
    plan) the form stays."""
    current = db.get(Form, session.form_id) if session.form_id is not None else None
    if not form_name:
        return current
    named = find_form(db, form_name)
    if current is not None and current.id != named.id:
        raise refused(
            f"session {session.id} already uses the form '{current.name}'; "
            "a session keeps its form (start another with `coach session new`)"
        )
    return named


def _apply_answers(
    db: Session,
    session: CoachingSession,
    updates: dict[str, object],
    notes: str | None,
    form_name: str | None,
    private_notes: str | None,
) -> None:
    chosen = _form_for(db, session, form_name)
    session.form_id = chosen.id if chosen else None
    form = form_spec(chosen) if chosen else None
    if updates:
        if form is None:
            raise refused(
                f"session {session.id} has no coaching form, so it takes no answers; "
                "choose one with --form NAME, or record what was said with --notes"
            )
        session.answers = merge_answers(form, session.answers, updates)
    if notes is not None:
        session.notes = check_text(notes, "notes", lines=True)
    if private_notes is not None:
        session.private_notes = check_text(private_notes, "private notes", lines=True).strip()
    session.updated_at = utc_now()


def save_session(
    db: Session,
    actor: User,
    session_id: int,
    updates: dict[str, object],
    *,
    notes: str | None = None,
    form_name: str | None = None,
    private_notes: str | None = None,
    coached: bool = False,
) -> CoachingSession:
    """Save Only: keep the answers, leave the session a draft. `coached`:
    Save & Coached, which also checks the required fields, makes the session
    final and notifies the agent."""
    doing, refused_as = ("coach sessions", "coached again") if coached else ("save coaching sessions", "saved")
    session = _coachable_session(db, actor, session_id, doing)
    _require_open(session, refused_as)
    _apply_answers(db, session, updates, notes, form_name, private_notes)
    if coached:
        _make_final(db, actor, session)
    else:
        session.state = "draft"
    db.add(session)
    db.flush()
    if coached:
        notify(
            db,
            session.agent_id,
            "session.coached",
            f"Coaching session {session.id} “{session.title}” was completed by {actor.name}.",
            "session",
            stored_id(session),
        )
    audit.record(
        db,
        actor,
        "session.coach" if coached else "session.save",
        "session",
        session.id,
        fields=None if coached else sorted(updates) or None,
        private_notes=True if private_notes is not None else None,
    )
    return session


def _make_final(db: Session, actor: User, session: CoachingSession) -> None:
    form = session_form(db, session)
    missing = missing_required(form, session.answers) if form else []
    if missing:
        raise refused(
            f"session {session.id} is missing required answers: {', '.join(missing)}; "
            f"set them with --set KEY=VALUE (or `coach session save {session.id}` to keep a draft)"
        )
    session.state = "coached"
    session.coached_at = utc_now()
    session.coached_by_id = actor.id
    session.coach_id = session.coach_id or actor.id


def acknowledge_session(db: Session, actor: User, session_id: int, comment: str | None = None) -> CoachingSession:
    """The agent's acknowledgement of a coached session: theirs alone, once;
    the coach is notified. It is kept beside the session, whose record stays final."""
    session = find_session(db, actor, session_id)
    agent = db.get(User, session.agent_id)
    assert agent is not None  # session.agent_id is a foreign key
    if actor.id != agent.id:
        raise forbidden(f"only the session's agent ('{agent.handle}') can acknowledge session {session.id}")
    if session.state != "coached":
        raise refused(
            f"session {session.id} is {session.state}, not coached yet; "
            "a session is acknowledged after the coach has completed it"
        )
    given = db.get(SessionAcknowledgement, session.id)
    if given is not None:
        raise refused(
            f"session {session.id} was already acknowledged on {given.acknowledged_at:%Y-%m-%d}; "
            "an acknowledgement is given once and never changed"
        )
    comment = check_text(comment or "", "comment", lines=True).strip() or None
    db.add(SessionAcknowledgement(session_id=stored_id(session), comment=comment))
    db.flush()
    said = f" with the comment “{comment}”" if comment else ""
    # Coaching a session names its coach (_make_final), so a coached one has one.
    assert session.coach_id is not None
    notify(
        db,
        session.coach_id,
        "session.acknowledged",
        f"{agent.name} ({agent.handle}) acknowledged coaching session {session.id} “{session.title}”{said}.",
        "session",
        stored_id(session),
    )
    audit.record(db, actor, "session.ack", "session", session.id, comment=True if comment else None)
    return session


def previous_session(db: Session, session: CoachingSession) -> CoachingSession | None:
    """The session autofill copies from: the previous one of the same plan, or
    for a standalone session the agent's previous one on the same form.
    A coached one is preferred, so an abandoned empty draft is never copied."""
    query = select(CoachingSession).where(col(CoachingSession.id) < session.id)
    if session.plan_id is not None:
        query = query.where(CoachingSession.plan_id == session.plan_id)
    else:
        query = query.where(
            CoachingSession.agent_id == session.agent_id,
            CoachingSession.form_id == session.form_id,
            col(CoachingSession.form_id).is_not(None),
        )
    newest_coached_first = (col(CoachingSession.state) == "coached").desc(), col(CoachingSession.id).desc()
    return db.exec(query.order_by(*newest_coached_first).limit(1)).first()


def answer_context(
    db: Session, actor: User, session_id: int, form_name: str | None = None
) -> tuple[FormSpec | None, dict, dict]:
    """What a person filling the form needs: the form, the answers so far,
    and the previous session's answers to offer as defaults. Nothing is
    written: the caller reads this before it asks, and saves after."""
    session = _coachable_session(db, actor, session_id, "fill coaching forms")
    _require_open(session, "changed")
    chosen = _form_for(db, session, form_name)
    previous = previous_session(db, session)
    return form_spec(chosen) if chosen else None, session.answers, previous.answers if previous else {}


def autofill_session(db: Session, actor: User, session_id: int) -> tuple[CoachingSession, CoachingSession]:
    """Fill the unanswered fields from the previous session; answers already
    given in this one are kept, so autofill never overwrites work."""
    session = _coachable_session(db, actor, session_id, "autofill coaching sessions")
    _require_open(session, "autofilled")
    if session.form_id is None:
        raise refused(f"session {session.id} has no coaching form to fill")
    source = previous_session(db, session)
    if source is None:
        where = "in its plan" if session.plan_id else "for this agent on this form"
        raise refused(f"session {session.id} has no previous session {where} to fill from")
    form = session_form(db, session)
    assert form is not None  # the session has a form_id, checked above
    session.answers = merge_answers(form, source.answers, session.answers)
    session.state = "draft"
    session.updated_at = utc_now()
    db.add(session)
    db.flush()
    audit.record(db, actor, "session.autofill", "session", session.id, source_session_id=source.id)
    return session, source


def delete_session(db: Session, actor: User, session_id: int) -> None:
    session = find_session(db, actor, session_id)
    own_request = session.state == "requested" and session.requested_by_id == actor.id
    if not own_request:
        session = _coachable_session(db, actor, session_id, "delete coaching sessions")
    kept = why_kept(db, session)
    if kept is not None:
        raise refused(kept)
    goal = db.exec(select(MiniGoal).where(MiniGoal.session_id == session.id)).first()
    audit.record(
        db,
        actor,
        "session.delete",
        "session",
        session.id,
        agent=db.get(User, session.agent_id),
        plan_id=session.plan_id,
        minigoal_id=goal.id if goal else None,
    )
    db.delete(session)
    db.flush()


def coach_again(db: Session, actor: User, session_id: int) -> CoachingSession:
    """Coach Again: a new standalone draft, same form and agent, never in a plan."""
    source = _coachable_session(db, actor, session_id, "start coaching sessions")
    agent = db.get(User, source.agent_id)
    assert agent is not None  # source.agent_id is a foreign key
    form = db.get(Form, source.form_id) if source.form_id else None
    # A plan session's title ("Plan 3: session 2") would wrongly place the copy in the plan.
    title = f"{form.name}: {agent.name}" if source.plan_id is not None and form else source.title
    return create_draft(db, actor, agent, form, title)
