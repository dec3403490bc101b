"""The command-line contract (SPEC §4) through the `cli` fixture: init, users,
teams, forms, output formats, quiet ids, errors, answers and prompting."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from conftest import COMPLETE_ANSWERS, REPO, Cli, build_center

from coachcli.db import open_database, transaction
from coachcli.errors import ExitCode

PLAN_KEYS = {
    "id",
    "agent",
    "form",
    "purpose",
    "state",
    "coach",
    "created_at",
    "closed_at",
    "close_reason",
    "current_session_id",
    "session_ids",
}
SESSION_KEYS = {
    "id",
    "title",
    "agent",
    "coach",
    "form",
    "plan_id",
    "state",
    "date",
    "start",
    "timezone",
    "duration_minutes",
    "meeting_link",
    "path",
    "kpi",
    "target",
    "target_date",
    "notes",
    "answers",
    "coached_at",
    "minigoal_id",
}
USER_KEYS = {"handle", "name", "role", "teams"}
REASON = "Hold time under five minutes for six straight weeks; purpose met"
COMPLETE_SET = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def one_error_line(result, code: ExitCode) -> str:
    assert result.exit_code == int(code), (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("coach: ")
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    return lines[0]


def build_world(cli) -> dict[str, int]:
    """Plan 1 for alex: session 1 coached, session 2 the open draft; a
    standalone coached session for maria."""
    plan = int(
        ok(
            cli(
                "plan",
                "add",
                "--agent",
                "alex",
                "--form",
                "Call quality",
                "--purpose",
                "Shorter holds",
                "-q",
                user="calvin",
            )
        ).stdout
    )
    first = cli.json("plan", "show", str(plan), user="calvin")["current_session_id"]
    ok(cli("session", "coach", str(first), *COMPLETE_SET, user="calvin"))
    draft = cli.json("plan", "edit", str(plan), user="calvin")["id"]
    standalone = int(
        ok(cli("session", "new", "--agent", "maria", "--form", "Call quality", "-q", user="calvin")).stdout
    )
    ok(cli("session", "coach", str(standalone), *COMPLETE_SET, user="calvin"))
    return {"plan": plan, "first": first, "draft": draft, "standalone": standalone}


@pytest.fixture(scope="module")
def world_template(tmp_path_factory):
    """The seeded center plus `build_world`, built once per module (the CLI
    takes ~50 ms a command); each test gets its own copy of the file."""
    path = tmp_path_factory.mktemp("world") / "coach.db"
    with pytest.MonkeyPatch.context() as env:
        for name in ("COACH_DB", "COACH_USER", "COACH_NOTIFY_COMMAND", "COACH_DEBUG"):
            env.delenv(name, raising=False)
        env.setenv("COACH_TZ", "UTC")
        engine = open_database(str(path), create=True)
        with transaction(engine, write=True) as session:
            build_center(session)
        engine.dispose()
        ids = build_world(Cli(path))
    return path, ids


@pytest.fixture
def cli(world_template, tmp_path) -> Cli:
    """This module's `cli`: the seeded center with the world below, in a fresh copy."""
    template, _ = world_template
    copy = tmp_path / "world" / "coach.db"
    copy.parent.mkdir()
    for suffix in ("", "-wal", "-shm"):
        source = template.with_name(template.name + suffix)
        if source.exists():
            shutil.copy2(source, copy.with_name(copy.name + suffix))
    return Cli(copy)


@pytest.fixture
def world(world_template) -> dict[str, int]:
    return dict(world_template[1])


# --- init ------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_init_creates_the_database_and_is_repeatable(empty_cli):
    assert not empty_cli.db_path.exists()
    result = ok(empty_cli("init"))
    assert empty_cli.db_path.exists()
    assert "Database ready" in result.stderr and str(empty_cli.db_path) in result.stderr
    before = empty_cli.dump()
    ok(empty_cli("init"))
    assert empty_cli.dump() == before


