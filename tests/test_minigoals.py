"""Mini-goals (M5–M8): scores, states, idempotent evaluation, history,
notifications, and the `minigoal` commands."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import event
from sqlmodel import select

from coachcli.db import transaction
from coachcli.db.models import (
    AuditEntry,
    CoachingSession,
    KpiObservation,
    MiniGoal,
    MiniGoalChange,
    Notification,
    User,
)
from coachcli.errors import CoachError, ExitCode
from coachcli.parse import today_in
from coachcli.records import as_dict
from coachcli.services import coaching, minigoals

DEC = {day: dt.date(2026, 12, day) for day in range(1, 32)}


def make_goal(
    db,
    agent,
    coach,
    form=None,
    *,
    metric="handle-time",
    target=400.0,
    start=DEC[15],
    due=DEC[25],
    name="Lower handle time",
) -> MiniGoal:
    """A mini-goal as scheduling makes one: from a session, for its agent."""
    session = coaching.create_draft(db, coach, agent, form, name)
    goal = MiniGoal(
        session_id=session.id,
        name=name,
        assignee_id=agent.id,
        metric=metric,
        target=target,
        start_date=start,
        due_date=due,
    )
    db.add(goal)
    db.flush()
    return goal


def observe(db, agent, metric, *observations: tuple[str, float]) -> None:
    db.add_all(
        KpiObservation(agent_id=agent.id, metric=metric, observed_at=at, value=value) for at, value in observations
    )
    db.flush()


def fresh(db, goal: MiniGoal) -> MiniGoal:
    db.expire_all()
    return db.get(MiniGoal, goal.id)


# --- the document's examples ----------------------------------------------


@pytest.mark.parametrize(
    ("metric", "target", "values", "state"),
    [
        ("handle-time", 400, [300, 400], "achieved"),  # score 350 <= 400
        ("after-call-work-time", 30, [31, 33], "missed"),  # score 32 > 30
        ("contacts-handled", 70, [60, 80], "achieved"),  # score 70 >= 70
        ("adherence", 50, [48, 50], "missed"),  # score 49 < 50
    ],
)
def test_the_documents_examples(db, center, metric, target, values, state):
    goal = make_goal(db, center.alex, center.calvin, metric=metric, target=target)
    observe(db, center.alex, metric, ("2026-12-16", values[0]), ("2026-12-20", values[1]))
    result = as_dict(minigoals.evaluate(db, DEC[26]))
    goal = fresh(db, goal)
    assert (goal.score, goal.samples, goal.state) == (sum(values) / 2, 2, state)
    assert result["changes"] == [
        {
            "id": goal.id,
            "name": "Lower handle time",
            "assignee": "alex",
            "metric": metric,
            "from": "in_progress",
            "to": state,
            "score": sum(values) / 2,
        }
    ]


def test_manual_qm_window_is_december_15_through_25_inclusive(db, center):
    goal = make_goal(db, center.alex, center.calvin, metric="manual-qm-overall-score", target=85, name="QM overall")
    observe(
        db,
        center.alex,
        "manual-qm-overall-score",
        ("2026-12-14", 0.0),  # before the session: excluded
        ("2026-12-15", 80.0),  # the session date: included
        ("2026-12-25T23:30:00", 90.0),  # late on the due date: included
        ("2026-12-26", 0.0),
    )  # after the due date: excluded
    observe(db, center.maria, "manual-qm-overall-score", ("2026-12-20", 0.0))  # someone else
    observe(db, center.alex, "auto-qm-overall-score", ("2026-12-20", 0.0))  # another metric

    as_of_due = as_dict(minigoals.evaluate(db, DEC[25]))
    goal = fresh(db, goal)
    assert (goal.state, goal.score, goal.samples) == ("in_progress", 85.0, 2)
    assert as_of_due["changes"] == []  # a score, but no state change yet

    final = as_dict(minigoals.evaluate(db, DEC[26]))
    goal = fresh(db, goal)
    assert (goal.state, goal.score, goal.samples) == ("achieved", 85.0, 2)
    assert [(c["from"], c["to"]) for c in final["changes"]] == [("in_progress", "achieved")]


def test_a_window_without_observations_ends_missed_with_no_score(db, center):
    goal = make_goal(db, center.alex, center.calvin)
    observe(db, center.alex, "handle-time", ("2026-12-26", 100.0))  # after the window
    result = as_dict(minigoals.evaluate(db, DEC[26]))
    goal = fresh(db, goal)
    assert (goal.state, goal.score, goal.samples) == ("missed", None, 0)
    assert result["changes"][0]["score"] is None


def test_score_is_rounded_to_two_decimals_before_comparing(db, center):
    goal = make_goal(db, center.alex, center.calvin, metric="hold-time", target=300)
    observe(db, center.alex, "hold-time", ("2026-12-16", 300.004), ("2026-12-17", 300.004))
    minigoals.evaluate(db, DEC[26])
    goal = fresh(db, goal)
    assert goal.score == 300.0 and goal.state == "achieved"


def test_observations_after_the_as_of_date_do_not_count_yet(db, center):
    goal = make_goal(db, center.alex, center.calvin)
    observe(db, center.alex, "handle-time", ("2026-12-16", 100.0), ("2026-12-21", 500.0))
    minigoals.evaluate(db, DEC[20])
    assert fresh(db, goal).score == 100.0
    minigoals.evaluate(db, DEC[21])
    assert fresh(db, goal).score == 300.0


# --- idempotence, history, notifications ------------------------------------


def test_a_second_evaluation_changes_and_writes_nothing(db, center):
    goals = [make_goal(db, center.alex, center.calvin, name=f"Goal {n}") for n in range(3)]
    observe(db, center.alex, "handle-time", ("2026-12-16", 350.0))
    first = as_dict(minigoals.evaluate(db, DEC[26]))
    assert len(first["changes"]) == 3 and first["evaluated"] == 3
    before = {goal.id: (g.score, g.samples, g.state, g.evaluated_at) for goal in goals for g in [fresh(db, goal)]}
    db.flush()
    written_before = _everything(db)
    second = as_dict(minigoals.evaluate(db, DEC[26]))
    db.flush()
    assert second == {"as_of": DEC[26], "evaluated": 3, "updated": 0, "changes": []}
    assert _everything(db) == written_before
    assert {
        goal.id: (g.score, g.samples, g.state, g.evaluated_at) for goal in goals for g in [fresh(db, goal)]
    } == before
    # A later date that changes nothing writes nothing either.
    assert as_dict(minigoals.evaluate(db, DEC[31]))["changes"] == []
    assert _everything(db) == written_before


def _everything(db) -> tuple:
    """Every row the evaluation could write."""
    db.expire_all()
    return tuple(
        sorted(map(repr, db.exec(select(model)).all()))
        for model in (MiniGoal, MiniGoalChange, Notification, AuditEntry)
    )


def test_history_records_state_changes_only(db, center):
    goal = make_goal(db, center.alex, center.calvin)
    observe(db, center.alex, "handle-time", ("2026-12-16", 500.0))
    minigoals.evaluate(db, DEC[20])  # in progress, score 500: no state change
    observe(db, center.alex, "handle-time", ("2026-12-18", 100.0))
    minigoals.evaluate(db, DEC[21])  # in progress, score 300: no state change
    assert fresh(db, goal).evaluated_at is not None
    minigoals.evaluate(db, DEC[26])  # achieved
    changes = db.exec(select(MiniGoalChange).where(MiniGoalChange.minigoal_id == goal.id)).all()
    assert [(c.from_state, c.to_state, c.score, c.samples, c.as_of) for c in changes] == [
        ("in_progress", "achieved", 300.0, 2, DEC[26])
    ]


def test_late_data_can_turn_a_missed_goal_achieved(db, center):
    goal = make_goal(db, center.alex, center.calvin)
    assert as_dict(minigoals.evaluate(db, DEC[26]))["changes"][0]["to"] == "missed"
    observe(db, center.alex, "handle-time", ("2026-12-24", 380.0))  # arrived a day late
    result = as_dict(minigoals.evaluate(db, DEC[27]))
    assert [(c["from"], c["to"], c["score"]) for c in result["changes"]] == [("missed", "achieved", 380.0)]
    history = db.exec(select(MiniGoalChange.to_state).where(MiniGoalChange.minigoal_id == goal.id)).all()
    assert history == ["missed", "achieved"]


def test_the_assignee_is_notified_per_goal_and_each_coach_gets_one_digest(db, center):
    achieved = make_goal(db, center.alex, center.calvin, name="Faster calls")
    missed = make_goal(db, center.sam, center.priya, metric="adherence", target=95, name="Stick to schedule")
    also_missed = make_goal(db, center.maria, center.calvin, name="Maria calls")
    in_progress = make_goal(db, center.maria, center.calvin, due=DEC[31], name="Later")
    observe(db, center.alex, "handle-time", ("2026-12-16", 350.0))
    observe(db, center.sam, "adherence", ("2026-12-16", 90.0))
    minigoals.evaluate(db, DEC[26])
    notes = db.exec(select(Notification).order_by(Notification.id)).all()
    goal_notes = [n for n in notes if n.record_type == "minigoal"]
    assert in_progress.id not in {n.record_id for n in goal_notes}
    assert [(n.user_id, n.kind, n.record_id) for n in goal_notes] == [
        (center.alex.id, "minigoal.achieved", achieved.id),
        (center.sam.id, "minigoal.missed", missed.id),
        (center.maria.id, "minigoal.missed", also_missed.id),
    ]
    message = goal_notes[0].message
    assert "Faster calls" in message and "350 s (5:50)" in message and "400 s (6:40)" in message
    assert "90 %" in goal_notes[1].message and "95 %" in goal_notes[1].message
    digests = [(n.user_id, n.kind, n.record_type, n.record_id, n.message) for n in notes if n.record_type != "minigoal"]
    assert digests == [
        (
            center.calvin.id,
            "minigoal.digest",
            "user",
            center.calvin.id,
            '2 mini-goals of your sessions ended as of 2026-12-26: "Faster calls" (alex, Handle Time) achieved, '
            'score 350 s (5:50); "Maria calls" (maria, Handle Time) missed, no data.',
        ),
        (
            center.priya.id,
            "minigoal.digest",
            "user",
            center.priya.id,
            '1 mini-goal of your sessions ended as of 2026-12-26: "Stick to schedule" (sam, Adherence) missed, '
            "score 90 %.",
        ),
    ]
    assert all(n.delivered_at is None for n in notes)
    # Nothing new on a second run.
    minigoals.evaluate(db, DEC[27])
    assert len(db.exec(select(Notification)).all()) == len(notes)


def test_evaluation_is_set_based_whatever_the_number_of_goals(db, center):
    engine = db.get_bind()

    def statements_to_end(goals: int, start: dt.date, due: dt.date) -> int:
        for n in range(goals):
            make_goal(db, center.alex, center.calvin, name=f"Goal {n}", start=start, due=due)
        observe(db, center.alex, "handle-time", (start.isoformat(), 350.0))
        statements: list[str] = []

        def count(_connection, _cursor, statement, *_rest) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            result = as_dict(minigoals.evaluate(db, due + dt.timedelta(days=1)))
            db.flush()
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert result["updated"] == goals and len(result["changes"]) == goals
        return len(statements)

    assert statements_to_end(2, DEC[1], DEC[5]) == statements_to_end(40, DEC[15], DEC[25])


def _written(db) -> tuple[list, list]:
    history = [
        (c.minigoal_id, c.from_state, c.to_state, c.score, c.samples, c.as_of)
        for c in db.exec(select(MiniGoalChange).order_by(MiniGoalChange.id))
    ]
    notes = [
        (n.user_id, n.kind, n.record_id, n.message) for n in db.exec(select(Notification).order_by(Notification.id))
    ]
    return history, notes


def test_assignees_are_notified_in_goal_order_then_the_coaches_digests(db, center):
    first = make_goal(db, center.alex, center.calvin, name="First")
    second = make_goal(db, center.sam, center.priya, name="Second")
    observe(db, center.alex, "handle-time", ("2026-12-16", 350.0))
    result = as_dict(minigoals.evaluate(db, DEC[26]))
    assert result["updated"] == 2
    history, notes = _written(db)
    assert history == [
        (first.id, "in_progress", "achieved", 350.0, 1, DEC[26]),
        (second.id, "in_progress", "missed", None, 0, DEC[26]),
    ]
    achieved = (
        'Mini-goal "First" (alex, Handle Time, 2026-12-15 to 2026-12-25) achieved: '
        "score 350 s (5:50), target at most 400 s (6:40)."
    )
    missed = (
        'Mini-goal "Second" (sam, Handle Time, 2026-12-15 to 2026-12-25) missed: '
        "no Handle Time data in the window (target at most 400 s (6:40))."
    )
    assert [note[:3] for note in notes] == [
        (center.alex.id, "minigoal.achieved", first.id),
        (center.sam.id, "minigoal.missed", second.id),
        (center.calvin.id, "minigoal.digest", center.calvin.id),
        (center.priya.id, "minigoal.digest", center.priya.id),
    ]
    assert [note[3] for note in notes[:2]] == [achieved, missed]


@pytest.mark.parametrize("coach", ["nobody", "the assignee"])
def test_a_goal_coached_by_nobody_or_by_its_assignee_notifies_the_assignee_once(db, center, coach):
    goal = make_goal(db, center.alex, center.calvin)
    db.get(CoachingSession, goal.session_id).coach_id = None if coach == "nobody" else center.alex.id
    db.flush()
    minigoals.evaluate(db, DEC[26])
    assert [(user, kind) for user, kind, _, _ in _written(db)[1]] == [(center.alex.id, "minigoal.missed")]


def test_evaluation_is_audited_only_when_something_changed(db, center):
    make_goal(db, center.alex, center.calvin)
    minigoals.evaluate(db, DEC[26])
    minigoals.evaluate(db, DEC[26])
    entries = db.exec(select(AuditEntry).where(AuditEntry.action == "minigoal.evaluate")).all()
    assert len(entries) == 1
    assert entries[0].actor_id is None and entries[0].details["state_changes"] == 1


# --- list and show ----------------------------------------------------------


def test_list_is_scoped_and_filtered_by_state(db, center):
    alex_goal = make_goal(db, center.alex, center.calvin, name="Alex goal")
    make_goal(db, center.sam, center.priya, name="Sam goal", due=DEC[31])
    minigoals.evaluate(db, DEC[26])
    assert [r.name for r in minigoals.list_minigoals(db, center.dana)] == ["Alex goal", "Sam goal"]
    assert [r.name for r in minigoals.list_minigoals(db, center.calvin)] == ["Alex goal"]
    assert [r.name for r in minigoals.list_minigoals(db, center.sam)] == ["Sam goal"]
    assert list(minigoals.list_minigoals(db, center.maria)) == []
    assert [r.id for r in minigoals.list_minigoals(db, center.dana, state="missed")] == [alex_goal.id]
    assert [r.name for r in minigoals.list_minigoals(db, center.dana, agent="sam")] == ["Sam goal"]
    record = as_dict(next(minigoals.list_minigoals(db, center.dana)))
    assert set(record) >= {
        "id",
        "name",
        "assignee",
        "metric",
        "target",
        "start_date",
        "due_date",
        "score",
        "samples",
        "state",
        "session_id",
        "evaluated_at",
    }


def test_show_computes_the_running_score_and_daily_trend(db, center):
    goal = make_goal(db, center.alex, center.calvin, target=400)
    observe(
        db,
        center.alex,
        "handle-time",
        ("2026-12-15", 500.0),
        ("2026-12-15T18:00:00", 300.0),
        ("2026-12-17", 350.0),
        ("2026-12-19", 999.0),
    )
    shown = as_dict(minigoals.show_minigoal(db, center.calvin, goal.id, DEC[18]))
    assert shown["window_from"] == DEC[15] and shown["window_to"] == DEC[18]
    assert shown["running_score"] == pytest.approx(383.33) and shown["running_samples"] == 3
    assert shown["meets_target"] is True
    assert shown["daily"] == [
        {"date": DEC[15], "average": 400.0, "samples": 2, "meets_target": True},
        {"date": DEC[17], "average": 350.0, "samples": 1, "meets_target": True},
    ]
    before_start = minigoals.show_minigoal(db, center.calvin, goal.id, DEC[10])
    assert before_start.window_to is None and before_start.running_score is None
    with pytest.raises(CoachError, match="outside the scope"):
        minigoals.show_minigoal(db, center.priya, goal.id, DEC[18])
    with pytest.raises(CoachError, match="no mini-goal 999"):
        minigoals.show_minigoal(db, center.dana, 999, DEC[18])


# --- the command line -------------------------------------------------------


# A run as of a day after today is a dry run (time only moves forward), so
# the commands' own runs are in a December already past.
LAST_DEC = {day: dt.date(2025, 12, day) for day in range(1, 32)}


@pytest.fixture
def goals(cli, engine):
    """Two goals in the seeded database: alex's (due Dec 25, data averaging 350)
    and sam's (due Dec 31, no data), last December."""
    with transaction(engine, write=True) as db:
        people = {user.handle: user for user in db.exec(select(User))}
        alex = make_goal(
            db, people["alex"], people["calvin"], start=LAST_DEC[15], due=LAST_DEC[25], name="Lower handle time"
        )
        sam = make_goal(
            db,
            people["sam"],
            people["priya"],
            metric="adherence",
            target=90,
            start=LAST_DEC[15],
            due=LAST_DEC[31],
            name="Adherence up",
        )
        observe(db, people["alex"], "handle-time", ("2025-12-16", 300.0), ("2025-12-18", 400.0))
        return alex.id, sam.id


