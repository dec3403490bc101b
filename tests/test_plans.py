"""Performance plans, rule by rule (SPEC §2, P1–P12), on a temporary database.

Each test would fail if its rule broke. The database's own guards (triggers)
are tested with raw SQL, since a script or a sqlite3 session bypasses the rules
in `coachcli.services`.
"""

from __future__ import annotations

import pytest
from conftest import COMPLETE_ANSWERS, REPO
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from coachcli.db import transaction
from coachcli.db.models import AuditEntry, CoachingSession, Notification, Plan
from coachcli.errors import CoachError, ExitCode
from coachcli.forms import load_form_file
from coachcli.services import coaching, forms, plans, sessions
from coachcli.services.people import find_user

PURPOSE = "Bring average hold time under 5 minutes"
REASON = "Hold time under five minutes for six straight weeks; purpose met"


def refusal(call, *args, code: ExitCode = ExitCode.REFUSED, **options) -> str:
    """The CoachError a rule raises, checked for its exit code; its message."""
    with pytest.raises(CoachError) as caught:
        call(*args, **options)
    assert caught.value.exit_code == code, caught.value.message
    assert "\n" not in caught.value.message
    return caught.value.message


def raw(db, sql: str, **params):
    """SQL straight to the database, as a script, the sqlite3 shell or psql
    would; in a savepoint, so that a refusal leaves the test's transaction
    usable on PostgreSQL too."""
    from sqlalchemy import text

    with db.begin_nested():
        return db.connection().execute(text(sql), params)


def coach(db, actor, session_id: int, **changes):
    return coaching.save_session(db, actor, session_id, {**COMPLETE_ANSWERS, **changes}, coached=True)


def open_plan(db, center, agent: str = "alex", purpose: str = PURPOSE):
    return plans.add_plan(db, center.calvin, agent, center.form.name, purpose)


def second_form(db, center):
    return forms.add_form(db, center.dana, load_form_file(REPO / "examples" / "forms" / "chat-review.json"))


def count(db, model, *where) -> int:
    return db.exec(select(func.count()).select_from(model).where(*where)).one()


# --- P1: the plan and its first session, together ----------------------------


def test_p1_plan_add_creates_the_plan_and_a_first_draft_on_its_form(db, center):
    plan, first = open_plan(db, center)
    assert plan.state == "active" and plan.purpose == PURPOSE
    assert plan.coach_id == center.calvin.id and plan.agent_id == center.alex.id
    assert first.plan_id == plan.id
    assert first.state == "draft"
    assert first.form_id == plan.form_id == center.form.id
    assert first.answers == {}
    record = plans.plan_record(db, plan.id)
    assert record.session_ids == [first.id]
    assert record.current_session_id == first.id
    actions = db.exec(select(AuditEntry.action).where(AuditEntry.actor_id == center.calvin.id)).all()
    assert "plan.add" in actions and "session.new" in actions


@pytest.mark.parametrize(
    ("agent", "form", "purpose", "code"),
    [
        ("alex", "No such form", PURPOSE, ExitCode.NOT_FOUND),
        ("nobody", "Call quality", PURPOSE, ExitCode.NOT_FOUND),
        ("alex", "Call quality", "   ", ExitCode.BAD_INPUT),
        ("calvin", "Call quality", PURPOSE, ExitCode.BAD_INPUT),  # a coach is not coached
    ],
)
def test_p1_plan_add_needs_agent_form_and_purpose(db, center, agent, form, purpose, code):
    message = refusal(plans.add_plan, db, center.calvin, agent, form, purpose, code=code)
    assert message
    assert count(db, Plan) == 0
    assert count(db, CoachingSession) == 0


