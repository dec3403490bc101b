"""The declared minimum versions are versions the suite has run on (SPEC §15):
a fresh venv gets exactly the minimum of every dependency in pyproject.toml,
and the installed `coach` passes a few end-to-end tests there, on both
backends. Typer is used through its public API only, which the older Typer
and Click of the minimums check as well as a scan of the source."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# name[extras]>=version: the one form a dependency is declared in.
_MINIMUM = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?P<extras>\[[^\]]*\])?>=(?P<version>[^,;\s]+)$")
# The test runner's own minimums, from the test extra; the linters are not run there.
RUNNER = ("pytest", "hypothesis")
# A few end-to-end tests, about a minute with the install on a quiet machine:
# the version, help without the database layer, a closed pipe, and a person's
# life from the first command to their erasure on PostgreSQL (its driver's
# minimum, and SQLAlchemy's, at work).
END_TO_END = "version and sqlite or does_not_import or closes_the_pipe or bootstraps and postgresql"


def _pins() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    declared = [
        *project["dependencies"],
        *extras["postgres"],
        *(line for line in extras["test"] if re.split(r"[\[>=<]", line)[0] in RUNNER),
    ]
    pins = []
    for line in declared:
        found = _MINIMUM.match(line)
        assert found, f"{line!r}: declare a dependency as name>=minimum"
        pins.append(f"{found['name']}{found['extras'] or ''}=={found['version']}")
    return pins


def test_every_dependency_has_a_minimum():
    assert len(_pins()) == 10


def test_typer_is_used_through_its_public_api_only():
    private = re.compile(r"\btyper\._|from typer\._|import typer\._")
    used = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in ("coachcli", "tests")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if private.search(line)
    ]
    assert used == []


@pytest.mark.minimums
@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX venv layout")
def test_the_end_to_end_layer_passes_on_the_declared_minimums(tmp_path):
    venv = tmp_path / "minimums"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check"]
    installed = subprocess.run([*pip, *_pins()], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-3000:]
    # The project itself on top, its dependencies already there at their minimums.
    project = subprocess.run([*pip, "--no-deps", "-e", str(REPO)], capture_output=True, text=True)
    assert project.returncode == 0, project.stderr[-3000:]
    environment = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("PYTHONPATH", None)
    run = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/test_end_to_end.py", "-k", END_TO_END],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.stdout.count(".") >= 6, run.stdout  # every chosen test ran