def test_cli_evaluate_prints_only_what_changed(cli, goals):
    first = cli("minigoal", "evaluate", "--as-of", "2025-12-26")
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "name", "assignee", "metric", "from", "to", "score"]
    assert lines[1].split("\t") == [
        str(goals[0]),
        "Lower handle time",
        "alex",
        "handle-time",
        "in_progress",
        "achieved",
        "350",
    ]
    assert len(lines) == 2
    again = cli("minigoal", "evaluate", "--as-of", "2025-12-26")
    assert again.exit_code == 0 and again.stdout == "" and again.stderr == ""


def test_a_rule_failing_inside_the_evaluation_surfaces_as_itself_with_nothing_written(cli, goals, engine):
    alex_goal, _ = goals
    with transaction(engine, write=True) as db:
        db.get(MiniGoal, alex_goal).metric = "bogus"
    before = cli.json("log", user="dana")
    result = cli("minigoal", "evaluate", "--as-of", "2025-12-26")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.stderr.startswith("coach: unknown metric 'bogus'") and "internal error" not in result.stderr
    assert cli.json("log", user="dana") == before
    with transaction(engine, write=False) as db:
        assert db.exec(select(MiniGoalChange)).all() == [] and db.exec(select(Notification)).all() == []


def test_cli_evaluate_json_and_quiet(cli, goals):
    quiet = cli("minigoal", "evaluate", "--as-of", "2026-01-05", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert cli.json("minigoal", "evaluate", "--as-of", "2026-01-05") == {
        "as_of": "2026-01-05",
        "evaluated": 2,
        "updated": 0,
        "changes": [],
    }
    states = {r["name"]: r["state"] for r in cli.json("minigoal", "list", user="dana")}
    assert states == {"Lower handle time": "achieved", "Adherence up": "missed"}


def test_cli_evaluate_defaults_to_today_and_table_shows_labels(cli, goals):
    table = cli("minigoal", "evaluate", "--as-of", "2026-01-05", "-o", "table")
    assert table.exit_code == 0
    assert "Achieved" in table.stdout and "Missed" in table.stdout and "no data" in table.stdout
    result = cli("minigoal", "evaluate", "-o", "json")
    assert json.loads(result.stdout)["as_of"] == today_in("UTC").isoformat()
    bad = cli("minigoal", "evaluate", "--as-of", "someday")
    assert bad.exit_code == 2 and "not a valid date" in bad.stderr


def test_cli_list_columns_and_scope(cli, goals, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    cli("minigoal", "evaluate", "--as-of", "2025-12-26")
    table = cli("minigoal", "list", "-o", "table", user="dana")
    assert table.exit_code == 0
    header = next(line for line in table.stdout.splitlines() if "Name" in line)
    positions = [header.index(column) for column in ("Name", "Assignee", "Metric", "Target", "Due date", "Result")]
    assert positions == sorted(positions)
    assert "Achieved" in table.stdout and "In Progress" in table.stdout and "400 s (6:40)" in table.stdout
    records = cli.json("minigoal", "list", user="calvin")
    assert [r["name"] for r in records] == ["Lower handle time"]
    assert records[0]["metric"] == "handle-time" and records[0]["score"] == 350.0 and records[0]["samples"] == 2
    assert cli.json("minigoal", "list", "--state", "in_progress", user="dana")[0]["assignee"] == "sam"
    assert cli.json("minigoal", "list", user="alex")[0]["assignee"] == "alex"
    assert cli("minigoal", "list").exit_code == 5


def test_cli_show_json_and_trend(cli, engine, goals, monkeypatch):
    today = today_in("UTC")  # the CLI's today: COACH_TZ is UTC in tests
    with transaction(engine, write=True) as db:
        people = {user.handle: user for user in db.exec(select(User))}
        goal = make_goal(
            db,
            people["alex"],
            people["calvin"],
            start=today - dt.timedelta(days=3),
            due=today + dt.timedelta(days=7),
            name="This week",
        )
        observe(
            db,
            people["alex"],
            "handle-time",
            ((today - dt.timedelta(days=2)).isoformat(), 300.0),
            (today.isoformat(), 500.0),
            ((today + dt.timedelta(days=1)).isoformat(), 999.0),
        )
        goal_id = goal.id
    shown = cli.json("minigoal", "show", str(goal_id), user="calvin")
    assert shown["id"] == goal_id and shown["state"] == "in_progress"
    assert shown["start_date"] == (today - dt.timedelta(days=3)).isoformat()
    assert shown["window_to"] == today.isoformat()  # so far: tomorrow's row does not count yet
    assert shown["daily"] == [
        {"date": (today - dt.timedelta(days=2)).isoformat(), "average": 300.0, "samples": 1, "meets_target": True},
        {"date": today.isoformat(), "average": 500.0, "samples": 1, "meets_target": False},
    ]
    assert shown["running_score"] == 400.0 and shown["running_samples"] == 2 and shown["meets_target"] is True
    monkeypatch.setenv("COLUMNS", "160")
    table = cli("minigoal", "show", str(goal_id), "-o", "table", user="calvin")
    assert table.exit_code == 0
    assert "Daily trend" in table.stdout and "·▁·█  target ▅ (lower is better)" in table.stdout
    assert "400 s (6:40) from 2 observations" in table.stdout and "meets the target" in table.stdout
    assert cli("minigoal", "show", str(goals[1]), user="calvin").exit_code == 5


def test_sparkline_scales_values_and_target_together():
    from coachcli.cli.minigoal import sparkline

    assert sparkline([0.0, None, 10.0], 5.0) == "▁·█"
    assert sparkline([5.0], 5.0) == "▅"
    assert sparkline([5.0], 0.0, [0.0, 10.0]) == "▅"


def test_new_data_updates_scores_in_progress_and_is_counted_but_not_a_change(db, center):
    goal = make_goal(db, center.alex, center.calvin)
    observe(db, center.alex, "handle-time", ("2026-12-16", 350.0))
    first = as_dict(minigoals.evaluate(db, DEC[20]))
    assert (first["updated"], first["changes"]) == (1, [])
    observe(db, center.alex, "handle-time", ("2026-12-17", 450.0))
    second = as_dict(minigoals.evaluate(db, DEC[20]))
    assert (second["updated"], second["changes"]) == (1, [])
    assert (fresh(db, goal).score, fresh(db, goal).state) == (400.0, "in_progress")


def test_a_quiet_evaluation_writes_the_same_without_reading_changes_back(db, center):
    make_goal(db, center.alex, center.calvin)
    result = as_dict(minigoals.evaluate(db, DEC[26], with_changes=False))
    assert "changes" not in result and result["updated"] == 1
    assert [(n.user_id, n.kind) for n in db.exec(select(Notification))] == [(center.alex.id, "minigoal.missed")] + [
        (center.calvin.id, "minigoal.digest")
    ]
