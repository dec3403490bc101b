"""Storage (SPEC §5): a private file, safe connections, versioned migrations,
refusing what is not ours without touching it, UTC timestamps, and writers
that take the lock up front."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from conftest import Cli, build_center
from sqlalchemy import event, text
from sqlmodel import SQLModel
from typer.testing import CliRunner

import coachcli.db
import coachcli.db.engine
from coachcli.cli.app import app
from coachcli.db import (
    migrations,
    models,  # noqa: F401  (registers the tables)
    open_database,
    transaction,
)
from coachcli.db.migrations import BOOKKEEPING_TABLES
from coachcli.errors import CoachError, ExitCode


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()}


def refused_line(result, code: ExitCode = ExitCode.DATABASE) -> str:
    assert result.exit_code == int(code), (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# --- a private file -------------------------------------------------------------------


def test_a_new_database_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "new" / "coach.db"
    result = Cli(path)("init")
    assert result.exit_code == 0, result.stderr
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_the_wal_file_is_private_too(tmp_path):
    path = tmp_path / "coach.db"
    engine = open_database(str(path), create=True)
    try:
        with transaction(engine, write=True) as db:
            build_center(db)
        with engine.connect() as connection:  # a live connection keeps the -wal file
            connection.execute(text("SELECT 1"))
            wal = path.with_name("coach.db-wal")
            assert wal.exists() and mode(wal) == 0o600
    finally:
        engine.dispose()


def test_the_default_database_lives_in_the_app_folder(tmp_path):
    """No --db and no COACH_DB: typer.get_app_dir("coach"), under the test's HOME."""
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.stderr
    path = coachcli.db.engine.default_database_path()
    assert str(path).startswith(str(tmp_path))
    assert path.exists() and mode(path) == 0o600 and mode(path.parent) == 0o700
    assert str(path) in result.stderr


@pytest.mark.sqlite_only
def test_a_missing_database_needs_init_first(empty_cli):
    line = refused_line(empty_cli("plan", "list", user="dana"))
    assert "coach init" in line and str(empty_cli.db_path) in line
    assert not empty_cli.db_path.exists()


# --- every connection -------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_every_connection_has_wal_foreign_keys_and_a_busy_timeout(engine):
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_foreign_keys_are_enforced(db, center):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="(?i)foreign key"), db.begin_nested():
        db.connection().exec_driver_sql("INSERT INTO team_memberships (team_id, user_id) VALUES (999, 999)")


# --- migrations --------------------------------------------------------------------------


def test_a_fresh_database_has_the_latest_schema_version(engine):
    with engine.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version FROM coach_schema").scalars().all()
    assert versions == [migrations.LATEST_VERSION]


def test_the_models_match_the_migrated_schema(engine):
    from sqlalchemy import inspect

    with engine.connect() as connection:
        inspector = inspect(connection)
        assert set(inspector.get_table_names()) - BOOKKEEPING_TABLES == set(SQLModel.metadata.tables)
        for name, table in SQLModel.metadata.tables.items():
            columns = {column["name"] for column in inspector.get_columns(name)}
            assert columns == {column.name for column in table.columns}, name


@pytest.mark.sqlite_only
def test_a_database_from_a_newer_coach_is_refused_untouched(empty_cli):
    assert empty_cli("init").exit_code == 0
    path = empty_cli.db_path
    connection = sqlite3.connect(path)
    connection.execute("UPDATE coach_schema SET version = ?", (migrations.LATEST_VERSION + 1,))
    connection.commit()
    connection.close()
    before = fingerprint(path)
    line = refused_line(empty_cli("plan", "list", user="dana"))
    assert f"schema version {migrations.LATEST_VERSION + 1}" in line and "newer coach" in line
    refused_line(empty_cli("init"))
    assert fingerprint(path) == before


def test_a_failed_upgrade_leaves_the_old_schema(engine, db_path, monkeypatch):
    """Each migration runs in one transaction with its version bump."""
    engine.dispose()
    broken = ["CREATE TABLE half_done (id INTEGER PRIMARY KEY)", "CREATE TABLE oops (syntax error"]
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, {"sqlite": broken}])
    monkeypatch.setattr(migrations, "LATEST_VERSION", len(migrations.MIGRATIONS))
    with pytest.raises(CoachError) as caught:
        open_database(str(db_path))
    assert caught.value.exit_code == ExitCode.DATABASE
    connection = sqlite3.connect(db_path)
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = connection.execute("SELECT version FROM coach_schema").fetchone()[0]
    connection.close()
    assert "half_done" not in tables
    assert version == migrations.LATEST_VERSION - 1


