"""Bulk imports: `session import` (bulk schedule) and `user import` (roster sync)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import event, func
from sqlmodel import select

from coachcli.db import transaction
from coachcli.db.models import AuditEntry, CoachingSession, MiniGoal, Team, TeamMembership, User
from coachcli.errors import CoachError, ExitCode
from coachcli.records import as_dict
from coachcli.services import paths, roster, scheduling, users

TODAY = dt.date(2026, 12, 1)
HEADER = "title,agent,coach,date,start,timezone,duration,link,path,kpi,target,target_date,notes"
GOOD_CSV = f"""{HEADER}
AHT review,alex,calvin,2026-12-15,09:30,Europe/Paris,45,https://meet.example.com/a,Handle time,handle-time,4:30,2026-12-31,"Two calls, one chat"
Check-in,maria,calvin,2026-12-16,2:30 pm,,,,,adherence,,,
Quick sync,alex,dana,+7d,10:00,,,,,,,,
"""


def count(db_or_engine, model) -> int:
    return db_or_engine.exec(select(func.count()).select_from(model)).one()


def counts_in(engine) -> tuple[int, int, int, int]:
    with transaction(engine, write=False) as db:
        return count(db, CoachingSession), count(db, MiniGoal), count(db, User), count(db, TeamMembership)


@pytest.fixture
def path(db, center):
    return paths.add_path(db, center.calvin, "Handle time", ["alex"])[0]


def run_import(db, actor, text, source="sessions.csv"):
    return scheduling.import_sessions(db, actor, text.splitlines(keepends=True), source, today=TODAY)


# --- session import: service -------------------------------------------------


def test_session_import_follows_the_schedule_rules(db, center, path):
    result = run_import(db, center.calvin, GOOD_CSV)
    assert dataclasses.asdict(result) == {"scheduled": 3, "minigoals": 1, "without_minigoal": 1, "first_of_two": 0}
    rows = db.exec(select(CoachingSession).order_by(CoachingSession.id)).all()
    assert [(s.title, s.state, s.start, s.timezone, s.duration_minutes) for s in rows] == [
        ("AHT review", "scheduled", "09:30", "Europe/Paris", 45),
        ("Check-in", "scheduled", "14:30", "UTC", 30),
        ("Quick sync", "scheduled", "10:00", "UTC", 30),
    ]
    assert rows[0].notes == "Two calls, one chat"
    assert rows[0].target == 270
    assert rows[2].coach_id == center.dana.id and rows[2].date == TODAY + dt.timedelta(days=7)
    goal = db.exec(select(MiniGoal)).one()
    assert (goal.session_id, goal.name, goal.assignee_id, goal.metric) == (
        rows[0].id,
        "AHT review",
        center.alex.id,
        "handle-time",
    )
    assert (goal.start_date, goal.due_date, goal.state) == (dt.date(2026, 12, 15), dt.date(2026, 12, 31), "in_progress")
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "session.import")).one()
    assert entry.details["scheduled"] == 3 and entry.details["minigoals"] == 1


def test_session_import_reads_json_lines_with_json_types(db, center, path):
    lines = [
        json.dumps(
            {
                "title": "AHT",
                "agent": "alex",
                "coach": "calvin",
                "date": "2026-12-15",
                "start": "09:00",
                "duration": 60,
                "path": "Handle time",
                "kpi": "Handle Time",
                "target": 300,
                "target_date": "2026-12-20",
            }
        ),
        json.dumps({"title": "Chat", "agent": "maria", "coach": "calvin", "date": "2026-12-15", "start": "10:00"}),
    ]
    assert run_import(db, center.calvin, "\n".join(lines), "stdin").minigoals == 1
    first = db.exec(select(CoachingSession).where(CoachingSession.title == "AHT")).one()
    assert (first.duration_minutes, first.target, first.kpi) == (60, 300, "handle-time")


def test_session_import_names_every_bad_line_and_imports_nothing(db, center, path):
    bad = f"""{HEADER}
