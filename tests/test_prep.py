"""The 1:1 sheet (§16): `coach prep AGENT` — each figure checked by hand."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import COMPLETE_ANSWERS
from sqlmodel import select

from coachcli.db.models import CoachingSession, KpiObservation
from coachcli.errors import CoachError, ExitCode
from coachcli.records import as_dict
from coachcli.services import actions, coaching, paths, prep, scheduling

AS_OF = dt.date(2026, 6, 15)  # with 7 days: recent June 8–14, previous June 1–7


def june(day: int) -> str:
    return dt.date(2026, 6, day).isoformat()


def observe(db, agent, metric: str, *observations: tuple[str, float]) -> None:
    db.add_all(
        KpiObservation(agent_id=agent.id, metric=metric, observed_at=at, value=value) for at, value in observations
    )
    db.flush()


@pytest.fixture
def alex_world(db, center):
    """Alex's handle time: 400, 420 (June 2, 5) → 450, 470, 460 (June 9, 10,
    14T18:00); adherence 80 (June 3) → 90, 86 (June 8, 12). Noise on June
    15th (the as-of day), on May 31st (before both windows) and for maria."""
    observe(db, center.alex, "handle-time", (june(2), 400), (june(5), 420))
    observe(db, center.alex, "handle-time", (june(9), 450), (june(10), 470), ("2026-06-14T18:00:00", 460))
    observe(db, center.alex, "adherence", (june(3), 80), (june(8), 90), (june(12), 86))
    observe(db, center.alex, "handle-time", (june(15), 9999), ("2026-05-31T23:59:59", 9999))
    observe(db, center.maria, "handle-time", (june(9), 1))
    path = paths.add_path(db, center.calvin, "Handle time", ["alex"])[0]
    # A goal due in 2 days, missing its target so far: at risk.
    soon = schedule(db, center, "Under 7 min", "2026-06-01", kpi="handle-time", target="420", due="2026-06-17")
    # A goal due in July, meeting its target so far: not at risk.
    later = schedule(db, center, "Adherence 85", "2026-06-01", kpi="adherence", target="85", due="2026-07-30")
    # The last coached session, not acknowledged, with an open action item.
    coached = schedule(db, center, "June review", "2026-06-05")
    coaching.save_session(
        db, center.calvin, coached.id, dict(COMPLETE_ANSWERS), form_name=center.form.name, coached=True
    )
    item = actions.add_action(db, center.calvin, coached.id, "Use the hold script", due="2026-06-20", today=AS_OF)
    done = actions.add_action(db, center.calvin, coached.id, "Read the FAQ", today=AS_OF)
    actions.complete_action(db, center.alex, done.id)
    # An older coached session, acknowledged.
    older = schedule(db, center, "May review", "2026-05-20")
    coaching.save_session(db, center.calvin, older.id, dict(COMPLETE_ANSWERS), form_name=center.form.name, coached=True)
    coaching.acknowledge_session(db, center.alex, older.id)
    db.get(CoachingSession, older.id)
    request = scheduling.request_session(db, center.alex, title="Help with holds", kpi="hold-time")
    del path
    return {"soon": soon, "later": later, "coached": coached, "item": item, "older": older, "request": request}


def schedule(db, center, title, date, *, kpi=None, target=None, due=None):
    options = {"path": "Handle time", "kpi": kpi, "target": target, "target_date": due} if kpi else {}
    request = scheduling.ScheduleRequest.typed(title=title, agent="alex", date=date, start="09:00", **options)
    return scheduling.schedule_session(db, center.calvin, request, today=AS_OF)


def test_the_sheet_figures_by_hand(db, center, alex_world):
    sheet = as_dict(prep.prep(db, center.calvin, "alex", as_of=AS_OF, days=7))
    assert (sheet["agent"], sheet["as_of"], sheet["days"]) == ("alex", AS_OF, 7)
    handle, adherence = sheet["metrics"]
    # Handle time: previous (400 + 420) / 2 = 410; recent (450 + 470 + 460) / 3
    # = 460; lower is better, so the change is 410 − 460 = −50.
    assert {key: handle[key] for key in handle if key != "daily"} == {
        "metric": "handle-time",
        "recent": 460.0,
        "recent_samples": 3,
        "previous": 410.0,
        "previous_samples": 2,
        "change": -50.0,
    }
    # Adherence: 80 → (90 + 86) / 2 = 88; higher is better: +8.
    assert (adherence["metric"], adherence["previous"], adherence["recent"], adherence["change"]) == (
        "adherence",
        80.0,
        88.0,
        8.0,
    )
    # One figure a day over both windows (June 1–14), None without data.
    assert handle["daily"] == [None, 400.0, None, None, 420.0, None, None, None, 450.0, 470.0, None, None, None, 460.0]
    goals = {goal["name"]: goal for goal in sheet["goals"]}
    # Under 7 min: June 1–15 so far, (400 + 420 + 450 + 470 + 460 + 9999) / 6 = 2033.17 > 420.
    assert (goals["Under 7 min"]["running_score"], goals["Under 7 min"]["running_samples"]) == (2033.17, 6)
    assert (goals["Under 7 min"]["meets_target"], goals["Under 7 min"]["at_risk"]) == (False, True)
    # Adherence 85: (80 + 90 + 86) / 3 = 85.33 ≥ 85, and due in July.
    assert (goals["Adherence 85"]["running_score"], goals["Adherence 85"]["meets_target"]) == (85.33, True)
    assert goals["Adherence 85"]["at_risk"] is False
    assert goals["Under 7 min"]["id"] == alex_world["soon"].id and "state" in goals["Under 7 min"]
    assert [item["id"] for item in sheet["actions"]] == [alex_world["item"].id]
    assert sheet["last_session"]["id"] == alex_world["coached"].id
    assert sheet["unacknowledged"] == [alex_world["coached"].id]
    assert [request["id"] for request in sheet["requests"]] == [alex_world["request"].id]
    assert sheet["requests"][0]["state"] == "requested" and sheet["requests"][0]["rule"] is None


def test_an_agent_without_anything_gets_an_empty_sheet(db, center):
    sheet = as_dict(prep.prep(db, center.calvin, "maria", as_of=AS_OF))
    assert sheet == {
        "agent": "maria",
        "as_of": AS_OF,
        "days": 14,
        "metrics": [],
        "goals": [],
        "actions": [],
        "last_session": None,
        "unacknowledged": [],
        "requests": [],
    }


@pytest.mark.parametrize(
    ("who", "agent", "days", "code"),
    [
        ("priya", "alex", 14, ExitCode.PERMISSION),  # alex is not in priya's team
        ("alex", "alex", 14, ExitCode.PERMISSION),  # agents do not prep
        ("calvin", "nobody", 14, ExitCode.NOT_FOUND),
        ("calvin", "priya", 14, ExitCode.BAD_INPUT),  # a coach is not coached
        ("calvin", "alex", 0, ExitCode.BAD_INPUT),
        ("calvin", "alex", 366, ExitCode.BAD_INPUT),
    ],
)
def test_who_may_prep_whom(db, center, who, agent, days, code):
    with pytest.raises(CoachError) as refused:
        prep.prep(db, getattr(center, who), agent, as_of=AS_OF, days=days)
    assert refused.value.exit_code == code


def test_prep_json_keys_through_the_command(cli):
    lines = ["agent,metric,observed_at,value", f"alex,handle-time,{june(2)},400", f"alex,handle-time,{june(10)},460"]
    assert cli("kpi", "import", "-", input="\n".join(lines) + "\n").exit_code == 0
    sheet = cli.json("prep", "alex", "--days", "7", "--as-of", "2026-06-15", user="calvin")
    assert list(sheet) == [
        "agent",
        "as_of",
        "days",
        "metrics",
        "goals",
        "actions",
        "last_session",
        "unacknowledged",
        "requests",
    ]
    (metric,) = sheet["metrics"]
    assert (metric["previous"], metric["recent"], metric["change"]) == (400, 460, -60)
    assert [key for key in metric if key != "daily"] == [
        "metric",
        "recent",
        "recent_samples",
        "previous",
        "previous_samples",
        "change",
    ]
    admin = cli.json("prep", "ALEX", "--as-of", "2026-06-15", user="dana")
    assert admin["days"] == 14 and admin["metrics"][0]["previous"] is None  # June 1–14 is all recent
    assert admin["metrics"][0]["recent_samples"] == 2 and admin["metrics"][0]["change"] is None


def test_prep_outside_the_scope_is_exit_5_in_one_line(cli):
    result = cli("prep", "alex", user="priya")
    assert result.exit_code == ExitCode.PERMISSION
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1


def test_prep_at_a_terminal_is_a_page_with_a_trend_line(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    lines = ["agent,metric,observed_at,value"]
    lines += [f"alex,handle-time,{june(day)},{300 + 10 * day}" for day in range(1, 15)]
    assert cli("kpi", "import", "-", input="\n".join(lines) + "\n").exit_code == 0
    assert cli("session", "request", "--title", "Help please", user="alex").exit_code == 0
    shown = cli("prep", "alex", "--days", "7", "--as-of", "2026-06-15", "-o", "table", user="calvin")
    assert shown.exit_code == 0, shown.stderr
    # Rising handle time (310 s … 440 s), a block a day: the previous week, then the recent one.
    assert "▁▂▂▃▃▄▄│▅▅▆▆▇▇█" in shown.stdout
    assert "Handle Time" in shown.stdout and "-70 s" in shown.stdout and "lower is better" in shown.stdout
    assert "Help please" in shown.stdout and "Open action items: none" in shown.stdout
    assert json.loads(cli("prep", "alex", "-o", "json", user="calvin").stdout)["agent"] == "alex"


def test_the_example_request_of_a_rule_shows_on_the_sheet(db, center):
    import tomllib

    from coachcli.rules import parse_rules
    from coachcli.services import rules

    observe(db, center.alex, "handle-time", *((june(day), 500) for day in range(8, 15)))
    loaded = parse_rules(
        tomllib.loads('[[rule]]\nname = "Slow"\nmetric = "aht"\nthreshold = 420\nwindow = 7\n'), "r.toml", AS_OF
    )
    rules.run_rules(db, loaded, {}, AS_OF, write=True)
    (request,) = prep.prep(db, center.calvin, "alex", as_of=AS_OF).requests
    assert (request.rule, request.kpi, request.state) == ("Slow", "handle-time", "requested")
    assert db.exec(select(CoachingSession)).one().id == request.id