def test_p1_a_failure_after_the_plan_row_leaves_neither_plan_nor_session(engine, seeded, monkeypatch):
    """One transaction: if the first session cannot be made, the plan is not kept."""

    def broken_draft(*args, **kwargs):
        raise CoachError("the first session could not be created")

    monkeypatch.setattr(plans, "create_draft", broken_draft)
    with pytest.raises(CoachError):
        with transaction(engine, write=True) as db:
            plans.add_plan(db, find_user(db, "calvin"), "alex", "Call quality", PURPOSE)
            assert count(db, Plan) == 1  # the plan row existed mid-way …
    with transaction(engine, write=False) as db:
        assert count(db, Plan) == 0  # … and was rolled back with the failure
        assert count(db, CoachingSession) == 0
        assert count(db, AuditEntry, AuditEntry.action == "plan.add") == 0


# --- P2: every session of a plan uses the plan's form -------------------------


def test_p2_every_plan_session_uses_the_plan_form(db, center):
    other = second_form(db, center)
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    second, _ = plans.edit_plan(db, center.calvin, plan.id)
    assert {first.form_id, second.form_id} == {center.form.id}
    assert other.id != center.form.id
    form_ids = db.exec(select(CoachingSession.form_id).where(CoachingSession.plan_id == plan.id)).all()
    assert set(form_ids) == {center.form.id}


def test_p2_the_database_refuses_a_plan_session_on_another_form(db, center):
    other = second_form(db, center)
    plan, first = open_plan(db, center)
    with pytest.raises(IntegrityError, match="plan's form"):
        raw(
            db,
            "INSERT INTO sessions (title, agent_id, form_id, plan_id, state, created_at, updated_at) "
            "VALUES ('sneaky', :agent, :form, :plan, 'draft', '2025-01-01T00:00:00+00:00', "
            "'2025-01-01T00:00:00+00:00')",
            agent=center.alex.id,
            form=other.id,
            plan=plan.id,
        )
    with pytest.raises(IntegrityError, match="plan's form"):
        raw(
            db,
            "INSERT INTO sessions (title, agent_id, form_id, plan_id, state, created_at, updated_at) "
            "VALUES ('formless', :agent, NULL, :plan, 'draft', 'x', 'x')",
            agent=center.alex.id,
            plan=plan.id,
        )
    with pytest.raises(IntegrityError, match="plan's form"):
        raw(db, "UPDATE sessions SET form_id = :form WHERE id = :id", form=other.id, id=first.id)
    assert raw(db, "SELECT form_id FROM sessions WHERE id = :id", id=first.id).scalar_one() == center.form.id
    # A standalone session may change form: the guard is about plans only.
    standalone = coaching.new_session(db, center.calvin, "alex", center.form.name, None)
    raw(db, "UPDATE sessions SET form_id = :form WHERE id = :id", form=other.id, id=standalone.id)


# --- P3: the overview: current session and the five most recent others ------


def test_p3_overview_shows_the_current_session_and_five_most_recent_others(db, center):
    plan, first = open_plan(db, center)
    ids = [first.id]
    coach(db, center.calvin, first.id)
    for _ in range(6):
        session, created = plans.edit_plan(db, center.calvin, plan.id)
        assert created
        ids.append(session.id)
        coach(db, center.calvin, session.id)
    current, created = plans.edit_plan(db, center.calvin, plan.id)
    ids.append(current.id)
    assert len(ids) == 8
    # A session of another plan for the same agent must not leak in.
    other_plan, other_first = open_plan(db, center, purpose="Read every disclosure")

    record = plans.plan_overview(db, center.calvin, plan.id)
    shown_current, recent = record.current_session, record.recent_sessions
    assert record.id == plan.id and record.purpose == PURPOSE
    assert record.form == "Call quality" and record.agent == "alex" and record.state == "active"
    assert shown_current.id == current.id and shown_current.state == "draft"
    assert [session.id for session in recent] == list(reversed(ids[2:7]))
    assert len(recent) == 5
    assert other_first.id not in [s.id for s in recent]
    assert sorted(record.session_ids) == sorted(ids)
    assert all(session.plan_id == plan.id for session in [shown_current, *recent])


