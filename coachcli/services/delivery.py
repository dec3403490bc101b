"""Delivering notifications through a site's own program (COACH_NOTIFY_COMMAND).

The program gets one notification as a JSON object on stdin and exits 0 when
it delivered it. It runs without a shell, under a timeout, and never while a
write transaction is open: the caller reads the pending notifications in one
short transaction, runs the hooks, and records the outcomes in another.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from coachcli.db.models import Notification, User
from coachcli.db.types import utc_now
from coachcli.errors import CoachError
from coachcli.services import audit

COMMAND_VARIABLE = "COACH_NOTIFY_COMMAND"
TIMEOUT_VARIABLE = "COACH_NOTIFY_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 10.0
ERROR_LENGTH = 300
_ID_CHUNK = 500


def hook_command(environ: Mapping[str, str]) -> list[str]:
    """COACH_NOTIFY_COMMAND split into words like a shell would, but never run by one."""
    raw = environ.get(COMMAND_VARIABLE, "").strip()
    if not raw:
        raise CoachError(
            f"no delivery command: set {COMMAND_VARIABLE} to a program that reads one notification "
            f"as JSON on stdin and exits 0 when delivered, e.g. {COMMAND_VARIABLE}='/usr/local/bin/coach-mail --smtp localhost'"
        )
    try:
        words = shlex.split(raw)
    except ValueError as error:
        raise CoachError(f"{COMMAND_VARIABLE} cannot be split into words ({error}); check its quotes") from None
    if not words:
        raise CoachError(f"{COMMAND_VARIABLE} names no program; set it to the delivery program and its arguments")
    return words


def hook_timeout(environ: Mapping[str, str]) -> float:
    """Seconds a hook may run: COACH_NOTIFY_TIMEOUT, default 10."""
    raw = environ.get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise CoachError(f"{TIMEOUT_VARIABLE}={raw!r}: give seconds between 0 and 3600, e.g. 10 or 2.5")
    return seconds


def pending(db: Session) -> list[dict]:
    """Undelivered notifications, oldest first, as the JSON objects hooks receive."""
    rows = db.exec(
        select(Notification, User.handle, User.name)
        .join(User, col(User.id) == Notification.user_id)
        .where(col(Notification.delivered_at).is_(None))
        .order_by(col(Notification.id))
    ).all()
    return [
        {
            "id": note.id,
            "user": handle,
            "name": name,
            "kind": note.kind,
            "message": note.message,
            "record_type": note.record_type,
            "record_id": note.record_id,
            "created_at": note.created_at.isoformat(),
        }
        for note, handle, name in rows
    ]


def run_hook(command: Sequence[str], payload: dict, timeout: float) -> str | None:
    """Run the hook for one notification; None when it delivered, else why not."""
    data = (json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own process group, so a timeout kills whatever it started too:
            # a child left holding stderr open would otherwise block us.
            start_new_session=os.name == "posix",
        )
    except OSError as error:
        return f"cannot run {command[0]}: {error.strerror or error}"
    try:
        _, errors = process.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        return f"timed out after {timeout:g}s and was stopped"
    if process.returncode == 0:
        return None
    if process.returncode < 0:
        return f"killed by signal {-process.returncode}"
    last_line = next(reversed(errors.decode("utf-8", "replace").strip().splitlines()), "")
    reason = f"exit status {process.returncode}" + (f": {last_line}" if last_line else "")
    return reason[:ERROR_LENGTH]


def _kill(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass  # something left its group and holds the pipe; do not wait on it


def record_outcomes(db: Session, outcomes: Sequence[tuple[int, str | None]]) -> dict[str, int]:
    """Mark delivered notifications, count a failed attempt on the others
    (they stay pending for the next run). Returns {"delivered", "failed"}."""
    now = utc_now()
    delivered = [note_id for note_id, error in outcomes if error is None]
    failed = [{"note_id": note_id, "error": error} for note_id, error in outcomes if error is not None]
    for start in range(0, len(delivered), _ID_CHUNK):
        db.exec(
            update(Notification)
            .where(col(Notification.id).in_(delivered[start : start + _ID_CHUNK]))
            .values(delivered_at=now, attempts=Notification.attempts + 1, last_error=None)
        )
    if failed:
        db.connection().execute(
            update(Notification)
            .where(col(Notification.id) == bindparam("note_id"))
            .values(attempts=Notification.attempts + 1, last_error=bindparam("error")),
            failed,
        )
    counts = {"delivered": len(delivered), "failed": len(failed)}
    if outcomes:
        audit.record(db, None, "notify.send", "notification", None, **counts)
    return counts
