"""Backups that hold (SPEC §13): exact counts whatever plan the server picks,
and a `db copy` that leaves nothing behind when it fails and never removes or
overwrites what it did not make."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import sqlalchemy
from conftest import Cli, drop_coach_groups, empty_postgres_schema, query, snapshot
from sqlalchemy.exc import OperationalError

from coachcli.db import maintenance
from coachcli.db.engine import database_url, sqlite_file
from coachcli.db.maintenance import counting_statement
from coachcli.errors import ExitCode

# PostgreSQL 15 spells it force_parallel_mode (16 renamed it debug_parallel_query).
PARALLEL_EVERYWHERE = {
    "force_parallel_mode": "on",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
}


def one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@contextmanager
def database_with_settings(server: sqlalchemy.URL, settings: dict[str, str]) -> Iterator[str]:
    """A database of its own on the test server, every session in it started
    with `settings` (ALTER DATABASE … SET), as a --db URL; dropped afterwards."""
    name = f"coach_settings_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            for setting, value in settings.items():
                connection.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET {setting} = '{value}'")
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            drop_coach_groups(connection, name, "public")
        admin.dispose()


# --- exact counts -------------------------------------------------------------------------


@pytest.mark.parametrize("smallest_parallel_scan", ["0", "1TB"])
def test_counts_are_exact_when_the_server_runs_the_count_in_parallel(
    postgres_database, tmp_path, smallest_parallel_scan
):
    settings = {**PARALLEL_EVERYWHERE, "min_parallel_table_scan_size": smallest_parallel_scan}
    with database_with_settings(postgres_database, settings) as target:
        cli = Cli(target)
        assert cli("init").exit_code == 0
        # Every table a different size, the KPI table far the largest.
        cli.query(
            "INSERT INTO users (handle, name, role, created_at) "
            "SELECT 'agent' || i, 'Agent ' || i, 'agent', '2026-01-01T00:00:00+00:00' FROM generate_series(1, 7) AS i"
        )
        cli.query("INSERT INTO teams (name, created_at) VALUES ('Inbound', '2026-01-01T00:00:00+00:00')")
        cli.query(
            "INSERT INTO kpi_observations (agent_id, metric, observed_at, value) "
            "SELECT 1 + mod(i, 7), 'hold-time', '2026-01-01T' || i, i FROM generate_series(1, 60000) AS i"
        )
        cli.query("ANALYZE")
        assert cli.query("SHOW force_parallel_mode") == [("on",)]
        statement = str(
            counting_statement().compile(
                dialect=sqlalchemy.dialects.postgresql.dialect(), compile_kwargs={"literal_binds": True}
            )
        )
        plan = "\n".join(row[0] for row in cli.query(f"EXPLAIN {statement}"))
        assert "Gather" in plan, plan
        if smallest_parallel_scan == "0":
            assert "Parallel Seq Scan on kpi_observations" in plan, plan

        exact = {
            name: cli.query(f"SELECT count(*) FROM {name}")[0][0]
            for name in cli.json("db", "info")["tables"]  # every table coach has
        }
        assert (exact["users"], exact["teams"], exact["kpi_observations"]) == (7, 1, 60000)
        assert cli.json("db", "info")["tables"] == exact
        backup = tmp_path / "backup.db"
        assert cli.json("db", "copy", "--to", str(backup))["tables"] == exact
        assert Cli(str(backup)).json("db", "info")["tables"] == exact
        assert snapshot(str(backup)) == snapshot(target)


# --- a copy that leaves nothing behind, and touches only what it made -------------------------


@contextmanager
def copy_target(kind: str, tmp_path, request) -> Iterator[str]:
    """Where a test copies to: a new SQLite file in a folder of its own, or a
    new, empty PostgreSQL schema."""
    if kind == "sqlite":
        folder = tmp_path / "backups"
        folder.mkdir()
        yield str(folder / "copy.db")
        return
    with empty_postgres_schema(request.getfixturevalue("postgres_database")) as target:
        yield target


def what_is_there(target: str) -> list[str]:
    """Everything at the target: the files in the SQLite file's folder, or
    every object in the PostgreSQL schema (tables, sequences, functions)."""
    path = sqlite_file(database_url(target))
    if path is not None:
        return sorted(os.listdir(path.parent))
    return [
        name
        for (name,) in query(
            target,
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace "
            "ORDER BY 1",
        )
    ]


def fail_midway(monkeypatch, kind: str) -> None:
    """The disk fills while the copy writes team_memberships: some tables are
    copied, others not yet."""
    real_insert = maintenance.insert

    def insert(table):
        if table.name == "team_memberships":
            reason = (
                sqlite3.OperationalError("database or disk is full")
                if kind == "sqlite"
                else psycopg.errors.DiskFull("could not extend file: No space left on device")
            )
            raise OperationalError("INSERT INTO team_memberships …", {}, reason)
        return real_insert(table)

    monkeypatch.setattr(maintenance, "insert", insert)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_copy_that_fails_midway_leaves_nothing_and_trying_again_works(cli, kind, tmp_path, request, monkeypatch):
    source = cli.dump()
    with copy_target(kind, tmp_path, request) as target:
        before = what_is_there(target)
        with monkeypatch.context() as failing:
            fail_midway(failing, kind)
            one_line(cli("db", "copy", "--to", target), ExitCode.DATABASE)
        assert what_is_there(target) == before
        copied = cli.json("db", "copy", "--to", target)
        assert copied["tables"] == cli.json("db", "info")["tables"]
        assert snapshot(target) == source
        assert Cli(target).json("db", "check")["integrity"] == "ok"
    assert cli.dump() == source


def test_a_failed_copy_removes_the_folders_it_made(cli, tmp_path, monkeypatch):
    fail_midway(monkeypatch, "sqlite")
    one_line(cli("db", "copy", "--to", str(tmp_path / "new" / "deeper" / "copy.db")), ExitCode.DATABASE)
    assert not (tmp_path / "new").exists()


def test_a_copy_never_replaces_a_file_that_appears_while_it_runs(cli, tmp_path, monkeypatch):
    folder = tmp_path / "backups"
    folder.mkdir()
    target = folder / "copy.db"
    real_insert = maintenance.insert

    def insert(table):
        if table.name == "users" and not target.exists():
            target.write_text("someone else's file")
        return real_insert(table)

    monkeypatch.setattr(maintenance, "insert", insert)
    assert "already exists" in one_line(cli("db", "copy", "--to", str(target)), ExitCode.REFUSED)
    assert target.read_text() == "someone else's file"
    assert os.listdir(folder) == ["copy.db"]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        ({"bk.db": "-> missing.db"}, "already exists (a symbolic link)"),
        ({"bk.db": "-> missing.db", "bk.db-wal": "stray"}, "already exists (a symbolic link)"),
        ({"elsewhere.db": "precious", "bk.db": "-> elsewhere.db"}, "already exists (a symbolic link)"),
        ({"bk.db-wal": "stray"}, "bk.db-wal exists"),
        ({"bk.db-shm": "stray"}, "bk.db-shm exists"),
        ({"bk.db-journal": "stray"}, "bk.db-journal exists"),
    ],
)
def test_db_copy_refuses_a_symlink_or_a_stray_journal_file_and_touches_nothing(cli, tmp_path, make, words):
    folder = tmp_path / "backups"
    folder.mkdir()
    for name, content in make.items():
        if content.startswith("-> "):
            (folder / name).symlink_to(content[3:])
        else:
            (folder / name).write_text(content)

    def state() -> dict[str, str]:
        return {
            name: ("-> " + os.readlink(folder / name)) if (folder / name).is_symlink() else (folder / name).read_text()
            for name in sorted(os.listdir(folder))
        }

    before, source = state(), cli.dump()
    assert words in one_line(cli("db", "copy", "--to", str(folder / "bk.db")), ExitCode.REFUSED)
    assert state() == before == make
    assert cli.dump() == source


def test_a_copy_is_one_private_file_with_nothing_beside_it(cli, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    target = folder / "copy.db"
    cli.json("db", "copy", "--to", str(target))
    assert os.listdir(folder) == ["copy.db"]
    assert os.stat(target).st_mode & 0o777 == 0o600
    reading = sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True)
    try:
        assert reading.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert reading.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        reading.close()
