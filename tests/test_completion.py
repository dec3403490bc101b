"""Shell completion: the names each option completes, from the database
--db / COACH_DB names, and nothing (never an error) without one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from coachcli.cli import completion
from coachcli.cli.app import app
from coachcli.metrics import METRICS

COACH = shutil.which("coach") or str(Path(sys.executable).parent / "coach")


def _context(database: str | None) -> typer.Context:
    """The root context as Click builds it while completing: --db parsed,
    the root callback not run."""
    context = typer.Context(typer.main.get_command(app))
    context.params["database"] = database
    return context


def test_handles_complete_by_role(cli):
    context = _context(cli.target)
    assert completion.complete_handle(context, "") == ["alex", "calvin", "dana", "maria", "priya", "sam"]
    assert completion.complete_agent(context, "") == ["alex", "maria", "sam"]
    assert completion.complete_agent(context, "m") == ["maria"]
    assert completion.complete_coach(context, "") == ["calvin", "dana", "priya"]
    assert completion.complete_coach(context, "p") == ["priya"]


def test_form_and_path_names_complete(cli):
    assert cli("path", "add", "Retention", "--agent", "alex", user="dana").exit_code == 0
    assert cli("path", "add", "Quality", "--agent", "alex", user="dana").exit_code == 0
    context = _context(cli.target)
    assert completion.complete_form(context, "") == ["Call quality"]
    assert completion.complete_path(context, "") == ["Quality", "Retention"]
    assert completion.complete_path(context, "R") == ["Retention"]


def test_metric_keys_complete_without_a_database():
    assert completion.complete_metric("") == [metric.key for metric in METRICS]
    assert completion.complete_metric("hold") == ["hold-time"]


def test_the_database_comes_from_coach_db_when_db_is_not_given(cli, monkeypatch):
    monkeypatch.setenv("COACH_DB", cli.target)
    assert completion.complete_agent(_context(None), "a") == ["alex"]


def test_no_database_completes_nothing(tmp_path):
    missing = str(tmp_path / "missing.db")
    assert completion.complete_handle(_context(missing), "") == []
    assert completion.complete_form(_context(missing), "") == []


def test_the_shell_gets_the_agents_for_agent(cli):
    """The installed `coach` answers bash's completion protocol."""
    env = {
        **os.environ,
        "COACH_DB": cli.target,
        "_COACH_COMPLETE": "complete_bash",
        "COMP_WORDS": "coach session schedule --agent ",
        "COMP_CWORD": "4",
    }
    result = subprocess.run([COACH], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["alex", "maria", "sam"]


def test_completion_can_be_shown_for_a_shell():
    result = subprocess.run([COACH, "--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "_COACH_COMPLETE=complete_bash" in result.stdout