Fine,alex,calvin,2026-12-15,09:00,,,,,,,,
Other team,sam,calvin,2026-12-15,09:00,,,,,,,,
Agent coach,alex,maria,2026-12-15,09:00,,,,,,,,
Bad link,alex,calvin,2026-12-15,09:00,,,ftp://x.example.com,,,,,
,alex,calvin,2026-12-15,09:00,,,,,,,,
Not assigned,maria,calvin,2026-12-15,09:00,,,,Handle time,,,,
Early goal,alex,calvin,2026-12-15,09:00,,,,Handle time,handle-time,300,2026-12-01,
"""
    with pytest.raises(CoachError) as raised:
        run_import(db, center.calvin, bad)
    message = raised.value.message
    assert message.startswith("sessions.csv: 6 bad rows, nothing imported")
    for expected in (
        "line 3: 'sam' is outside",
        "line 4: 'maria' cannot be the coach",
        "line 5: invalid meeting link",
        "line 6: missing title",
        "line 7: path 'Handle time' is not assigned",
    ):
        assert expected in message
    assert "and 1 more" in message
    assert count(db, CoachingSession) == 0


def test_session_import_refuses_agents_and_bad_headers(db, center):
    with pytest.raises(CoachError) as raised:
        run_import(db, center.alex, GOOD_CSV)
    assert raised.value.exit_code == ExitCode.PERMISSION
    with pytest.raises(CoachError, match="missing column"):
        run_import(db, center.calvin, "title,agent,date,start\nx,alex,2026-12-15,09:00\n")
    with pytest.raises(CoachError, match="unknown column 'room'"):
        run_import(db, center.calvin, "title,agent,coach,date,start,room\n")


def test_session_import_is_set_based(db, center, engine):
    """Ten thousand rows, a handful of statements (the time is measured in
    tests/bench, never here)."""
    paths.add_path(db, center.dana, "Handle time", ["alex", "maria", "sam"])
    handles = ("alex", "maria", "sam")
    text = (
        HEADER
        + "\n"
        + "".join(
            f"S{i},{handles[i % 3]},dana,2026-12-15,09:00,,,,Handle time,handle-time,{300 + i % 60},2026-12-31,\n"
            if i % 2
            else f"S{i},{handles[i % 3]},priya,2026-12-15,10:00,UTC,45,,,,,,\n"
            for i in range(10_000)
        )
    )
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        result = run_import(db, center.dana, text)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert result.scheduled == 10_000 and result.minigoals == 5_000
    assert len(statements) < 40
    last = db.exec(select(CoachingSession).where(CoachingSession.title == "S9999")).one()
    goal = db.exec(select(MiniGoal).where(MiniGoal.session_id == last.id)).one()
    assert (goal.name, goal.target, goal.assignee_id) == ("S9999", 300 + 9999 % 60, center.alex.id)


# --- session import: CLI -----------------------------------------------------


def test_cli_session_import_file_and_stdin(cli, tmp_path):
    cli("path", "add", "Handle time", "--agent", "alex", user="calvin")
    source = tmp_path / "sessions.csv"
    source.write_text(GOOD_CSV, encoding="utf-8")
    result = cli("session", "import", str(source), "-o", "json", user="dana")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"scheduled": 3, "minigoals": 1}
    assert "1 session(s) have only some of path, kpi, target, target_date" in result.stderr
    line = json.dumps({"title": "Piped", "agent": "maria", "coach": "calvin", "date": "2026-12-20", "start": "08:00"})
    assert cli.json("session", "import", "-", user="calvin", input=line + "\n") == {"scheduled": 1, "minigoals": 0}
    listed = cli.json("session", "list", "--tab", "scheduled", user="calvin")
    assert sorted(row["title"] for row in listed) == ["AHT review", "Check-in", "Piped", "Quick sync"]
    quiet = cli("session", "import", "-", user="calvin", input=line + "\n")
    assert quiet.stdout.splitlines() == ["scheduled\tminigoals", "1\t0"]


def test_cli_bad_session_file_leaves_the_database_unchanged(cli, engine, tmp_path):
    cli("session", "import", "-", user="calvin", input=f"{HEADER}\nFirst,alex,calvin,2026-12-15,09:00,,,,,,,,\n")
    before = counts_in(engine)
    source = tmp_path / "bad.csv"
    source.write_text(
        f"{HEADER}\nOk,alex,calvin,2026-12-15,09:00,,,,,,,,\nBad,alex,calvin,2026-12-15,9,,,,,,,,\n"
        "Worse,alex,calvin,someday,09:00,,,,,,,,\n",
        encoding="utf-8",
    )
    result = cli("session", "import", str(source), user="calvin")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "line 3: invalid start time" in result.stderr and "line 4: " in result.stderr
    assert result.stderr.count("\n") == 1
    assert counts_in(engine) == before
    missing = cli("session", "import", str(tmp_path / "nope.csv"), user="calvin")
    assert missing.exit_code == ExitCode.BAD_INPUT and "no such file" in missing.stderr


# --- user import (roster sync) -----------------------------------------------


ROSTER = """handle,name,role,teams
alex,Alex Moreno-Diaz,agent,Inbound
maria,Maria Lopez,agent,Chat;Escalations
zoe,Zoe Park,coach,Escalations
sam,Sam Okafor,agent,Chat
"""


def teams_of(db, handle) -> list[str]:
    return users.team_names_by_user(db).get(users_by(db)[handle], [])


def users_by(db) -> dict[str, int]:
    return {user.handle: user.id for user in db.exec(select(User))}


def test_roster_adds_updates_and_creates_teams(db, center):
    result = roster.import_roster(db, center.dana, ROSTER.splitlines(keepends=True), "roster.csv")
    assert as_dict(result) == {"added": 1, "updated": 2, "unchanged": 1, "teams_created": 1}
    assert db.get(User, center.alex.id).name == "Alex Moreno-Diaz"
    assert teams_of(db, "maria") == ["Chat", "Escalations"]
    assert teams_of(db, "zoe") == ["Escalations"]
    assert teams_of(db, "calvin") == ["Inbound"]  # not in the file: left alone
    zoe = db.exec(select(User).where(User.handle == "zoe")).one()
    assert zoe.role == "coach"
    again = roster.import_roster(db, center.dana, ROSTER.splitlines(keepends=True), "roster.csv")
    assert as_dict(again) == {"added": 0, "updated": 0, "unchanged": 4, "teams_created": 0}
    entries = db.exec(select(AuditEntry).where(AuditEntry.action == "user.import")).all()
    assert [entry.details["added"] for entry in entries] == [1, 0]


def test_roster_json_lines_teams_as_list_or_text_and_role_change(db, center):
    lines = [
        json.dumps({"handle": "Maria", "name": "Maria Lopez", "role": "coach", "teams": ["Inbound", "Chat"]}),
        json.dumps({"handle": "sam", "name": "Sam Okafor", "role": "agent", "teams": ""}),
        json.dumps({"handle": "alex", "name": "Alex Moreno", "role": "agent"}),
    ]
    result = roster.import_roster(db, center.dana, lines, "stdin")
    assert as_dict(result) == {"added": 0, "updated": 2, "unchanged": 1, "teams_created": 0}
    assert db.get(User, center.maria.id).role == "coach"
    assert teams_of(db, "maria") == ["Chat", "Inbound"]
    assert teams_of(db, "sam") == []
    assert teams_of(db, "alex") == ["Inbound"]  # no teams key: memberships kept


def test_roster_bad_lines_are_named_and_nothing_changes(db, center):
    before = (count(db, User), count(db, Team), db.get(User, center.alex.id).name)
    bad = """handle,name,role,teams