def test_an_upgrade_is_applied_when_the_database_is_opened(engine, db_path, monkeypatch):
    engine.dispose()
    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, {"sqlite": ["CREATE TABLE extra (id INTEGER)"]}]
    )
    monkeypatch.setattr(migrations, "LATEST_VERSION", len(migrations.MIGRATIONS))
    upgraded = open_database(str(db_path))
    try:
        with upgraded.connect() as connection:
            assert connection.exec_driver_sql("SELECT version FROM coach_schema").scalar() == migrations.LATEST_VERSION
            assert connection.exec_driver_sql("SELECT count(*) FROM extra").scalar() == 0
    finally:
        upgraded.dispose()


# --- refusing what is not ours, untouched -----------------------------------------------------


@pytest.mark.sqlite_only
def test_a_file_that_is_not_sqlite_is_refused_untouched(empty_cli):
    path = empty_cli.db_path
    path.write_text("handle,name\nalex,Alex Moreno\n")
    before = fingerprint(path)
    line = refused_line(empty_cli("session", "list", user="dana"))
    assert "not a SQLite database" in line
    refused_line(empty_cli("init"))
    assert fingerprint(path) == before
    assert siblings(path) == {"coach.db"}


@pytest.mark.sqlite_only
def test_a_truncated_database_is_refused_untouched(empty_cli):
    empty_cli("init")
    path = empty_cli.db_path
    data = path.read_bytes()
    assert len(data) > 4096
    path.write_bytes(data[: len(data) // 2 + 100])
    before = fingerprint(path)
    line = refused_line(empty_cli("session", "list", user="dana"))
    assert "truncated" in line
    assert fingerprint(path) == before
    assert siblings(path) == {"coach.db"}


@pytest.mark.sqlite_only
def test_a_sqlite_database_of_another_program_is_refused_untouched(empty_cli):
    path = empty_cli.db_path
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    connection.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    connection.commit()
    connection.close()
    before = fingerprint(path)
    line = refused_line(empty_cli("plan", "list", user="dana"))
    assert "not made by coach" in line
    refused_line(empty_cli("init"))
    assert fingerprint(path) == before  # not even switched to WAL
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    connection.close()


# --- time -------------------------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_timestamps_are_stored_as_utc_text_and_shown_in_coach_tz(cli, monkeypatch):
    import datetime as dt
    import json

    result = cli("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Holds", "-q", user="calvin")
    plan_id = int(result.stdout)
    connection = sqlite3.connect(cli.db_path)
    stored, kind = connection.execute(
        "SELECT created_at, typeof(created_at) FROM plans WHERE id = ?", (plan_id,)
    ).fetchone()
    connection.close()
    assert kind == "text" and stored.endswith("+00:00")

    monkeypatch.setenv("COACH_TZ", "America/New_York")
    shown = json.loads(cli("plan", "show", str(plan_id), "-o", "json", user="calvin").stdout)["created_at"]
    assert shown[-6:] in ("-05:00", "-04:00")
    assert dt.datetime.fromisoformat(shown) == dt.datetime.fromisoformat(stored)


# --- transactions -------------------------------------------------------------------------------


def statements_of(monkeypatch) -> list[str]:
    """Every SQL statement of the engines that the CLI opens from now on."""
    seen: list[str] = []
    real = coachcli.db.make_engine

    def recording(url, **options):
        engine = real(url, **options)
        event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: seen.append(sql))
        return engine

    monkeypatch.setattr(coachcli.db, "make_engine", recording)
    return seen


@pytest.mark.sqlite_only
def test_writes_begin_immediate_and_reads_do_not(cli, monkeypatch):
    seen = statements_of(monkeypatch)
    assert cli("plan", "list", user="calvin").exit_code == 0
    assert "BEGIN" in seen and "BEGIN IMMEDIATE" not in seen
    seen.clear()
    result = cli("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Holds", user="calvin")
    assert result.exit_code == 0, result.stderr
    # The schema check reads first; then the whole command is one write transaction.
    assert seen.count("BEGIN IMMEDIATE") == 1
    first_write = next(i for i, sql in enumerate(seen) if sql.startswith(("INSERT", "UPDATE", "DELETE")))
    assert seen.index("BEGIN IMMEDIATE") < first_write


def test_a_writer_holds_the_lock_from_its_first_statement(engine, db_path):
    """Two writers queue at BEGIN instead of failing half-way through."""
    other = sqlite3.connect(db_path, timeout=0.1, isolation_level=None)
    try:
        with transaction(engine, write=True) as db:
            db.connection()  # begun, nothing written yet
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        with transaction(engine, write=False) as db:
            db.connection()
            other.execute("BEGIN IMMEDIATE")  # a reader does not block a writer
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_second_writer_waits_for_the_first(engine, db_path, seeded):
    """With the busy timeout, the second writer waits and then succeeds."""
    order: list[str] = []

    def second_writer():
        with transaction(engine, write=True) as db:
            connection = db.connection()  # BEGIN IMMEDIATE: waits for the first writer
            order.append("second begun")
            connection.exec_driver_sql("UPDATE users SET name = 'Alex M.' WHERE handle = 'alex'")

    with transaction(engine, write=True) as db:
        db.connection().exec_driver_sql("UPDATE users SET name = 'Alex Moreno-Diaz' WHERE handle = 'alex'")
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.3)
        order.append("first commits")
    thread.join(timeout=10)
    assert order == ["first commits", "second begun"]
    with transaction(engine, write=False) as db:
        assert db.connection().exec_driver_sql("SELECT name FROM users WHERE handle = 'alex'").scalar() == "Alex M."


