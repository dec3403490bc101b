"""Shared fixtures: a temporary database, a small contact center, and a CLI runner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import os

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from coachcli.cli.app import app
from coachcli.db import open_database, transaction
from coachcli.db.models import Form, User
from coachcli.forms import load_form_file
from coachcli.services import forms, users

# CI replays the same examples every run, so a red build always means a
# change broke something; a developer's runs keep exploring new inputs.
settings.register_profile("ci", derandomize=True, print_blob=True)
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


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "coach.db"


@pytest.fixture
def engine(db_path):
    engine = open_database(str(db_path), create=True)
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
def seeded(engine) -> Path:
    """The small contact center, committed, for CLI tests; returns the db path."""
    with transaction(engine, write=True) as session:
        build_center(session)
    return Path(engine.url.database)


class Cli:
    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.runner = CliRunner()

    def __call__(self, *args: str, user: str | None = None, input: str | None = None):
        options = ["--db", str(self.db_path)]
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
def empty_cli(db_path) -> Cli:
    """Run `coach` against a database path that does not exist yet."""
    return Cli(db_path)