def test_init_sample_lists_the_sample_plans(empty_cli):
    result = ok(empty_cli("init", "--sample"))
    rows = list(csv.DictReader(io.StringIO(result.stdout), dialect="excel-tab"))
    assert {row["agent"] for row in rows} == {"alex", "maria", "sam"}
    assert {row["state"] for row in rows} == {"active", "closed"}
    assert "coach --as calvin plan show" in result.stderr
    # The sample carries mini-goals in every state, already evaluated, and a request.
    goals = empty_cli.json("minigoal", "list", user="dana")
    assert {goal["state"] for goal in goals} == {"achieved", "missed", "in_progress"}
    assert [s["title"] for s in empty_cli.json("session", "list", "--tab", "requested", user="priya")] == [
        "Help with long technical chats"
    ]
    # The sample obeys the rules: the closed plan has a reason and no open session.
    plans = empty_cli.json("plan", "list", "--state", "all", user="dana")
    closed = [p for p in plans if p["state"] == "closed"]
    assert len(closed) == 1 and len(closed[0]["close_reason"]) >= 20
    again = empty_cli("init", "--sample")
    assert "already has users" in one_error_line(again, ExitCode.REFUSED)


# --- users, teams, forms ------------------------------------------------------------


def test_user_add_and_list(cli):
    result = ok(cli("user", "add", "jordan", "--name", "Jordan Kim", "--team", "Inbound", "-o", "json", user="dana"))
    assert json.loads(result.stdout) == {
        "handle": "jordan",
        "name": "Jordan Kim",
        "role": "agent",
        "teams": ["Inbound"],
        "login": None,
    }
    users = cli.json("user", "list", user="dana")
    assert all(set(user) >= USER_KEYS for user in users)
    assert {u["handle"]: u["role"] for u in users}["jordan"] == "agent"
    assert cli.json("user", "list", "--role", "coach", user="dana") == [
        {"handle": "calvin", "name": "Calvin Brooks", "role": "coach", "teams": ["Inbound"], "login": None},
        {"handle": "priya", "name": "Priya Raman", "role": "coach", "teams": ["Chat"], "login": None},
    ]
    assert ok(cli("user", "add", "lee", "--name", "Lee", "--team", "Chat", "-q", user="dana")).stdout == "lee\n"


def test_team_add_and_list(cli):
    result = ok(cli("team", "add", "Escalations", "-q", user="dana"))
    team_id = int(result.stdout)
    teams = {t["name"]: t for t in cli.json("team", "list", user="dana")}
    assert teams["Escalations"]["id"] == team_id
    assert teams["Inbound"]["coaches"] == ["calvin"] and teams["Inbound"]["agents"] == ["alex", "maria"]
    assert "already exists" in one_error_line(cli("team", "add", "Inbound", user="dana"), ExitCode.REFUSED)


def test_form_add_list_and_show(cli):
    path = REPO / "examples" / "forms" / "chat-review.json"
    added = json.loads(ok(cli("form", "add", str(path), "-o", "json", user="dana")).stdout)
    assert added["name"] == "Chat review"
    assert [f["key"] for f in added["fields"]][:2] == ["greeting", "written_tone"]
    assert {f["name"] for f in cli.json("form", "list", user="calvin")} == {"Call quality", "Chat review"}
    shown = cli.json("form", "show", "Call quality", user="alex")
    greeting = next(f for f in shown["fields"] if f["key"] == "greeting")
    assert greeting["type"] == "rating" and greeting["required"] is True
    by_id = cli.json("form", "show", str(added["id"]), user="alex")
    assert by_id["name"] == "Chat review"
    assert "already exists" in one_error_line(cli("form", "add", str(path), user="dana"), ExitCode.REFUSED)


