"""Reports (§9): `report cadence` — is every agent coached often enough in the
period, and followed up (acknowledgements, open and overdue action items)?"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select

from coachcli.db.models import ActionItem, CoachingSession, SessionAcknowledgement
from coachcli.errors import CoachError, ExitCode
from coachcli.records import as_dict
from coachcli.services import reports, users

TODAY = dt.date(2026, 5, 20)
MAY = (dt.date(2026, 5, 1), dt.date(2026, 5, 31))
# How Rich starts a cell of a row styled bold red.
ATTENTION = "\x1b[1;31m"
KEYS = ["agent", "teams", "coached", "last_coached", "acknowledged", "open_actions", "overdue_actions", "meets_cadence"]


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def coached(db, agent, coach, at: str, *, acknowledged: bool = False, state: str = "coached") -> CoachingSession:
    """A session coached at `at` (UTC), as `session coach` leaves one; acknowledged by the agent if asked."""
    session = CoachingSession(
        title="Coaching",
        agent_id=agent.id,
        coach_id=coach.id,
        state=state,
        coached_at=utc(at) if state == "coached" else None,
        coached_by_id=coach.id if state == "coached" else None,
    )
    db.add(session)
    db.flush()
    if acknowledged:
        db.add(SessionAcknowledgement(session_id=session.id, acknowledged_at=utc(at) + dt.timedelta(days=1)))
        db.flush()
    return session


def action(db, session, owner, due: dt.date | None = None, *, state: str = "open") -> ActionItem:
    item = ActionItem(
        session_id=session.id,
        owner_id=owner.id,
        text="Closing checklist",
        due_date=due,
        state=state,
        created_by_id=session.coach_id,
    )
    db.add(item)
    db.flush()
    return item


def cadence(db, actor, zone="UTC", today=TODAY, **options):
    return list(reports.cadence(db, actor, zone=zone, today=today, **options))


def by_agent(rows: list[reports.CadenceRecord]) -> dict[str, reports.CadenceRecord]:
    return {row.agent: row for row in rows}


def test_one_row_an_agent_with_the_period_counts_and_the_follow_up(db, center):
    first = coached(db, center.alex, center.calvin, "2026-05-04T10:00:00", acknowledged=True)
    coached(db, center.alex, center.priya, "2026-05-18T10:00:00")  # another coach's session counts too
    before = coached(db, center.alex, center.calvin, "2026-04-28T10:00:00", acknowledged=True)
    coached(db, center.sam, center.priya, "2026-03-02T09:00:00", acknowledged=True)
    draft = coached(db, center.alex, center.calvin, "2026-05-19T10:00:00", state="draft")
    action(db, first, center.alex, TODAY - dt.timedelta(days=1))  # overdue
    action(db, first, center.calvin, TODAY - dt.timedelta(days=30))  # overdue, the coach's to do
    action(db, before, center.alex, TODAY)  # due today: open, not overdue
    action(db, draft, center.alex)  # undated
    action(db, before, center.alex, TODAY - dt.timedelta(days=9), state="done")  # done: neither
    action(db, first, center.maria, TODAY - dt.timedelta(days=3), state="done")
    rows = cadence(db, center.dana, start=MAY[0], end=MAY[1])
    assert [list(as_dict(row)) for row in rows] == [KEYS] * 3
    assert [as_dict(row) for row in rows] == [
        {
            "agent": "alex",
            "teams": ["Inbound"],
            "coached": 2,
            "last_coached": dt.date(2026, 5, 18),
            "acknowledged": 1,
            "open_actions": 4,
            "overdue_actions": 2,
            "meets_cadence": True,
        },
        {
            "agent": "maria",
            "teams": ["Inbound"],
            "coached": 0,
            "last_coached": None,
            "acknowledged": 0,
            "open_actions": 0,
            "overdue_actions": 0,
            "meets_cadence": False,
        },
        {
            "agent": "sam",
            "teams": ["Chat"],
            "coached": 0,
            "last_coached": dt.date(2026, 3, 2),
            "acknowledged": 0,
            "open_actions": 0,
            "overdue_actions": 0,
            "meets_cadence": False,
        },
    ]


def test_overdue_is_the_rule_of_action_list_overdue(db, center):
    from coachcli.services import actions

    session = coached(db, center.alex, center.calvin, "2026-05-04T10:00:00")
    for days in (-40, -1, 0, 1):
        action(db, session, center.alex, TODAY + dt.timedelta(days=days))
    action(db, session, center.alex, None)
    listed = list(actions.list_actions(db, center.dana, overdue=True, today=TODAY))
    (alex,) = [row for row in cadence(db, center.dana) if row.agent == "alex"]
    assert (alex.overdue_actions, alex.open_actions) == (len(listed), 5) == (2, 5)


def test_the_minimum_decides_who_meets_the_cadence(db, center):
    for day in (5, 12):
        coached(db, center.alex, center.calvin, f"2026-05-{day:02d}T10:00:00")
    coached(db, center.maria, center.calvin, "2026-05-07T10:00:00")
    assert {row.agent: row.meets_cadence for row in cadence(db, center.dana)} == {
        "alex": True,
        "maria": True,
        "sam": False,
    }
    assert {row.agent: row.meets_cadence for row in cadence(db, center.dana, minimum=2)} == {
        "alex": True,
        "maria": False,
        "sam": False,
    }
    assert not any(row.meets_cadence for row in cadence(db, center.dana, minimum=3))


def test_the_default_period_is_this_month(db, center):
    coached(db, center.alex, center.calvin, "2026-04-30T23:59:59")
    coached(db, center.alex, center.calvin, "2026-05-01T00:00:00")
    coached(db, center.alex, center.calvin, "2026-05-31T23:59:59")
    coached(db, center.alex, center.calvin, "2026-06-01T00:00:00")
    assert by_agent(cadence(db, center.dana))["alex"].coached == 2
    assert by_agent(cadence(db, center.dana, today=dt.date(2026, 6, 1)))["alex"].coached == 1


@pytest.mark.parametrize(
    ("today", "start", "end", "period"),
    [
        (TODAY, None, None, MAY),
        (dt.date(2028, 2, 29), None, None, (dt.date(2028, 2, 1), dt.date(2028, 2, 29))),
        (dt.date(2026, 12, 31), None, None, (dt.date(2026, 12, 1), dt.date(2026, 12, 31))),
        (TODAY, dt.date(2026, 3, 10), None, (dt.date(2026, 3, 10), dt.date(2026, 3, 31))),
        (TODAY, None, dt.date(2026, 2, 14), (dt.date(2026, 2, 1), dt.date(2026, 2, 14))),
        (TODAY, dt.date(2026, 1, 15), dt.date(2026, 4, 15), (dt.date(2026, 1, 15), dt.date(2026, 4, 15))),
        (TODAY, TODAY, TODAY, (TODAY, TODAY)),
    ],
)
def test_the_period(today, start, end, period):
    assert reports.cadence_period(today, start, end) == period


def test_sessions_count_by_the_local_day_they_were_coached(db, center):
    # New York is UTC−4 in May and June: its May runs 04:00 UTC May 1st to 03:59:59 UTC June 1st.
    coached(db, center.alex, center.calvin, "2026-05-01T03:59:59")  # April 30th in New York
    coached(db, center.alex, center.calvin, "2026-05-01T04:00:00", acknowledged=True)
    coached(db, center.alex, center.calvin, "2026-06-01T02:00:00", acknowledged=True)  # May 31st in New York
    coached(db, center.alex, center.calvin, "2026-06-01T03:59:59")  # May 31st in New York
    in_new_york = by_agent(cadence(db, center.dana, zone="America/New_York"))["alex"]
    in_utc = by_agent(cadence(db, center.dana, zone="UTC"))["alex"]
    assert (in_new_york.coached, in_new_york.acknowledged, in_new_york.last_coached) == (3, 2, MAY[1])
    assert (in_utc.coached, in_utc.acknowledged, in_utc.last_coached) == (2, 1, dt.date(2026, 6, 1))


def test_the_last_day_coached_is_local_across_a_daylight_saving_change(db, center):
    # Berlin moves to summer time on March 29th 2026: 22:30 UTC is 23:30 on the 28th, 00:30 on the 30th.
    coached(db, center.alex, center.calvin, "2026-03-28T22:30:00")
    assert by_agent(cadence(db, center.dana, zone="Europe/Berlin", today=dt.date(2026, 3, 28)))[
        "alex"
    ].last_coached == dt.date(2026, 3, 28)
    coached(db, center.maria, center.calvin, "2026-03-29T22:30:00")
    maria = by_agent(cadence(db, center.dana, zone="Europe/Berlin", today=dt.date(2026, 3, 30)))["maria"]
    assert (maria.last_coached, maria.coached) == (dt.date(2026, 3, 30), 1)


def test_a_coach_sees_the_agents_of_their_teams_only(db, center):
    coached(db, center.sam, center.calvin, "2026-05-04T10:00:00")  # calvin coached sam, of priya's team
    assert [row.agent for row in cadence(db, center.calvin)] == ["alex", "maria"]
    assert [row.agent for row in cadence(db, center.priya)] == ["sam"]
    assert by_agent(cadence(db, center.priya))["sam"].coached == 1
    assert [row.agent for row in cadence(db, center.dana)] == ["alex", "maria", "sam"]  # agents only
    with pytest.raises(CoachError) as refused:
        cadence(db, center.alex)
    assert refused.value.exit_code == ExitCode.PERMISSION


def test_every_team_of_an_agent_is_listed_and_an_agent_with_none_too(db, center):
    users.add_user(db, center.dana, "noor", "Noor Haddad", "agent", ["Inbound", "Chat"])
    users.add_user(db, center.dana, "lee", "Lee Park", "agent", [])
    rows = by_agent(cadence(db, center.dana))
    assert (rows["noor"].teams, rows["lee"].teams) == (["Chat", "Inbound"], [])
    assert as_dict(rows["lee"]) == {
        "agent": "lee",
        "teams": [],
        "coached": 0,
        "last_coached": None,
        "acknowledged": 0,
        "open_actions": 0,
        "overdue_actions": 0,
        "meets_cadence": False,
    }
    assert [row.agent for row in cadence(db, center.priya)] == ["noor", "sam"]
    assert by_agent(cadence(db, center.priya))["noor"].teams == ["Chat", "Inbound"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"start": dt.date(2026, 5, 21), "end": dt.date(2026, 5, 20)}, "--from 2026-05-21 is after --to 2026-05-20"),
    ],
)
def test_bad_inputs_are_refused(db, center, options, says):
    with pytest.raises(CoachError) as refused:
        cadence(db, center.dana, **options)
    assert refused.value.exit_code == ExitCode.BAD_INPUT and says in refused.value.message


def test_the_report_is_a_fixed_number_of_statements_whatever_the_number_of_agents(db, center, engine):
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_rest):
        statements.append(statement)

    def statements_for(agents: int) -> int:
        for n in range(agents):
            agent = users.add_user(db, center.dana, f"agent{agents}x{n}", "An Agent", "agent", ["Inbound", "Chat"])
            session = coached(db, agent, center.calvin, f"2026-05-{1 + n % 28:02d}T10:00:00", acknowledged=n % 2 == 0)
            action(db, session, agent, TODAY - dt.timedelta(days=n % 3))
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            rows = cadence(db, center.calvin)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert sum(row.coached for row in rows) >= agents
        return len(statements)

    assert statements_for(2) == statements_for(40) == 2


# --- the command ------------------------------------------------------------


@pytest.fixture
def cadence_cli(cli, engine, monkeypatch):
    """The seeded center in New York on May 20th 2026: alex coached twice in
    May (once acknowledged) with an overdue item, once more on the evening
    of April 30th; maria and sam never."""
    from coachcli import parse
    from coachcli.db import transaction
    from coachcli.db.models import User

    monkeypatch.setenv("COACH_TZ", "America/New_York")
    monkeypatch.setattr(parse, "today_in", lambda _zone: TODAY)
    with transaction(engine, write=True) as session:
        people = {user.handle: user for user in session.exec(select(User)).scalars()}
        alex, calvin = people["alex"], people["calvin"]
        first = coached(session, alex, calvin, "2026-05-01T04:00:00", acknowledged=True)  # May 1st, 00:00 there
        coached(session, alex, calvin, "2026-06-01T03:30:00")  # May 31st there
        coached(session, alex, calvin, "2026-05-01T03:59:00", acknowledged=True)  # April 30th there
        action(session, first, alex, dt.date(2026, 5, 19))
        action(session, first, alex, TODAY)
    return cli


def test_report_cadence_json_this_month_in_coach_tz(cadence_cli):
    rows = cadence_cli.json("report", "cadence", user="dana")
    assert [list(row) for row in rows] == [KEYS] * 3
    assert rows[0] == {
        "agent": "alex",
        "teams": ["Inbound"],
        "coached": 2,
        "last_coached": "2026-05-31",
        "acknowledged": 1,
        "open_actions": 2,
        "overdue_actions": 1,
        "meets_cadence": True,
    }
    assert rows[1] == {
        "agent": "maria",
        "teams": ["Inbound"],
        "coached": 0,
        "last_coached": None,
        "acknowledged": 0,
        "open_actions": 0,
        "overdue_actions": 0,
        "meets_cadence": False,
    }
    (april,) = [
        row
        for row in cadence_cli.json(
            "report", "cadence", "--from", "2026-04-01", "--to", "2026-04-30", "--min", "1", user="calvin"
        )
        if row["agent"] == "alex"
    ]
    assert (april["coached"], april["acknowledged"], april["meets_cadence"]) == (1, 1, True)
    (day,) = [
        row
        for row in cadence_cli.json("report", "cadence", "--from", "2026-05-31", "--to", "2026-05-31", user="calvin")
        if row["agent"] == "alex"
    ]
    assert day["coached"] == 1


def test_report_cadence_a_lone_bound_keeps_to_its_month_and_min_raises_the_bar(cadence_cli):
    (alex, *_) = cadence_cli.json("report", "cadence", "--to", "2026-04-30", user="dana")
    assert (alex["coached"], alex["acknowledged"]) == (1, 1)
    (alex, *_) = cadence_cli.json("report", "cadence", "--from", "2026-05-02", user="dana")
    assert alex["coached"] == 1
    (alex, *_) = cadence_cli.json("report", "cadence", "--min", "3", user="dana")
    assert (alex["coached"], alex["meets_cadence"]) == (2, False)


def test_report_cadence_tsv_and_csv_when_piped(cadence_cli):
    result = cadence_cli("report", "cadence", user="calvin")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "\t".join(KEYS),
        "alex\tInbound\t2\t2026-05-31\t1\t2\t1\ttrue",
        "maria\tInbound\t0\t\t0\t0\t0\tfalse",
    ]
    csv = cadence_cli("report", "cadence", "-o", "csv", user="priya")
    assert csv.exit_code == 0 and csv.stdout.splitlines() == [",".join(KEYS), "sam,Chat,0,,0,0,0,false"]


def test_report_cadence_for_a_coach_lists_their_agents_only_and_refuses_an_agent(cadence_cli):
    assert [row["agent"] for row in cadence_cli.json("report", "cadence", user="priya")] == ["sam"]
    refused = cadence_cli("report", "cadence", user="alex")
    assert refused.exit_code == 5 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "only a coach or an admin" in refused.stderr


def _table_lines(result, *agents: str) -> dict[str, str]:
    """Each agent's table row, as printed (with its colour codes)."""
    import re

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    return {
        agent: next(line for line in lines if re.sub(r"\x1b\[[0-9;]*m", "", line).startswith(f"│ {agent} "))
        for agent in agents
    }


