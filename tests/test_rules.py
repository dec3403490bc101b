"""Rules as code (§16): a rules file, `rules check` and `rules run` — coaching
requests that start themselves from the KPI data."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import tomllib

import pytest
from conftest import COMPLETE_ANSWERS
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from test_reliability import COACH, _env

from coachcli.db.models import AuditEntry, CoachingSession, KpiObservation, MiniGoal, Notification, RuleFiring
from coachcli.errors import ExitCode
from coachcli.records import as_dict
from coachcli.rules import parse_rules
from coachcli.services import coaching, erasure, paths, rules, scheduling, sessions, users

# As of June 15th, a 7-day window is June 8–14.
AS_OF = dt.date(2026, 6, 15)
WINDOW = [dt.date(2026, 6, day) for day in range(8, 15)]


def observe(db, agent, metric: str, value: float, days=WINDOW) -> None:
    """One observation a day, each of the days, all of the same value."""
    db.add_all(
        KpiObservation(agent_id=agent.id, metric=metric, observed_at=day.isoformat(), value=value) for day in days
    )
    db.flush()


def parsed(text: str, today: dt.date = AS_OF):
    return parse_rules(tomllib.loads(text), "rules.toml", today)


def run(db, text: str, as_of: dt.date = AS_OF, *, write: bool = True) -> dict:
    """The run's keys and values, as `rules run -o json` prints them."""
    loaded = parsed(text, as_of)
    return as_dict(rules.run_rules(db, loaded, rules.check_rules(db, loaded, "rules.toml"), as_of, write=write))


def fired(result: dict) -> list[tuple[str, str, float]]:
    return [(firing["rule"], firing["agent"], firing["value"]) for firing in result["fired"]]


