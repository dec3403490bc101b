"""Text hygiene (SPEC §13): control characters are refused at input — in
one-line texts all of them, in notes, comments and answers all but line
breaks and tabs — on every path, options and import files alike, so TSV,
CSV and the calendar only ever carry clean text."""

from __future__ import annotations

import pytest
from conftest import COMPLETE_ANSWERS, Cli

from coachcli.errors import CoachError, ExitCode
from coachcli.parse import check_text

ESC = "\x1b[2J"  # C0: clears the screen
CSI = "\x9b31m"  # C1: the one-byte escape that starts the same sequences
REASON = "left the company, asked for erasure"


@pytest.mark.parametrize("text", ["a\x1bb", "a\x9bb", "a\x7fb", "a\x00b", "a\nb", "a\tb", "a\rb", "a\u2028b", "\udc80"])
def test_a_one_line_text_refuses_every_control_character(text):
    with pytest.raises(CoachError, match=r"^title: remove the character U\+[0-9A-F]{4}; it must be one line$"):
        check_text(text, "title")


def test_a_text_of_lines_keeps_line_breaks_and_tabs_and_refuses_the_rest():
    assert check_text("one\ntwo\tthree\r\nfour\rfive", "notes", lines=True) == "one\ntwo\tthree\nfour\nfive"
    assert check_text("Zoë — 日本語 🎧 \u202e", "notes", lines=True) == "Zoë — 日本語 🎧 \u202e"
    for text in ("a\x1bb", "a\x9bb", "a\x0bb", "a\x0cb", "a\x07b"):
        with pytest.raises(CoachError, match="^notes: remove the character .*line breaks and tabs"):
            check_text(text, "notes", lines=True)


def _world(cli: Cli, tmp_path) -> dict:
    plan = cli.json("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Calm", user="calvin")
    coached = str(plan["current_session_id"])
    answers = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]
    assert cli("session", "coach", coached, *answers, user="calvin").exit_code == 0
    draft = str(
        cli.json("session", "new", "--agent", "alex", "--form", "Call quality", "--title", "D", user="calvin")["id"]
    )
    item = str(cli.json("action", "add", coached, "--text", "Practise", user="calvin")["id"])
    files = {
        "roster_name": "handle,name,role,teams\nzed,Zed\x1b[2J,agent,Inbound\n",
        "roster_team": "handle,name,role,teams\nzed,Zed,agent,Night\x9b\n",
        "sessions": "title,agent,coach,date,start,notes\nT\x1b[2J,alex,calvin,2026-12-20,10:00,n\n",
        "session_notes": "title,agent,coach,date,start,notes\nT,alex,calvin,2026-12-20,10:00,n\x9bm\n",
        "form.toml": 'name = "Q\\u001b[2J"\n[[fields]]\nkey = "a"\nlabel = "A"\ntype = "text"\n',
    }
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    return {"plan": str(plan["id"]), "coached": coached, "draft": draft, "item": item}


def test_control_characters_are_refused_on_every_path_and_nothing_changes(cli, tmp_path):
    w = _world(cli, tmp_path)
    at = ["--date", "2026-12-20", "--start", "10:00"]
    refused = [
        # one-line texts
        (["user", "add", "zed", "--name", f"Zed{ESC}", "--team", "Inbound"], "dana", "name"),
        (["team", "add", f"Night{CSI}"], "dana", "team name"),
        (["path", "add", f"Holds{ESC}", "--agent", "alex"], "dana", "path name"),
        (["session", "new", "--agent", "alex", "--form", "Call quality", "--title", f"T{ESC}"], "calvin", "title"),
        (["session", "new", "--agent", "alex", "--form", "Call quality", "--title", "two\nlines"], "calvin", "title"),
        (["session", "schedule", "--agent", "alex", "--title", f"T{CSI}", *at], "calvin", "title"),
        (
            ["session", "schedule", "--agent", "alex", "--title", "T", *at, "--link", f"https://x.example/{ESC}"],
            "calvin",
            "meeting link",
        ),
        (["session", "request", "--title", f"Help{CSI}"], "maria", "title"),
        (["plan", "close", w["plan"], "--reason", f"Purpose met{ESC} for six weeks"], "calvin", "close reason"),
        (["user", "erase", "maria", "--reason", f"{REASON}{ESC}"], "dana", "reason"),
        (["user", "erase", "maria", "--reason", REASON, "--also", f"Mimi{CSI}"], "dana", "--also"),
        # texts of lines: line breaks and tabs only
        (["session", "save", w["draft"], "--notes", f"a\n{ESC}"], "calvin", "notes"),
        (["session", "save", w["draft"], "--private-notes", f"a\t{CSI}"], "calvin", "private notes"),
        (["session", "save", w["draft"], "--set", f"strengths=a{ESC}"], "calvin", "strengths"),
        (["session", "ack", w["coached"], "--comment", f"ok{CSI}"], "alex", "comment"),
        (["action", "add", w["coached"], "--text", f"x{ESC}"], "calvin", "action text"),
        (["action", "done", w["item"], "--note", f"x{CSI}"], "alex", "note"),
        (["plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", f"p{ESC}"], "calvin", "purpose"),
        # import files
        (["user", "import", str(tmp_path / "roster_name")], "dana", "name"),
        (["user", "import", str(tmp_path / "roster_team")], "dana", "team name"),
        (["session", "import", str(tmp_path / "sessions")], "calvin", "title"),
        (["session", "import", str(tmp_path / "session_notes")], "calvin", "notes"),
        (["form", "add", str(tmp_path / "form.toml")], "dana", "name"),
    ]
    before = cli.dump()
    for command, user, field in refused:
        result = cli(*command, user=user)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == ExitCode.BAD_INPUT and len(lines) == 1, (command, result.exit_code, result.stderr)
        # A link had its own check already: it says so in its words.
        said = "invalid meeting link" if field == "meeting link" else f"{field}: remove the character U+"
        assert said in lines[0], (command, lines[0])
    assert cli.dump() == before


def test_line_breaks_and_tabs_are_kept_in_notes(cli, tmp_path):
    w = _world(cli, tmp_path)
    saved = cli.json("session", "save", w["draft"], "--notes", "one\r\ntwo\tthree", user="calvin")
    assert saved["notes"] == "one\ntwo\tthree"
