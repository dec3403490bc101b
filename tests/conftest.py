"""Shared fixtures: a temporary database, a small contact center, and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from coachcli.cli.app import app
from coachcli.db import open_database, transaction
from coachcli.db.models import Form, User
from coachcli.errors import ExitCode
from coachcli.forms import load_form_file
from coachcli.services import forms, users

# CI replays the same examples every run, so a red build always means a
# change broke something; a developer's runs keep exploring new inputs. No
# deadline there: a busy machine slows an example without anything being wrong.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
CALL_QUALITY = REPO / "examples" / "forms" / "call-quality.toml"

COMPLETE_ANSWERS = {
    "channel": "phone",
    "greeting": "4",
    "empathy": "5",
    "compliance": "yes",
    "resolution": "resolved",
    "opportunities": "Summarise next steps",
    "agreed_actions": "Closing checklist on every call",
}


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test depends on the machine's user, time zone or app folder."""
    for name in ("COACH_DB", "COACH_USER", "COACH_NOTIFY_COMMAND", "COACH_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COACH_TZ", "UTC")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))


# The PostgreSQL half runs on the server this names (the project's machines
# and CI run one locally), in a database made for the test run and dropped
# after it; each test gets a schema of its own in it.
POSTGRES_SERVER = os.environ.get("COACH_TEST_POSTGRES", "postgresql://root@localhost/postgres")
BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    """Every test that opens a database runs on both backends, except those
    about the SQLite file itself (they ask for `db_path`)."""
    if "backend" in metafunc.fixturenames:
        sqlite_only = "db_path" in metafunc.fixturenames or metafunc.definition.get_closest_marker("sqlite_only")
        postgresql_only = metafunc.definition.get_closest_marker("postgresql_only")
        metafunc.parametrize(
            "backend", ["sqlite"] if sqlite_only else ["postgresql"] if postgresql_only else list(BACKENDS)
        )


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite alone")
    config.addinivalue_line(
        "markers", "minimums: installs the declared minimum versions into a new venv (minutes; `pytest -m minimums`)"
    )
    config.addinivalue_line("markers", "postgresql_only: the test is about a PostgreSQL server alone")


@pytest.fixture(scope="session")
def postgres_database():
    """A throw-away database on the test server for this run: its URL."""
    import uuid

    import sqlalchemy

    server = sqlalchemy.engine.make_url(POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        message = f"no PostgreSQL server at {POSTGRES_SERVER} (set COACH_TEST_POSTGRES): {error.orig}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL half of the suite: {message}")
        pytest.skip(message)
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            drop_coach_groups(connection, name, "public")  # in case a test made its public schema coach's
        admin.dispose()


_schema_numbers = iter(range(1, 10**9))


@pytest.fixture
def db_target(backend, tmp_path, request) -> str:
    """What `--db` names for this test: a new SQLite file, or a new, empty
    schema in the run's PostgreSQL database."""
    if backend == "sqlite":
        yield str(tmp_path / "coach.db")
        return
    with empty_postgres_schema(request.getfixturevalue("postgres_database")) as target:
        yield target


@contextmanager
def empty_postgres_schema(url) -> Iterator[str]:
    """A new, empty schema in the run's database, as a --db URL that uses it."""
    import sqlalchemy

    schema = f"t{next(_schema_numbers)}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            drop_coach_groups(connection, url.database, schema)
        admin.dispose()


def drop_coach_groups(connection, database: str, schema: str) -> None:
    """The group roles `coach init` made for a coach database (roles belong to
    the server, not to the database or schema dropped with it)."""
    from coachcli.db.security import group_names

    names = ", ".join(f'"{name}"' for name in group_names(database, schema).values())
    connection.exec_driver_sql(f"DROP ROLE IF EXISTS {names}")


@pytest.fixture
def db_path(tmp_path, backend) -> Path:
    """The SQLite file of a test about SQLite itself."""
    return tmp_path / "coach.db"


@pytest.fixture
def engine(db_target):
    engine = open_database(db_target, create=True)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine):
    """A session in one write transaction, committed when the test ends."""
    with transaction(engine, write=True) as session:
        yield session


