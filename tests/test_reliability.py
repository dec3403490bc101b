"""Trustworthy under load and faults: many processes on one file, a killed
import, end to end through the installed `coach`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import build_center, query

from coachcli.db import transaction
from coachcli.services import coaching, scheduling

COACH = shutil.which("coach") or str(Path(sys.executable).with_name("coach"))


def _env(target: str, **extra: str) -> dict:
    return {**os.environ, "COACH_DB": target, "COACH_TZ": "UTC", **extra}


def _kpi_csv(path: Path, agents: list[str], days: int) -> Path:
    lines = ["agent,metric,observed_at,value"]
    for agent in agents:
        for day in range(days):
            lines.append(f"{agent},handle-time,2026-{1 + day // 28:02d}-{1 + day % 28:02d},{300 + day % 50}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def busy_center(engine, db_target):
    """A center with drafts to save and mini-goals to evaluate."""
    with transaction(engine, write=True) as db:
        center = build_center(db)
        from coachcli.services import paths

        paths.add_path(db, center.dana, "Inbound basics", ["alex", "maria"])
        draft_ids = [
            coaching.new_session(db, center.calvin, agent, "Call quality", f"Review {n}").id
            for n, agent in enumerate(["alex", "maria"] * 2)
        ]
        for n in range(20):
            scheduling.schedule_session(
                db,
                center.calvin,
                scheduling.ScheduleRequest.typed(
                    title=f"Goal {n}",
                    agent=["alex", "maria"][n % 2],
                    date="2026-01-05",
                    start="09:00",
                    path="Inbound basics",
                    kpi="handle-time",
                    target="320",
                    target_date="2026-02-05",
                ),
                today=__import__("datetime").date(2026, 1, 1),
            )
    return db_target, draft_ids


def test_a_dozen_processes_at_once_never_fail_with_locked(busy_center, tmp_path):
    db_path, draft_ids = busy_center
    kpi_files = [_kpi_csv(tmp_path / f"kpi{n}.csv", ["alex", "maria"], 200) for n in range(3)]
    roster = tmp_path / "roster.csv"
    roster.write_text("handle,name,role,teams\nnina,Nina Park,agent,Inbound\nomar,Omar Haddad,agent,Chat\n")
    commands = (
        [[COACH, "minigoal", "evaluate", "--as-of", "2026-03-01"] for _ in range(4)]
        + [[COACH, "kpi", "import", str(path)] for path in kpi_files]
        + [[COACH, "--as", "dana", "user", "import", str(roster)]]
        + [[COACH, "--as", "calvin", "session", "save", str(s), "--set", "greeting=4"] for s in draft_ids]
    )
    processes = [
        subprocess.Popen(
            command,
            env=_env(db_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = [(process.wait(timeout=120), process.stderr.read()) for process in processes]
    assert len(processes) == 12
    for code, stderr in results:
        assert code == 0, stderr
        assert "locked" not in stderr and "deadlock" not in stderr and "serializ" not in stderr
    assert query(db_path, "SELECT count(*) FROM kpi_observations") == [(400,)]
    assert query(db_path, "SELECT count(*) FROM minigoals WHERE state != 'in_progress'") == [(20,)]
    assert query(db_path, "SELECT count(*) FROM users WHERE handle IN ('nina', 'omar')") == [(2,)]


def test_a_killed_import_leaves_none_of_its_rows(busy_center, tmp_path):
    db_path, _ = busy_center
    process = subprocess.Popen(
        [COACH, "kpi", "import", "-"],
        env=_env(db_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    header = b"agent,metric,observed_at,value\n"
    rows = b"".join(
        f"{agent},hold-time,2025-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00,{n % 90}\n".encode()
        for n in range(150_000)
        for agent in ("alex",)
    )
    process.stdin.write(header + rows)
    process.stdin.flush()
    # The import is now half-way: it has read these rows and waits for more.
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert query(db_path, "SELECT count(*) FROM kpi_observations") == [(0,)]
    checked = subprocess.run([COACH, "db", "check"], env=_env(db_path), capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    after = subprocess.run([COACH, "kpi", "list"], env=_env(db_path, COACH_USER="dana"), capture_output=True, text=True)
    assert after.returncode == 0, after.stderr