def test_p3_with_every_session_coached_the_latest_is_current(db, center):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    second, _ = plans.edit_plan(db, center.calvin, plan.id)
    coach(db, center.calvin, second.id)
    overview = plans.plan_overview(db, center.calvin, plan.id)
    current, recent = overview.current_session, overview.recent_sessions
    assert current.id == second.id
    assert [s.id for s in recent] == [first.id]


# --- P4: autofill ------------------------------------------------------------


def test_p4_autofill_in_a_plan_copies_the_previous_plan_session(db, center):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id, greeting=2, strengths="Plan session one")
    # A later standalone session on the same form must not be the source.
    standalone = coaching.new_session(db, center.calvin, "alex", center.form.name, None)
    coach(db, center.calvin, standalone.id, greeting=5, strengths="Standalone")
    second, _ = plans.edit_plan(db, center.calvin, plan.id)

    filled, source = coaching.autofill_session(db, center.calvin, second.id)
    assert source.id == first.id
    assert filled.answers["greeting"] == 2
    assert filled.answers["strengths"] == "Plan session one"
    assert filled.state == "draft"


def test_p4_autofill_standalone_copies_the_agents_previous_session_on_the_same_form(db, center):
    other = second_form(db, center)
    earlier = coaching.new_session(db, center.calvin, "alex", center.form.name, "Earlier")
    coach(db, center.calvin, earlier.id, strengths="Alex, same form")
    maria_s = coaching.new_session(db, center.calvin, "maria", center.form.name, "Maria")
    coach(db, center.calvin, maria_s.id, strengths="Maria, same form")
    coaching.new_session(db, center.calvin, "alex", other.name, "Other form")
    current = coaching.new_session(db, center.calvin, "alex", center.form.name, "Now")

    filled, source = coaching.autofill_session(db, center.calvin, current.id)
    assert source.id == earlier.id
    assert filled.answers["strengths"] == "Alex, same form"


def test_p4_autofill_keeps_answers_already_given(db, center):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id, greeting=2, empathy=2)
    second, _ = plans.edit_plan(db, center.calvin, plan.id)
    coaching.save_session(db, center.calvin, second.id, {"greeting": "5"})
    filled, _ = coaching.autofill_session(db, center.calvin, second.id)
    assert filled.answers["greeting"] == 5  # kept
    assert filled.answers["empathy"] == 2  # filled
    assert filled.answers["opportunities"] == COMPLETE_ANSWERS["opportunities"]


def test_p4_autofill_is_refused_on_a_coached_session_and_without_a_source(db, center):
    plan, first = open_plan(db, center)
    message = refusal(coaching.autofill_session, db, center.calvin, first.id)
    assert "no previous session" in message
    coach(db, center.calvin, first.id)
    message = refusal(coaching.autofill_session, db, center.calvin, first.id)
    assert "coached" in message
    answers = raw(db, "SELECT answers FROM sessions WHERE id = :id", id=first.id).scalar_one()
    assert '"greeting": 4' in answers


# --- P5: Save Only and Save & Coached -----------------------------------------


def test_p5_save_keeps_the_other_answers_and_stays_a_draft(db, center):
    _, first = open_plan(db, center)
    coaching.save_session(db, center.calvin, first.id, {"greeting": "4", "channel": "phone"})
    saved = coaching.save_session(db, center.calvin, first.id, {"channel": "chat"}, notes="Talked about holds")
    assert saved.answers == {"channel": "chat", "greeting": 4}
    assert saved.state == "draft"
    assert saved.coached_at is None
    assert saved.notes == "Talked about holds"
    assert count(db, Notification) == 0  # Save Only notifies nobody


def test_p5_save_validates_answers(db, center):
    _, first = open_plan(db, center)
    for updates in ({"greeting": "9"}, {"channel": "fax"}, {"compliance": "maybe"}, {"bogus": "1"}):
        refusal(coaching.save_session, db, center.calvin, first.id, updates, code=ExitCode.BAD_INPUT)


