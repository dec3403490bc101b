"""The same coach on SQLite and PostgreSQL: reaching the server, the schema,
permanence enforced by the server itself, and `coach db info|check|copy`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import COMPLETE_ANSWERS, Cli, empty_postgres_schema, query, snapshot
from sqlalchemy.exc import IntegrityError

from coachcli.db.engine import database_url
from coachcli.db.migrations import LATEST_VERSION, PROTECTING_TRIGGERS
from coachcli.errors import ExitCode

COACH = shutil.which("coach") or str(Path(sys.executable).with_name("coach"))
REASON = "Hold time under five minutes on every audited call for six weeks; purpose met"


def one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def coached_plan(cli) -> tuple[int, int]:
    """A closed plan whose one session is coached: everything permanence guards."""
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Shorter holds", user="calvin"
    )
    session = plan["current_session_id"]
    answers = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]
    assert cli("session", "coach", str(session), *answers, user="calvin").exit_code == 0
    assert cli("plan", "close", str(plan["id"]), "--reason", REASON, user="calvin").exit_code == 0
    return plan["id"], session


# --- URLs and reaching the server -------------------------------------------------------


def test_a_plain_postgresql_url_means_psycopg_3():
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://root:s3cr3t-pw@127.0.0.1:1/postgres", "refused"),
        ("postgresql://root:s3cr3t-pw@localhost/no_such_coach_database", "does not exist"),
        ("postgresql://no_such_role:s3cr3t-pw@localhost/postgres", "does not exist"),
    ],
)
def test_an_unreachable_server_missing_database_or_bad_role_is_one_line_exit_6(postgres_database, url, why):
    started = time.monotonic()
    result = Cli(url)("plan", "list", user="dana")
    line = one_line(result, ExitCode.DATABASE)
    assert why in line and "s3cr3t-pw" not in result.stderr + result.stdout
    assert time.monotonic() - started < 15


# --- the schema ---------------------------------------------------------------------------


def test_other_commands_on_an_empty_or_older_postgresql_schema_ask_for_init(postgres_database):
    with empty_postgres_schema(postgres_database) as target:
        cli = Cli(target)
        assert "run `coach init`" in one_line(cli("user", "list", user="dana"), ExitCode.DATABASE)
        assert cli("init").exit_code == 0
        query(target, "UPDATE coach_schema SET version = 0")
        line = one_line(cli("user", "list", user="dana"), ExitCode.DATABASE)
        assert "older" in line and "run `coach init`" in line


def test_a_newer_schema_is_refused_on_either_backend(cli):
    query(cli.target, f"UPDATE coach_schema SET version = {LATEST_VERSION + 1}")
    before = cli.dump()
    for command in (["init"], ["user", "list"]):
        assert "newer coach" in one_line(cli(*command, user="dana"), ExitCode.DATABASE)
    assert cli.dump() == before


def test_four_inits_at_once_on_a_new_postgresql_database_all_succeed(postgres_database):
    with empty_postgres_schema(postgres_database) as target:
        env = {**os.environ, "COACH_DB": target}
        processes = [
            subprocess.Popen([COACH, "init"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        results = [(process.wait(timeout=120), process.stderr.read().strip()) for process in processes]
        report = "\n".join(
            f"init {number}: exit {code}: {stderr!r}" for number, (code, stderr) in enumerate(results, 1)
        )
        assert all(code == 0 for code, _ in results), report
        assert query(target, "SELECT version FROM coach_schema") == [(LATEST_VERSION,)]


# --- permanence, from a plain SQL session (sqlite3 or psql) ---------------------------------


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DELETE FROM plans", "performance plans cannot be deleted"),
        ("UPDATE plans SET purpose = 'rewritten'", "closed performance plan cannot be changed"),
        ("UPDATE sessions SET notes = 'rewritten'", "coached session cannot be changed"),
        ("DELETE FROM sessions", "coached session cannot be deleted"),
        ("UPDATE audit_log SET action = 'someone'", "append-only"),
        ("DELETE FROM audit_log", "append-only"),
    ],
)
def test_the_database_itself_refuses_what_is_permanent(cli, statement, refusal):
    coached_plan(cli)
    before = cli.dump()
    with pytest.raises(IntegrityError, match=refusal):
        cli.query(statement)
    assert cli.dump() == before


@pytest.mark.parametrize("table", ["plans", "sessions", "audit_log"])
def test_postgresql_refuses_truncate_of_what_is_permanent(postgres_database, table):
    with empty_postgres_schema(postgres_database) as target:
        cli = Cli(target)
        assert cli("init").exit_code == 0
        with pytest.raises(IntegrityError, match="cannot|append-only"):
            query(target, f"TRUNCATE {table} CASCADE")


def test_a_trigger_refusal_reaches_the_user_as_one_line(cli):
    _, session = coached_plan(cli)
    line = one_line(cli("session", "delete", str(session), user="calvin"), ExitCode.REFUSED)
    assert "coached" in line


# --- db info, check, copy ---------------------------------------------------------------------


def test_db_info_needs_no_acting_user(cli):
    coached_plan(cli)
    info = cli.json("db", "info")
    assert info["backend"] in ("sqlite", "postgresql") and info["schema_version"] == LATEST_VERSION
    assert info["tables"]["plans"] == 1 and info["tables"]["users"] == 6 and info["tables"]["audit_log"] > 0
    assert set(info) >= {"backend", "location", "schema_version", "tables"}


def test_db_check_passes_then_names_a_missing_trigger(cli):
    checked = cli.json("db", "check")
    assert checked["integrity"] == "ok" and checked["schema_version"] == LATEST_VERSION
    backend = checked["backend"]
    trigger = PROTECTING_TRIGGERS[backend][0]
    from coachcli.db.maintenance import _drop_trigger

    query(cli.target, _drop_trigger(backend, trigger))
    line = one_line(cli("db", "check"), ExitCode.DATABASE)
    assert trigger in line


# Ways to switch protection off while leaving its name in place.
SWITCHED_OFF = {
    "sqlite": [
        (
            "DROP TRIGGER audit_log_is_append_only_delete",
            "CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log WHEN 0 "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        ),
    ],
    "postgresql": [
        ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_is_append_only_delete",),
        ("ALTER TABLE audit_log ENABLE REPLICA TRIGGER audit_log_is_append_only_delete",),
        (
            "DROP TRIGGER audit_log_is_append_only_delete ON audit_log",
            "CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log FOR EACH ROW "
            "WHEN (false) EXECUTE FUNCTION coach_refuse('the audit log is append-only')",
        ),
        (
            "CREATE OR REPLACE FUNCTION coach_refuse() RETURNS trigger LANGUAGE plpgsql "
            "SET search_path = pg_catalog, pg_temp AS $$ BEGIN RETURN NULL; END $$",
        ),
    ],
}


@pytest.mark.parametrize(
    ("for_backend", "statements"),
    [(backend, statements) for backend, cases in SWITCHED_OFF.items() for statements in cases],
)
def test_db_check_sees_protection_switched_off_under_its_name(cli, for_backend, statements):
    if cli.json("db", "check")["backend"] != for_backend:
        pytest.skip(f"a {for_backend} way to switch protection off")
    for statement in statements:
        query(cli.target, statement)
    line = one_line(cli("db", "check"), ExitCode.DATABASE)
    assert "audit_log_is_append_only_delete" in line or "function coach_refuse is not" in line, line


def test_db_copy_round_trips_between_the_backends(cli, tmp_path, postgres_database):
    coached_plan(cli)
    assert cli("minigoal", "evaluate").exit_code == 0
    original = cli.dump()
    with empty_postgres_schema(postgres_database) as server:
        into_server = cli.json("db", "copy", "--to", server)
        assert into_server["tables"] == cli.json("db", "info")["tables"]
        back = tmp_path / "back.db"
        assert Cli(server).json("db", "copy", "--to", str(back))["tables"] == into_server["tables"]
        assert snapshot(str(back)) == snapshot(server) == original
        # The copies keep every promise, and take new records after the copied ones.
        assert Cli(str(back)).json("db", "check")["integrity"] == "ok"
        assert Cli(server).json("db", "check")["integrity"] == "ok"
        new_plan = Cli(server).json(
            "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Next", user="calvin"
        )
        assert new_plan["id"] == 2
    assert cli.dump() == original  # the source is never changed


def test_db_copy_refuses_an_existing_file_or_a_database_that_is_not_empty(cli, tmp_path, backend):
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"")
    assert "already exists" in one_line(cli("db", "copy", "--to", str(existing)), ExitCode.REFUSED)
    assert existing.read_bytes() == b""
    before = cli.dump()
    onto_itself = one_line(cli("db", "copy", "--to", cli.target), ExitCode.REFUSED)
    assert ("already exists" if backend == "sqlite" else "not empty") in onto_itself
    assert cli.dump() == before


def test_db_copy_prints_the_counts_as_the_spec_says(cli, tmp_path):
    copied = json.loads(cli("db", "copy", "--to", str(tmp_path / "backup.db"), "-o", "json").stdout)
    assert set(copied) == {"target", "tables"} and copied["tables"]["users"] == 6


def test_without_psycopg_a_postgresql_url_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    result = Cli("postgresql://u:s3cr3t-pw@localhost/x")("plan", "list", user="dana")
    line = one_line(result, ExitCode.DATABASE)
    assert "pip install 'coachcli[postgres]'" in line and "s3cr3t-pw" not in line


def test_a_failed_copy_leaves_no_file_behind(cli, tmp_path, monkeypatch):
    from coachcli.db import maintenance

    def mismatched(connection):
        return {"plans": -1}

    target = tmp_path / "copy.db"
    original = maintenance.row_counts
    calls = iter([original, mismatched])
    monkeypatch.setattr(maintenance, "row_counts", lambda connection: next(calls)(connection))
    assert "does not match" in one_line(cli("db", "copy", "--to", str(target)), ExitCode.DATABASE)
    assert not target.exists()
    monkeypatch.setattr(maintenance, "row_counts", original)
    assert cli.json("db", "copy", "--to", str(target))["tables"]["users"] == 6