@dataclass
class Center:
    """A small contact center: one admin, two coaches with a team each, agents."""

    dana: User  # admin
    calvin: User  # coach of Inbound
    priya: User  # coach of Chat
    alex: User  # agent, Inbound
    maria: User  # agent, Inbound
    sam: User  # agent, Chat
    form: Form


def build_center(session) -> Center:
    dana = users.add_user(session, None, "dana", "Dana Whitfield", "admin", [])
    users.add_team(session, dana, "Inbound")
    users.add_team(session, dana, "Chat")
    calvin = users.add_user(session, dana, "calvin", "Calvin Brooks", "coach", ["Inbound"])
    priya = users.add_user(session, dana, "priya", "Priya Raman", "coach", ["Chat"])
    alex = users.add_user(session, dana, "alex", "Alex Moreno", "agent", ["Inbound"])
    maria = users.add_user(session, dana, "maria", "Maria Lopez", "agent", ["Inbound"])
    sam = users.add_user(session, dana, "sam", "Sam Okafor", "agent", ["Chat"])
    form = forms.add_form(session, dana, load_form_file(CALL_QUALITY))
    return Center(dana, calvin, priya, alex, maria, sam, form)


@pytest.fixture
def center(db) -> Center:
    return build_center(db)


@pytest.fixture
def seeded(engine, db_target) -> str:
    """The small contact center, committed, for CLI tests; returns what --db names."""
    with transaction(engine, write=True) as session:
        build_center(session)
    return db_target


def query(target: str, sql: str) -> list[tuple]:
    """One SQL statement, run and committed straight on the database --db
    names, as a script, sqlite3 or psql would; its rows, if any."""
    from coachcli.db.engine import database_url, make_engine

    engine = make_engine(database_url(target))
    try:
        with engine.begin() as connection:
            result = connection.exec_driver_sql(sql)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def snapshot(target: str) -> dict[str, list[str]]:
    """Every row of every table: to prove a refused command changed nothing,
    on either backend."""
    import sqlalchemy

    from coachcli.db.engine import database_url, make_engine

    engine = make_engine(database_url(target))
    try:
        with engine.connect() as connection:
            tables = sorted(sqlalchemy.inspect(connection).get_table_names())
            return {
                table: sorted(map(_backend_neutral, connection.exec_driver_sql(f"SELECT * FROM {table}").all()))
                for table in tables
            }
    finally:
        engine.dispose()


def _backend_neutral(row) -> str:
    """A row as text that is the same on both backends: a DATE column is a
    date on PostgreSQL and its ISO text on SQLite."""
    import datetime as dt

    return repr(tuple(value.isoformat() if type(value) is dt.date else value for value in row))


class Cli:
    def __init__(self, target: str | Path):
        self.target = str(target)
        self.runner = CliRunner()

    @property
    def db_path(self) -> Path:
        """The database file, for tests about SQLite itself."""
        return Path(self.target)

    def dump(self) -> dict[str, list[str]]:
        return snapshot(self.target)

    def query(self, sql: str) -> list[tuple]:
        return query(self.target, sql)

    def __call__(self, *args: str, user: str | None = None, input: str | None = None):
        options = ["--db", self.target]
        if user:
            options += ["--as", user]
        return self.runner.invoke(app, [*options, *args], input=input)

    def json(self, *args: str, user: str | None = None, input: str | None = None):
        import json

        result = self(*args, "-o", "json", user=user, input=input)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(seeded) -> Cli:
    """Run `coach` in-process against the seeded database."""
    return Cli(seeded)


@pytest.fixture
def empty_cli(db_target) -> Cli:
    """Run `coach` against a database that does not exist yet (SQLite) or is
    empty (PostgreSQL)."""
    return Cli(db_target)


def refused(cli, *args, user: str | None = None, input: str | None = None, code: int = ExitCode.BAD_INPUT) -> str:
    """Run a command that must be refused: exit `code`, one `coach:` line on
    stderr, the database unchanged. Returns the line."""
    before = cli.dump()
    result = cli(*args, user=user, input=input)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert cli.dump() == before
    return lines[0]
