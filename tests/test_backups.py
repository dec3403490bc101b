"""Backups that hold (SPEC §13): exact counts whatever plan the server picks,
and a `db copy` that leaves nothing behind when it fails and never removes or
overwrites what it did not make."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy
from conftest import Cli, snapshot

from coachcli.db.maintenance import counting_statement

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
