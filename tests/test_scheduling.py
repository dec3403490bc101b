"""Scheduling (M1, M3, M4), coaching requests (M2) and performance paths."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from coachcli.db.models import CoachingSession, MiniGoal, Notification
from coachcli.errors import CoachError, ExitCode
from coachcli.services import coaching, paths, scheduling, sessions

TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def path(db, center):
    created, _, _ = paths.add_path(db, center.calvin, "Handle time", ["alex"])
    return created


def schedule(db, actor, **options):
    values = {"title": "AHT review", "agent": "alex", "date": "2026-12-15", "start": "09:30"}
    values.update(options)
    return scheduling.schedule_session(db, actor, scheduling.ScheduleRequest.typed(**values), today=TODAY)


def goal_of(db, session):
    return db.exec(select(MiniGoal).where(MiniGoal.session_id == session.id)).first()


# --- M1: what a scheduled session needs -------------------------------------


def test_schedule_defaults_coach_zone_and_duration(db, center):
    session = schedule(db, center.calvin, start="9:05")
    assert session.state == "scheduled"
    assert session.coach_id == center.calvin.id
    assert session.agent_id == center.alex.id
    assert session.date == dt.date(2026, 12, 15)
    assert session.start == "09:05"
    assert session.timezone == "UTC"  # COACH_TZ in the test environment
    assert session.duration_minutes == 30
    assert session.meeting_link is None


def test_schedule_keeps_every_field_as_entered(db, center, path):
    session = schedule(
        db,
        center.dana,
        coach="calvin",
        date="+7d",
        timezone="Europe/Paris",
        duration="1h30m",
        link="https://meet.example.com/abc-defg",
        notes="Bring two calls",
        form="Call quality",
    )
    record = sessions.session_record(db, center.calvin, session.id)
    assert record.coach == "calvin"
    assert record.date == TODAY + dt.timedelta(days=7)
    assert record.timezone == "Europe/Paris"
    assert record.duration_minutes == 90
    assert record.meeting_link == "https://meet.example.com/abc-defg"
    assert record.notes == "Bring two calls"
    assert record.form == "Call quality"


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        ({"title": " "}, ExitCode.BAD_INPUT, "needs a title"),
        ({"agent": None}, ExitCode.BAD_INPUT, "needs an agent"),
        ({"agent": "nobody"}, ExitCode.NOT_FOUND, "no user 'nobody'"),
        ({"agent": "sam"}, ExitCode.PERMISSION, "outside the teams"),
        ({"agent": "priya"}, ExitCode.BAD_INPUT, "not an agent"),
        ({"coach": "maria"}, ExitCode.BAD_INPUT, "cannot be the coach"),
        ({"coach": "ghost"}, ExitCode.NOT_FOUND, "no user 'ghost'"),
        ({"date": None}, ExitCode.BAD_INPUT, "needs a date"),
        ({"date": "2026-02-30"}, ExitCode.BAD_INPUT, "date"),
        ({"start": None}, ExitCode.BAD_INPUT, "needs a start time"),
        ({"start": "25:00"}, ExitCode.BAD_INPUT, "invalid start time"),
        ({"timezone": "Mars/Olympus"}, ExitCode.BAD_INPUT, "unknown time zone"),
        ({"duration": "2"}, ExitCode.BAD_INPUT, "invalid duration"),
        ({"link": "ftp://files.example.com/x"}, ExitCode.BAD_INPUT, "http:// or https://"),
        ({"link": "meet.example.com/abc"}, ExitCode.BAD_INPUT, "invalid meeting link"),
        ({"path": "Nowhere"}, ExitCode.NOT_FOUND, "no performance path 'Nowhere'"),
        ({"agent": "maria", "path": "Handle time"}, ExitCode.REFUSED, "not assigned to 'maria'"),
        ({"kpi": "speed"}, ExitCode.BAD_INPUT, "unknown metric"),
        ({"target": "300"}, ExitCode.BAD_INPUT, "needs a KPI metric"),
        ({"kpi": "adherence", "target": "120"}, ExitCode.BAD_INPUT, "over 100"),
        ({"kpi": "handle-time", "target": "soon"}, ExitCode.BAD_INPUT, "invalid target"),
        ({"target_date": "2026-12-14"}, ExitCode.BAD_INPUT, "before the session date"),
        ({"form": "No such form"}, ExitCode.NOT_FOUND, "no coaching form"),
    ],
)
def test_schedule_refuses_bad_fields(db, center, path, options, code, words):
    with pytest.raises(CoachError) as raised:
        schedule(db, center.calvin, **options)
    assert words in raised.value.message
    assert raised.value.exit_code == code


def test_only_coaches_and_admins_schedule(db, center):
    with pytest.raises(CoachError) as raised:
        schedule(db, center.alex)
    assert raised.value.exit_code == ExitCode.PERMISSION


def test_http_link_is_accepted(db, center):
    assert schedule(db, center.calvin, link="http://intranet.example.com/room/4").meeting_link == (
        "http://intranet.example.com/room/4"
    )


# --- M4: time targets in seconds --------------------------------------------


@pytest.mark.parametrize(("typed", "seconds"), [("300", 300.0), ("5m", 300.0), ("4:30", 270.0)])
def test_time_targets_are_stored_as_seconds(db, center, path, typed, seconds):
    session = schedule(db, center.calvin, path="Handle time", kpi="Handle Time", target=typed, target_date="2026-12-31")
    assert session.kpi == "handle-time"
    assert session.target == seconds
    assert goal_of(db, session).target == seconds


# --- M3: a mini-goal needs all four -----------------------------------------


def test_all_four_fields_make_a_minigoal(db, center, path):
    session = schedule(db, center.calvin, path="Handle time", kpi="handle-time", target="400", target_date="2026-12-25")
    goal = goal_of(db, session)
    assert goal is not None
    assert (goal.name, goal.assignee_id, goal.metric, goal.target) == ("AHT review", center.alex.id, "handle-time", 400)
    assert (goal.start_date, goal.due_date) == (dt.date(2026, 12, 15), dt.date(2026, 12, 25))
    assert (goal.state, goal.samples, goal.score) == ("in_progress", 0, None)
    assert sessions.session_record(db, center.calvin, session.id).minigoal_id == goal.id
    assert scheduling.minigoal_warning(session) is None


def test_target_date_on_the_session_date_is_allowed(db, center, path):
    session = schedule(db, center.calvin, path="Handle time", kpi="adherence", target="90", target_date="2026-12-15")
    assert goal_of(db, session).due_date == dt.date(2026, 12, 15)


@pytest.mark.parametrize(
    ("options", "warning"),
    [
        ({"kpi": "handle-time"}, "no mini-goal: add --path, --target, --target-date to set one"),
        ({"path": "Handle time", "kpi": "handle-time", "target": "300"}, "no mini-goal: add --target-date to set one"),
        ({"target_date": "2026-12-20"}, "no mini-goal: add --path, --kpi, --target to set one"),
    ],
)
def test_fewer_fields_schedule_without_a_minigoal_and_warn(db, center, path, options, warning):
    session = schedule(db, center.calvin, **options)
    assert session.state == "scheduled"
    assert goal_of(db, session) is None
    assert scheduling.minigoal_warning(session) == warning


def test_no_minigoal_fields_no_warning(db, center):
    assert scheduling.minigoal_warning(schedule(db, center.calvin)) is None


# --- M2: requests ------------------------------------------------------------


def test_request_lands_on_the_requested_tab_and_notifies_the_coach(db, center, path):
    request = scheduling.request_session(
        db, center.alex, title="Help with long holds", path="Handle time", kpi="hold time", notes="Customers wait"
    )
    assert (request.state, request.agent_id, request.requested_by_id, request.coach_id) == (
        "requested",
        center.alex.id,
        center.alex.id,
        None,
    )
    requested = list(sessions.list_sessions(db, center.calvin, tab="requested"))
    assert [record.id for record in requested] == [request.id]
    assert requested[0].kpi == "hold-time"
    assert list(sessions.list_sessions(db, center.priya, tab="requested")) == []
    notes = db.exec(select(Notification).where(Notification.kind == "session.requested")).all()
    assert [note.user_id for note in notes] == [center.calvin.id]
    assert f"--from-request {request.id}" in notes[0].message


def test_request_without_a_team_coach_notifies_the_admins(db, center):
    from coachcli.services import users

    loner = users.add_user(db, center.dana, "lou", "Lou Teamless", "agent", [])
    request = scheduling.request_session(db, loner, title="Anyone?")
    notes = db.exec(select(Notification).where(Notification.record_id == request.id)).all()
    assert [note.user_id for note in notes] == [center.dana.id]


@pytest.mark.parametrize(
    ("who", "options", "words"),
    [
        ("alex", {"title": "  "}, "needs a title"),
        ("maria", {"title": "x", "path": "Handle time"}, "not assigned to 'maria'"),
        ("alex", {"title": "x", "kpi": "speed"}, "unknown metric"),
        ("calvin", {"title": "x"}, "only agents request coaching"),
    ],
)
def test_request_refusals(db, center, path, who, options, words):
    with pytest.raises(CoachError) as raised:
        scheduling.request_session(db, getattr(center, who), **options)
    assert words in raised.value.message


def test_from_request_keeps_what_the_agent_wrote(db, center, path):
    request = scheduling.request_session(
        db, center.alex, title="Shorter calls", path="Handle time", kpi="handle-time", notes="I ramble"
    )
    session = scheduling.schedule_session(
        db,
        center.calvin,
        scheduling.ScheduleRequest.typed(
            date="2026-12-15", start="10:00", target="5m", target_date="2026-12-29", from_request=request.id
        ),
        today=TODAY,
    )
    assert session.id == request.id
    assert db.exec(select(CoachingSession)).all() == [session]
    record = sessions.session_record(db, center.calvin, session.id)
    assert (record.state, record.title, record.agent, record.coach) == (
        "scheduled",
        "Shorter calls",
        "alex",
        "calvin",
    )
    assert (record.path, record.kpi, record.notes, record.target) == (
        "Handle time",
        "handle-time",
        "I ramble",
        300,
    )
    goal = goal_of(db, session)
    assert (goal.name, goal.start_date, goal.due_date) == (
        "Shorter calls",
        dt.date(2026, 12, 15),
        dt.date(2026, 12, 29),
    )
    told = db.exec(select(Notification).where(Notification.kind == "session.scheduled")).all()
    assert [note.user_id for note in told] == [center.alex.id]


def test_from_request_options_override(db, center, path):
    request = scheduling.request_session(db, center.alex, title="Shorter calls", kpi="handle-time", notes="old")
    session = scheduling.schedule_session(
        db,
        center.calvin,
        scheduling.ScheduleRequest.typed(
            title="AHT deep dive",
            kpi="talk-time",
            notes="new",
            agent="alex",
            date="2026-12-15",
            start="10:00",
            from_request=request.id,
        ),
        today=TODAY,
    )
    assert (session.title, session.kpi, session.notes) == ("AHT deep dive", "talk-time", "new")


def test_from_request_refuses_a_session_that_is_not_a_request(db, center):
    scheduled = schedule(db, center.calvin)
    with pytest.raises(CoachError) as raised:
        schedule(db, center.calvin, from_request=scheduled.id)
    assert raised.value.exit_code == ExitCode.REFUSED
    assert "not a coaching request" in raised.value.message


def test_from_request_refuses_another_agent_and_other_scopes(db, center):
    request = scheduling.request_session(db, center.alex, title="Shorter calls")
    with pytest.raises(CoachError) as raised:
        schedule(db, center.calvin, agent="maria", from_request=request.id)
    assert "made by 'alex'" in raised.value.message
    with pytest.raises(CoachError) as raised:
        schedule(db, center.priya, agent=None, from_request=request.id)
    assert raised.value.exit_code == ExitCode.PERMISSION
    with pytest.raises(CoachError) as raised:
        schedule(db, center.calvin, from_request=9999)
    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert db.get(CoachingSession, request.id).state == "requested"


# --- paths -------------------------------------------------------------------


def test_path_add_assigns_more_agents_to_an_existing_path(db, center, path):
    again, created, assigned = paths.add_path(db, center.calvin, "Handle time", ["alex", "maria"])
    assert (again.id, created, assigned) == (path.id, False, ["maria"])
    assert paths.path_record(db, center.calvin, path).agents == ["alex", "maria"]


@pytest.mark.parametrize(
    ("who", "agents", "code", "words"),
    [
        ("calvin", ["sam"], ExitCode.PERMISSION, "outside the teams"),
        ("calvin", ["priya"], ExitCode.BAD_INPUT, "agents only"),
        ("calvin", ["ghost"], ExitCode.NOT_FOUND, "no user"),
        ("calvin", [], ExitCode.REFUSED, "already exists"),
        ("alex", ["alex"], ExitCode.PERMISSION, "only a coach or an admin"),
    ],
)
def test_path_add_refusals(db, center, path, who, agents, code, words):
    with pytest.raises(CoachError) as raised:
        paths.add_path(db, getattr(center, who), "Handle time", agents)
    assert words in raised.value.message
    assert raised.value.exit_code == code


def test_path_list_is_scoped(db, center, path):
    paths.add_path(db, center.dana, "Chat quality", ["sam"])
    paths.add_path(db, center.dana, "Handle time", ["sam"])
    assert {(p.name, tuple(p.agents)) for p in paths.list_paths(db, center.calvin)} == {
        ("Chat quality", ()),
        ("Handle time", ("alex",)),
    }
    assert [(p.name, p.agents) for p in paths.list_paths(db, center.dana)] == [
        ("Chat quality", ["sam"]),
        ("Handle time", ["alex", "sam"]),
    ]
    assert [p.name for p in paths.list_paths(db, center.alex)] == ["Handle time"]
    assert paths.list_paths(db, center.alex)[0].agents == ["alex"]


# --- CLI ---------------------------------------------------------------------


def test_cli_path_add_and_list(cli):
    created = cli.json("path", "add", "Handle time", "--agent", "alex", user="calvin")
    assert (created["name"], created["agents"]) == ("Handle time", ["alex"])
    more = cli("path", "add", "Handle time", "--agent", "maria", "-q", user="calvin")
    assert more.exit_code == 0, more.stderr
    assert more.stdout.strip() == str(created["id"])
    assert "already existed; assigned it to maria" in more.stderr
    listed = cli.json("path", "list", user="calvin")
    assert [(p["id"], p["name"], p["agents"]) for p in listed] == [(created["id"], "Handle time", ["alex", "maria"])]
    table = cli("path", "list", "-o", "table", user="calvin")
    assert "Handle time" in table.stdout and "Agents" in table.stdout
    refused = cli("path", "add", "Handle time", "--agent", "sam", user="calvin")
    assert refused.exit_code == ExitCode.PERMISSION
    assert refused.stderr.startswith("coach: ")


def test_cli_schedule_with_a_minigoal(cli):
    cli("path", "add", "Handle time", "--agent", "alex", user="calvin")
    record = cli.json(
        "session",
        "schedule",
        "--title",
        "AHT review",
        "--agent",
        "alex",
        "--date",
        "2026-12-15",
        "--start",
        "14:00",
        "--tz",
        "America/New_York",
        "--duration",
        "45",
        "--link",
        "https://meet.example.com/x",
        "--path",
        "Handle time",
        "--kpi",
        "handle-time",
        "--target",
        "4:30",
        "--target-date",
        "2026-12-31",
        "--notes",
        "Two calls",
        user="calvin",
    )
    assert record["state"] == "scheduled"
    assert (record["date"], record["start"], record["timezone"], record["duration_minutes"]) == (
        "2026-12-15",
        "14:00",
        "America/New_York",
        45,
    )
    assert (record["target"], record["target_date"], record["coach"]) == (270, "2026-12-31", "calvin")
    assert record["minigoal_id"] is not None


def test_cli_schedule_warns_without_all_four_and_prints_the_id(cli):
    result = cli(
        "session",
        "schedule",
        "--title",
        "Check-in",
        "--agent",
        "maria",
        "--date",
        "tomorrow",
        "--start",
        "9:00",
        "--kpi",
        "adherence",
        "-q",
        user="calvin",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().isdigit()
    assert "no mini-goal: add --path, --target, --target-date" in result.stderr


def test_cli_schedule_refusal_is_one_line(cli):
    result = cli(
        "session",
        "schedule",
        "--title",
        "x",
        "--agent",
        "alex",
        "--date",
        "2026-12-15",
        "--start",
        "9:00",
        "--link",
        "meet.example.com",
        user="calvin",
    )
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.stderr.count("\n") == 1 and "invalid meeting link" in result.stderr
    assert cli.json("session", "list", user="calvin") == []


def test_cli_request_then_schedule_from_it(cli):
    request = cli.json(
        "session", "request", "--title", "Help with holds", "--kpi", "hold-time", "--notes", "long holds", user="alex"
    )
    assert (request["state"], request["agent"], request["coach"]) == ("requested", "alex", None)
    tab = cli.json("session", "list", "--tab", "requested", user="calvin")
    assert [row["id"] for row in tab] == [request["id"]]
    assert cli.json("session", "list", "--tab", "requested", user="priya") == []
    inbox = cli.json("inbox", user="calvin")
    assert any(note["kind"] == "session.requested" and note["record_id"] == request["id"] for note in inbox)
    done = cli.json(
        "session",
        "schedule",
        "--from-request",
        str(request["id"]),
        "--date",
        "2026-12-20",
        "--start",
        "11:00",
        user="calvin",
    )
    assert (done["id"], done["state"], done["title"], done["kpi"], done["notes"]) == (
        request["id"],
        "scheduled",
        "Help with holds",
        "hold-time",
        "long holds",
    )
    assert cli.json("session", "list", "--tab", "requested", user="calvin") == []
    again = cli(
        "session",
        "schedule",
        "--from-request",
        str(request["id"]),
        "--date",
        "2026-12-20",
        "--start",
        "11:00",
        user="calvin",
    )
    assert again.exit_code == ExitCode.REFUSED


# --- running scheduled sessions -----------------------------------------------


def test_the_named_coach_runs_the_session_even_outside_their_teams(db, center):
    session = schedule(db, center.calvin, coach="priya")
    coached = coaching.save_session(
        db,
        center.priya,
        session.id,
        {
            "channel": "phone",
            "greeting": "4",
            "empathy": "4",
            "compliance": "yes",
            "resolution": "resolved",
            "opportunities": "x",
            "agreed_actions": "y",
        },
        form_name="Call quality",
        coached=True,
    )
    assert coached.state == "coached"
    assert coached.form_id == center.form.id


def test_a_session_scheduled_without_a_form_takes_one_when_run_and_keeps_it(db, center):
    session = schedule(db, center.calvin)
    with pytest.raises(CoachError, match="--form"):
        coaching.save_session(db, center.calvin, session.id, {"greeting": "4"})
    saved = coaching.save_session(db, center.calvin, session.id, {"greeting": "4"}, form_name="Call quality")
    assert saved.answers == {"greeting": 4}
    from conftest import REPO

    from coachcli.forms import load_form_file
    from coachcli.services import forms

    forms.add_form(db, center.dana, load_form_file(REPO / "examples" / "forms" / "chat-review.json"))
    with pytest.raises(CoachError, match="keeps its form"):
        coaching.save_session(db, center.calvin, session.id, {}, form_name="Chat review")


def test_deleting_a_session_with_an_ended_minigoal_is_refused(db, center, path):
    from coachcli.services import minigoals

    session = schedule(db, center.calvin, path="Handle time", kpi="handle-time", target="400", target_date="2026-12-20")
    minigoals.evaluate(db, dt.date(2026, 12, 21))
    with pytest.raises(CoachError, match="has ended missed") as raised:
        coaching.delete_session(db, center.calvin, session.id)
    assert raised.value.exit_code == ExitCode.REFUSED
    assert goal_of(db, session).state == "missed"


def test_deleting_a_session_cancels_its_minigoal_while_in_progress(db, center, path):
    session = schedule(db, center.calvin, path="Handle time", kpi="handle-time", target="400", target_date="2026-12-20")
    goal_id = goal_of(db, session).id
    coaching.delete_session(db, center.calvin, session.id)
    assert db.get(MiniGoal, goal_id) is None