def test_form_add_with_a_bad_file_names_the_place(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "Bad"\n[[fields]]\nkey = "a"\ntype = "text"\n[[fields]]\nkey = "b"\ntype = "slider"\n')
    before = cli.dump()
    line = one_error_line(cli("form", "add", str(bad), user="dana"), ExitCode.BAD_INPUT)
    assert f"{bad}: fields[1]" in line and "type must be one of" in line
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "Broken", "fields": [')
    line = one_error_line(cli("form", "add", str(broken), user="dana"), ExitCode.BAD_INPUT)
    assert str(broken) in line and "JSON" in line
    missing = one_error_line(cli("form", "add", str(tmp_path / "nope.toml"), user="dana"), ExitCode.BAD_INPUT)
    assert "nope.toml" in missing
    assert cli.dump() == before


# --- output formats -------------------------------------------------------------------


LIST_AND_SHOW = {
    "plan list": (["plan", "list"], "list", "Performance plans"),
    "plan show": (["plan", "show", "{plan}"], "object", "Performance Plan"),
    "session list": (["session", "list"], "list", "Coaching sessions"),
    "session show": (["session", "show", "{standalone}"], "object", "Coaching Session"),
    "user list": (["user", "list"], "list", "Users"),
    "team list": (["team", "list"], "list", "Teams"),
    "form list": (["form", "list"], "list", "Coaching forms"),
    "form show": (["form", "show", "Call quality"], "object", "Coaching form"),
}


@pytest.mark.parametrize("fmt", ["json", "csv", "tsv", "table"])
@pytest.mark.parametrize("name", list(LIST_AND_SHOW))
def test_every_format_for_list_and_show(cli, world, name, fmt):
    template, shape, title = LIST_AND_SHOW[name]
    args = [part.format(**world) for part in template]
    result = ok(cli(*args, "-o", fmt, user="calvin"))
    out = result.stdout
    if fmt == "json":
        data = json.loads(out)
        assert isinstance(data, list if shape == "list" else dict)
        assert data
    elif fmt == "table":
        assert title in out
    else:
        dialect = "excel" if fmt == "csv" else "excel-tab"
        rows = list(csv.reader(io.StringIO(out), dialect=dialect))
        header = rows[0]
        assert len(rows) >= 2 and all(len(row) == len(header) for row in rows)
        assert ("handle" if name == "user list" else "id") in header
        assert ("\t" in out.splitlines()[0]) == (fmt == "tsv")


def test_json_plan_and_session_objects_carry_the_contract_keys(cli, world):
    plan = cli.json("plan", "show", str(world["plan"]), user="calvin")
    assert set(plan) >= PLAN_KEYS
    assert plan["session_ids"] == [world["draft"], world["first"]]
    assert plan["current_session_id"] == world["draft"]
    assert plan["current_session"]["id"] == world["draft"]
    assert [s["id"] for s in plan["recent_sessions"]] == [world["first"]]
    for listed in cli.json("plan", "list", user="calvin"):
        assert set(listed) >= PLAN_KEYS
    session = cli.json("session", "show", str(world["first"]), user="calvin")
    assert set(session) >= SESSION_KEYS
    assert session["plan_id"] == world["plan"]
    assert isinstance(session["answers"], dict) and session["answers"]["greeting"] == 4
    assert session["coached_at"].endswith("+00:00")  # COACH_TZ=UTC in tests
    for listed in cli.json("session", "list", user="calvin"):
        assert set(listed) >= SESSION_KEYS
    edited = cli.json("plan", "edit", str(world["plan"]), user="calvin")  # P8: the session object
    assert set(edited) >= SESSION_KEYS and edited["id"] == world["draft"]


def test_csv_and_tsv_headers_name_the_contract_keys(cli, world):
    for fmt, dialect in (("csv", "excel"), ("tsv", "excel-tab")):
        header = next(
            csv.reader(io.StringIO(ok(cli("plan", "list", "-o", fmt, user="calvin")).stdout), dialect=dialect)
        )
        assert set(header) >= PLAN_KEYS
        header = next(
            csv.reader(io.StringIO(ok(cli("session", "list", "-o", fmt, user="calvin")).stdout), dialect=dialect)
        )
        assert set(header) >= SESSION_KEYS


def test_tables_label_plans_and_standalone_sessions(cli, world):
    """P3: a plan session shows Performance Plan, a standalone one Coaching Session; P6: a Plan column."""
    assert "Performance Plan" in ok(cli("session", "show", str(world["first"]), "-o", "table", user="calvin")).stdout
    standalone = ok(cli("session", "show", str(world["standalone"]), "-o", "table", user="calvin")).stdout
    assert "Coaching Session" in standalone and "Performance Plan" not in standalone
    listing = ok(cli("session", "list", "-o", "table", user="calvin")).stdout
    assert "Plan" in listing.splitlines()[2]  # title, rule, header
    shown = ok(cli("plan", "show", str(world["plan"]), "-o", "table", user="calvin")).stdout
    assert "Current session" in shown and "Recent sessions" in shown and "Shorter holds" in shown


def test_piped_output_defaults_to_tsv_without_truncation(cli):
    purpose = ("Bring average hold time under five minutes while keeping empathy high " * 5)[:300].strip()
    assert len(purpose) >= 299
    ok(cli("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", purpose, user="calvin"))
    out = ok(cli("plan", "list", user="calvin")).stdout
    lines = out.splitlines()
    assert lines[0].split("\t")[:4] == ["id", "agent", "form", "purpose"]
    row = lines[1].split("\t")
    assert row[3] == purpose
    assert "…" not in out and "┃" not in out


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Shorter holds"],
        ["session", "new", "--agent", "maria", "--form", "Call quality"],
        ["team", "add", "Escalations"],
        ["form", "add", str(REPO / "examples" / "forms" / "chat-review.json")],
    ],
)
def test_quiet_prints_only_the_new_id(cli, command):
    result = ok(cli(*command, "-q", user="calvin"))
    assert result.stdout.strip().isdigit() and result.stdout.count("\n") == 1


