"""Delivering notifications through a site's own program (COACH_NOTIFY_COMMAND).

The program gets one notification as a JSON object on stdin and exits 0 when
it delivered it. It runs without a shell, under a timeout, and never while a
write transaction is open: the caller claims a batch of pending
notifications in one short transaction (committed before any hook runs),
runs the hooks, and records the outcomes in another.

Each notification is delivered once however many `notify send` runs
overlap (a dead webhook makes every run last its timeouts, so the hourly and
the nightly runs meet): a run claims what it sends with a token of its own,
and another run skips what is claimed. A batch is small enough that its
hooks end well within CLAIM_LIFETIME even if every one times out, so a claim
older than that was left by a run that died, and the next run takes it over.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, or_, update
from sqlmodel import Session, col, select

from coachcli.db.models import Notification, User, stored_id
from coachcli.db.types import utc_now
from coachcli.errors import CoachError
from coachcli.records import as_dict, column
from coachcli.services import audit

COMMAND_VARIABLE = "COACH_NOTIFY_COMMAND"
TIMEOUT_VARIABLE = "COACH_NOTIFY_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 10.0
# A hook may run up to 10 minutes: a batch of one then still ends within a claim's lifetime.
MAXIMUM_TIMEOUT_SECONDS = 600.0
CLAIM_LIFETIME = dt.timedelta(minutes=15)
# The worst case of a batch (every hook timing out) is kept within this.
_BATCH_SECONDS = 600.0
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
    """Seconds a hook may run: COACH_NOTIFY_TIMEOUT, default 10, at most 600."""
    raw = environ.get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAXIMUM_TIMEOUT_SECONDS:
        raise CoachError(
            f"{TIMEOUT_VARIABLE}={raw!r}: give seconds between 0 and {MAXIMUM_TIMEOUT_SECONDS:g}, e.g. 10 or 2.5"
        )
    return seconds


def new_claim() -> str:
    """A run's own token, for the notifications it claims."""
    return uuid.uuid4().hex


def batch_size(timeout: float) -> int:
    """How many notifications a run claims at a time: as many as can all time
    out well within a claim's lifetime."""
    return max(1, int(_BATCH_SECONDS // timeout))


@dataclass(frozen=True, slots=True)
class HookNotification:
    """The JSON object a hook gets on stdin."""

    id: int = column(None)
    user: str = column(None)
    name: str = column(None)
    kind: str = column(None)
    message: str = column(None)
    record_type: str = column(None)
    record_id: int = column(None)
    created_at: str = column(None)


@dataclass(frozen=True, slots=True)
class SendRecord:
    """What a `notify send` run did."""

    delivered: int = column("Delivered")
    failed: int = column("Failed")

    def __add__(self, other: SendRecord) -> SendRecord:
        return SendRecord(delivered=self.delivered + other.delivered, failed=self.failed + other.failed)


def claim(db: Session, token: str, *, after_id: int, limit: int) -> list[HookNotification]:
    """Claim for this run up to `limit` undelivered notifications with ids
    after `after_id`, oldest first: those no run has claimed, and those whose
    claim is older than CLAIM_LIFETIME (its run died). Returns them as the
    JSON objects hooks receive. The caller commits before running any hook."""
    now = utc_now()
    claimable = (
        select(Notification.id)
        .where(
            col(Notification.delivered_at).is_(None),
            col(Notification.id) > after_id,
            or_(col(Notification.claim).is_(None), col(Notification.claimed_at) < now - CLAIM_LIFETIME),
        )
        .order_by(col(Notification.id))
        .limit(limit)
    )
    db.exec(
        update(Notification)
        .where(col(Notification.id).in_(claimable.scalar_subquery()))
        .values(claim=token, claimed_at=now)
    )
    return pending(db, token)


def pending(db: Session, token: str) -> list[HookNotification]:
    """The undelivered notifications this run claimed, oldest first, as the
    JSON objects hooks receive."""
    rows = db.exec(
        select(Notification, User.handle, User.name)
        .join(User, col(User.id) == Notification.user_id)
        .where(col(Notification.delivered_at).is_(None), col(Notification.claim) == token)
        .order_by(col(Notification.id))
    ).all()
    return [
        HookNotification(
            id=stored_id(note),
            user=handle,
            name=name,
            kind=note.kind,
            message=note.message,
            record_type=note.record_type,
            record_id=note.record_id,
            created_at=note.created_at.isoformat(),
        )
        for note, handle, name in rows
    ]


def hook_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What the hook runs with: this environment without the database
    password — no PGPASSWORD, and a COACH_DB without its password — so a
    delivery program holds no key to the database."""
    from coachcli.db.engine import without_password

    hooked = {name: value for name, value in environ.items() if name != "PGPASSWORD"}
    if "://" in hooked.get("COACH_DB", ""):
        hooked["COACH_DB"] = without_password(hooked["COACH_DB"])
        if not hooked["COACH_DB"]:
            del hooked["COACH_DB"]
    return hooked


def run_hook(
    command: Sequence[str], note: HookNotification, timeout: float, environment: Mapping[str, str]
) -> str | None:
    """Run the hook for one notification, in `environment` (hook_environment);
    None when it delivered, else why not."""
    data = (json.dumps(as_dict(note), ensure_ascii=False) + "\n").encode("utf-8")
    try:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=dict(environment),
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


def record_outcomes(db: Session, token: str, outcomes: Sequence[tuple[int, str | None]]) -> SendRecord:
    """Mark delivered notifications, count a failed attempt on the others
    (they stay pending for the next run), and release this run's claims."""
    now = utc_now()
    delivered = [note_id for note_id, error in outcomes if error is None]
    failed = [{"note_id": note_id, "error": error} for note_id, error in outcomes if error is not None]
    released = {"claim": None, "claimed_at": None}
    ours = col(Notification.claim) == token
    for start in range(0, len(delivered), _ID_CHUNK):
        db.exec(
            update(Notification)
            .where(col(Notification.id).in_(delivered[start : start + _ID_CHUNK]), ours)
            .values(delivered_at=now, attempts=Notification.attempts + 1, last_error=None, **released)
        )
    if failed:
        db.connection().execute(
            update(Notification)
            .where(col(Notification.id) == bindparam("note_id"), ours)
            .values(attempts=Notification.attempts + 1, last_error=bindparam("error"), **released),
            failed,
        )
    counts = SendRecord(delivered=len(delivered), failed=len(failed))
    if outcomes:
        audit.record(db, None, "notify.send", "notification", None, **as_dict(counts))
    return counts