@pytest.mark.sqlite_only
def test_a_database_that_stays_busy_is_a_clear_error(cli, monkeypatch):
    monkeypatch.setattr(coachcli.db.engine, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = sqlite3.connect(cli.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        before = cli.json("plan", "list", user="calvin")  # readers are not blocked
        result = cli("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Holds", user="calvin")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    line = refused_line(result)
    assert "busy" in line and "try again" in line
    assert cli.json("plan", "list", user="calvin") == before


def test_a_folder_given_as_the_database_is_refused_clearly(tmp_path):
    result = Cli(tmp_path)("plan", "list", user="dana")
    assert result.exit_code == ExitCode.DATABASE
    assert "is a folder" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_every_missing_folder_of_a_new_database_is_private(tmp_path):
    target = tmp_path / "a" / "b" / "coach.db"
    open_database(str(target), create=True).dispose()
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_url_for_a_backend_coach_does_not_run_on_is_refused_without_its_password(tmp_path):
    result = CliRunner().invoke(app, ["--db", "mysql://u:secret@localhost/x", "--as", "dana", "plan", "list"])
    assert result.exit_code == ExitCode.DATABASE
    assert "secret" not in result.stderr and "SQLite or PostgreSQL" in result.stderr


def test_a_bad_coach_tz_is_refused_before_any_output(cli, monkeypatch):
    monkeypatch.setenv("COACH_TZ", "Mars/Base")
    result = cli("user", "list", "-o", "csv", user="dana")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert result.stdout == ""
    assert "COACH_TZ" in result.stderr


@pytest.mark.parametrize("url", ["postgres ql://u:secret@h/x", "postgresql://u:secret@h:port/x"])
def test_an_unparsable_url_is_refused_without_echoing_it(url):
    result = CliRunner().invoke(app, ["--db", url, "--as", "dana", "plan", "list"])
    assert result.exit_code == ExitCode.DATABASE
    assert "neither a file path nor a SQLAlchemy URL" in result.stderr
    assert "secret" not in result.stderr and "internal error" not in result.stderr


def test_a_python_with_too_old_a_sqlite_is_refused_before_any_file_is_made(tmp_path, monkeypatch):
    monkeypatch.setattr(coachcli.db.engine.sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(coachcli.db.engine.sqlite3, "sqlite_version", "3.31.1")
    target = tmp_path / "coach.db"
    result = CliRunner().invoke(app, ["--db", str(target), "init"])
    assert result.exit_code == ExitCode.DATABASE
    assert "needs SQLite 3.35.0 or newer" in result.stderr and "3.31.1" in result.stderr
    assert not target.exists()