def rule(condition: str, metric: str = "handle-time", **extra: object) -> str:
    """A one-rule file over the 7-day window."""
    lines = ["[[rule]]", 'name = "Check"', f'metric = "{metric}"', condition, "window = 7"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def team_of_five(db, center, metric: str, values: list[float]) -> list:
    """Inbound with five agents with data: alex, maria and three more, their
    averages in this order; Sam, of Chat, would be the worst of all."""
    extra = [users.add_user(db, center.dana, f"agent{n}", f"Agent {n}", "agent", ["Inbound"]) for n in range(3)]
    team = [center.alex, center.maria, *extra]
    for agent, value in zip(team, values, strict=True):
        observe(db, agent, metric, value)
    observe(db, center.sam, metric, 10_000 if metric == "handle-time" else 1)
    return team


# --- the three conditions, worse by the metric's direction ------------------


def test_threshold_fires_above_it_for_a_lower_is_better_metric(db, center):
    observe(db, center.alex, "handle-time", 450)  # worse than 420
    observe(db, center.maria, "handle-time", 420)  # exactly the threshold: not worse
    observe(db, center.sam, "handle-time", 300)
    assert fired(run(db, rule("threshold = 420"))) == [("Check", "alex", 450.0)]


def test_threshold_fires_below_it_for_a_higher_is_better_metric(db, center):
    observe(db, center.alex, "adherence", 85)  # worse than 90
    observe(db, center.maria, "adherence", 95)
    observe(db, center.sam, "adherence", 90)
    assert fired(run(db, rule("threshold = 90", "adherence"))) == [("Check", "alex", 85.0)]


def test_threshold_takes_a_clock_time_and_averages_the_window_only(db, center):
    observe(db, center.alex, "handle-time", 400, WINDOW[:4])
    observe(db, center.alex, "handle-time", 460, WINDOW[4:])  # 4 × 400 + 3 × 460 → 425.71
    # As-of day itself and the day before the window count nowhere.
    observe(db, center.alex, "handle-time", 9999, [AS_OF, dt.date(2026, 6, 7)])
    db.add(KpiObservation(agent_id=center.alex.id, metric="handle-time", observed_at="2026-06-14T23:59:59", value=400))
    db.flush()
    (firing,) = run(db, rule('threshold = "7:00"'))["fired"]  # 420 s
    assert (firing["agent"], firing["value"], firing["samples"]) == ("alex", 422.5, 8)


def test_min_samples_leaves_out_an_agent_with_too_little_data(db, center):
    observe(db, center.alex, "handle-time", 500, WINDOW[:4])
    observe(db, center.maria, "handle-time", 500, WINDOW[:5])
    assert fired(run(db, rule("threshold = 420", min_samples=5))) == [("Check", "maria", 500.0)]


@pytest.mark.parametrize(
    ("metric", "values", "percentile", "expected"),
    [
        # Handle time, lower is better: 500 is the worst of five, 360 the next.
        ("handle-time", [300, 320, 340, 360, 500], 20, ["agent2"]),
        ("handle-time", [300, 320, 340, 360, 500], 40, ["agent1", "agent2"]),
        ("handle-time", [300, 320, 340, 360, 500], 19, []),  # 19% of five is less than one agent
        # Adherence, higher is better: 80 is the worst.
        ("adherence", [80, 85, 90, 95, 99], 20, ["alex"]),
        # Two tied for the worst share the worse place.
        ("adherence", [80, 80, 90, 95, 99], 20, ["alex", "maria"]),
    ],
)
def test_below_percentile_is_the_worst_of_the_agents_team_mates(db, center, metric, values, percentile, expected):
    team_of_five(db, center, metric, values)
    result = run(db, rule(f"below_percentile = {percentile}", metric))
    assert [firing["agent"] for firing in result["fired"]] == expected


def test_below_percentile_compares_only_team_mates_with_enough_data(db, center):
    # Alone in Chat, Sam is not the worst 50% of one; maria's thin data leaves
    # alex alone in Inbound too.
    observe(db, center.sam, "handle-time", 900)
    observe(db, center.alex, "handle-time", 300)
    observe(db, center.maria, "handle-time", 900, WINDOW[:2])
    assert run(db, rule("below_percentile = 50", min_samples=3))["fired"] == []
    # An agent in two teams is compared with both, each team-mate once.
    noor = users.add_user(db, center.dana, "noor", "Noor Haddad", "agent", ["Inbound", "Chat"])
    observe(db, noor, "handle-time", 600)
    # Noor (600) among alex (300), sam (900) and herself: second worst of three;
    # Sam (900) among noor and himself: the worst of two.
    assert [firing["agent"] for firing in run(db, rule("below_percentile = 50", min_samples=3))["fired"]] == ["sam"]


@pytest.mark.parametrize(
    ("metric", "values", "deviations", "expected"),
    [
        # Mean 340, population standard deviation 80: 500 is 2 deviations worse.
        ("handle-time", [300, 300, 300, 300, 500], 1.5, ["agent2"]),
        ("handle-time", [300, 300, 300, 300, 500], 2.5, []),
        # 100 is 2 deviations *better*: never a firing.
        ("handle-time", [400, 400, 400, 400, 240], 1.5, []),
        # Adherence, mean 82, deviation 16: 50 is 2 deviations worse.
        ("adherence", [90, 90, 90, 90, 50], 1.5, ["agent2"]),
        ("adherence", [90, 90, 90, 90, 90], 0.5, []),  # no spread, nobody worse
    ],
)
def test_deviations_worse_than_the_team_mean(db, center, metric, values, deviations, expected):
    team_of_five(db, center, metric, values)
    result = run(db, rule(f"deviations = {deviations}", metric))
    assert [firing["agent"] for firing in result["fired"]] == expected


# --- what a firing makes ----------------------------------------------------


PROPOSING = """
[[rule]]
name = "Long handle time"
metric = "AHT"
threshold = 420
window = 7
title = "Handle time above 7 min"
path = "Handle time"
target = "6:40"
due = "+30d"
"""


@pytest.fixture
def path(db, center):
    return paths.add_path(db, center.calvin, "Handle time", ["alex"])[0]


def test_a_firing_is_a_coaching_request_with_its_proposed_goal(db, center, path):
    observe(db, center.alex, "handle-time", 450)
    result = run(db, PROPOSING)
    (firing,) = result["fired"]
    assert firing == {
        "rule": "Long handle time",
        "agent": "alex",
        "metric": "handle-time",
        "value": 450.0,
        "samples": 7,
        "session_id": firing["session_id"],
    }
    assert result["as_of"] == AS_OF and result["held"] == 0
    request = db.get(CoachingSession, firing["session_id"])
    assert (request.state, request.requested_by_id, request.coach_id, request.kpi) == (
        "requested",
        None,
        None,
        "handle-time",
    )
    assert (request.title, request.path_id, request.target, request.target_date) == (
        "Handle time above 7 min",
        path.id,
        400.0,
        dt.date(2026, 7, 15),
    )
    assert "averaged 450 s (7:30) from 2026-06-08 to 2026-06-14 (7 observations)" in request.notes
    (listed,) = sessions.list_sessions(db, center.calvin, tab="requested")
    assert (listed.id, listed.rule, listed.path, listed.target) == (
        request.id,
        "Long handle time",
        "Handle time",
        400.0,
    )
    assert list(sessions.list_sessions(db, center.priya, tab="requested")) == []
    # The coach of alex's team is told, as for any request.
    (note,) = db.exec(select(Notification).where(Notification.kind == "session.requested")).all()
    assert note.user_id == center.calvin.id and note.record_id == request.id
    assert "Rule “Long handle time” requested coaching for Alex Moreno (alex)" in note.message
    assert f"--from-request {request.id}" in note.message
    # The firing is kept and audited.
    (kept,) = db.exec(select(RuleFiring)).all()
    assert (kept.rule, kept.agent_id, kept.metric, kept.as_of, kept.value, kept.samples, kept.session_id) == (
        "Long handle time",
        center.alex.id,
        "handle-time",
        AS_OF,
        450.0,
        7,
        request.id,
    )
    (entry,) = db.exec(select(AuditEntry).where(AuditEntry.action == "rule.fire")).all()
    assert (entry.actor_id, entry.record_type, entry.record_id) == (None, "session", request.id)
    assert entry.details == {"agent_user_id": center.alex.id, "metric": "handle-time", "as_of": "2026-06-15"}


def test_scheduling_from_the_request_keeps_the_proposed_goal(db, center, path):
    observe(db, center.alex, "handle-time", 450)
    (firing,) = run(db, PROPOSING)["fired"]
    session = scheduling.schedule_session(
        db,
        center.calvin,
        scheduling.ScheduleRequest.typed(date="2026-06-17", start="10:00", from_request=firing["session_id"]),
        today=AS_OF,
    )
    goal = db.exec(select(MiniGoal).where(MiniGoal.session_id == session.id)).one()
    assert (goal.name, goal.metric, goal.target, goal.start_date, goal.due_date) == (
        "Handle time above 7 min",
        "handle-time",
        400.0,
        dt.date(2026, 6, 17),
        dt.date(2026, 7, 15),
    )
    assert sessions.session_record(db, center.calvin, session.id).rule == "Long handle time"
    # A coach who gives another metric gets no proposed target for it.
    observe(db, center.maria, "handle-time", 450)
    paths.add_path(db, center.calvin, "Handle time", ["maria"])
    later = run(db, PROPOSING, AS_OF + dt.timedelta(days=1))["fired"]
    other = scheduling.schedule_session(
        db,
        center.calvin,
        scheduling.ScheduleRequest.typed(
            date="2026-06-17", start="11:00", kpi="talk-time", from_request=later[0]["session_id"]
        ),
        today=AS_OF,
    )
    assert (other.kpi, other.target, other.target_date) == ("talk-time", None, None)


def test_a_path_not_assigned_to_the_agent_is_not_proposed(db, center, path):
    observe(db, center.maria, "handle-time", 450)
    (firing,) = run(db, PROPOSING)["fired"]
    request = db.get(CoachingSession, firing["session_id"])
    assert (request.agent_id, request.path_id, request.target) == (center.maria.id, None, 400.0)


def test_a_dry_run_writes_nothing_and_says_what_would_fire(db, center, path):
    observe(db, center.alex, "handle-time", 450)
    result = run(db, PROPOSING, write=False)
    assert fired(result) == [("Long handle time", "alex", 450.0)]
    assert result["fired"][0]["session_id"] is None
    for table in (CoachingSession, RuleFiring, Notification):
        assert db.exec(select(table)).all() == []


# --- once a run, while open, cooldown -----------------------------------------


TWO_RULES = """
[[rule]]
name = "Slow"
metric = "handle-time"
threshold = 420
window = 7
priority = 5
cooldown = 0

[[rule]]
name = "Slowest of the team"
metric = "handle-time"
below_percentile = 50
window = 7
priority = 1
cooldown = 0
"""


def test_an_agent_gets_one_request_a_run_from_the_first_rule_by_priority(db, center):
    observe(db, center.alex, "handle-time", 500)
    observe(db, center.maria, "handle-time", 450)
    result = run(db, TWO_RULES)
    # Both rules match alex; "Slowest of the team" comes first (priority 1).
    assert fired(result) == [("Slowest of the team", "alex", 500.0), ("Slow", "maria", 450.0)]
    assert result["held"] == 1


def test_a_rule_does_not_fire_while_its_request_is_open(db, center):
    observe(db, center.alex, "handle-time", 500)
    text = rule("threshold = 420", cooldown=0)
    first = run(db, text)["fired"][0]["session_id"]
    second = run(db, text, AS_OF + dt.timedelta(days=1))
    assert (second["fired"], second["held"]) == ([], 1)
    # Scheduled, it is still open: the coaching has not happened.
    scheduling.schedule_session(
        db,
        center.calvin,
        scheduling.ScheduleRequest.typed(date="2026-06-20", start="09:00", from_request=first),
        today=AS_OF,
    )
    assert run(db, text, AS_OF + dt.timedelta(days=2))["held"] == 1
    # Coached, it is closed: the rule may fire again.
    coaching.save_session(db, center.calvin, first, dict(COMPLETE_ANSWERS), form_name=center.form.name, coached=True)
    assert fired(run(db, text, AS_OF + dt.timedelta(days=3))) == [("Check", "alex", 500.0)]


def test_a_deleted_request_is_closed_and_its_firing_kept(db, center):
    observe(db, center.alex, "handle-time", 500)
    text = rule("threshold = 420", cooldown=0)
    first = run(db, text)["fired"][0]["session_id"]
    coaching.delete_session(db, center.calvin, first)
    firing = db.exec(select(RuleFiring)).one()
    db.refresh(firing)
    assert firing.session_id is None  # the firing stays, without its request
    assert fired(run(db, text, AS_OF + dt.timedelta(days=1))) == [("Check", "alex", 500.0)]


def test_cooldown_holds_the_rule_back_for_its_days_over_several_runs(db, center):
    observe(db, center.alex, "handle-time", 500, [AS_OF + dt.timedelta(days=n) for n in range(-10, 25)])
    text = rule("threshold = 420", cooldown=10)
    outcomes = []
    for offset in (0, 1, 9, 10, 15, 20):
        day = AS_OF + dt.timedelta(days=offset)
        result = run(db, text, day)
        outcomes.append((offset, len(result["fired"]), result["held"]))
        for firing in result["fired"]:  # the coach deletes each request at once
            coaching.delete_session(db, center.calvin, firing["session_id"])
    # Fired on day 0; held on days 1 and 9 (within 10 days); fires on day 10,
    # held on 15, fires again on 20.
    assert outcomes == [(0, 1, 0), (1, 0, 1), (9, 0, 1), (10, 1, 0), (15, 0, 1), (20, 1, 0)]
    # A run in the past never fires again either.
    assert run(db, text, AS_OF + dt.timedelta(days=5))["held"] == 1


def test_an_erased_agent_or_a_coach_never_fires(db, center):
    observe(db, center.calvin, "handle-time", 900)
    observe(db, center.alex, "handle-time", 900)
    erasure.erase_user(db, center.dana, "alex", "Left the company; erased on request")
    assert run(db, rule("threshold = 420"))["fired"] == []


def test_one_statement_a_rule_whatever_the_number_of_agents(db, center, engine):
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_rest):
        statements.append(statement)

    def statements_for(agents: int, first: int) -> int:
        for n in range(first, first + agents):
            agent = users.add_user(db, center.dana, f"many{n}", f"Many {n}", "agent", ["Inbound"])
            observe(db, agent, "handle-time", 300 + n)
            observe(db, agent, "adherence", 90 - n % 10)
        loaded = parsed(THREE_CONDITIONS)
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            result = rules.run_rules(db, loaded, {}, AS_OF, write=False)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert result.fired
        return len(statements)

    assert statements_for(3, 0) == statements_for(40, 100) == 3


