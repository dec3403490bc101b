"""The installed `coach` executable, run as a user or a script would run it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import COMPLETE_ANSWERS, REPO

import coachcli

COACH = shutil.which("coach") or str(Path(sys.executable).parent / "coach")
REASON = "Hold time under five minutes on every audited call for six weeks; purpose met"


@pytest.fixture
def coach(db_target):
    """Run the installed `coach` against a fresh database; piped, as in a script."""
    env = {**os.environ, "COACH_DB": db_target, "COACH_TZ": "UTC", "NO_COLOR": "1"}
    env.pop("COACH_USER", None)

    def run(*args: str, user: str | None = None, check: bool = True, input: str | None = None):
        options = ["--as", user] if user else []
        result = subprocess.run(
            [COACH, *options, *args], capture_output=True, text=True, env=env, input=input, timeout=60
        )
        if check:
            assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    return run


def tsv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text), dialect="excel-tab"))


def test_version(coach):
    assert coach("--version").stdout == f"coach {coachcli.__version__}\n"


@pytest.mark.parametrize("arguments", [["--help"], ["--version"], ["session", "--help"]])
def test_help_does_not_import_the_database_layer(arguments):
    script = (
        "import sys\n"
        "from coachcli.cli.app import main\n"
        f"sys.argv = ['coach', *{arguments!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in ('sqlalchemy', 'sqlmodel', 'openpyxl') if m in sys.modules)\n"
        "print('LOADED:' + ','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage: coach" in result.stdout or result.stdout.startswith("coach ")
    assert result.stdout.splitlines()[-1] == "LOADED:"


def test_report_files_piped_in_as_bytes(coach, db_target):
    coach("init")
    coach("user", "import", str(REPO / "examples" / "roster.csv"))
    env = {**os.environ, "COACH_DB": db_target, "COACH_TZ": "UTC"}

    def piped(data: bytes, *options: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [COACH, "kpi", "import", "-", "-o", "json", *options], input=data, capture_output=True, env=env, timeout=60
        )

    workbook = piped((REPO / "examples" / "kpi-report.xlsx").read_bytes(), "--sheet", "Week 2")
    assert workbook.returncode == 0, workbook.stderr
    assert json.loads(workbook.stdout)["inserted"] == 8
    windows = "Agent;Date;Wrap-up Time;Adherence %\r\njordan;2026-12-09;0:31;96,5 %\r\n".encode("cp1252")
    refused = piped(windows.replace(b"jordan", "jordän".encode("cp1252")))
    assert refused.returncode == 2 and b"--encoding" in refused.stderr and b"Traceback" not in refused.stderr
    accepted = piped(windows, "--encoding", "cp1252")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["inserted"] == 2


def test_a_full_walkthrough(coach):
    assert "Database ready" in coach("init").stderr
    coach("user", "add", "dana", "--name", "Dana Whitfield", "--role", "admin")
    assert coach("team", "add", "Inbound", "-q", user="dana").stdout.strip().isdigit()
    coach("user", "add", "calvin", "--name", "Calvin Brooks", "--role", "coach", "--team", "Inbound", user="dana")
    coach("user", "add", "alex", "--name", "Alex Moreno", "--team", "Inbound", user="dana")
    form = coach("form", "add", str(REPO / "examples" / "forms" / "call-quality.toml"), "-o", "json", user="dana")
    assert json.loads(form.stdout)["name"] == "Call quality"

    plan = coach(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Shorter holds", "-q", user="calvin"
    ).stdout
    assert plan.strip().isdigit()
    plan = plan.strip()

    edited = tsv(coach("plan", "edit", plan, user="calvin").stdout)  # piped: TSV
    assert len(edited) == 1 and edited[0]["plan_id"] == plan and edited[0]["state"] == "draft"
    session = edited[0]["id"]

    sets = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]
    saved = json.loads(coach("session", "save", session, *sets[:4], "-o", "json", user="calvin").stdout)
    assert saved["state"] == "draft" and saved["answers"] == {"channel": "phone", "greeting": 4}
    coached = coach("session", "coach", session, *sets[4:], user="calvin")
    assert "notified" in coached.stderr
    assert tsv(coached.stdout)[0]["state"] == "coached"

    closed = tsv(coach("plan", "close", plan, "--reason", REASON, user="calvin").stdout)
    assert closed[0]["state"] == "closed" and closed[0]["close_reason"] == REASON

    # An error: one line on stderr, a non-zero exit, no traceback (checked by `coach`).
    missing = coach("plan", "show", "99", user="alex", check=False)
    assert missing.returncode == 3 and missing.stdout == ""
    assert missing.stderr.splitlines() == ["coach: no performance plan 99; see `coach plan list --state all`"]
    usage = coach("plan", "delete", plan, user="dana", check=False)
    assert usage.returncode == 2 and "No such command" in usage.stderr


@pytest.fixture(scope="module", autouse=True)
def examples(tmp_path_factory):
    """The example scripts, started when this module starts: each runs some
    twenty `coach` commands, so they run beside the other tests here."""
    started = {}
    for script in ("walkthrough.sh", "minigoals.sh"):
        scratch = tmp_path_factory.mktemp(script.removesuffix(".sh"))
        env = {
            **os.environ,
            "PATH": f"{Path(COACH).parent}{os.pathsep}{os.environ['PATH']}",
            "TMPDIR": str(scratch),
            "COACH_TZ": "UTC",
            "HOME": str(scratch),
        }
        for name in ("COACH_USER", "COACH_DB", "COACH_NOTIFY_COMMAND", "COACH_DEBUG"):
            env.pop(name, None)
        process = subprocess.Popen(
            ["bash", str(REPO / "examples" / script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        started[script] = process, scratch
    yield started
    for process, _ in started.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def _finished(examples, script):
    process, scratch = examples[script]
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stdout + stderr
    assert [p.name for p in scratch.iterdir()] == []  # it removed its temporary database
    return stdout, stderr


def test_the_walkthrough_script_runs_top_to_bottom(examples):
    stdout, stderr = _finished(examples, "walkthrough.sh")
    assert "Performance Plan" in stdout
    assert "session.coached" in stdout  # Alex's inbox
    assert "too short" in stderr  # the vague close reason was refused, and the script went on


def test_the_minigoals_script_reproduces_the_documents_examples(examples):
    stdout, _ = _finished(examples, "minigoals.sh")
    changes = {
        line.split("\t")[1]: line.split("\t")[5:7]
        for line in stdout.splitlines()
        if line[:1].isdigit() and "\tin_progress\t" in line
    }
    assert changes["Handle time under 400"] == ["achieved", "350"]
    assert changes["Wrap-up in 30 seconds"] == ["missed", "32"]
    assert changes["Seventy contacts a day"] == ["achieved", "70"]
    assert changes["Adherence at 50 or better"] == ["missed", "49"]
    assert "alex: Adherence at 50 or better (adherence) scored 49.0" in stdout


def test_a_reader_that_closes_the_pipe_early_is_not_an_error():
    """`coach … | head -1`: when the reader has gone, coach ends quietly
    (exit 1, Click's convention for a broken pipe), with no error message."""
    process = subprocess.Popen([COACH, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # before coach has written a byte
    stderr = process.communicate(timeout=60)[1].decode()
    assert process.returncode == 1
    assert stderr == ""


def test_a_new_user_with_coach_user_exported_bootstraps_and_is_later_erased(db_target):
    """The README's advice (export COACH_USER) works from the very first
    command; an erasure through the installed coach leaves the person in no
    output (and, on SQLite, in no byte of the file or its WAL)."""
    env = {**os.environ, "COACH_DB": db_target, "COACH_TZ": "UTC", "NO_COLOR": "1", "COACH_USER": "dana"}

    def run(*args: str, user: str = "dana", code: int = 0) -> str:
        result = subprocess.run(
            [COACH, *args], capture_output=True, text=True, timeout=60, env={**env, "COACH_USER": user}
        )
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result.stdout

    run("init")
    run("user", "add", "dana", "--name", "Dana Whitfield", "--role", "admin")
    run("team", "add", "Inbound")
    run("user", "add", "calvin", "--name", "Calvin Brooks", "--role", "coach", "--team", "Inbound")
    run("user", "add", "zoe.q", "--name", "Zoe Quarrington", "--team", "Inbound")
    run("form", "add", str(REPO / "examples" / "forms" / "call-quality.toml"))
    plan = json.loads(
        run(
            "plan",
            "add",
            "--agent",
            "zoe.q",
            "--form",
            "Call quality",
            "--purpose",
            "Zoe Quarrington: shorter holds",
            "-o",
            "json",
            user="calvin",
        )
    )
    answers = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]
    run("session", "coach", str(plan["current_session_id"]), *answers, "--notes", "ZQSECRET", user="calvin")
    run("user", "erase", "zoe.q", "--reason", "left the company, asked for erasure")
    shown = (
        run("session", "show", str(plan["current_session_id"]), "-o", "json")
        + run("log", "-o", "json")
        + run("plan", "list", "--state", "all")
        + run("inbox", user="calvin")
        + run("user", "list")
    )
    assert not [word for word in ("zoe", "Quarrington", "ZQSECRET") if word.lower() in shown.lower()]
    run("inbox", user="zoe.q", code=5)
    if "://" not in db_target:
        path = Path(db_target)
        stored = path.read_bytes() + (
            path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b""
        )
        assert not [word for word in (b"zoe", b"quarrington", b"zqsecret") if word in stored.lower()]
