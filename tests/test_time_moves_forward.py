"""Time only moves forward (SPEC §14): results told to people are never
undone. A run as of a moment after now is a dry run, `--dry-run` is one on
request, and an evaluation as of a date before the latest one is refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import query

from coachcli.db import migrations as migrations_module
from coachcli.db import open_database, transaction
from coachcli.db.models import AuditEntry, RunMark
from coachcli.errors import CoachError, ExitCode
from coachcli.parse import today_in
from coachcli.services import minigoals, runs


def one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    return lines[0]


@pytest.fixture
def goal_due_today(cli):
    """Alex's handle-time goal, due today (in COACH_TZ, UTC here), scoring 350 against 400."""
    today = today_in("UTC")
    assert cli("path", "add", "Inbound basics", "--agent", "alex", user="calvin").exit_code == 0
    scheduled = cli.json(
        "session", "schedule", "--title", "Holds", "--agent", "alex", "--date", "-3d", "--start", "09:00",
        "--path", "Inbound basics", "--kpi", "handle-time", "--target", "400", "--target-date", "today",
        user="calvin",
    )  # fmt: skip
    kpi = f"agent,metric,observed_at,value\nalex,handle-time,{today.isoformat()},350\n"
    assert cli("kpi", "import", "-", input=kpi).exit_code == 0
    return scheduled["minigoal_id"]


def _goal_state(cli, goal_id: int) -> str:
    return cli.json("minigoal", "show", str(goal_id), user="dana")["state"]