THREE_CONDITIONS = """
[[rule]]
name = "Slow"
metric = "handle-time"
threshold = 310
window = 7
[[rule]]
name = "Slowest"
metric = "handle-time"
below_percentile = 10
window = 7
[[rule]]
name = "Adherence outlier"
metric = "adherence"
deviations = 1
window = 7
"""


# --- the database keeps firings -------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DELETE FROM rule_firings", "cannot be deleted"),
        ("UPDATE rule_firings SET value = 1", "cannot be changed"),
        ("UPDATE rule_firings SET session_id = NULL", "cannot be changed"),  # its request still exists
    ],
)
def test_the_database_refuses_to_change_or_delete_a_firing(cli, rules_file, statement, refusal):
    fire_for_alex(cli, rules_file())
    before = cli.dump()
    with pytest.raises(IntegrityError, match=refusal):
        cli.query(statement)
    assert cli.dump() == before


ALEX_RULE = """
[[rule]]
name = "Long handle time"
metric = "handle-time"
threshold = 420
window = 7
title = "Handle time above 7 min"
path = "Handle time"
target = 400
due = "2026-07-31"
"""


@pytest.fixture
def rules_file(tmp_path):
    """Writes a rules file (ALEX_RULE unless told) and returns its path."""

    def write(text: str = ALEX_RULE, name: str = "rules.toml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def fire_for_alex(cli, path: str, as_of: str = "2026-06-15", *options: str) -> dict:
    """KPI data that puts alex's handle time at 450 s over June 8–14 (maria's
    at 300), the path assigned to alex, and one run."""
    if not cli.query("SELECT id FROM paths"):
        assert cli("path", "add", "Handle time", "--agent", "alex", user="calvin").exit_code == 0
    lines = ["agent,metric,observed_at,value"]
    lines += [
        f"{agent},handle-time,{day.isoformat()},{value}"
        for agent, value in (("alex", 450), ("maria", 300))
        for day in WINDOW
    ]
    assert cli("kpi", "import", "-", input="\n".join(lines) + "\n").exit_code == 0
    return cli.json("rules", "run", path, "--as-of", as_of, *options)


# --- the commands -------------------------------------------------------------


def test_rules_run_json_and_the_request_through_the_commands(cli, rules_file):
    result = fire_for_alex(cli, rules_file())
    (firing,) = result["fired"]
    assert result == {
        "as_of": "2026-06-15",
        "fired": [
            {
                "rule": "Long handle time",
                "agent": "alex",
                "metric": "handle-time",
                "value": 450,
                "samples": 7,
                "session_id": firing["session_id"],
            }
        ],
        "held": 0,
    }
    request = firing["session_id"]
    (listed,) = cli.json("session", "list", "--tab", "requested", user="calvin")
    assert (listed["id"], listed["rule"], listed["title"], listed["path"], listed["target"]) == (
        request,
        "Long handle time",
        "Handle time above 7 min",
        "Handle time",
        400,
    )
    assert listed["target_date"] == "2026-07-31"
    assert cli.json("session", "show", str(request), user="alex")["rule"] == "Long handle time"
    # The coach takes it: the proposed goal is kept.
    scheduled = cli.json(
        "session",
        "schedule",
        "--from-request",
        str(request),
        "--date",
        "2026-06-18",
        "--start",
        "09:00",
        user="calvin",
    )
    goal = cli.json("minigoal", "show", str(scheduled["minigoal_id"]), user="calvin")
    assert (goal["metric"], goal["target"], goal["start_date"], goal["due_date"]) == (
        "handle-time",
        400,
        "2026-06-18",
        "2026-07-31",
    )
    # Another run the next day: held, its request still open.
    again = cli.json("rules", "run", rules_file(), "--as-of", "2026-06-16")
    assert (again["fired"], again["held"]) == ([], 1)


def test_rules_run_prints_what_fired_and_nothing_when_nothing(cli, rules_file):
    path = rules_file()
    fire_for_alex(cli, path, "2026-06-15", "--dry-run")
    printed = cli("rules", "run", path, "--as-of", "2026-06-15")
    assert printed.exit_code == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0] == "rule\tagent\tmetric\tvalue\tsamples\tsession_id"
    assert lines[1].startswith("Long handle time\talex\thandle-time\t450\t7\t")
    quiet_again = cli("rules", "run", path, "--as-of", "2026-06-16")
    assert (quiet_again.exit_code, quiet_again.stdout, quiet_again.stderr) == (0, "", "")
    assert cli("rules", "run", path, "--as-of", "2026-06-17", "-q").stdout == ""