def test_p5_coach_checks_required_fields(db, center):
    _, first = open_plan(db, center)
    message = refusal(coaching.save_session, db, center.calvin, first.id, {"greeting": "4"}, coached=True)
    assert "missing required answers" in message
    for key in ("channel", "empathy", "compliance", "resolution", "opportunities", "agreed_actions"):
        assert key in message
    assert "greeting," not in message


def test_p5_coach_records_the_time_and_notifies_the_agent(db, center):
    _, first = open_plan(db, center)
    coached = coach(db, center.calvin, first.id)
    assert coached.state == "coached"
    assert coached.coached_at is not None and coached.coached_at.utcoffset().total_seconds() == 0
    assert coached.coached_by_id == center.calvin.id
    notes = db.exec(select(Notification)).all()
    assert [(n.user_id, n.kind, n.record_id) for n in notes] == [(center.alex.id, "session.coached", first.id)]


def test_p5_a_coached_session_is_final(db, center):
    _, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    refusal(coaching.save_session, db, center.calvin, first.id, {"greeting": "1"})
    refusal(coaching.save_session, db, center.calvin, first.id, {"greeting": "1"}, coached=True)
    refusal(coaching.delete_session, db, center.calvin, first.id)
    refusal(coaching.autofill_session, db, center.calvin, first.id)
    db.expire_all()
    assert db.get(CoachingSession, first.id).answers["greeting"] == 4


def test_p5_the_database_refuses_changing_or_deleting_a_coached_session(db, center):
    _, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    with pytest.raises(IntegrityError, match="coached session cannot be changed"):
        raw(db, "UPDATE sessions SET notes = 'rewritten' WHERE id = :id", id=first.id)
    with pytest.raises(IntegrityError, match="coached session cannot be changed"):
        raw(db, "UPDATE sessions SET state = 'draft' WHERE id = :id", id=first.id)
    with pytest.raises(IntegrityError, match="coached session cannot be deleted"):
        raw(db, "DELETE FROM sessions WHERE id = :id", id=first.id)
    assert raw(db, "SELECT state, notes FROM sessions WHERE id = :id", id=first.id).one() == ("coached", "")


# --- P6: the Plan column ------------------------------------------------------


def test_p6_session_list_has_the_plan_id(db, center):
    plan, first = open_plan(db, center)
    standalone = coaching.new_session(db, center.calvin, "alex", center.form.name, None)
    rows = {row.id: row for row in sessions.list_sessions(db, center.calvin)}
    assert rows[first.id].plan_id == plan.id
    assert rows[standalone.id].plan_id is None
    only_plan = sessions.list_sessions(db, center.calvin, plan_id=plan.id)
    assert [row.id for row in only_plan] == [first.id]


# --- P7: Coach Again ----------------------------------------------------------


def test_p7_coach_again_is_standalone_even_from_a_plan_session(db, center):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    again = coaching.coach_again(db, center.calvin, first.id)
    assert again.id != first.id
    assert again.plan_id is None
    assert again.form_id == center.form.id
    assert again.agent_id == center.alex.id
    assert again.state == "draft" and again.answers == {}
    assert "Plan" not in again.title  # not titled as a plan session either
    assert plans.plan_record(db, plan.id).session_ids == [first.id]


# --- P8: plan edit, the only way into a plan ----------------------------------


def test_p8_edit_returns_the_open_draft_or_creates_a_blank_one(db, center):
    plan, first = open_plan(db, center)
    same, created = plans.edit_plan(db, center.calvin, plan.id)
    assert (same.id, created) == (first.id, False)
    coach(db, center.calvin, first.id)
    new, created = plans.edit_plan(db, center.calvin, plan.id)
    assert created and new.id != first.id
    assert (new.plan_id, new.form_id, new.agent_id, new.state, new.answers) == (
        plan.id,
        center.form.id,
        center.alex.id,
        "draft",
        {},
    )
    again, created = plans.edit_plan(db, center.calvin, plan.id)
    assert (again.id, created) == (new.id, False)
    assert count(db, CoachingSession, CoachingSession.plan_id == plan.id) == 2


