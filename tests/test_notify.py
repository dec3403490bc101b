"""`coach notify send`: pending notifications through COACH_NOTIFY_COMMAND,
without a shell, under a timeout, retried until delivered."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

from coachcli.cli.app import app
from coachcli.db import transaction
from coachcli.db.models import User
from coachcli.errors import CoachError
from coachcli.services import delivery
from coachcli.services.notifications import notify

pytestmark = pytest.mark.skipif(os.name != "posix", reason="hook scripts are POSIX shell scripts")


def script(folder, name: str, body: str) -> str:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def pending(cli, engine):
    """Two notifications waiting: one for alex, one for calvin."""
    with transaction(engine, write=True) as db:
        people = {user.handle: user.id for user in db.exec(select(User))}
        notify(db, people["alex"], "session.coached", "Your session 3 was coached", "session", 3)
        notify(db, people["calvin"], "minigoal.achieved", 'Mini-goal "Faster" achieved', "minigoal", 1)
    return cli


def _states(cli) -> list[tuple]:
    return cli.query("SELECT id, delivered_at IS NOT NULL, attempts, last_error FROM notifications ORDER BY id")


def test_delivers_each_pending_notification_as_json_on_stdin(pending, tmp_path, monkeypatch):
    inbox = tmp_path / "delivered"
    inbox.mkdir()
    hook = script(tmp_path, "deliver.sh", f'cat > "{inbox}/$$.json"\n')
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", hook)
    assert pending.json("notify", "send") == {"delivered": 2, "failed": 0}
    payloads = sorted((json.loads(p.read_text()) for p in inbox.iterdir()), key=lambda p: p["id"])
    assert [(p["user"], p["kind"]) for p in payloads] == [("alex", "session.coached"), ("calvin", "minigoal.achieved")]
    assert payloads[0] == {
        "id": 1,
        "user": "alex",
        "name": "Alex Moreno",
        "kind": "session.coached",
        "message": "Your session 3 was coached",
        "record_type": "session",
        "record_id": 3,
        "created_at": payloads[0]["created_at"],
    }
    assert payloads[0]["created_at"].endswith("+00:00")
    assert _states(pending) == [(1, 1, 1, None), (2, 1, 1, None)]
    # Nothing is pending any more: a second run sends nothing.
    assert pending.json("notify", "send") == {"delivered": 0, "failed": 0}
    assert len(list(inbox.iterdir())) == 2


def test_a_failing_hook_leaves_notifications_pending_for_the_next_run(pending, tmp_path, monkeypatch):
    hook = script(tmp_path, "fail.sh", 'cat > /dev/null\necho "smtp server refused" >&2\nexit 3\n')
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", hook)
    result = pending("notify", "send", "-o", "json")
    assert result.exit_code == 7
    assert json.loads(result.stdout) == {"delivered": 0, "failed": 2}
    assert "2 notifications not delivered" in result.stderr and "smtp server refused" in result.stderr
    assert _states(pending) == [
        (1, 0, 1, "exit status 3: smtp server refused"),
        (2, 0, 1, "exit status 3: smtp server refused"),
    ]
    # The next run retries them; this time the hook works.
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", script(tmp_path, "ok.sh", "cat > /dev/null\n"))
    assert pending.json("notify", "send") == {"delivered": 2, "failed": 0}
    assert _states(pending) == [(1, 1, 2, None), (2, 1, 2, None)]


def test_a_hanging_hook_is_stopped_by_the_timeout(pending, tmp_path, monkeypatch):
    hook = script(tmp_path, "hang.sh", "sleep 30\n")
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", hook)
    monkeypatch.setenv("COACH_NOTIFY_TIMEOUT", "0.3")
    started = time.monotonic()
    result = pending("notify", "send")
    assert time.monotonic() - started < 5  # the sleeping child was killed with its shell
    assert result.exit_code == 7
    assert "timed out after 0.3s" in result.stderr
    assert [row[1:3] for row in _states(pending)] == [(0, 1), (0, 1)]


def test_the_command_is_split_like_a_shell_but_never_run_by_one(pending, tmp_path, monkeypatch):
    record = tmp_path / "args.txt"
    hook = script(tmp_path, "args.sh", f'cat > /dev/null\nprintf "%s|" "$@" >> "{record}"\n')
    marker = tmp_path / "injected"
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", f"'{hook}' --to 'ops team' ; touch {marker}")
    assert pending.json("notify", "send") == {"delivered": 2, "failed": 0}
    assert record.read_text() == f"--to|ops team|;|touch|{marker}|" * 2
    assert not marker.exists()


def test_without_a_command_it_says_how_to_set_one(pending):
    result = pending("notify", "send")
    assert result.exit_code == 2
    assert "COACH_NOTIFY_COMMAND" in result.stderr
    assert [row[1:3] for row in _states(pending)] == [(0, 0), (0, 0)]


def test_a_missing_program_is_a_failed_attempt(pending, tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", str(tmp_path / "no-such-program"))
    result = pending("notify", "send")
    assert result.exit_code == 7
    assert "cannot run" in _states(pending)[0][3]


def test_settings_are_checked():
    assert delivery.hook_command({"COACH_NOTIFY_COMMAND": "mail -s 'coach news'"}) == ["mail", "-s", "coach news"]
    with pytest.raises(CoachError, match="quotes"):
        delivery.hook_command({"COACH_NOTIFY_COMMAND": "mail -s 'open"})
    assert delivery.hook_timeout({}) == 10.0
    assert delivery.hook_timeout({"COACH_NOTIFY_TIMEOUT": "2.5"}) == 2.5
    for bad in ("0", "-1", "soon", "nan"):
        with pytest.raises(CoachError, match="COACH_NOTIFY_TIMEOUT"):
            delivery.hook_timeout({"COACH_NOTIFY_TIMEOUT": bad})


# --- each notification delivered once, however many runs overlap ---------------------------

COACH = shutil.which("coach") or str(Path(sys.executable).parent / "coach")


@pytest.fixture
def nine_pending(cli, engine):
    with transaction(engine, write=True) as db:
        alex = db.exec(select(User).where(User.handle == "alex")).one()
        for number in range(1, 10):
            notify(db, alex.id, "session.coached", f"Your session {number} was coached", "session", number)
    return cli


def test_overlapping_runs_deliver_each_notification_once(nine_pending, tmp_path):
    """Two `notify send` processes at once, with a hook that takes 0.5 s:
    each of the nine notifications is delivered once (it used to be twice)."""
    deliveries = tmp_path / "deliveries"
    hook = script(tmp_path, "slow.sh", f'sleep 0.5\ncat >> "{deliveries}"\necho >> "{deliveries}"\n')
    env = {**os.environ, "COACH_DB": nine_pending.target, "COACH_NOTIFY_COMMAND": hook}
    runs = []
    for _ in range(3):
        runs.append(
            subprocess.Popen(
                [COACH, "notify", "send", "-o", "json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        time.sleep(0.3)  # the later runs start while the first is delivering
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    delivered = [json.loads(line)["id"] for line in deliveries.read_text().splitlines() if line.strip()]
    assert sorted(delivered) == list(range(1, 10))
    assert sum(json.loads(stdout)["delivered"] for _, stdout, _ in results) == 9
    assert nine_pending.query(
        "SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL AND claim IS NULL AND attempts = 1"
    ) == [(9,)]


def test_a_claim_is_taken_over_only_when_its_run_has_died(nine_pending, tmp_path, monkeypatch):
    """A claim older than 15 minutes was left by a run that died: the next
    run delivers it. A younger claim belongs to a run still delivering."""
    from coachcli.db.types import stored_utc, utc_now

    now = utc_now()
    nine_pending.query(
        f"UPDATE notifications SET claim = 'died', claimed_at = '{stored_utc(now - dt.timedelta(minutes=16))}' "
        "WHERE id IN (1, 2)"
    )
    nine_pending.query(
        f"UPDATE notifications SET claim = 'running', claimed_at = '{stored_utc(now - dt.timedelta(minutes=14))}' "
        "WHERE id = 3"
    )
    inbox = tmp_path / "delivered"
    inbox.mkdir()
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", script(tmp_path, "deliver.sh", f'cat > "{inbox}/$$.json"\n'))
    assert nine_pending.json("notify", "send") == {"delivered": 8, "failed": 0}
    assert sorted(json.loads(p.read_text())["id"] for p in inbox.iterdir()) == [1, 2, 4, 5, 6, 7, 8, 9]
    assert nine_pending.query("SELECT id, claim FROM notifications WHERE delivered_at IS NULL") == [(3, "running")]


def test_a_hook_may_run_at_most_ten_minutes_so_a_batch_outlives_no_claim():
    assert delivery.hook_timeout({"COACH_NOTIFY_TIMEOUT": "600"}) == 600
    for bad in ("601", "3600"):
        with pytest.raises(CoachError, match="between 0 and 600"):
            delivery.hook_timeout({"COACH_NOTIFY_TIMEOUT": bad})
    worst_case = dt.timedelta(seconds=delivery.batch_size(600) * 600)
    assert worst_case < delivery.CLAIM_LIFETIME
    assert delivery.batch_size(10) * 10 <= 600 and delivery.batch_size(0.3) > 1


def test_the_hook_gets_no_database_password(pending, tmp_path, monkeypatch):
    seen = tmp_path / "environment"
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", script(tmp_path, "deliver.sh", f'env >> "{seen}"\n'))
    monkeypatch.setenv("PGPASSWORD", "pg-s3cret")
    target = pending.target
    if "://" in target:  # the server trusts local connections, so a password in the URL is not checked
        target = target.replace("root@", "root:url-s3cret@", 1) + "&password=query-s3cret"
    monkeypatch.setenv("COACH_DB", target)
    result = pending.runner.invoke(app, ["notify", "send"])
    assert result.exit_code == 0, result.stderr
    environment = seen.read_text()
    assert "s3cret" not in environment and "PGPASSWORD" not in environment
    assert "COACH_DB=" in environment  # still says which database, without the password


def test_a_url_loses_every_password_it_carries():
    from coachcli.db.engine import without_password

    assert (
        without_password("postgresql://u:pw@h/db?password=x&sslmode=require") == "postgresql://u@h/db?sslmode=require"
    )
    assert without_password("postgresql://u@h/db") == "postgresql://u@h/db"