def test_quiet_for_plan_edit_and_coach_again(cli, world):
    assert ok(cli("plan", "edit", str(world["plan"]), "-q", user="calvin")).stdout == f"{world['draft']}\n"
    again = ok(cli("session", "coach-again", str(world["first"]), "-q", user="calvin")).stdout
    assert again.strip().isdigit() and int(again) > world["standalone"]
    assert cli.json("session", "show", again.strip(), user="calvin")["plan_id"] is None  # P7


# --- errors --------------------------------------------------------------------------


ERRORS = [
    (["session", "show", "999"], ExitCode.NOT_FOUND, "no coaching session 999"),
    (["plan", "show", "999"], ExitCode.NOT_FOUND, "no performance plan 999"),
    (["plan", "edit", "999"], ExitCode.NOT_FOUND, "no performance plan 999"),
    (["plan", "add", "--agent", "nobody", "--form", "Call quality", "--purpose", "x"], ExitCode.NOT_FOUND, "nobody"),
    (["plan", "add", "--agent", "alex", "--form", "Nope", "--purpose", "x"], ExitCode.NOT_FOUND, "coach form list"),
    (["session", "new", "--agent", "alex", "--form", "Nope"], ExitCode.NOT_FOUND, "Nope"),
    (["session", "list", "--agent", "nobody"], ExitCode.NOT_FOUND, "nobody"),
    (["plan", "list", "--agent", "nobody"], ExitCode.NOT_FOUND, "no user 'nobody'"),
    (["minigoal", "list", "--agent", "nobody"], ExitCode.NOT_FOUND, "no user 'nobody'"),
    (["kpi", "list", "--agent", "nobody"], ExitCode.NOT_FOUND, "no user 'nobody'"),
    (["session", "save", "999", "--set", "greeting=4"], ExitCode.NOT_FOUND, "999"),
    (["form", "show", "Nope"], ExitCode.NOT_FOUND, "Nope"),
    (["plan", "close", "{plan}", "--reason", REASON], ExitCode.REFUSED, "open session"),
    (["session", "coach-again", "999"], ExitCode.NOT_FOUND, "no coaching session 999"),
    (["session", "coach", "{draft}", "--set", "greeting=3"], ExitCode.REFUSED, "missing required"),
    (["session", "save", "{first}", "--set", "greeting=3"], ExitCode.REFUSED, "coached"),
    (["session", "delete", "{first}"], ExitCode.REFUSED, "coached"),
    (["session", "autofill", "{first}"], ExitCode.REFUSED, "coached"),
    (["user", "add", "alex", "--name", "Again"], ExitCode.REFUSED, "already exists"),
    (["plan", "list", "--state", "sleeping"], ExitCode.BAD_INPUT, "'sleeping' is not one of 'active', 'closed', 'all'"),
    (
        ["session", "list", "--tab", "sleeping"],
        ExitCode.BAD_INPUT,
        "'sleeping' is not one of 'requested', 'scheduled', 'draft', 'coached'",
    ),
    (
        ["minigoal", "list", "--state", "done"],
        ExitCode.BAD_INPUT,
        "'done' is not one of 'in_progress', 'achieved', 'missed'",
    ),
    (["action", "list", "--state", "late"], ExitCode.BAD_INPUT, "'late' is not one of 'open', 'done', 'all'"),
    (["user", "add", "x", "--name", "X", "--role", "boss"], ExitCode.BAD_INPUT, "'boss' is not one of 'agent'"),
    (["user", "list", "--role", "boss"], ExitCode.BAD_INPUT, "Invalid value for '--role'"),
    (["user", "add", "Bad Handle!", "--name", "X"], ExitCode.BAD_INPUT, "bad handle"),
]