def test_p8_the_database_refuses_moving_a_session_into_or_out_of_a_plan(db, center):
    plan, first = open_plan(db, center)
    standalone = coaching.new_session(db, center.calvin, "alex", center.form.name, None)
    with pytest.raises(IntegrityError, match="moved into or out of a plan"):
        raw(db, "UPDATE sessions SET plan_id = :plan WHERE id = :id", plan=plan.id, id=standalone.id)
    with pytest.raises(IntegrityError, match="moved into or out of a plan"):
        raw(db, "UPDATE sessions SET plan_id = NULL WHERE id = :id", id=first.id)
    assert raw(db, "SELECT plan_id FROM sessions WHERE id = :id", id=standalone.id).scalar_one() is None


def test_p8_no_service_attaches_an_existing_session_to_a_plan(db, center):
    """The only code that sets a plan on a session is create_draft, called by
    add_plan and edit_plan: Coach Again and new sessions stay standalone."""
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    again = coaching.coach_again(db, center.calvin, first.id)
    coaching.save_session(db, center.calvin, again.id, {"greeting": "3"})
    coaching.autofill_session(db, center.calvin, again.id)
    assert db.get(CoachingSession, again.id).plan_id is None


def test_p8_edit_on_a_closed_plan_is_refused(db, center):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    plans.close_plan(db, center.calvin, plan.id, REASON)
    message = refusal(plans.edit_plan, db, center.calvin, plan.id)
    assert "closed" in message
    assert count(db, CoachingSession, CoachingSession.plan_id == plan.id) == 1


# --- P9: delete only what is not coached ---------------------------------------


def test_p9_a_draft_can_be_deleted_a_coached_session_cannot(db, center):
    plan, first = open_plan(db, center)
    coaching.delete_session(db, center.calvin, first.id)
    assert db.get(CoachingSession, first.id) is None
    assert plans.plan_record(db, plan.id).session_ids == []
    assert count(db, AuditEntry, AuditEntry.action == "session.delete") == 1
    again, created = plans.edit_plan(db, center.calvin, plan.id)
    assert created
    coach(db, center.calvin, again.id)
    assert "coached" in refusal(coaching.delete_session, db, center.calvin, again.id)
    assert db.get(CoachingSession, again.id) is not None


# --- P10: several active plans -------------------------------------------------


def test_p10_an_agent_can_have_several_active_plans(db, center):
    other = second_form(db, center)
    one, _ = open_plan(db, center, purpose="Hold time")
    two, _ = open_plan(db, center, purpose="Disclosures")
    three, _ = plans.add_plan(db, center.calvin, "alex", other.name, "Chat tone")
    listed = list(plans.list_plans(db, center.calvin, agent="alex"))
    assert {p.id for p in listed} == {one.id, two.id, three.id}
    assert {p.state for p in listed} == {"active"}


def test_the_plan_list_is_read_a_batch_at_a_time_with_every_plans_sessions(db, center, monkeypatch):
    opened = [open_plan(db, center, purpose=f"Purpose {n}") for n in range(3)]
    # Three plans over batches of two: the sessions are looked up for each
    # batch (the oldest plan, alone in the second, keeps its session).
    monkeypatch.setattr(plans, "STREAMED_ROWS", 2)
    listed = [(p.id, p.session_ids) for p in plans.list_plans(db, center.calvin, agent="alex")]
    assert listed == [
        (opened[2][0].id, [opened[2][1].id]),
        (opened[1][0].id, [opened[1][1].id]),
        (opened[0][0].id, [opened[0][1].id]),
    ]


# --- P11: closing ---------------------------------------------------------------


def test_p11_close_is_refused_while_the_plan_has_a_draft(db, center):
    plan, first = open_plan(db, center)
    message = refusal(plans.close_plan, db, center.calvin, plan.id, REASON)
    assert str(first.id) in message and "open session" in message
    assert db.get(Plan, plan.id).state == "active"


