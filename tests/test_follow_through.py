"""Follow-through (SPEC §7), rule by rule: acknowledgement, private notes,
action items and what is carried over to the next session; on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import COMPLETE_ANSWERS
from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from coachcli.db.models import ActionItem, AuditEntry, CoachingSession, Notification, SessionAcknowledgement
from coachcli.errors import CoachError, ExitCode
from coachcli.records import as_dict
from coachcli.services import actions, coaching, plans, scheduling, sessions, users

TODAY = dt.date(2026, 3, 10)
ACTION_KEYS = {
    "id",
    "session_id",
    "plan_id",
    "agent",
    "owner",
    "text",
    "due_date",
    "state",
    "created_at",
    "done_at",
    "done_by",
    "note",
}


def refusal(call, *args, code: ExitCode = ExitCode.REFUSED, **kwargs) -> str:
    with pytest.raises(CoachError) as caught:
        call(*args, **kwargs)
    assert caught.value.exit_code == code, caught.value.message
    return caught.value.message


def raw(db, sql: str, **params):
    """SQL straight to the database, as a script or psql would, in a savepoint."""
    with db.begin_nested():
        return db.connection().execute(text(sql), params)


def coached(db, center, agent: str = "alex"):
    session = coaching.new_session(db, center.calvin, agent, center.form.name, None)
    return coaching.save_session(db, center.calvin, session.id, dict(COMPLETE_ANSWERS), coached=True)


def draft(db, center, agent: str = "alex"):
    return coaching.new_session(db, center.calvin, agent, center.form.name, None)


def add(db, actor, session, text="Use the closing checklist", **options):
    return actions.add_action(db, actor, session.id, text, today=TODAY, **options)


def listed(db, actor, **filters) -> list[int]:
    return [record.id for record in actions.list_actions(db, actor, today=TODAY, **filters)]


def count(db, model, *where) -> int:
    return db.exec(select(func.count()).select_from(model).where(*where)).one()


# --- action items: add ---------------------------------------------------------------------


def test_the_sessions_coach_adds_an_item_owned_by_the_agent_by_default(db, center):
    session = coached(db, center)
    item = add(db, center.calvin, session, due="2026-03-20")
    record = actions.action_record(db, item.id)
    assert set(as_dict(record)) == ACTION_KEYS
    assert record.agent == "alex" and record.owner == "alex" and record.state == "open"
    assert record.due_date == dt.date(2026, 3, 20) and record.session_id == session.id
    assert record.done_at is None and record.done_by is None


def test_an_item_can_be_owned_by_the_coach_and_due_dates_are_relative(db, center):
    item = add(db, center.calvin, draft(db, center), owner="coach", due="+7d")
    record = actions.action_record(db, item.id)
    assert record.owner == "calvin" and record.due_date == TODAY + dt.timedelta(days=7)


def test_an_admin_adds_items_to_any_session(db, center):
    assert add(db, center.dana, coached(db, center)).id


def test_only_the_sessions_coach_or_an_admin_adds_items(db, center):
    session = coached(db, center)
    cora = users.add_user(db, center.dana, "cora", "Cora Diaz", "coach", ["Inbound"])
    assert "coach of session" in refusal(add, db, cora, session, code=ExitCode.PERMISSION)
    refusal(add, db, center.alex, session, code=ExitCode.PERMISSION)
    refusal(add, db, center.priya, session, code=ExitCode.PERMISSION)


def test_items_are_refused_on_requested_and_scheduled_sessions(db, center):
    scheduled = scheduling.schedule_session(
        db,
        center.calvin,
        scheduling.ScheduleRequest.typed(title="Holds", agent="alex", date="2026-03-12", start="10:00"),
        today=TODAY,
    )
    assert "scheduled" in refusal(add, db, center.calvin, scheduled)
    request = scheduling.request_session(db, center.alex, title="Help with holds")
    refusal(add, db, center.dana, request)
    assert count(db, ActionItem) == 0


@pytest.mark.parametrize(("options", "fragment"), [({"text": "  "}, "needs its text"), ({"owner": "boss"}, "--owner")])
def test_blank_text_and_an_unknown_owner_are_bad_input(db, center, options, fragment):
    session = coached(db, center)
    assert fragment in refusal(add, db, center.calvin, session, code=ExitCode.BAD_INPUT, **options)


def test_an_unknown_session_is_not_found(db, center):
    refusal(actions.add_action, db, center.calvin, 999, "x", today=TODAY, code=ExitCode.NOT_FOUND)


# --- action items: done ----------------------------------------------------------------------


def test_the_owner_marks_an_item_done_once_with_a_note(db, center):
    item = add(db, center.calvin, coached(db, center))
    actions.complete_action(db, center.alex, item.id, "  Done on every call  ")
    record = actions.action_record(db, item.id)
    assert record.state == "done" and record.done_by == "alex" and record.note == "Done on every call"
    assert record.done_at is not None
    assert "already done" in refusal(actions.complete_action, db, center.calvin, item.id)


def test_the_coach_or_an_admin_may_mark_the_agents_item_done(db, center):
    session = coached(db, center)
    first, second = add(db, center.calvin, session), add(db, center.calvin, session)
    actions.complete_action(db, center.calvin, first.id)
    actions.complete_action(db, center.dana, second.id)
    assert [actions.action_record(db, i.id).done_by for i in (first, second)] == ["calvin", "dana"]


def test_nobody_else_marks_an_item_done(db, center):
    coach_owned = add(db, center.calvin, coached(db, center), owner="coach")
    assert "owner" in refusal(actions.complete_action, db, center.alex, coach_owned.id, code=ExitCode.PERMISSION)
    refusal(actions.complete_action, db, center.maria, coach_owned.id, code=ExitCode.PERMISSION)
    refusal(actions.complete_action, db, center.priya, coach_owned.id, code=ExitCode.PERMISSION)
    refusal(actions.complete_action, db, center.calvin, 999, code=ExitCode.NOT_FOUND)
    assert actions.action_record(db, coach_owned.id).state == "open"


# --- action items: list ----------------------------------------------------------------------


def test_list_is_open_items_by_default_and_takes_done_and_all(db, center):
    session = coached(db, center)
    open_item, done_item = add(db, center.calvin, session), add(db, center.calvin, session)
    actions.complete_action(db, center.alex, done_item.id)
    assert listed(db, center.calvin) == [open_item.id]
    assert listed(db, center.calvin, state="done") == [done_item.id]
    assert sorted(listed(db, center.calvin, state="all")) == [open_item.id, done_item.id]
    # Another state is refused by `action list --state` itself (test_cli_foundation's ERRORS).


def test_overdue_is_open_items_due_before_today_soonest_first(db, center):
    session = coached(db, center)
    late = add(db, center.calvin, session, due="2026-03-01")
    later = add(db, center.calvin, session, due="2026-02-01")
    add(db, center.calvin, session, due="2026-03-10")  # due today: not overdue
    add(db, center.calvin, session)  # no due date
    finished = add(db, center.calvin, session, due="2026-01-01")
    actions.complete_action(db, center.alex, finished.id)
    assert listed(db, center.calvin, overdue=True) == [later.id, late.id]
    assert listed(db, center.calvin)[-1] != later.id  # undated items come last


def test_list_keeps_to_the_scope_and_filters_by_agent(db, center):
    alex_item = add(db, center.calvin, coached(db, center))
    maria_item = add(db, center.calvin, coached(db, center, "maria"))
    sam_item = add(db, center.priya, coached_by_priya(db, center))
    assert listed(db, center.alex) == [alex_item.id]
    assert sorted(listed(db, center.calvin)) == [alex_item.id, maria_item.id]
    assert listed(db, center.calvin, agent="maria") == [maria_item.id]
    assert listed(db, center.priya) == [sam_item.id]
    assert sorted(listed(db, center.dana)) == [alex_item.id, maria_item.id, sam_item.id]
    refusal(actions.list_actions, db, center.calvin, agent="nobody", today=TODAY, code=ExitCode.NOT_FOUND)


def coached_by_priya(db, center):
    session = coaching.new_session(db, center.priya, "sam", center.form.name, None)
    return coaching.save_session(db, center.priya, session.id, dict(COMPLETE_ANSWERS), coached=True)


# --- action items: kept for good -------------------------------------------------------------


def test_the_database_refuses_to_delete_an_item_or_change_a_done_one(db, center):
    item = add(db, center.calvin, coached(db, center))
    with pytest.raises(IntegrityError, match="cannot be deleted"):
        raw(db, "DELETE FROM action_items WHERE id = :id", id=item.id)
    actions.complete_action(db, center.alex, item.id)
    with pytest.raises(IntegrityError, match="cannot be changed"):
        raw(db, "UPDATE action_items SET state = 'open' WHERE id = :id", id=item.id)
    assert count(db, ActionItem) == 1


def test_a_draft_with_action_items_is_not_deleted(db, center):
    session = draft(db, center)
    add(db, center.calvin, session)
    assert "action items" in refusal(coaching.delete_session, db, center.calvin, session.id)
    assert db.get(CoachingSession, session.id) is not None


def test_every_change_to_an_item_is_audited(db, center):
    item = add(db, center.calvin, coached(db, center))
    actions.complete_action(db, center.alex, item.id, "ok")
    entries = db.exec(select(AuditEntry.action, AuditEntry.actor_id).where(AuditEntry.record_type == "action")).all()
    assert sorted(entries) == [("action.add", center.calvin.id), ("action.done", center.alex.id)]


# --- acknowledgement ---------------------------------------------------------------------------


def test_the_agent_acknowledges_a_coached_session_once_and_the_coach_is_told(db, center):
    session = coached(db, center)
    coaching.acknowledge_session(db, center.alex, session.id, "  Thanks, agreed  ")
    record = sessions.session_record(db, center.calvin, session.id)
    assert record.agent_comment == "Thanks, agreed" and record.acknowledged_at is not None
    told = db.exec(select(Notification).where(Notification.kind == "session.acknowledged")).all()
    assert [(n.user_id, n.record_id) for n in told] == [(center.calvin.id, session.id)]
    assert "once" in refusal(coaching.acknowledge_session, db, center.alex, session.id, "again")
    assert db.get(SessionAcknowledgement, session.id).comment == "Thanks, agreed"
    assert count(db, AuditEntry, AuditEntry.action == "session.ack") == 1


def test_only_the_agent_acknowledges_and_only_a_coached_session(db, center):
    session = coached(db, center)
    for other in (center.calvin, center.dana):
        refusal(coaching.acknowledge_session, db, other, session.id, code=ExitCode.PERMISSION)
    refusal(coaching.acknowledge_session, db, center.maria, session.id, code=ExitCode.PERMISSION)
    assert "not coached" in refusal(coaching.acknowledge_session, db, center.alex, draft(db, center).id)
    refusal(coaching.acknowledge_session, db, center.alex, 999, code=ExitCode.NOT_FOUND)
    assert count(db, SessionAcknowledgement) == 0


def test_without_a_comment_the_acknowledgement_has_none(db, center):
    session = coached(db, center)
    coaching.acknowledge_session(db, center.alex, session.id)
    record = sessions.session_record(db, center.alex, session.id)
    assert record.acknowledged_at is not None and record.agent_comment is None


def test_the_database_refuses_to_change_or_delete_an_acknowledgement(db, center):
    session = coached(db, center)
    coaching.acknowledge_session(db, center.alex, session.id, "fine")
    with pytest.raises(IntegrityError, match="cannot be changed"):
        raw(db, "UPDATE session_acknowledgements SET comment = 'x'")
    with pytest.raises(IntegrityError, match="cannot be deleted"):
        raw(db, "DELETE FROM session_acknowledgements")


def test_unacknowledged_lists_coached_sessions_in_scope_not_yet_acknowledged(db, center):
    first, second = coached(db, center), coached(db, center)
    draft(db, center)
    coached_by_priya(db, center)
    coaching.acknowledge_session(db, center.alex, first.id)
    ids = [r.id for r in sessions.list_sessions(db, center.calvin, unacknowledged=True)]
    assert ids == [second.id]
    assert [r.id for r in sessions.list_sessions(db, center.alex, unacknowledged=True)] == [second.id]


# --- private notes ------------------------------------------------------------------------------


def test_private_notes_are_for_coaches_and_admins_only(db, center):
    session = draft(db, center)
    coaching.save_session(db, center.calvin, session.id, {}, private_notes="  Struggling at home  ")
    for viewer in (center.calvin, center.dana):
        assert sessions.session_record(db, viewer, session.id).private_notes == "Struggling at home"
    assert "private_notes" not in as_dict(sessions.session_record(db, center.alex, session.id))
    assert all("private_notes" not in as_dict(r) for r in sessions.list_sessions(db, center.alex))


def test_private_notes_on_coach_and_schedule(db, center):
    session = draft(db, center)
    coaching.save_session(
        db, center.calvin, session.id, dict(COMPLETE_ANSWERS), private_notes="Watch tone", coached=True
    )
    scheduled = scheduling.schedule_session(
        db,
        center.calvin,
        scheduling.ScheduleRequest.typed(
            title="Holds", agent="alex", date="2026-03-12", start="10:00", private_notes="Ask about the new shift"
        ),
        today=TODAY,
    )
    assert db.get(CoachingSession, session.id).private_notes == "Watch tone"
    assert db.get(CoachingSession, scheduled.id).private_notes == "Ask about the new shift"


def test_saving_without_private_notes_keeps_them(db, center):
    session = draft(db, center)
    coaching.save_session(db, center.calvin, session.id, {}, private_notes="Keep me")
    coaching.save_session(db, center.calvin, session.id, {"greeting": "3"}, notes="public")
    assert db.get(CoachingSession, session.id).private_notes == "Keep me"


def test_the_sessions_import_takes_private_notes(db, center):
    lines = [
        "title,agent,coach,date,start,private_notes\n",
        "Holds,alex,calvin,2026-03-12,10:00,Needs reassurance\n",
    ]
    scheduling.import_sessions(db, center.calvin, lines, "file.csv", today=TODAY)
    stored = db.exec(select(CoachingSession.private_notes).where(CoachingSession.title == "Holds")).all()
    assert stored == ["Needs reassurance"]


# --- carried over -------------------------------------------------------------------------------


def test_a_plans_open_items_from_earlier_sessions_are_carried_to_its_draft(db, center):
    plan, first = plans.add_plan(db, center.calvin, "alex", center.form.name, "Shorter holds")
    coaching.save_session(db, center.calvin, first.id, dict(COMPLETE_ANSWERS), coached=True)
    kept, finished = add(db, center.calvin, first, "Kept open"), add(db, center.calvin, first, "Finished")
    actions.complete_action(db, center.alex, finished.id)
    assert [a.id for a in plans.plan_overview(db, center.calvin, plan.id).open_actions] == [kept.id]
    current, _ = plans.edit_plan(db, center.calvin, plan.id)
    add(db, center.calvin, current, "Agreed today")  # this session's own item is not carried
    add(db, center.calvin, coached(db, center), "Standalone")  # nor a standalone session's
    carried = actions.carried_actions(db, current)
    assert [a.id for a in carried] == [kept.id] and set(as_dict(carried[0])) == ACTION_KEYS
    overview = plans.plan_overview(db, center.calvin, plan.id)
    assert [a.id for a in overview.open_actions] == [kept.id]


def test_a_standalone_session_carries_the_agents_earlier_standalone_items(db, center):
    earlier = coached(db, center)
    kept = add(db, center.calvin, earlier, "Standalone item")
    plan, first = plans.add_plan(db, center.calvin, "alex", center.form.name, "Shorter holds")
    add(db, center.calvin, first, "Plan item")
    add(db, center.calvin, coached(db, center, "maria"), "Another agent's")
    later = draft(db, center)
    assert [a.id for a in actions.carried_actions(db, later)] == [kept.id]
    assert actions.carried_actions(db, earlier) == []