@pytest.mark.parametrize(("template", "code", "fragment"), ERRORS, ids=[" ".join(e[0][:3]) for e in ERRORS])
def test_errors_are_one_line_with_an_exit_code_and_change_nothing(cli, world, template, code, fragment):
    before = cli.dump()
    args = [part.format(**world) for part in template]
    line = one_error_line(cli(*args, user="dana"), code)
    assert fragment in line
    assert cli.dump() == before


def test_a_usage_error_exits_2_without_a_traceback(cli):
    result = cli("session", "show", "not-a-number", user="dana")
    assert result.exit_code == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "Invalid value" in result.stderr


# --- answers: --set, --answers FILE, --answers - ----------------------------------------


def test_set_changes_named_fields_and_keeps_the_others(cli, world):
    draft = str(world["draft"])
    ok(cli("session", "save", draft, "--set", "greeting=4", "--set", "channel=phone", user="calvin"))
    saved = cli.json("session", "save", draft, "--set", "channel=chat", "--notes", "Talked holds", user="calvin")
    assert saved["answers"] == {"channel": "chat", "greeting": 4}
    assert saved["state"] == "draft" and saved["notes"] == "Talked holds"


def test_answers_from_a_file_with_set_winning(cli, world, tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"greeting": 2, "empathy": 5, "compliance": True, "strengths": "Warm"}))
    saved = cli.json(
        "session", "save", str(world["draft"]), "--answers", str(answers), "--set", "greeting=3", user="calvin"
    )
    assert saved["answers"] == {"greeting": 3, "empathy": 5, "compliance": True, "strengths": "Warm"}


def test_answers_from_stdin_then_coach(cli, world):
    stdin = json.dumps({**COMPLETE_ANSWERS, "greeting": 5})
    coached = cli.json("session", "coach", str(world["draft"]), "--answers", "-", user="calvin", input=stdin)
    assert coached["state"] == "coached" and coached["answers"]["greeting"] == 5
    assert coached["coached_at"] is not None


@pytest.mark.parametrize(
    ("options", "stdin", "fragment"),
    [
        (["--set", "greeting=great"], None, "not a number"),
        (["--set", "greeting=9"], None, "out of range"),
        (["--set", "greeting=0"], None, "out of range"),
        (["--set", "channel=fax"], None, "fax"),
        (["--set", "compliance=maybe"], None, "yes or no"),
        (["--set", "bogus=1"], None, "unknown field"),
        (["--set", "greeting"], None, "KEY=VALUE"),
        (["--answers", "-"], '{"greeting": "x"', "JSON"),
        (["--answers", "-"], '["greeting", 4]', "JSON object"),
        (["--answers", "-"], '{"handle_time": -5}', "below the minimum"),
        (["--answers", "no-such-file.json"], None, "no-such-file.json"),
    ],
)
def test_answer_validation_errors(cli, world, options, stdin, fragment):
    before = cli.dump()
    result = cli("session", "save", str(world["draft"]), *options, user="calvin", input=stdin)
    assert fragment in one_error_line(result, ExitCode.BAD_INPUT)
    assert cli.dump() == before


def test_a_refused_coach_keeps_the_answers_it_was_given_out(cli, world):
    """Save & Coached with required fields missing is refused whole: even the
    answers given with it are not saved (one transaction)."""
    before = cli.dump()
    one_error_line(cli("session", "coach", str(world["draft"]), "--set", "greeting=5", user="calvin"), ExitCode.REFUSED)
    assert cli.dump() == before
    assert cli.json("session", "show", str(world["draft"]), user="calvin")["answers"] == {}


# --- inbox ----------------------------------------------------------------------------


