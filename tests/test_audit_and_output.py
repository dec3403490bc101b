"""The audit trail, and output that stays literal and safe."""

from __future__ import annotations

import csv
import io
import json

import pytest
from conftest import Cli, query
from sqlalchemy.exc import IntegrityError

from coachcli.cli.output import defuse_formula
from coachcli.db import migrations

HOSTILE = [
    "Robert'); DROP TABLE plans;--",
    'She said "hold on" \\ then left',
    "tab\there, new\nline, two\n\nbreaks, nul-less",
    "ünïcödé — 日本語 — emoji 🎧",
    "x" * 5000,
]


def test_every_change_lands_in_the_audit_log(cli):
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Lower hold time", user="calvin"
    )
    session_id = plan["current_session_id"]
    assert cli("session", "save", str(session_id), "--set", "greeting=4", user="calvin").exit_code == 0
    entries = cli.json("log", "--record", f"plan:{plan['id']}", user="dana")
    assert [entry["action"] for entry in entries] == ["plan.add"]
    assert entries[0]["actor"] == "calvin"
    assert entries[0]["details"]["agent"] == "alex"
    session_entries = cli.json("log", "--record", f"session:{session_id}", user="dana")
    assert [entry["action"] for entry in session_entries] == ["session.save", "session.new"]


def test_entries_refer_to_people_by_id_and_keep_no_free_text(cli):
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Lower hold time", user="calvin"
    )
    cli("path", "add", "Holds", "--agent", "alex", "--agent", "maria", user="dana")
    cli.json("session", "request", "--title", "Alex wants help", user="alex")
    ids = dict(cli.query("SELECT handle, id FROM users"))
    stored = {
        action: (actor, json.loads(details))
        for actor, action, details in cli.query("SELECT actor_id, action, details FROM audit_log")
    }
    assert stored["plan.add"] == (ids["calvin"], {"agent_user_id": ids["alex"], "form": "Call quality"})
    assert stored["path.add"] == (ids["dana"], {"name": "Holds", "agents_user_ids": [ids["alex"], ids["maria"]]})
    assert stored["session.request"] == (ids["alex"], {})
    assert stored["user.add"][1] == {"role": "agent", "teams": ["Chat"]}  # the last added: sam
    shown = cli.json("log", "--record", f"plan:{plan['id']}", user="dana")[0]
    assert (shown["actor"], shown["details"]) == ("calvin", {"agent": "alex", "form": "Call quality"})
    assert "alex" not in json.dumps(
        [details for _, _, details in cli.query("SELECT actor_id, action, details FROM audit_log")]
    )


def test_log_filters_by_user_and_dates(cli):
    cli("plan", "add", "--agent", "sam", "--form", "Call quality", "--purpose", "Chat", user="priya")
    by_priya = cli.json("log", "--user", "priya", user="dana")
    assert by_priya and {entry["actor"] for entry in by_priya} == {"priya"}
    assert cli.json("log", "--from", "today", "--to", "today", user="dana")
    assert cli.json("log", "--to", "yesterday", user="dana") == []
    assert cli.json("log", "--from", "tomorrow", user="dana") == []


def test_the_log_is_read_a_batch_at_a_time_with_everyone_named(db, center, monkeypatch):
    from coachcli.services import audit, users

    for n, actor in enumerate([center.dana, center.calvin, center.priya]):
        users.add_team(db, actor, f"Night {n}")
    # The three entries span two batches; the second's actor is in neither of the first's.
    monkeypatch.setattr(audit, "STREAMED_ROWS", 2)
    entries = list(audit.search(db, center.dana, record="team"))[:3]
    assert [(entry.actor, entry.details["name"]) for entry in entries] == [
        ("priya", "Night 2"),
        ("calvin", "Night 1"),
        ("dana", "Night 0"),
    ]


def test_only_admins_read_the_log(cli):
    result = cli("log", user="calvin")
    assert result.exit_code == 5
    assert "only an admin" in result.stderr


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor_id = NULL", "DELETE FROM audit_log"])
def test_the_audit_log_refuses_update_and_delete(cli, statement):
    before = cli.dump()
    with pytest.raises(IntegrityError, match="append-only"):
        cli.query(statement)
    assert cli.dump() == before


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_stored_and_shown_back_literally(cli, text):
    plan = cli.json("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", text, user="calvin")
    assert plan["purpose"] == text.strip()
    session_id = str(plan["current_session_id"])
    saved = cli.json("session", "save", session_id, "--notes", text, "--set", f"strengths={text}", user="calvin")
    assert saved["notes"] == text
    assert saved["answers"]["strengths"] == text
    shown = cli.json("session", "show", session_id, user="calvin")
    assert shown["notes"] == text
    assert len(cli.query("SELECT * FROM plans")) == 1


