"""`coach remind`: sessions within 24 hours and mini-goals at risk, each
reminder written once per (kind, record, person) however often and however
many times at once it runs; delivered by `coach notify send`."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_reliability import COACH, _env

from coachcli.db.models import KpiObservation
from coachcli.errors import CoachError
from coachcli.parse import parse_moment
from coachcli.services import coaching, paths, reminders, scheduling

UTC = dt.UTC
TODAY = dt.date(2026, 12, 1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def schedule(db, center, title: str, date: str, start: str, tz: str = "UTC", **more):
    request = scheduling.ScheduleRequest.typed(
        title=title, agent=more.pop("agent", "alex"), date=date, start=start, timezone=tz, **more
    )
    return scheduling.schedule_session(db, center.calvin, request, today=TODAY)


def sent(db, moment: str, zone: str = "UTC") -> list[tuple]:
    return [(r.kind, r.user, r.record_id) for r in reminders.remind(db, at(moment), zone)]


# session.upcoming


def test_a_session_starting_within_24_hours_reminds_its_agent_and_coach_once(db, center):
    session = schedule(
        db,
        center,
        "Weekly review",
        "2026-12-02",
        "09:00",
        "Europe/Paris",
        link="https://meet.example.com/alex",
        duration="45",
    )
    written = reminders.remind(db, at("2026-12-01T10:00:00+00:00"), "UTC")
    assert [(r.kind, r.user, r.record_type, r.record_id) for r in written] == [
        ("session.upcoming", "alex", "session", session.id),
        ("session.upcoming", "calvin", "session", session.id),
    ]
    assert written[0].message == (
        f'Coaching session {session.id} "Weekly review" (Alex Moreno with Calvin Brooks) starts '
        "Wed 2026-12-02 09:00 Europe/Paris, 45 min; meeting link: https://meet.example.com/alex"
    )
    # Later runs, even at other moments inside the window, write nothing more.
    assert sent(db, "2026-12-01T10:00:00+00:00") == []
    assert sent(db, "2026-12-02T07:30:00+00:00") == []


def test_the_window_is_the_next_24_hours_in_the_sessions_own_zone(db, center):
    # 09:00 in Paris is 08:00 UTC in December; in Los Angeles 17:00 UTC.
    paris = schedule(db, center, "Paris", "2026-12-02", "09:00", "Europe/Paris")
    los_angeles = schedule(db, center, "Los Angeles", "2026-12-02", "09:00", "America/Los_Angeles")
    # Exactly 24 hours before Paris's start: inside (the bound is inclusive);
    # Los Angeles is 33 hours away.
    assert sent(db, "2026-12-01T08:00:00+00:00") == [
        ("session.upcoming", "alex", paris.id),
        ("session.upcoming", "calvin", paris.id),
    ]
    # A second past 24 hours before it: Los Angeles is still out.
    assert sent(db, "2026-12-01T16:59:59+00:00") == []
    assert sent(db, "2026-12-01T17:00:00+00:00") == [
        ("session.upcoming", "alex", los_angeles.id),
        ("session.upcoming", "calvin", los_angeles.id),
    ]


def test_a_session_already_started_or_not_scheduled_is_not_upcoming(db, center):
    schedule(db, center, "Starts now", "2026-12-01", "10:00")
    schedule(db, center, "Started", "2026-12-01", "09:59")
    schedule(db, center, "Too far", "2026-12-02", "10:01")
    assert sent(db, "2026-12-01T10:00:00+00:00") == []


def test_far_zones_across_the_date_line_are_found(db, center):
    # 00:30 on Dec 3 in Kiritimati (UTC+14) is 10:30 UTC on Dec 2; 23:00 on
    # Dec 1 in Niue (UTC-11) is 10:00 UTC on Dec 2.
    kiritimati = schedule(db, center, "Line Islands", "2026-12-03", "00:30", "Pacific/Kiritimati")
    niue = schedule(db, center, "Niue", "2026-12-01", "23:00", "Pacific/Niue")
    assert sorted(sent(db, "2026-12-01T11:00:00+00:00")) == sorted(
        [
            ("session.upcoming", "alex", kiritimati.id),
            ("session.upcoming", "calvin", kiritimati.id),
            ("session.upcoming", "alex", niue.id),
            ("session.upcoming", "calvin", niue.id),
        ]
    )


def test_a_session_without_a_link_says_so(db, center):
    schedule(db, center, "No link", "2026-12-01", "12:00")
    (reminder,) = [r for r in reminders.remind(db, at("2026-12-01T10:00:00+00:00"), "UTC") if r.user == "alex"]
    assert reminder.message.endswith("starts Tue 2026-12-01 12:00 UTC, 30 min; no meeting link")


# minigoal.at_risk


@pytest.fixture
def goals(db, center):
    """Goals on handle time (lower is better, target 400) for alex, due
    Dec 3 (within 3 days of Dec 1) unless said otherwise."""
    paths.add_path(db, center.dana, "Inbound basics", ["alex", "maria"])

    def goal(title: str, due: str = "2026-12-03", agent: str = "alex", kpi: str = "handle-time", target: str = "400"):
        session = schedule(
            db,
            center,
            title,
            "2026-11-20",
            "10:00",
            agent=agent,
            path="Inbound basics",
            kpi=kpi,
            target=target,
            target_date=due,
        )
        db.flush()
        return session.id

    return goal


def observe(db, center, values: dict[str, float], agent: str = "alex", metric: str = "handle-time"):
    agent_id = getattr(center, agent).id
    for observed_at, value in values.items():
        db.add(KpiObservation(agent_id=agent_id, metric=metric, observed_at=observed_at, value=value))
    db.flush()


def goal_id(db, session_id: int) -> int:
    from sqlmodel import select

    from coachcli.db.models import MiniGoal

    return db.exec(select(MiniGoal.id).where(MiniGoal.session_id == session_id)).one()


def test_a_goal_missing_its_target_so_far_and_due_soon_reminds_assignee_and_coach_once(db, center, goals):
    goal = goal_id(db, goals("Faster calls"))
    observe(db, center, {"2026-11-25": 420, "2026-12-01T15:00:00": 410})
    written = reminders.remind(db, at("2026-12-01T18:00:00+00:00"), "UTC")
    assert [(r.kind, r.user, r.record_type, r.record_id) for r in written] == [
        ("minigoal.at_risk", "alex", "minigoal", goal),
        ("minigoal.at_risk", "calvin", "minigoal", goal),
    ]
    assert written[0].message == (
        'Mini-goal "Faster calls" (alex, Handle Time, due 2026-12-03) is at risk: 415 s (6:55) so far '
        "from 2 observations since 2026-11-20, target at most 400 s (6:40)."
    )
    assert sent(db, "2026-12-02T18:00:00+00:00") == []


def test_the_running_score_uses_the_shared_rules_and_only_data_through_today(db, center, goals):
    on_target = goal_id(db, goals("On target"))
    observe(db, center, {"2026-11-25": 399.996})  # rounds to 400.00: meets "at most 400"
    observe(db, center, {"2026-12-02": 900})  # tomorrow's data does not count yet
    assert sent(db, "2026-12-01T12:00:00+00:00") == []
    # Tomorrow it does, and the goal is now at risk.
    assert sent(db, "2026-12-02T12:00:00+00:00") == [
        ("minigoal.at_risk", "alex", on_target),
        ("minigoal.at_risk", "calvin", on_target),
    ]


def test_higher_is_better_goals_and_goals_without_data_are_at_risk_too(db, center, goals):
    contacts = goal_id(db, goals("Seventy a day", kpi="contacts-handled", target="70", agent="maria"))
    observe(db, center, {"2026-11-30": 69.99}, agent="maria", metric="contacts-handled")
    no_data = goal_id(db, goals("Nothing yet"))
    written = reminders.remind(db, at("2026-12-01T12:00:00+00:00"), "UTC")
    assert [(r.user, r.record_id) for r in written] == [
        ("maria", contacts),
        ("calvin", contacts),
        ("alex", no_data),
        ("calvin", no_data),
    ]
    assert "no Handle Time data yet since 2026-11-20, target at most 400 s (6:40)." in written[2].message


def test_only_goals_in_progress_and_due_within_three_days(db, center, goals):
    goals("Due in four days", due="2026-12-05")
    due_in_three = goal_id(db, goals("Due in three days", due="2026-12-04"))
    due_today = goal_id(db, goals("Due today", due="2026-12-01"))
    overdue = goals("Overdue", due="2026-11-30")
    assert overdue  # past its due date: evaluate ends it; no reminder
    assert sorted(sent(db, "2026-12-01T12:00:00+00:00")) == sorted(
        [
            ("minigoal.at_risk", "alex", due_in_three),
            ("minigoal.at_risk", "calvin", due_in_three),
            ("minigoal.at_risk", "alex", due_today),
            ("minigoal.at_risk", "calvin", due_today),
        ]
    )


def test_today_is_the_date_where_the_center_is(db, center, goals):
    goals("Due in four days", due="2026-12-05")
    # 23:30 UTC on Dec 1 is already Dec 2 in Paris: the goal is due in three days there.
    assert sent(db, "2026-12-01T23:30:00+00:00", "UTC") == []
    assert len(sent(db, "2026-12-01T23:30:00+00:00", "Europe/Paris")) == 2


def test_an_ended_goal_is_not_at_risk(db, center, goals):
    from coachcli.services import minigoals

    goals("Ended early", due="2026-11-30")
    minigoals.evaluate(db, dt.date(2026, 12, 1))
    assert sent(db, "2026-11-29T12:00:00+00:00") == []


# The command


def test_remind_prints_what_it_wrote_and_nothing_when_nothing(cli):
    assert (
        cli(
            "session",
            "schedule",
            "--title",
            "Review",
            "--agent",
            "alex",
            "--date",
            "2026-12-02",
            "--start",
            "09:00",
            "--tz",
            "Europe/Paris",
            user="calvin",
        ).exit_code
        == 0
    )
    result = cli("remind", "--as-of", "2026-12-01T10:00")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "kind\tuser\trecord_type\trecord_id\tmessage"
    assert [line.split("\t")[:4] for line in lines[1:]] == [
        ["session.upcoming", "alex", "session", "1"],
        ["session.upcoming", "calvin", "session", "1"],
    ]
    again = cli("remind", "--as-of", "2026-12-01T10:00")
    assert again.exit_code == 0 and again.stdout == "" and again.stderr == ""


def schedule_review(cli) -> None:
    """A session for alex at 09:00 UTC on December 2nd, through the command line."""
    scheduled = cli(
        "session",
        "schedule",
        "--title",
        "Review",
        "--agent",
        "alex",
        "--date",
        "2026-12-02",
        "--start",
        "09:00",
        user="calvin",
    )
    assert scheduled.exit_code == 0, scheduled.stderr


def test_remind_json_always_prints_the_summary_and_quiet_prints_nothing(cli):
    schedule_review(cli)
    quiet = cli("remind", "--as-of", "2026-12-01T10:00Z", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert cli.query("SELECT count(*) FROM notifications WHERE kind = 'session.upcoming'") == [(2,)]
    assert cli.json("remind", "--as-of", "2026-12-01T10:00Z") == {"as_of": "2026-12-01T10:00:00+00:00", "reminders": []}
    cli.query("DELETE FROM notifications WHERE user_id = (SELECT id FROM users WHERE handle = 'calvin')")
    summary = cli.json("remind", "--as-of", "2026-12-01 11:00+01:00")
    assert summary["as_of"] == "2026-12-01T10:00:00+00:00"  # shown in COACH_TZ (UTC here)
    assert summary["reminders"] == [
        {
            "kind": "session.upcoming",
            "user": "calvin",
            "record_type": "session",
            "record_id": 1,
            "message": 'Coaching session 1 "Review" (Alex Moreno with Calvin Brooks) starts Wed 2026-12-02 09:00 UTC, '
            "30 min; no meeting link",
        }
    ]


def test_remind_needs_no_acting_user_and_defaults_to_now(cli):
    soon = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    assert (
        cli(
            "session",
            "schedule",
            "--title",
            "Soon",
            "--agent",
            "alex",
            "--date",
            soon.date().isoformat(),
            "--start",
            soon.strftime("%H:%M"),
            user="calvin",
        ).exit_code
        == 0
    )
    summary = cli.json("remind")
    assert [(r["kind"], r["user"]) for r in summary["reminders"]] == [
        ("session.upcoming", "alex"),
        ("session.upcoming", "calvin"),
    ]
    assert abs(dt.datetime.fromisoformat(summary["as_of"]) - dt.datetime.now(UTC)) < dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    "as_of", ["soon", "2026-13-01", "03/04/2026 10:00", "2026-12-01T25:00", "9999-12-31T23:00-05:00"]
)
def test_a_bad_as_of_is_one_line_exit_2_and_writes_nothing(cli, as_of):
    schedule_review(cli)
    before = cli.dump()
    result = cli("remind", "--as-of", as_of)
    assert result.exit_code == 2
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("coach: ") and "YYYY-MM-DD" in result.stderr
    assert cli.dump() == before


def test_the_database_itself_refuses_a_second_copy_of_a_reminder(cli):
    cli.query(
        "INSERT INTO notifications (user_id, kind, message, record_type, record_id, created_at, attempts) "
        "VALUES (1, 'session.upcoming', 'one', 'session', 7, '2026-12-01T00:00:00+00:00', 0)"
    )
    with pytest.raises(Exception, match="(?i)unique"):
        cli.query(
            "INSERT INTO notifications (user_id, kind, message, record_type, record_id, created_at, attempts) "
            "VALUES (1, 'session.upcoming', 'two', 'session', 7, '2026-12-01T00:00:00+00:00', 0)"
        )
    # Other notifications may repeat.
    for _ in range(2):
        cli.query(
            "INSERT INTO notifications (user_id, kind, message, record_type, record_id, created_at, attempts) "
            "VALUES (1, 'minigoal.missed', 'm', 'minigoal', 7, '2026-12-01T00:00:00+00:00', 0)"
        )


# Several at once, and delivery


def test_concurrent_remind_processes_write_each_reminder_once(cli, tmp_path):
    for n in range(6):
        assert (
            cli(
                "session",
                "schedule",
                "--title",
                f"Review {n}",
                "--agent",
                ["alex", "maria"][n % 2],
                "--date",
                "2026-12-02",
                "--start",
                f"{9 + n:02d}:00",
                user="calvin",
            ).exit_code
            == 0
        )
    processes = [
        subprocess.Popen(
            [COACH, "remind", "--as-of", "2026-12-01T15:00", "-o", "json"],
            env=_env(cli.target),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    written = [(r["kind"], r["user"], r["record_id"]) for stdout, _ in outputs for r in json.loads(stdout)["reminders"]]
    assert len(written) == 12 and len(set(written)) == 12
    assert cli.query(
        "SELECT count(*), count(DISTINCT record_id) FROM notifications WHERE kind = 'session.upcoming'"
    ) == [(12, 6)]


@pytest.mark.skipif(os.name != "posix", reason="the hook is a POSIX shell script")
def test_notify_send_delivers_reminders_like_any_notification(cli, tmp_path, monkeypatch):
    assert (
        cli(
            "session",
            "schedule",
            "--title",
            "Review",
            "--agent",
            "alex",
            "--date",
            "2026-12-02",
            "--start",
            "09:00",
            "--link",
            "https://meet.example.com/r",
            user="calvin",
        ).exit_code
        == 0
    )
    assert cli("remind", "--as-of", "2026-12-01T12:00", "-q").exit_code == 0
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    hook = tmp_path / "deliver.sh"
    hook.write_text(f'#!/bin/sh\ncat > "{outbox}/$$.json"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", str(hook))
    assert cli.json("notify", "send") == {"delivered": 2, "failed": 0}
    payloads = sorted((json.loads(p.read_text()) for p in outbox.iterdir()), key=lambda p: p["id"])
    assert [(p["user"], p["kind"], p["record_type"], p["record_id"]) for p in payloads] == [
        ("alex", "session.upcoming", "session", 1),
        ("calvin", "session.upcoming", "session", 1),
    ]
    assert "meeting link: https://meet.example.com/r" in payloads[0]["message"]
    # Delivered reminders are not written again, so not sent again.
    assert cli("remind", "--as-of", "2026-12-01T13:00", "-q").exit_code == 0
    assert cli.json("notify", "send") == {"delivered": 0, "failed": 0}
    inbox = cli.json("inbox", user="alex")
    assert [note["kind"] for note in inbox] == ["session.upcoming"]


# Parsing --as-of


def test_as_of_reads_dates_and_date_times_naive_ones_in_coach_tz():
    paris = ZoneInfo("Europe/Paris")
    assert parse_moment("2026-12-02", "Europe/Paris", TODAY) == dt.datetime(2026, 12, 2, tzinfo=paris)
    assert parse_moment("tomorrow", "Europe/Paris", TODAY) == dt.datetime(2026, 12, 2, tzinfo=paris)
    assert parse_moment("2026-12-02T08:30", "Europe/Paris", TODAY) == dt.datetime(2026, 12, 2, 8, 30, tzinfo=paris)
    assert parse_moment("2026-12-02 08:30 UTC", "Europe/Paris", TODAY) == dt.datetime(2026, 12, 2, 8, 30, tzinfo=UTC)
    assert parse_moment("Dec 2 2026 2:30 pm", "UTC", TODAY) == dt.datetime(2026, 12, 2, 14, 30, tzinfo=UTC)
    assert parse_moment("2026-12-02T08:30+05:00", "UTC", TODAY) == dt.datetime(2026, 12, 2, 3, 30, tzinfo=UTC)


@given(
    st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime(9000, 1, 1),
        timezones=st.sampled_from(
            [UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-6))]
        ),
    )
)
def test_as_of_round_trips_any_iso_date_time(moment):
    moment = moment.replace(microsecond=0)
    assert parse_moment(moment.isoformat(), "Europe/Paris", TODAY) == moment


@given(st.text(max_size=30))
def test_as_of_either_parses_to_an_aware_moment_or_refuses_cleanly(text):
    try:
        moment = parse_moment(text, "America/Chicago", TODAY)
    except CoachError as error:
        assert "\n" not in error.message
    else:
        assert moment.tzinfo is not None
        moment.astimezone(UTC) + dt.timedelta(days=3)


# session.unacknowledged and action.due


def coached(db, center, title: str = "Call review"):
    from conftest import COMPLETE_ANSWERS

    draft = coaching.new_session(db, center.calvin, "alex", "Call quality", title)
    return coaching.save_session(db, center.calvin, draft.id, dict(COMPLETE_ANSWERS), coached=True)


def test_a_session_coached_three_days_ago_and_not_acknowledged_reminds_its_agent_once(db, center):
    session = coached(db, center)
    acknowledged = coached(db, center, "Acknowledged review")

    coaching.acknowledge_session(db, center.alex, acknowledged.id)
    coached_at = session.coached_at
    assert sent(db, (coached_at + dt.timedelta(days=2, hours=23)).isoformat()) == []
    written = reminders.remind(db, coached_at + dt.timedelta(days=3), "UTC")
    assert [(r.kind, r.user, r.record_type, r.record_id) for r in written] == [
        ("session.unacknowledged", "alex", "session", session.id)
    ]
    assert f"coach session ack {session.id}" in written[0].message
    assert sent(db, (coached_at + dt.timedelta(days=9)).isoformat()) == []


def test_an_open_action_due_by_tomorrow_or_overdue_reminds_its_owner_once(db, center):
    from coachcli.services import actions

    session = coached(db, center)
    due_tomorrow = actions.add_action(db, center.calvin, session.id, "Closing checklist", due="2026-12-02", today=TODAY)
    overdue = actions.add_action(
        db, center.calvin, session.id, "Listen to two calls", due="2026-11-20", owner="coach", today=TODAY
    )
    actions.add_action(db, center.calvin, session.id, "Later", due="2026-12-03", today=TODAY)
    actions.add_action(db, center.calvin, session.id, "Whenever", today=TODAY)
    done = actions.add_action(db, center.calvin, session.id, "Done already", due="2026-11-30", today=TODAY)
    actions.complete_action(db, center.alex, done.id)
    written = [r for r in reminders.remind(db, at("2026-12-01T08:00:00+00:00"), "UTC") if r.kind == "action.due"]
    assert [(r.user, r.record_type, r.record_id) for r in written] == [
        ("alex", "action", due_tomorrow.id),
        ("calvin", "action", overdue.id),
    ]
    assert "due 2026-12-02" in written[0].message and "overdue since 2026-11-20" in written[1].message
    assert [r for r in sent(db, "2026-12-01T20:00:00+00:00") if r[0] == "action.due"] == []
