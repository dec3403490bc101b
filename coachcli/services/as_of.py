"""The as-of moment of a cron run, and SPEC §14's rule that time only moves
forward: a run as of a moment still to come, like one asked for with
`--dry-run`, writes nothing and notifies no one. One function for every
command with `--as-of` (`rules run`; `minigoal evaluate` and `remind` can
share it)."""

from __future__ import annotations

import datetime as dt

from coachcli.db.types import utc_now
from coachcli.parse import today_in


def dry_run_reason(as_of: dt.date | dt.datetime, zone: str, *, dry_run: bool = False) -> str | None:
    """Why a run as of `as_of` must write nothing — the line to say on stderr —
    or None when it may write. A date is in the future when it is after today
    in `zone`; a date-time (aware) when it is after now."""
    if dry_run:
        return "dry run (--dry-run): nothing was written and no one was notified"
    if isinstance(as_of, dt.datetime):
        future = as_of > utc_now()
    else:
        future = as_of > today_in(zone)
    if future:
        return (
            f"dry run: --as-of {as_of.isoformat()} is in the future (in {zone}); "
            "nothing was written and no one was notified"
        )
    return None
