"""Follow-through (SPEC §7) through the CLI: exit codes, JSON keys, refusals
that change nothing, and private notes that no agent output ever shows."""

from __future__ import annotations

import pytest
from conftest import COMPLETE_ANSWERS

from coachcli.errors import ExitCode

COMPLETE_SET = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]
MARKER = "ZQX-private-7731"
ACTION_KEYS = [
    "id",
    "session_id",
    "plan_id",
    "agent",
    "owner",
    "text",
    "due_date",
    "state",
    "created_at",
    "done_at",
    "done_by",
    "note",
]


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def one_error_line(result, code: ExitCode) -> str:
    assert result.exit_code == int(code), (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def coached_session(cli, agent: str = "alex", *extra: str) -> int:
    session = int(ok(cli("session", "new", "--agent", agent, "--form", "Call quality", "-q", user="calvin")).stdout)
    ok(cli("session", "coach", str(session), *COMPLETE_SET, *extra, user="calvin"))
    return session


def test_action_add_done_and_list_with_the_contract_keys(cli):
    session = coached_session(cli)
    item = cli.json("action", "add", str(session), "--text", "Closing checklist", "--due", "2026-01-02", user="calvin")
    assert list(item) == ACTION_KEYS
    assert (item["agent"], item["owner"], item["state"], item["due_date"]) == ("alex", "alex", "open", "2026-01-02")
    coach_item = int(
        ok(
            cli("action", "add", str(session), "--text", "Send the script", "--owner", "coach", "-q", user="calvin")
        ).stdout
    )
    assert [i["id"] for i in cli.json("action", "list", "--overdue", user="alex")] == [item["id"]]
    done = cli.json("action", "done", str(item["id"]), "--note", "Every call now", user="alex")
    assert (done["state"], done["done_by"], done["note"]) == ("done", "alex", "Every call now")
    assert [i["id"] for i in cli.json("action", "list", user="calvin")] == [coach_item]
    assert [i["id"] for i in cli.json("action", "list", "--state", "done", user="calvin")] == [item["id"]]
    assert len(cli.json("action", "list", "--state", "all", "--agent", "alex", user="dana")) == 2


@pytest.mark.parametrize(
    ("args", "user", "code"),
    [
        (("action", "add", "{s}", "--text", " "), "calvin", ExitCode.BAD_INPUT),
        (("action", "add", "{s}", "--text", "x", "--owner", "boss"), "calvin", ExitCode.BAD_INPUT),
        (("action", "add", "{s}", "--text", "x", "--due", "someday soon-ish"), "calvin", ExitCode.BAD_INPUT),
        (("action", "add", "999", "--text", "x"), "calvin", ExitCode.NOT_FOUND),
        (("action", "add", "{s}", "--text", "x"), "alex", ExitCode.PERMISSION),
        (("action", "add", "{s}", "--text", "x"), "priya", ExitCode.PERMISSION),
        (("action", "add", "{r}", "--text", "x"), "dana", ExitCode.REFUSED),
        (("action", "done", "{i}"), "maria", ExitCode.PERMISSION),
        (("action", "done", "{c}"), "alex", ExitCode.PERMISSION),
        (("action", "done", "999"), "calvin", ExitCode.NOT_FOUND),
        (("action", "done", "{d}"), "calvin", ExitCode.REFUSED),
        (("action", "list", "--state", "closed"), "calvin", ExitCode.BAD_INPUT),
        (("session", "ack", "{s}"), "calvin", ExitCode.PERMISSION),
        (("session", "ack", "{s}"), "maria", ExitCode.PERMISSION),
        (("session", "ack", "{a}"), "alex", ExitCode.REFUSED),
        (("session", "ack", "{r}"), "alex", ExitCode.REFUSED),
        (("session", "ack", "999"), "alex", ExitCode.NOT_FOUND),
    ],
)
def test_refusals_are_one_line_with_their_exit_code_and_change_nothing(cli, args, user, code):
    session = coached_session(cli)
    acknowledged = coached_session(cli)
    ok(cli("session", "ack", str(acknowledged), user="alex"))
    request = int(ok(cli("session", "request", "--title", "Help", "-q", user="alex")).stdout)
    item = int(ok(cli("action", "add", str(session), "--text", "Mine", "-q", user="calvin")).stdout)
    coach_item = int(
        ok(cli("action", "add", str(session), "--text", "His", "--owner", "coach", "-q", user="calvin")).stdout
    )
    finished = int(ok(cli("action", "add", str(session), "--text", "Done", "-q", user="calvin")).stdout)
    ok(cli("action", "done", str(finished), user="alex"))
    ids = {"s": session, "a": acknowledged, "r": request, "i": item, "c": coach_item, "d": finished}
    before = cli.dump()
    one_error_line(cli(*(arg.format(**ids) for arg in args), user=user), code)
    assert cli.dump() == before


def test_ack_keeps_time_and_comment_tells_the_coach_and_leaves_the_unacknowledged_list(cli):
    first, second = coached_session(cli), coached_session(cli)
    assert {s["id"] for s in cli.json("session", "list", "--unacknowledged", user="calvin")} == {first, second}
    shown = cli.json("session", "ack", str(first), "--comment", "Agreed, thanks", user="alex")
    assert shown["agent_comment"] == "Agreed, thanks" and shown["acknowledged_at"]
    assert cli.json("session", "show", str(first), user="calvin")["agent_comment"] == "Agreed, thanks"
    assert [s["id"] for s in cli.json("session", "list", "--unacknowledged", user="alex")] == [second]
    inbox = cli.json("inbox", user="calvin")
    assert any(n["kind"] == "session.acknowledged" and "Agreed, thanks" in n["message"] for n in inbox)
    listed = cli.json("session", "list", user="calvin")
    assert all("acknowledged_at" in s and "agent_comment" in s for s in listed)


def test_an_agent_never_gets_private_notes_in_any_output(cli):
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Shorter holds", user="calvin"
    )
    first = plan["current_session_id"]
    ok(cli("session", "save", str(first), "--private-notes", f"{MARKER} save", user="calvin"))
    ok(cli("session", "coach", str(first), *COMPLETE_SET, "--private-notes", f"{MARKER} coach", user="calvin"))
    ok(cli("action", "add", str(first), "--text", "Closing checklist", user="calvin"))
    ok(cli("plan", "edit", str(plan["id"]), user="calvin"))
    standalone = coached_session(cli, "alex", "--private-notes", f"{MARKER} standalone")
    scheduled = cli.json(
        "session",
        "schedule",
        "--title",
        "Holds",
        "--agent",
        "alex",
        "--date",
        "+3d",
        "--start",
        "10:00",
        "--private-notes",
        f"{MARKER} schedule",
        user="calvin",
    )
    ok(
        cli(
            "session",
            "import",
            "-",
            user="calvin",
            input=f"title,agent,coach,date,start,private_notes\nImported,alex,calvin,+4d,09:00,{MARKER} import\n",
        )
    )
    assert cli.json("session", "show", str(first), user="calvin")["private_notes"] == f"{MARKER} coach"
    assert cli.json("session", "show", str(scheduled["id"]), user="dana")["private_notes"] == f"{MARKER} schedule"
    imported = [s for s in cli.json("session", "list", user="calvin") if s["title"] == "Imported"]
    assert imported[0]["private_notes"] == f"{MARKER} import"

    outputs = []
    ids = [str(first), str(standalone), str(scheduled["id"]), str(imported[0]["id"])]
    for fmt in ("json", "csv", "tsv", "table"):
        commands = [
            ("session", "list"),
            ("session", "list", "--unacknowledged"),
            ("plan", "show", str(plan["id"])),
            ("plan", "list"),
            ("action", "list", "--state", "all"),
            ("minigoal", "list"),
        ]
        commands += [("session", "show", session_id) for session_id in ids]
        for command in commands:
            result = ok(cli(*command, "-o", fmt, user="alex"))
            outputs.append(result.stdout + result.stderr)
    outputs.append(ok(cli("session", "ack", str(standalone), "-o", "json", user="alex")).stdout)
    outputs.append(ok(cli("inbox", "-o", "json", user="alex")).stdout)
    assert all(MARKER not in output for output in outputs)
    assert all("private_notes" not in output and "Private notes" not in output for output in outputs)