def test_tsv_keeps_every_record_on_one_line(cli):
    text = HOSTILE[2]
    plan = cli.json("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "p", user="calvin")
    cli("session", "save", str(plan["current_session_id"]), "--notes", text, user="calvin")
    result = cli("session", "list", "-o", "tsv", user="calvin")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    header, row = (line.split("\t") for line in lines)
    notes = row[header.index("notes")]
    assert notes == text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_defuses_formula_cells(cell):
    assert defuse_formula(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-5", "+3.5", "-0.25", "42", "plain text", ""])
def test_csv_leaves_numbers_and_plain_text_alone(cell):
    assert defuse_formula(cell) == cell


def test_csv_output_defuses_a_formula_purpose(cli):
    cli("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", '=HYPERLINK("x")', user="calvin")
    result = cli("plan", "list", "-o", "csv", user="calvin")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["purpose"] == '\'=HYPERLINK("x")'
    assert rows[0]["id"] == "1"


def test_json_output_is_literal_unicode(cli):
    result = cli(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", HOSTILE[3], "-o", "json", user="calvin"
    )
    assert HOSTILE[3] in result.stdout
    assert json.loads(result.stdout)["purpose"] == HOSTILE[3]


def test_tables_show_control_characters_and_bidirectional_overrides_as_escapes(cli, monkeypatch):
    """Input refuses them; a table escapes what a script wrote straight into
    the database: C0 and C1 controls, bidirectional overrides, isolates and marks."""
    monkeypatch.setenv("COLUMNS", "400")
    cli("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "calm", user="calvin")
    hostile = "calm\x1b[2J\x1b]0;pwned\x07 \x9b31m \u202eevil\u202c \u2066x\u2069\u200f purpose"
    cli.query(f"UPDATE plans SET purpose = '{hostile}'")
    result = cli("plan", "list", "-o", "table", user="calvin")
    shown = "\\x1b[2J\\x1b]0;pwned\\x07 \\x9b31m \\u202eevil\\u202c \\u2066x\\u2069\\u200f purpose"
    assert shown in result.stdout
    assert not set(result.stdout) & set("\x1b\x07\x9b\u202e\u202c\u2066\u2069\u200f")


# --- the audit log refers to people by id, old entries included ------------------------------


def test_an_upgrade_maps_old_audit_entries_to_user_ids(db_target, monkeypatch):
    """A version-1 database's entries name people by handle; the upgrade turns
    them into ids (and drops free text) before the append-only guard returns."""
    from coachcli.db import open_database

    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "LATEST_VERSION", 1)
    open_database(db_target, create=True).dispose()
    for statement in (
        "INSERT INTO users (id, handle, name, role, created_at) VALUES (1, 'dana', 'Dana W', 'admin', '2026-01-01T00:00:00+00:00')",
        "INSERT INTO users (id, handle, name, role, created_at) VALUES (2, 'alex', 'Alex M', 'agent', '2026-01-01T00:00:00+00:00')",
        """INSERT INTO audit_log (at, actor, action, record_type, record_id, details) VALUES
           ('2026-01-01T00:00:00+00:00', NULL, 'user.add', 'user', 1, '{"handle": "dana", "role": "admin", "teams": []}'),
           ('2026-01-01T00:00:01+00:00', 'dana', 'plan.add', 'plan', 1, '{"agent": "alex", "form": "Call quality"}'),
           ('2026-01-01T00:00:02+00:00', 'dana', 'path.add', 'path', 1, '{"name": "Holds", "agents": ["alex", "dana"]}'),
           ('2026-01-01T00:00:03+00:00', 'dana', 'plan.close', 'plan', 1, '{"reason": "Alex M did it; purpose met"}'),
           ('2026-01-01T00:00:04+00:00', 'gone', 'kpi.import', 'kpi_observation', NULL, '{"source": "/home/alex/k.csv", "inserted": 2}'),
           ('2026-01-01T00:00:05+00:00', 'alex', 'session.ack', 'session', 1, '{"comment": "Thanks, Alex M"}'),
           ('2026-01-01T00:00:06+00:00', 'alex', 'action.done', 'action', 1, '{"note": "Alex M did it"}')""",
    ):
        query(db_target, statement)
    monkeypatch.undo()
    open_database(db_target, create=True).dispose()
    rows = query(db_target, "SELECT actor_id, action, details FROM audit_log ORDER BY id")
    assert [(actor, action, json.loads(details)) for actor, action, details in rows] == [
        (None, "user.add", {"role": "admin", "teams": []}),
        (1, "plan.add", {"agent_user_id": 2, "form": "Call quality"}),
        (1, "path.add", {"name": "Holds", "agents_user_ids": [2, 1]}),
        (1, "plan.close", {}),
        (None, "kpi.import", {"inserted": 2}),
        (2, "session.ack", {}),
        (2, "action.done", {}),
    ]
    assert query(db_target, "SELECT version FROM coach_schema") == [(migrations.LATEST_VERSION,)]
    with pytest.raises(IntegrityError, match="append-only"):
        query(db_target, "UPDATE audit_log SET actor_id = 2")
    assert Cli(db_target).json("log", user="dana")[4]["details"] == {"name": "Holds", "agents": ["alex", "dana"]}
