"""Reports (§9): `report impact` — before and after a coached session, against
a control group of team-mates — and the `report` command."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import COMPLETE_ANSWERS
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite

from coachcli.db.models import CoachingSession, KpiObservation
from coachcli.errors import CoachError, ExitCode
from coachcli.records import as_dict
from coachcli.services import reports, users

MAY = {day: dt.date(2026, 5, day) for day in range(1, 32)}
JUNE = {day: dt.date(2026, 6, day) for day in range(1, 31)}


def coached(db, agent, coach, metric="handle-time", *, day=None, coached_at=None, title="Coaching") -> CoachingSession:
    """A coached session as `session coach` leaves one: final, with its KPI metric."""
    session = CoachingSession(
        title=title,
        agent_id=agent.id,
        coach_id=coach.id,
        state="coached",
        kpi=metric,
        date=day,
        coached_at=coached_at or dt.datetime.combine(day, dt.time(15), dt.UTC),
        coached_by_id=coach.id,
    )
    db.add(session)
    db.flush()
    return session


def observe_days(db, agent, metric, first: dt.date, last: dt.date, value: float) -> None:
    """One observation a day, first through last."""
    days = (last - first).days + 1
    db.add_all(
        KpiObservation(
            agent_id=agent.id, metric=metric, observed_at=(first + dt.timedelta(days=n)).isoformat(), value=value
        )
        for n in range(days)
    )
    db.flush()


def observe(db, agent, metric, *observations: tuple[str, float]) -> None:
    db.add_all(
        KpiObservation(agent_id=agent.id, metric=metric, observed_at=at, value=value) for at, value in observations
    )
    db.flush()


def report(db, actor, **options):
    return reports.impact(db, actor, zone="UTC", **options)


@pytest.fixture
def worked_example(db, center):
    """The issue's example, N = 14: Alex coached on handle time on May 15th,
    400 s over May 1–14 and 340 s over May 16–29; Maria, a team-mate never
    coached on it, 380 → 370; Sam, of another team, would be a perfect
    control but is not one. Noise sits on May 15th and just outside the windows."""
    session = coached(db, center.alex, center.calvin, day=MAY[15])
    observe_days(db, center.alex, "handle-time", MAY[1], MAY[14], 400)
    observe_days(db, center.alex, "handle-time", MAY[16], MAY[29], 340)
    observe_days(db, center.maria, "handle-time", MAY[1], MAY[14], 380)
    observe_days(db, center.maria, "handle-time", MAY[16], MAY[29], 370)
    observe_days(db, center.sam, "handle-time", MAY[1], MAY[14], 500)
    observe_days(db, center.sam, "handle-time", MAY[16], MAY[29], 100)
    for agent in (center.alex, center.maria):
        observe(
            db,
            agent,
            "handle-time",
            ("2026-05-15", 9999),
            ("2026-05-15T08:30:00", 9999),
            ("2026-05-15T23:59:59", 9999),
            ("2026-04-30", 9999),
            ("2026-04-30T23:59:59", 9999),
            ("2026-05-30", 9999),
            ("2026-05-30T00:00:00", 9999),
        )
    # Another metric on the same days counts nowhere either.
    observe_days(db, center.alex, "hold-time", MAY[1], MAY[29], 5)
    return session


def test_worked_example(db, center, worked_example):
    (row,) = report(db, center.dana, window=14)
    assert as_dict(row) == {
        "session_id": worked_example.id,
        "agent": "alex",
        "coach": "calvin",
        "metric": "handle-time",
        "date": MAY[15],
        "before": 400.0,
        "before_samples": 14,
        "after": 340.0,
        "after_samples": 14,
        "gain": 60.0,
        "control_gain": 10.0,
        "control_agents": 1,
        "impact": 50.0,
        "improved": True,
    }
    assert report(db, center.dana) == [row]  # 14 days is the default window


def test_a_team_mate_coached_on_the_metric_around_then_is_no_control(db, center, worked_example):
    coached(db, center.maria, center.calvin, day=MAY[29])  # D + N: still inside
    alex_row = next(row for row in report(db, center.dana) if row.agent == "alex")
    assert alex_row.control_agents == 0
    assert alex_row.control_gain is None and alex_row.impact is None
    assert alex_row.gain == 60.0


def test_coaching_outside_the_span_or_on_another_metric_keeps_a_control(db, center, worked_example):
    coached(db, center.maria, center.calvin, day=MAY[30])  # D + N + 1
    coached(db, center.maria, center.calvin, "hold-time", day=MAY[15])
    (alex_row,) = [row for row in report(db, center.dana, metric="handle-time") if row.agent == "alex"]
    assert (alex_row.control_agents, alex_row.control_gain, alex_row.impact) == (1, 10.0, 50.0)


def test_a_control_needs_data_in_both_windows_and_agents_only(db, center, worked_example):
    team_mate = users.add_user(db, center.dana, "noor", "Noor Haddad", "agent", ["Inbound"])
    observe_days(db, team_mate, "handle-time", MAY[1], MAY[14], 1000)  # no "after" data
    observe_days(db, center.calvin, "handle-time", MAY[1], MAY[29], 1)  # the team's coach is no agent
    (row,) = report(db, center.dana)
    assert (row.control_agents, row.control_gain, row.impact) == (1, 10.0, 50.0)


def test_control_gain_is_the_mean_of_the_control_agents_gains(db, center, worked_example):
    team_mate = users.add_user(db, center.dana, "noor", "Noor Haddad", "agent", ["Inbound", "Chat"])
    observe_days(db, team_mate, "handle-time", MAY[1], MAY[14], 300)
    observe_days(db, team_mate, "handle-time", MAY[16], MAY[29], 330)  # gain −30
    (row,) = report(db, center.dana)
    # Noor shares two teams with nobody but counts once: (10 − 30) / 2.
    assert (row.control_agents, row.control_gain, row.impact) == (2, -10.0, 70.0)


def test_higher_is_better_metric(db, center):
    coached(db, center.sam, center.priya, "adherence", day=JUNE[10])
    teammate = users.add_user(db, center.dana, "lee", "Lee Park", "agent", ["Chat"])
    observe(
        db,
        center.sam,
        "adherence",
        ("2026-06-03", 80),
        ("2026-06-09T10:00:00", 84),
        ("2026-06-11", 90),
        ("2026-06-17", 91),
    )
    observe(db, teammate, "adherence", ("2026-06-05", 70), ("2026-06-12", 71.5))
    (row,) = report(db, center.dana, window=7)
    assert (row.before, row.before_samples, row.after, row.after_samples) == (82.0, 2, 90.5, 2)
    assert (row.gain, row.control_gain, row.impact, row.improved) == (8.5, 1.5, 7.0, True)


def test_a_worse_result_is_a_negative_gain_for_a_lower_is_better_metric(db, center):
    coached(db, center.alex, center.calvin, "hold-time", day=MAY[15])
    observe(db, center.alex, "hold-time", ("2026-05-10", 20), ("2026-05-20", 30.333))
    (row,) = report(db, center.dana)
    assert (row.gain, row.improved, row.control_agents, row.impact) == (-10.33, False, 0, None)


def test_an_empty_window_gives_nulls_and_counts_in_no_mean(db, center, worked_example):
    empty = coached(db, center.alex, center.calvin, day=JUNE[20])
    observe(db, center.alex, "handle-time", ("2026-06-10", 300))  # before only
    rows = {row.session_id: row for row in report(db, center.dana)}
    assert as_dict(rows[empty.id]) | {"session_id": None} == {
        "session_id": None,
        "agent": "alex",
        "coach": "calvin",
        "metric": "handle-time",
        "date": JUNE[20],
        "before": 300.0,
        "before_samples": 1,
        "after": None,
        "after_samples": 0,
        "gain": None,
        "control_gain": None,
        "control_agents": 0,
        "impact": None,
        "improved": None,
    }
    (summary,) = report(db, center.dana, by="coach")
    assert as_dict(summary) == {
        "coach": "calvin",
        "sessions": 2,
        "measured": 1,
        "improved": 1,
        "mean_gain": 60.0,
        "mean_impact": 50.0,
        "ci_low": None,
        "ci_high": None,
    }


def test_the_session_date_is_the_local_date_it_was_coached_when_it_had_no_schedule(db, center):
    # 23:30 UTC on May 14th is already May 15th in Berlin: day D is the 15th there.
    session = coached(db, center.alex, center.calvin, coached_at=dt.datetime(2026, 5, 14, 23, 30, tzinfo=dt.UTC))
    observe(db, center.alex, "handle-time", ("2026-05-14", 400), ("2026-05-16", 340))
    (in_utc,) = reports.impact(db, center.dana, zone="UTC", window=1)
    (in_berlin,) = reports.impact(db, center.dana, zone="Europe/Berlin", window=1)
    assert (in_utc.session_id, in_utc.date, in_utc.after_samples, in_utc.gain) == (
        session.id,
        MAY[14],
        0,
        None,
    )
    assert (in_berlin.date, in_berlin.gain) == (MAY[15], 60.0)


def test_summaries_by_coach_and_by_metric(db, center):
    coached(db, center.alex, center.calvin, day=MAY[15])  # gain 60, impact 50
    coached(db, center.sam, center.priya, "adherence", day=MAY[15])  # gain 5, no control
    coached(db, center.maria, center.priya, "adherence", day=MAY[15])  # gain −2, control alex +1
    coached(db, center.alex, center.calvin, "adherence", day=JUNE[25])  # no data
    observe(db, center.alex, "handle-time", ("2026-05-10", 400), ("2026-05-20", 340))
    observe(db, center.maria, "handle-time", ("2026-05-10", 380), ("2026-05-20", 370))
    observe(db, center.sam, "adherence", ("2026-05-10", 80), ("2026-05-20", 85))
    observe(db, center.maria, "adherence", ("2026-05-10", 90), ("2026-05-20", 88))
    observe(db, center.alex, "adherence", ("2026-05-10", 70), ("2026-05-20", 71))
    by_coach = report(db, center.dana, by="coach")
    assert [as_dict(row) for row in by_coach] == [
        {
            "coach": "calvin",
            "sessions": 2,
            "measured": 1,
            "improved": 1,
            "mean_gain": 60.0,
            "mean_impact": 50.0,
            "ci_low": None,
            "ci_high": None,
        },
        {
            "coach": "priya",
            "sessions": 2,
            "measured": 2,
            "improved": 1,
            "mean_gain": 1.5,
            "mean_impact": -3.0,
            "ci_low": None,
            "ci_high": None,
        },
    ]
    assert [as_dict(row) for row in report(db, center.dana, by="metric")] == [
        {
            "metric": "adherence",
            "sessions": 3,
            "measured": 2,
            "improved": 1,
            "mean_gain": 1.5,
            "mean_impact": -3.0,
            "ci_low": None,
            "ci_high": None,
        },
        {
            "metric": "handle-time",
            "sessions": 1,
            "measured": 1,
            "improved": 1,
            "mean_gain": 60.0,
            "mean_impact": 50.0,
            "ci_low": None,
            "ci_high": None,
        },
    ]
    assert report(db, center.dana, by="metric", metric="Adherence")[0].sessions == 3
    assert [row.coach for row in report(db, center.dana, coach="PRIYA")] == ["priya", "priya"]
    assert [row.agent for row in report(db, center.dana, team="Chat")] == ["sam"]
    assert [row.date for row in report(db, center.dana, start=MAY[16])] == [JUNE[25]]
    assert [row.date for row in report(db, center.dana, start=MAY[15], end=MAY[15])] == [MAY[15]] * 3
    assert report(db, center.dana, end=MAY[14]) == []


def test_only_sessions_that_are_coached_and_carry_a_metric_count(db, center):
    draft = coached(db, center.alex, center.calvin, day=MAY[15])
    db.add(
        CoachingSession(
            title="Open",
            agent_id=center.alex.id,
            coach_id=center.calvin.id,
            state="scheduled",
            kpi="handle-time",
            date=MAY[15],
        )
    )
    db.add(
        CoachingSession(
            title="No KPI",
            agent_id=center.alex.id,
            coach_id=center.calvin.id,
            state="coached",
            date=MAY[15],
            coached_at=dt.datetime(2026, 5, 15, tzinfo=dt.UTC),
        )
    )
    db.flush()
    assert [row.session_id for row in report(db, center.dana)] == [draft.id]


def test_a_coach_sees_the_sessions_of_their_agents_only(db, center, worked_example):
    other = coached(db, center.sam, center.calvin, day=MAY[15])  # calvin coached sam, of priya's team
    assert [row.session_id for row in report(db, center.calvin)] == [worked_example.id]
    assert [row.session_id for row in report(db, center.priya)] == [other.id]
    assert {row.session_id for row in report(db, center.dana)} == {worked_example.id, other.id}
    with pytest.raises(CoachError) as refused:
        report(db, center.alex)
    assert refused.value.exit_code == ExitCode.PERMISSION


@pytest.mark.parametrize(
    ("options", "code", "says"),
    [
        ({"metric": "speed"}, ExitCode.BAD_INPUT, "unknown metric"),
        ({"coach": "nobody"}, ExitCode.NOT_FOUND, "no user 'nobody'"),
        ({"coach": "alex"}, ExitCode.BAD_INPUT, "not a coach"),
        ({"team": "Outbound"}, ExitCode.NOT_FOUND, "no team 'Outbound'"),
        ({"start": MAY[20], "end": MAY[10]}, ExitCode.BAD_INPUT, "is after --to"),
    ],
)
def test_bad_inputs_are_refused(db, center, options, code, says):
    with pytest.raises(CoachError) as refused:
        report(db, center.dana, **options)
    assert refused.value.exit_code == code and says in refused.value.message


def test_the_report_is_one_statement_whatever_the_number_of_sessions(db, center, engine):
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_rest):
        statements.append(statement)

    def statements_for(sessions: int, first: dt.date) -> int:
        for n in range(sessions):
            day = first + dt.timedelta(days=3 * n)
            agent = center.alex if n % 2 else center.maria
            coached(db, agent, center.calvin, day=day)
            observe(
                db,
                agent,
                "handle-time",
                ((day - dt.timedelta(days=1)).isoformat(), 400),
                ((day + dt.timedelta(days=1)).isoformat(), 300),
            )
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            rows = report(db, center.dana, metric="handle-time", coach="calvin", team="Inbound", by="coach")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert rows[0].sessions >= sessions
        return len(statements)

    assert statements_for(2, dt.date(2025, 1, 1)) == statements_for(40, dt.date(2026, 1, 1))


def test_the_statement_compiles_for_postgresql_and_sqlite(center):
    filters = reports._SessionFilters(metric="handle-time", coach_id=2, team_id=1, start="2026-05-01", end="2026-05-31")
    statement = reports._impact_statement(center.calvin, filters, 14, "Europe/Berlin")
    on_postgresql = str(statement.compile(dialect=postgresql.dialect()))
    assert "AT TIME ZONE" in on_postgresql and "CAST(coached_sessions.day AS DATE) + CAST(" in on_postgresql
    assert "coach_local_date" not in on_postgresql and "date(" not in on_postgresql.replace("_date(", "")
    on_sqlite = str(statement.compile(dialect=sqlite.dialect()))
    assert "coach_local_date(" in on_sqlite and "' days')" in on_sqlite


# --- the command ------------------------------------------------------------


@pytest.fixture
def example_cli(cli, engine):
    from coachcli.db import transaction
    from coachcli.db.models import User

    with transaction(engine, write=True) as session:
        by_handle = {user.handle: user for user in session.exec(select(User)).scalars()}
        coached(session, by_handle["alex"], by_handle["calvin"], day=MAY[15])
        observe_days(session, by_handle["alex"], "handle-time", MAY[1], MAY[14], 400)
        observe_days(session, by_handle["alex"], "handle-time", MAY[16], MAY[29], 340)
        observe_days(session, by_handle["maria"], "handle-time", MAY[1], MAY[14], 380)
        observe_days(session, by_handle["maria"], "handle-time", MAY[16], MAY[29], 370)
    return cli


def test_report_impact_json(example_cli):
    (row,) = example_cli.json("report", "impact", "--window", "14", user="calvin")
    assert (row["date"], row["before"], row["after"], row["gain"], row["control_gain"], row["impact"]) == (
        "2026-05-15",
        400,
        340,
        60,
        10,
        50,
    )
    assert list(row) == [
        "session_id",
        "agent",
        "coach",
        "metric",
        "date",
        "before",
        "before_samples",
        "after",
        "after_samples",
        "gain",
        "control_gain",
        "control_agents",
        "impact",
        "improved",
    ]
    (summary,) = example_cli.json("report", "impact", "--by", "metric", user="calvin")
    assert summary == {
        "metric": "handle-time",
        "sessions": 1,
        "measured": 1,
        "improved": 1,
        "mean_gain": 60,
        "mean_impact": 50,
        "ci_low": None,
        "ci_high": None,
    }


def test_report_impact_tsv_when_piped(example_cli):
    result = example_cli("report", "impact", "--by", "coach", user="dana")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "coach\tsessions\tmeasured\timproved\tmean_gain\tmean_impact\tci_low\tci_high",
        "calvin\t1\t1\t1\t60\t50\t\t",
    ]


@pytest.mark.parametrize(
    ("arguments", "code", "says"),
    [
        # The ranges and choices are Typer's to check (their wording is Click's).
        (["--window", "0"], 2, ["Invalid value for '--window'", "1"]),
        (["--window", "-1"], 2, ["Invalid value for '--window'"]),
        (["--window", "366"], 2, ["Invalid value for '--window'", "365"]),
        (["--window", "two"], 2, ["Invalid value for '--window'"]),
        (["--window", "1.5"], 2, ["Invalid value for '--window'"]),
        (["--metric", "speed"], 2, ["unknown metric"]),
        (["--coach", "nobody"], 3, ["no user 'nobody'"]),
        (["--coach", "alex"], 2, ["not a coach"]),
        (["--team", "Nowhere"], 3, ["no team 'Nowhere'"]),
        (["--from", "2026-05-20", "--to", "2026-05-10"], 2, ["is after --to"]),
        (["--from", "someday"], 2, []),
        (["--by", "agent"], 2, ["Invalid value for '--by'", "'agent'", "'session', 'coach', 'metric'"]),
    ],
)
def test_report_impact_refuses_bad_options_in_one_line(example_cli, arguments, code, says):
    result = example_cli("report", "impact", *arguments, user="dana")
    assert result.exit_code == code
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("coach: ")
    assert all(words in result.stderr for words in says), result.stderr


def test_report_impact_table_shows_a_chart_beside_the_summary(example_cli, monkeypatch):
    from coachcli.cli import charts

    monkeypatch.setenv("COLUMNS", "200")

    result = example_cli("report", "impact", "--by", "coach", "-o", "table", user="dana")
    assert result.exit_code == 0, result.stderr
    assert "Mean gain" in result.stdout and "calvin" in result.stdout
    assert charts.BAR in result.stdout
    sessions = example_cli("report", "impact", "-o", "table", user="dana")
    assert sessions.exit_code == 0 and "400 s (6:40)" in sessions.stdout and "alex" in sessions.stdout


def test_report_impact_after_scheduling_coaching_and_importing_kpis(cli):
    """The whole flow through the commands: schedule with a KPI, coach, import, report."""
    session_id = cli(
        "session",
        "schedule",
        "--title",
        "Shorter calls",
        "--agent",
        "alex",
        "--date",
        "2026-05-15",
        "--start",
        "09:00",
        "--kpi",
        "Handle Time",
        "-q",
        user="calvin",
    ).stdout.strip()
    done = cli(
        "session",
        "coach",
        session_id,
        "--form",
        "Call quality",
        *[f"--set={key}={value}" for key, value in COMPLETE_ANSWERS.items()],
        user="calvin",
    )
    assert done.exit_code == 0, done.stderr
    lines = ["agent,metric,observed_at,value"]
    for day in range(1, 15):
        lines += [
            f"alex,handle-time,2026-05-{day:02d},400",
            f"maria,handle-time,2026-05-{day:02d}T10:00:00,380",
            f"sam,handle-time,2026-05-{day:02d},900",
        ]
    for day in range(16, 30):
        lines += [
            f"alex,handle-time,2026-05-{day:02d},340",
            f"maria,handle-time,2026-05-{day:02d}T10:00:00,370",
            f"sam,handle-time,2026-05-{day:02d},100",
        ]
    lines += ["alex,handle-time,2026-05-15,1", "alex,handle-time,2026-05-30,1", "maria,handle-time,2026-04-30,1"]
    imported = cli("kpi", "import", "-", input="\n".join(lines) + "\n")
    assert imported.exit_code == 0, imported.stderr
    (row,) = cli.json("report", "impact", "--metric", "handle-time", user="calvin")
    assert (row["session_id"], row["gain"], row["control_gain"], row["control_agents"], row["impact"]) == (
        int(session_id),
        60,
        10,
        1,
        50,
    )
    assert cli.json("report", "impact", user="priya") == []  # alex is not in priya's team


def test_chart_bars_grow_left_when_worse_and_right_when_better():
    from coachcli.cli.charts import AXIS, BAR, diverging_bar

    assert diverging_bar(60, 60, 4) == "    " + AXIS + BAR * 4
    assert diverging_bar(-30, 60, 4) == "  " + BAR * 2 + AXIS + "    "
    assert diverging_bar(0.01, 60, 4) == "    " + AXIS + BAR + "   "  # small but not zero: still seen
    assert diverging_bar(None, 60, 4) == diverging_bar(0, 60, 4) == "    " + AXIS + "    "