@pytest.mark.parametrize(
    ("reason", "why"),
    [("", "required"), ("   ", "required"), ("done", "too short"), ("Purpose met now", "too short")],
)
def test_p11_a_blank_or_short_reason_is_refused_with_why(db, center, reason, why):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    message = refusal(plans.close_plan, db, center.calvin, plan.id, reason, code=ExitCode.BAD_INPUT)
    assert why in message
    assert db.get(Plan, plan.id).state == "active"


def test_p11_close_records_who_when_and_why_and_the_plan_takes_no_new_sessions(db, center):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    closed = plans.close_plan(db, center.calvin, plan.id, f"  {REASON}  ")
    assert closed.state == "closed"
    assert closed.closed_by_id == center.calvin.id
    assert closed.closed_at is not None
    assert closed.close_reason == REASON
    record = plans.plan_record(db, plan.id)
    assert record.closed_by == "calvin" and record.close_reason == REASON
    assert "already closed" in refusal(plans.close_plan, db, center.calvin, plan.id, REASON)
    refusal(plans.edit_plan, db, center.calvin, plan.id)
    with pytest.raises(IntegrityError, match="plan must be active"):
        raw(
            db,
            "INSERT INTO sessions (title, agent_id, form_id, plan_id, state, created_at, updated_at) "
            "VALUES ('late', :agent, :form, :plan, 'draft', 'x', 'x')",
            agent=center.alex.id,
            form=center.form.id,
            plan=plan.id,
        )
    with pytest.raises(IntegrityError, match="closed performance plan cannot be changed"):
        raw(db, "UPDATE plans SET state = 'active' WHERE id = :id", id=plan.id)


def test_p11_closed_plans_are_listed_by_state(db, center):
    active, first = open_plan(db, center, purpose="Still going")
    done, done_first = open_plan(db, center, purpose="Finished")
    coach(db, center.calvin, done_first.id)
    plans.close_plan(db, center.calvin, done.id, REASON)
    assert [p.id for p in plans.list_plans(db, center.calvin)] == [active.id]
    assert [p.id for p in plans.list_plans(db, center.calvin, state="closed")] == [done.id]
    assert {p.id for p in plans.list_plans(db, center.calvin, state="all")} == {active.id, done.id}


# --- P12: plans are never deleted ------------------------------------------------


def test_p12_the_database_refuses_deleting_a_plan(db, center):
    plan, first = open_plan(db, center)
    coach(db, center.calvin, first.id)
    plans.close_plan(db, center.calvin, plan.id, REASON)
    with pytest.raises(IntegrityError, match="cannot be deleted"):
        raw(db, "DELETE FROM plans WHERE id = :id", id=plan.id)
    active, _ = open_plan(db, center)
    with pytest.raises(IntegrityError, match="cannot be deleted"):
        raw(db, "DELETE FROM plans")
    assert count(db, Plan) == 2
    assert not hasattr(plans, "delete_plan")


def test_p12_there_is_no_plan_delete_command(cli):
    result = cli("plan", "delete", "1", user="dana")
    assert result.exit_code == 2
    assert "No such command 'delete'" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    help_text = cli("plan", "--help").stdout
    assert "close" in help_text and "delete" not in help_text


def test_p4_autofill_prefers_the_previous_coached_session_over_an_empty_draft(db, center):
    coached = coaching.new_session(db, center.calvin, "alex", "Call quality", "Coached review")
    coaching.save_session(db, center.calvin, coached.id, dict(COMPLETE_ANSWERS), coached=True)
    coaching.new_session(db, center.calvin, "alex", "Call quality", "Abandoned draft")
    target = coaching.new_session(db, center.calvin, "alex", "Call quality", "This week")
    filled, source = coaching.autofill_session(db, center.calvin, target.id)
    assert source.id == coached.id
    assert filled.answers["resolution"] == "resolved"
