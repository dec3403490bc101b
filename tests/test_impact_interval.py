"""How sure is the impact (§16): `report impact --by coach|metric` gains the
95% confidence interval of the mean impact, drawn around each bar."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from test_reports import coached, observe, report

from coachcli.db.models import User

# Alex coached on handle time three times, window 1: gains 10, 20, 30 s;
# Maria, the control, stays at 100 s (gain 0): impacts 10, 20, 30.
SESSIONS = {"2026-05-05": 90, "2026-05-15": 80, "2026-05-25": 70}


def three_sessions(db, alex, maria, calvin) -> None:
    for day, after in SESSIONS.items():
        coached(db, alex, calvin, day=dt.date.fromisoformat(day))
        year, month, date = day.split("-")
        before_day, after_day = f"{year}-{month}-{int(date) - 1:02d}", f"{year}-{month}-{int(date) + 1:02d}"
        observe(db, alex, "handle-time", (before_day, 100), (after_day, after))
        observe(db, maria, "handle-time", (before_day, 100), (after_day, 100))


def test_the_interval_of_three_impacts_by_hand(db, center):
    three_sessions(db, center.alex, center.maria, center.calvin)
    # One more coach with one measured session: no interval below two.
    coached(db, center.sam, center.priya, "adherence", day=dt.date(2026, 5, 10))
    (calvin,) = report(db, center.dana, by="coach", window=1, coach="calvin")
    # Mean 20; s = 10; se = 10/√3 = 5.7735; t(0.975, 2) = 4.3027 → ±24.84.
    assert (calvin.measured, calvin.mean_impact, calvin.ci_low, calvin.ci_high) == (3, 20.0, -4.84, 44.84)
    by_metric = {row.metric: row for row in report(db, center.dana, by="metric", window=1)}
    assert (by_metric["handle-time"].ci_low, by_metric["handle-time"].ci_high) == (-4.84, 44.84)
    assert (by_metric["adherence"].ci_low, by_metric["adherence"].ci_high) == (None, None)


def test_sessions_without_a_control_count_in_no_interval(db, center):
    three_sessions(db, center.alex, center.maria, center.calvin)
    # Maria's data gone from the first session's windows: that impact is null.
    db.execute(
        text("DELETE FROM kpi_observations WHERE agent_id = :maria AND observed_at < '2026-05-10'"),
        {"maria": center.maria.id},
    )
    (calvin,) = report(db, center.dana, by="coach", window=1)
    # Impacts 20 and 30: mean 25, s = 7.071, se = 5; t(0.975, 1) = 12.706 → ±63.53.
    assert (calvin.measured, calvin.mean_impact, calvin.ci_low, calvin.ci_high) == (3, 25.0, -38.53, 88.53)


def test_the_interval_is_drawn_around_the_impact_bar_at_a_terminal(cli, engine, monkeypatch):
    from coachcli.cli import charts
    from coachcli.db import transaction

    monkeypatch.setenv("COLUMNS", "220")
    with transaction(engine, write=True) as session:
        people = {user.handle: user for user in session.execute(select(User)).scalars()}
        three_sessions(session, people["alex"], people["maria"], people["calvin"])
    shown = cli("report", "impact", "--by", "coach", "--window", "1", "-o", "table", user="dana")
    assert shown.exit_code == 0, shown.stderr
    assert "+20 (95% CI -4.84 to +44.84)" in shown.stdout
    assert "-4.84 to +44.84" in shown.stdout  # the table's own column
    bar = next(line for line in shown.stdout.splitlines() if "95% CI -4.84" in line)
    assert charts.INTERVAL_START in bar and charts.INTERVAL_END in bar and charts.BAR in bar
    rows = cli.json("report", "impact", "--by", "coach", "--window", "1", user="dana")
    assert [(row["ci_low"], row["ci_high"]) for row in rows] == [(-4.84, 44.84)]


@pytest.mark.parametrize(
    ("value", "interval", "expected"),
    [
        # Scale 40 over 4 cells a side, the axis the middle one: 20 is 2 cells;
        # -4.84 rounds to the axis, 44.84 to the last cell.
        (20, (-4.84, 44.84), "    [██─]"),
        (20, (10, 30), "    │[█] "),
        (-20, (-30, -10), " [█]│    "),
        (None, (-10, 10), "   [│]   "),
    ],
)
def test_the_whiskers_on_one_bar(value, interval, expected):
    from coachcli.cli.charts import diverging_bar

    assert diverging_bar(value, 40, 4, interval) == expected