def test_an_evaluation_as_of_a_future_day_is_a_dry_run(cli, goal_due_today):
    """`--as-of +1d` used to end today's goal and tell the agent; the next
    normal run then put it back in progress without a word."""
    before = cli.dump()
    result = cli("minigoal", "evaluate", "--as-of", "+1d", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "dry run" in result.stderr and "nothing was written" in result.stderr
    changes = json.loads(result.stdout)["changes"]
    assert [(c["id"], c["from"], c["to"]) for c in changes] == [(goal_due_today, "in_progress", "achieved")]
    assert cli.dump() == before  # no state, history, notification, audit entry or run mark
    # Today's run then finds the goal still in progress, and nobody was told anything.
    assert cli.json("minigoal", "evaluate")["changes"] == []
    assert _goal_state(cli, goal_due_today) == "in_progress"
    assert cli.query(
        "SELECT count(*) FROM notifications WHERE kind IN ('minigoal.achieved', 'minigoal.missed', 'minigoal.digest')"
    ) == [(0,)]


def test_an_evaluation_before_the_latest_one_is_refused_exit_4(cli, goal_due_today):
    """A past as-of used to re-open ended goals and send their notifications again."""
    assert cli("minigoal", "evaluate").exit_code == 0  # today: the goal is still in progress
    before = cli.dump()
    line = one_line(cli("minigoal", "evaluate", "--as-of", "-1d"), ExitCode.REFUSED)
    assert today_in("UTC").isoformat() in line and "time only moves forward" in line
    assert cli.dump() == before
    # The same day again is allowed (cron may run twice); a dry run in the past is refused too.
    assert cli("minigoal", "evaluate", "--as-of", "today").exit_code == 0
    one_line(cli("minigoal", "evaluate", "--as-of", "-1d", "--dry-run"), ExitCode.REFUSED)
    assert cli.dump() == before


def test_evaluate_dry_run_prints_what_it_would_write_and_writes_nothing(cli, goal_due_today):
    kpi = (
        f"agent,metric,observed_at,value\nalex,handle-time,{(today_in('UTC') - dt.timedelta(days=1)).isoformat()},380\n"
    )
    assert cli("kpi", "import", "-", input=kpi).exit_code == 0
    before = cli.dump()
    result = cli("minigoal", "evaluate", "--dry-run")
    assert result.exit_code == 0 and "--dry-run" in result.stderr and "nothing was written" in result.stderr
    assert before == cli.dump()
    # A goal due yesterday would end: the dry run shows it, and still writes nothing.
    query(cli.target, f"UPDATE minigoals SET due_date = '{(today_in('UTC') - dt.timedelta(days=1)).isoformat()}'")
    before = cli.dump()
    shown = cli("minigoal", "evaluate", "--dry-run", "-o", "tsv")
    assert shown.exit_code == 0
    assert shown.stdout.splitlines()[1].split("\t")[4:6] == ["in_progress", "achieved"]
    assert cli.dump() == before


@pytest.fixture
def session_in_two_days(cli):
    day = today_in("UTC") + dt.timedelta(days=2)
    assert (
        cli("session", "schedule", "--title", "Review", "--agent", "alex", "--date", day.isoformat(),
            "--start", "10:00", user="calvin").exit_code
        == 0
    )  # fmt: skip
    return day


def test_remind_as_of_a_future_moment_is_a_dry_run(cli, session_in_two_days):
    """A future `remind --as-of` used up reminders that are then never repeated."""
    before = cli.dump()
    result = cli("remind", "--as-of", f"{session_in_two_days.isoformat()}T00:00", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "dry run" in result.stderr
    reminders = json.loads(result.stdout)["reminders"]
    assert sorted((r["kind"], r["user"]) for r in reminders) == [
        ("session.upcoming", "alex"),
        ("session.upcoming", "calvin"),
    ]
    assert cli.dump() == before
    # When the time comes, the reminders are still there to be written.
    query(cli.target, f"UPDATE sessions SET date = '{today_in('UTC') + dt.timedelta(days=1)}', start = '00:01'")
    now = cli.json("remind")
    assert sorted((r["kind"], r["user"]) for r in now["reminders"]) == [
        ("session.upcoming", "alex"),
        ("session.upcoming", "calvin"),
    ]


def test_remind_dry_run_prints_what_it_would_write_and_writes_nothing(cli, session_in_two_days):
    query(cli.target, f"UPDATE sessions SET date = '{today_in('UTC') + dt.timedelta(days=1)}', start = '00:01'")
    before = cli.dump()
    result = cli("remind", "--dry-run", "-o", "tsv")
    assert result.exit_code == 0 and "--dry-run" in result.stderr
    assert [line.split("\t")[:2] for line in result.stdout.splitlines()[1:]] == [
        ["session.upcoming", "alex"],
        ["session.upcoming", "calvin"],
    ]
    assert cli.dump() == before


def test_the_service_refuses_an_evaluation_in_the_past_and_keeps_the_latest(db, center):
    day = dt.date(2026, 1, 10)
    minigoals.evaluate(db, day)
    minigoals.evaluate(db, day)  # the same day again
    with pytest.raises(CoachError) as refused:
        minigoals.evaluate(db, day - dt.timedelta(days=1))
    assert refused.value.exit_code == ExitCode.REFUSED
    minigoals.evaluate(db, day + dt.timedelta(days=5))
    assert db.get(RunMark, minigoals.EVALUATION_RUN).as_of == day + dt.timedelta(days=5)


def test_what_is_a_dry_run_is_decided_in_one_place():
    today = today_in("America/Chicago")
    assert runs.dry_run_reason(today, "America/Chicago", requested=False) is None
    assert runs.dry_run_reason(today - dt.timedelta(days=1), "America/Chicago", requested=False) is None
    assert "after now" in runs.dry_run_reason(today + dt.timedelta(days=1), "America/Chicago", requested=False)
    assert "--dry-run" in runs.dry_run_reason(today, "America/Chicago", requested=True)
    now = dt.datetime.now(dt.UTC)
    assert runs.dry_run_reason(now - dt.timedelta(minutes=1), "UTC", requested=False) is None
    assert "after now" in runs.dry_run_reason(now + dt.timedelta(minutes=5), "UTC", requested=False)


def test_an_upgraded_database_starts_from_the_latest_evaluation_it_recorded(db_target, monkeypatch):
    """A database from before run_marks takes the latest as-of from its audit log."""
    older = migrations_module.MIGRATIONS[:4]
    with monkeypatch.context() as patched:
        patched.setattr(migrations_module, "MIGRATIONS", older)
        patched.setattr(migrations_module, "LATEST_VERSION", len(older))
        engine = open_database(db_target, create=True)
        # Written as that older coach did: its schema has no coach_write_lock
        # table yet (the write lock of later schemas), so no lock is taken.
        with transaction(engine, write=False) as db:
            for as_of in ("2026-03-02", "2026-03-04", "2026-03-03"):
                db.add(AuditEntry(action="minigoal.evaluate", record_type="minigoal", details={"as_of": as_of}))
        engine.dispose()
    engine = open_database(db_target, create=True)
    try:
        with transaction(engine, write=True) as db:
            assert db.get(RunMark, minigoals.EVALUATION_RUN).as_of == dt.date(2026, 3, 4)
            with pytest.raises(CoachError):
                minigoals.evaluate(db, dt.date(2026, 3, 3))
    finally:
        engine.dispose()