def test_plan_show_and_the_current_draft_carry_the_open_items_of_earlier_sessions(cli):
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Shorter holds", user="calvin"
    )
    first = plan["current_session_id"]
    ok(cli("session", "coach", str(first), *COMPLETE_SET, user="calvin"))
    kept = cli.json("action", "add", str(first), "--text", "Closing checklist", user="calvin")
    finished = cli.json("action", "add", str(first), "--text", "Read the policy", user="calvin")
    ok(cli("action", "done", str(finished["id"]), user="alex"))
    draft = cli.json("plan", "edit", str(plan["id"]), user="calvin")
    assert [a["id"] for a in draft["carried_actions"]] == [kept["id"]]
    shown = cli.json("plan", "show", str(plan["id"]), user="alex")
    assert shown["open_actions"] == [cli.json("action", "list", user="alex")[0]]
    assert [a["id"] for a in cli.json("session", "show", str(draft["id"]), user="alex")["carried_actions"]] == [
        kept["id"]
    ]
    table = ok(cli("plan", "show", str(plan["id"]), "-o", "table", user="calvin")).stdout
    assert "Open action items from earlier sessions" in table and "Closing checklist" in table
    assert "Read the policy" not in table


def test_the_installed_coach_runs_the_follow_through_end_to_end(seeded):
    """Agreed in one session, acknowledged, carried to the next, done: the
    installed executable, piped, as a script would run it."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    executable = shutil.which("coach") or str(Path(sys.executable).parent / "coach")
    env = {**os.environ, "COACH_DB": seeded, "COACH_TZ": "UTC", "NO_COLOR": "1"}

    def run(*args: str, user: str) -> str:
        result = subprocess.run([executable, "--as", user, *args], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    first = run("session", "new", "--agent", "alex", "--form", "Call quality", "-q", user="calvin").strip()
    run("session", "coach", first, *COMPLETE_SET, "--private-notes", MARKER, user="calvin")
    item = run("action", "add", first, "--text", "Closing checklist", "--due", "+7d", "-q", user="calvin").strip()
    assert MARKER not in run("session", "ack", first, "--comment", "Agreed", user="alex")
    second = run("session", "new", "--agent", "alex", "--form", "Call quality", "-q", user="calvin").strip()
    carried = json.loads(run("session", "show", second, "-o", "json", user="alex"))["carried_actions"]
    assert [str(a["id"]) for a in carried] == [item]
    run("action", "done", item, "--note", "Every call", user="alex")
    assert json.loads(run("action", "list", "-o", "json", user="calvin")) == []
    assert "Agreed" in run("inbox", user="calvin")


def test_plan_show_at_a_terminal_has_coached_times_and_a_ratings_grid(cli):
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Shorter holds", user="calvin"
    )
    first = plan["current_session_id"]
    ok(cli("session", "coach", str(first), *COMPLETE_SET, user="calvin"))
    second = cli.json("plan", "edit", str(plan["id"]), user="calvin")["id"]
    ok(cli("session", "coach", str(second), *COMPLETE_SET, "--set", "greeting=2", user="calvin"))
    json_view = cli.json("plan", "show", str(plan["id"]), user="calvin")
    assert json_view["current_session"]["coached_at"] and json_view["recent_sessions"][0]["coached_at"]
    table = ok(cli("plan", "show", str(plan["id"]), "-o", "table", user="calvin")).stdout
    assert "Ratings and numbers by session" in table and "Coache" in table  # the header may wrap
    grid = table[table.index("Ratings and numbers by session") :]
    assert f"#{first}" in grid and f"#{second}" in grid
    greeting = next(line for line in grid.splitlines() if "Greeting" in line)
    assert greeting.index("4") < greeting.index("2")  # oldest session first
    assert "Opportunities" not in grid  # text fields stay in `session show`