alex,Alex Renamed,agent,Inbound
Bad Handle!,Someone,agent,
new1,New One,boss,Inbound
new2,,agent,
alex,Alex Again,agent,
dana,Dana Whitfield,coach,
"""
    with pytest.raises(CoachError) as raised:
        roster.import_roster(db, center.dana, bad.splitlines(keepends=True), "roster.csv")
    message = raised.value.message
    for expected in (
        "line 3: bad handle",
        "line 4: bad role 'boss'",
        "line 5: the name cannot be empty",
        "line 6: handle 'alex' appears twice (also on line 2)",
        "line 7: this import would take away your own admin role",
    ):
        assert expected in message
    assert (count(db, User), count(db, Team), db.get(User, center.alex.id).name) == before


def test_roster_is_admin_only(db, center):
    with pytest.raises(CoachError) as raised:
        roster.import_roster(db, center.calvin, ROSTER.splitlines(), "roster.csv")
    assert raised.value.exit_code == ExitCode.PERMISSION
    with pytest.raises(CoachError) as raised:
        roster.import_roster(db, None, ROSTER.splitlines(), "roster.csv")
    assert raised.value.exit_code == ExitCode.PERMISSION


def test_roster_of_a_thousand_is_set_based(db, engine, center):
    """Speed is measured in tests/bench, never timed here: set-based means a
    handful of statements however many people the file holds."""
    text = "handle,name,role,teams\n" + "".join(
        f"agent{i:04d},Agent {i},agent,Team {i % 40};Inbound\n" for i in range(1000)
    )
    memberships = count(db, TeamMembership)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        result = roster.import_roster(db, center.dana, text.splitlines(keepends=True), "roster.csv")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) < 40, len(statements)
    assert as_dict(result) == {"added": 1000, "updated": 0, "unchanged": 0, "teams_created": 40}
    assert count(db, TeamMembership) == memberships + 2000
    resync = text.replace("Team 7;", "Team 8;")
    assert roster.import_roster(db, center.dana, resync.splitlines(keepends=True), "roster.csv").updated == 25


def test_cli_user_import_bootstrap_and_stdin(empty_cli, tmp_path):
    assert empty_cli("init").exit_code == 0
    # Until there is an admin, a roster loads with no acting user.
    no_admin = empty_cli("user", "import", "-", "-o", "json", input="handle,name,role\nmaria,Maria Lopez,agent\n")
    assert no_admin.exit_code == 0, no_admin.stderr
    source = tmp_path / "roster.csv"
    source.write_text("handle,name,role,teams\ndana,Dana Whitfield,admin,\ncalvin,Calvin Brooks,coach,Inbound\n")
    first = empty_cli("user", "import", str(source), "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout) == {"added": 2, "updated": 0, "unchanged": 0, "teams_created": 1}
    no_actor = empty_cli("user", "import", str(source))
    assert no_actor.exit_code == ExitCode.PERMISSION
    piped = "\n".join(
        json.dumps(row)
        for row in [
            {"handle": "alex", "name": "Alex Moreno", "role": "agent", "teams": "Inbound"},
            {"handle": "calvin", "name": "Calvin Brooks", "role": "coach", "teams": ["Inbound", "Chat"]},
        ]
    )
    assert empty_cli.json("user", "import", "-", user="dana", input=piped) == {
        "added": 1,
        "updated": 1,
        "unchanged": 0,
        "teams_created": 1,
    }
    listed = {row["handle"]: row["teams"] for row in empty_cli.json("user", "list", user="dana")}
    assert listed == {"alex": ["Inbound"], "calvin": ["Chat", "Inbound"], "dana": [], "maria": []}


def test_cli_bad_roster_leaves_the_database_unchanged(cli, engine):
    before = counts_in(engine)
    result = cli("user", "import", "-", user="dana", input="handle,name,role\nnewbie,New Bie,agent\nx y,Bad,agent\n")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "stdin: 1 bad row, nothing imported — line 3: bad handle 'x y'" in result.stderr
    assert counts_in(engine) == before


def test_progress_bar_only_on_a_terminal(monkeypatch, tmp_path, capsys):
    import io
    import sys

    from coachcli.cli.inputs import progress_lines

    lines = [f"line {i}\n" for i in range(1200)]
    assert list(progress_lines(io.StringIO("".join(lines)), "-")) == lines
    assert capsys.readouterr().err == ""
    source = tmp_path / "big.csv"
    source.write_text("".join(lines))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with source.open() as handle:
        assert list(progress_lines(handle, str(source))) == lines
    assert "Reading" in capsys.readouterr().err


def test_the_user_list_is_read_a_batch_at_a_time_with_everyones_teams(db, center, monkeypatch):
    from coachcli.services import users

    everyone = list(users.list_users(db, center.dana))
    assert len(everyone) > 2 and any(user.teams for user in everyone[2:])
    # Batches of two: the teams are looked up for each batch, the later ones' too.
    monkeypatch.setattr(users, "STREAMED_ROWS", 2)
    assert list(users.list_users(db, center.dana)) == everyone