def test_rules_run_needs_no_acting_user_and_a_table_at_a_terminal(cli, rules_file, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    fire_for_alex(cli, rules_file(), "2026-06-01")  # nothing in that window
    shown = cli("rules", "run", rules_file(), "--as-of", "2026-06-15", "-o", "table")
    assert shown.exit_code == 0, shown.stderr
    assert "Long handle time" in shown.stdout and "450 s (7:30)" in shown.stdout


@pytest.mark.parametrize("how", [["--dry-run"], ["--as-of", "tomorrow"], ["--as-of", "+3d"]])
def test_a_dry_run_or_a_future_as_of_writes_nothing(cli, rules_file, how):
    path = rules_file(ALEX_RULE.replace("window = 7", "window = 365"))
    fire_for_alex(cli, path, "2026-06-01")
    before = cli.dump()
    result = cli("rules", "run", path, *how, "-o", "json")
    assert result.exit_code == 0, result.stderr
    (firing,) = json.loads(result.stdout)["fired"]
    assert firing["agent"] == "alex" and firing["session_id"] is None
    assert "dry run" in result.stderr and "nothing was written" in result.stderr
    assert cli.dump() == before


def test_rules_check_lists_the_rules_in_the_order_they_run(cli, rules_file):
    assert cli("path", "add", "Handle time", user="calvin").exit_code == 0
    checked = cli.json("rules", "check", rules_file(TWO_RULES + ALEX_RULE))
    assert [(rule["name"], rule["priority"]) for rule in checked] == [
        ("Slowest of the team", 1),
        ("Slow", 5),
        ("Long handle time", 100),
    ]
    assert checked[2] == {
        "name": "Long handle time",
        "metric": "handle-time",
        "condition": "threshold",
        "amount": 420,
        "window": 7,
        "min_samples": 1,
        "title": "Handle time above 7 min",
        "path": "Handle time",
        "target": 400,
        "due": "2026-07-31",
        "cooldown": 30,
        "priority": 100,
    }


def test_the_example_rules_file_checks(cli):
    from conftest import REPO

    for name in ("Inbound basics",):
        assert cli("path", "add", name, user="calvin").exit_code == 0
    checked = cli.json("rules", "check", str(REPO / "examples" / "rules.toml"))
    assert {rule["condition"] for rule in checked} == {"threshold", "below_percentile", "deviations"}


BAD_FILES = [
    ('[[rule]]\nname = "A"\nmetric = "speed"\nthreshold = 1\n', "rule 'A' (rule 1), field metric: unknown metric"),
    ('[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\npath = "Nowhere"\n', "rule 'A' (rule 1), field path"),
    (
        '[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\ndeviations = 2\n',
        "rule 'A' (rule 1), field threshold and deviations",
    ),
    ('[[rule]]\nname = "A"\nmetric = "aht"\n', "rule 'A' (rule 1), field threshold or below_percentile or deviations"),
    (
        '[[rule]]\nname = "A"\nmetric = "aht"\nbelow_percentile = 0\n',
        "field below_percentile: a percentile from 1 to 99",
    ),
    ('[[rule]]\nname = "A"\nmetric = "aht"\nbelow_percentile = 100\n', "field below_percentile"),
    ('[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\nwindow = -7\n', "field window: must be a whole number"),
    ('[[rule]]\nname = "A"\nmetric = "aht"\ndeviations = -1\n', "field deviations"),
    ('[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\nmin_samples = 0\n', "field min_samples"),
    ('[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\ncooldown = -1\n', "field cooldown"),
    ('[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\ndue = "someday"\n', "field due"),
    ('[[rule]]\nname = "A"\nmetric = "adherence"\nthreshold = 120\n', "field threshold"),
    ('[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\nthresold = 2\n', "field thresold: unknown field"),
    ('[[rule]]\nmetric = "aht"\nthreshold = 1\n', "rule 1, field name: is required"),
    (
        '[[rule]]\nname = "A"\nmetric = "aht"\nthreshold = 1\n[[rule]]\nname = "a"\nmetric = "aht"\nthreshold = 2\n',
        "rule 'a' (rule 2), field name: the name is already used by rule 1",
    ),
    ("[[rule]\nname = 'A'\n", "invalid TOML"),
    ('[rules]\nname = "A"\n', "unknown setting 'rules'"),
]


@pytest.mark.parametrize(("text", "says"), BAD_FILES)
def test_a_bad_rules_file_is_refused_whole_naming_the_rule_and_field(cli, rules_file, text, says):
    # A good rule after it: nothing of the file runs.
    path = rules_file(text + rule("threshold = 420"), "bad.toml")
    fire_for_alex(cli, rules_file(), "2026-06-01")
    before = cli.dump()
    for command in (["rules", "check", path], ["rules", "run", path, "--as-of", "2026-06-15"]):
        result = cli(*command)
        assert result.exit_code == ExitCode.BAD_INPUT, (command, result.stdout, result.stderr)
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
        assert says in result.stderr
    assert cli.dump() == before


def test_concurrent_rules_runs_make_each_request_once(cli, rules_file):
    for n in range(6):
        assert cli("user", "add", f"extra{n}", "--name", f"Extra {n}", "--team", "Inbound", user="dana").exit_code == 0
    path = rules_file(rule("threshold = 420"))
    lines = ["agent,metric,observed_at,value"]
    lines += [f"extra{n},handle-time,{day.isoformat()},{500 + n}" for n in range(6) for day in WINDOW]
    assert cli("kpi", "import", "-", input="\n".join(lines) + "\n").exit_code == 0
    processes = [
        subprocess.Popen(
            [COACH, "rules", "run", path, "--as-of", "2026-06-15", "-o", "json"],
            env=_env(cli.target),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    results = [json.loads(stdout) for stdout, _ in outputs]
    made = sorted(firing["agent"] for result in results for firing in result["fired"])
    assert made == [f"extra{n}" for n in range(6)]
    assert sum(result["held"] for result in results) == 6 * 3
    assert cli.query("SELECT count(*), count(DISTINCT agent_id) FROM rule_firings") == [(6, 6)]
    assert cli.query("SELECT count(*) FROM sessions WHERE state = 'requested'") == [(6,)]


def test_rules_commands_refuse_a_missing_file_in_one_line(cli, tmp_path):
    result = cli("rules", "check", str(tmp_path / "none.toml"))
    assert result.exit_code == ExitCode.BAD_INPUT and "no such file" in result.stderr


def test_postgresql_refuses_to_truncate_the_firings(postgres_database):
    from conftest import Cli, empty_postgres_schema, query

    with empty_postgres_schema(postgres_database) as target:
        assert Cli(target)("init").exit_code == 0
        with pytest.raises(IntegrityError, match="cannot be deleted"):
            query(target, "TRUNCATE rule_firings")
