"""Runs as of a moment (`minigoal evaluate`, `remind`, `rules run`): time only moves forward
(SPEC §14).

What a run writes is told to people (a goal ended, a reminder sent), so:
- a run as of a moment after now (in COACH_TZ), or asked with `--dry-run`,
  is a dry run: it shows what it would write and writes nothing, notifying no
  one — results told today are never taken back by a run "tomorrow";
- a run as of a date earlier than the latest one it was made for is refused:
  the results told since are never undone by a run in the past.

Every command that runs as of a moment decides here whether it writes.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from coachcli.db.models import RunMark
from coachcli.errors import refused


def dry_run_reason(as_of: dt.date | dt.datetime, zone_name: str, *, requested: bool) -> str | None:
    """Why a run as of `as_of` must write nothing, or None when it writes: it
    was asked for (--dry-run), or `as_of` (a date, or an aware moment) is
    after now where the center is."""
    if requested:
        return "dry run (--dry-run): this is what the run would write; nothing was written and no one notified"
    now = dt.datetime.now(ZoneInfo(zone_name))
    if isinstance(as_of, dt.datetime):
        future = as_of > now
        shown = as_of.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M")
        present = now.strftime("%Y-%m-%d %H:%M")
    else:
        future = as_of > now.date()
        shown, present = as_of.isoformat(), now.date().isoformat()
    if not future:
        return None
    return (
        f"dry run: --as-of {shown} is after now ({present} in {zone_name}); this is what a run then would write, "
        "but nothing was written and no one notified (time only moves forward)"
    )


def refuse_going_back(db: Session, run: str, as_of: dt.date) -> None:
    """A run as of a date before the latest one made is refused: what it
    would undo has been told to people."""
    mark = db.get(RunMark, run)
    if mark is not None and as_of < mark.as_of:
        raise refused(
            f"`coach {run.replace('.', ' ')}` has already run as of {mark.as_of.isoformat()}; a run as of the earlier "
            f"{as_of.isoformat()} would undo results already told to people (time only moves forward) — "
            f"run it as of {mark.as_of.isoformat()} or later"
        )


def mark(db: Session, run: str, as_of: dt.date) -> None:
    """Record that `run` has been made as of `as_of` (the latest one is kept)."""
    from coachcli.db.types import utc_now

    latest = db.get(RunMark, run)
    if latest is None:
        db.add(RunMark(run=run, as_of=as_of, recorded_at=utc_now()))
    elif as_of > latest.as_of:
        latest.as_of, latest.recorded_at = as_of, utc_now()
        db.add(latest)
    db.flush()