def test_inbox_shows_the_agents_notification_after_coach(cli, world):
    notes = cli.json("inbox", user="alex")
    assert [(n["kind"], n["record_id"], n["unread"]) for n in notes] == [("session.coached", world["first"], True)]
    assert "completed" in notes[0]["message"]
    assert [n["unread"] for n in cli.json("inbox", user="alex")] == [False]
    assert cli.json("inbox", user="calvin") == []
    assert [n["record_id"] for n in cli.json("inbox", user="maria")] == [world["standalone"]]


# --- interactive prompting ----------------------------------------------------------------

FILLED = "phone\n9\n4\n5\n\nyes\nresolved\n\n\nSummarise next steps\nClosing checklist\n"


@pytest.fixture
def at_a_terminal(monkeypatch):
    import coachcli.cli.inputs

    monkeypatch.setattr(coachcli.cli.inputs, "interactive", lambda: True)


def test_session_save_prompts_field_by_field_at_a_terminal(cli, world, at_a_terminal):
    # (CliRunner echoes the typed input to stdout, as a terminal would.)
    result = ok(cli("session", "save", str(world["draft"]), user="calvin", input=FILLED))
    assert "Greeting and verification" in result.stderr
    assert "out of range" in result.stderr  # 9 was refused and asked again
    saved = cli.json("session", "show", str(world["draft"]), user="calvin")
    assert saved["state"] == "draft"
    assert saved["answers"] == {
        "channel": "phone",
        "greeting": 4,
        "empathy": 5,
        "compliance": True,
        "resolution": "resolved",
        "opportunities": "Summarise next steps",
        "agreed_actions": "Closing checklist",
    }


def test_prompt_defaults_come_from_the_previous_session(cli, world, at_a_terminal):
    """Enter keeps the bracketed default: the previous plan session's answer."""
    ok(cli("session", "save", str(world["draft"]), user="calvin", input="\n" * 12))
    assert cli.json("session", "show", str(world["draft"]), user="calvin")["answers"] == {
        key: (int(value) if value.isdigit() else True if value == "yes" else value)
        for key, value in COMPLETE_ANSWERS.items()
    }


def test_plan_add_offers_to_fill_the_first_session(cli, at_a_terminal):
    result = ok(
        cli(
            "plan",
            "add",
            "--agent",
            "alex",
            "--form",
            "Call quality",
            "--purpose",
            "Shorter holds",
            "-o",
            "table",
            user="calvin",
            input="y\n" + FILLED,
        )
    )
    assert "Fill session" in result.stderr
    plan = cli.json("plan", "list", user="calvin")[0]
    session = cli.json("session", "show", str(plan["current_session_id"]), user="calvin")
    assert session["answers"]["greeting"] == 4 and session["state"] == "draft"


def test_plan_add_fill_can_be_declined(cli, at_a_terminal):
    ok(
        cli(
            "plan",
            "add",
            "--agent",
            "alex",
            "--form",
            "Call quality",
            "--purpose",
            "Shorter holds",
            "-o",
            "table",
            user="calvin",
            input="n\n",
        )
    )
    plan = cli.json("plan", "list", user="calvin")[0]
    assert cli.json("session", "show", str(plan["current_session_id"]), user="calvin")["answers"] == {}


def test_without_a_terminal_nothing_prompts(cli, world):
    result = ok(cli("session", "save", str(world["draft"]), "-o", "json", user="calvin", input=FILLED))
    assert "Greeting" not in result.stderr
    assert json.loads(result.stdout)["answers"] == {}
    result = ok(
        cli(
            "plan",
            "add",
            "--agent",
            "maria",
            "--form",
            "Call quality",
            "--purpose",
            "Disclosures",
            "-o",
            "table",
            user="calvin",
            input="y\n",
        )
    )
    assert "Fill session" not in result.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["plan", "show", "abc"], "coach plan show --help"),
        (["plan", "add", "--agent", "alex"], "Missing option '--form'"),
        (["plan", "list", "-o", "xml"], "'xml' is not one of"),
        (["sesion", "list"], "Did you mean 'session'?"),
    ],
)
def test_usage_errors_are_one_line_too(cli, args, words):
    result = cli(*args, user="calvin")
    assert result.exit_code == ExitCode.BAD_INPUT
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: ")
    assert words in lines[0]