def test_report_cadence_table_marks_who_needs_attention(cadence_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FORCE_COLOR", "1")
    result = cadence_cli("report", "cadence", "-o", "table", user="dana")
    assert "Coaching cadence, 2026-05-01 to 2026-05-31, at least 1 session each" in result.stdout
    lines = _table_lines(result, "alex", "maria")
    assert "1 overdue" in lines["alex"] and ATTENTION in lines["alex"]
    assert "never" in lines["maria"] and "not coached" in lines["maria"] and ATTENTION in lines["maria"]
    for minimum, short in (("3", "1 session short, 1 overdue"), ("4", "2 sessions short, 1 overdue")):
        raised = cadence_cli(
            "report",
            "cadence",
            "--min",
            minimum,
            "--from",
            "2026-05-01",
            "--to",
            "2026-05-31",
            "-o",
            "table",
            user="calvin",
        )
        assert f"at least {minimum} sessions each" in raised.stdout
        assert short in _table_lines(raised, "alex")["alex"]


def test_report_cadence_leaves_a_row_plain_when_nothing_needs_doing(cadence_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FORCE_COLOR", "1")
    ((overdue,),) = cadence_cli.query("SELECT min(id) FROM action_items")
    assert cadence_cli("action", "done", str(overdue), user="calvin").exit_code == 0
    lines = _table_lines(cadence_cli("report", "cadence", "-o", "table", user="calvin"), "alex", "maria")
    assert ATTENTION not in lines["alex"] and "overdue" not in lines["alex"]
    assert ATTENTION in lines["maria"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["--min", "0"],  # at least 1: Typer checks the range, naming the option
        ["--min", "-2"],
        ["--min", "two"],
        ["--min", "1.5"],
        ["--from", "2026-05-21", "--to", "2026-05-20"],
        ["--from", "someday"],
        ["--to", "2026-02-30"],
    ],
)
def test_report_cadence_refuses_bad_options_in_one_line(cadence_cli, arguments):
    before = cadence_cli.dump()
    result = cadence_cli("report", "cadence", *arguments, user="dana")
    assert result.exit_code == 2
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("coach: ")
    if arguments[0] == "--min":
        assert "Invalid value for '--min'" in result.stderr
    assert cadence_cli.dump() == before


def test_report_cadence_after_coaching_acknowledging_and_agreeing_actions(cli, monkeypatch):
    """The whole flow through the commands, this month in a zone far from UTC."""
    from conftest import COMPLETE_ANSWERS

    from coachcli.parse import today_in

    monkeypatch.setenv("COACH_TZ", "Pacific/Auckland")
    answers = [f"--set={key}={value}" for key, value in COMPLETE_ANSWERS.items()]
    sessions = []
    for _ in range(2):
        session = cli("session", "new", "--agent", "alex", "--form", "Call quality", "-q", user="calvin").stdout.strip()
        assert cli("session", "coach", session, *answers, user="calvin").exit_code == 0
        sessions.append(session)
    assert cli("session", "ack", sessions[0], user="alex").exit_code == 0
    for due in ("-2d", "+2d"):
        assert (
            cli("action", "add", sessions[1], "--text", "Closing checklist", "--due", due, user="calvin").exit_code == 0
        )
    overdue = cli.json("action", "list", "--overdue", user="calvin")
    alex, maria = cli.json("report", "cadence", "--min", "2", user="calvin")
    assert alex == {
        "agent": "alex",
        "teams": ["Inbound"],
        "coached": 2,
        "last_coached": alex["last_coached"],
        "acknowledged": 1,
        "open_actions": 2,
        "overdue_actions": len(overdue),
        "meets_cadence": True,
    }
    assert len(overdue) == 1 and alex["last_coached"] == today_in("Pacific/Auckland").isoformat()
    assert (maria["agent"], maria["coached"], maria["meets_cadence"]) == ("maria", 0, False)
