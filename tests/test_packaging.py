"""What a new user installs and pastes: the distribution's name, every install
line, and the README's crontab lines run as cron runs them."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

COACH = shutil.which("coach") or str(Path(sys.executable).parent / "coach")
# pip install [options] SPEC: the SPEC a line installs.
_PIP_INSTALL = re.compile(r"pip install((?:\s+-[-\w=]+)*)\s+['\"]?([^\s'\"`)]+)")


def test_the_distribution_is_coachcli_and_installs_the_coach_command():
    distribution = importlib.metadata.distribution("coachcli")
    scripts = {entry.name: entry.value for entry in distribution.entry_points if entry.group == "console_scripts"}
    assert scripts == {"coach": "coachcli.cli.app:main"}


def _install_lines() -> list[tuple[str, str]]:
    files = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "coachcli").rglob("*.py"))]
    found = []
    for path in files:
        for match in _PIP_INSTALL.finditer(path.read_text(encoding="utf-8")):
            found.append((path.name, match.group(2)))
    return found


def test_every_install_line_names_coachcli_or_the_clone():
    """The package index's `coach` is an unrelated project: no line may install it."""
    lines = _install_lines()
    assert any(spec.startswith("coachcli[postgres]") for _, spec in lines)
    wrong = [(where, spec) for where, spec in lines if re.fullmatch(r"coach(\[.*\])?", spec)]
    assert not wrong, wrong
    assert all(spec.startswith((".", "coachcli", "openpyxl")) for _, spec in lines), lines


# --- the crontab lines, as cron runs them ---------------------------------------------------

_CRON_ENVIRONMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


def _crontabs() -> list[tuple[str, list[str]]]:
    """Every crontab the README shows (its ```cron blocks), and examples/crontab."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```cron\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) >= 2
    crontabs = [(f"README.md crontab {number}", block.splitlines()) for number, block in enumerate(blocks, 1)]
    crontabs.append(("examples/crontab", (REPO / "examples" / "crontab").read_text().splitlines()))
    return crontabs


def _run_like_cron(lines: list[str], substitute, home: Path) -> list[tuple[str, subprocess.CompletedProcess]]:
    """cron's way: a `NAME=value` line sets a variable for every command line
    below it; a command line (after its five time fields) runs with /bin/sh -c,
    with cron's short PATH and nothing else of ours."""
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh", "LOGNAME": "coach"}
    results = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        assignment = _CRON_ENVIRONMENT.fullmatch(stripped)
        if assignment:
            environment[assignment.group(1)] = substitute(assignment.group(2), quoted=False)
            continue
        command = stripped.split(None, 5)[5]
        completed = subprocess.run(
            ["/bin/sh", "-c", substitute(command, quoted=True)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        results.append((command, completed))
    return results


@pytest.mark.skipif(os.name != "posix", reason="cron and /bin/sh are POSIX")
@pytest.mark.parametrize("crontab", [name for name, _ in _crontabs()])
def test_every_command_of_the_crontab_lines_gets_its_environment(cli, tmp_path, crontab):
    """`COACH_DB=… coach a && coach b` gives the variables to `coach a` only:
    each command of every line must reach the database, the zone and the hook."""
    lines = dict(_crontabs())[crontab]
    assert cli("session", "request", "--title", "Help with holds", user="alex").exit_code == 0
    delivered = tmp_path / "delivered.jsonl"
    hook = tmp_path / "notify-to-chat"
    hook.write_text(f'#!/bin/sh\ncat >> "{delivered}"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    home = tmp_path / "cron-home"
    home.mkdir()
    # The rules file is the example's, whose path the center has.
    assert cli("path", "add", "Inbound basics", user="calvin").exit_code == 0
    places = {
        "/opt/coach/.venv/bin/coach": COACH,
        "/srv/coach/coach.db": cli.target,
        "/srv/coach/rules.toml": str(REPO / "examples" / "rules.toml"),
        "/opt/coach/notify-to-chat": str(hook),
    }

    def substitute(text: str, *, quoted: bool) -> str:
        for example, real in places.items():
            text = text.replace(example, shlex.quote(real) if quoted else real)
        return text

    results = _run_like_cron(lines, substitute, home)
    assert results
    failed = [(command, run.returncode, run.stderr) for command, run in results if run.returncode != 0]
    assert not failed, failed
    # The request's notification reached its coach through the hook, and no
    # command fell back to the default database in the (cron) home folder.
    assert delivered.exists() and '"kind": "session.requested"' in delivered.read_text()
    assert not any(home.rglob("*.db"))
