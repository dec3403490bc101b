"""The audit trail: who changed what, when. Append-only (the database refuses
UPDATE and DELETE on it)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from coachcli.db.models import AuditEntry, User
from coachcli.errors import CoachError


def record(
    db: Session,
    actor: User | None,
    action: str,
    record_type: str,
    record_id: int | None,
    **details: object,
) -> None:
    db.add(
        AuditEntry(
            actor=actor.handle if actor else None,
            action=action,
            record_type=record_type,
            record_id=record_id,
            details={key: value for key, value in details.items() if value is not None},
        )
    )


def search(
    db: Session,
    actor: User,
    *,
    record: str | None = None,
    actor_handle: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
) -> list[dict]:
    """Audit entries, newest first. Dates are local (COACH_TZ) calendar days."""
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services.people import require_admin

    require_admin(actor, "read the audit log")
    zone_name = default_timezone_name()
    today = today_in(zone_name)
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if record:
        record_type, _, record_id = record.partition(":")
        query = query.where(AuditEntry.record_type == record_type.strip())
        if record_id:
            if not record_id.strip().isdigit():
                raise CoachError(f"bad --record '{record}': use TYPE or TYPE:ID, e.g. plan:3")
            query = query.where(AuditEntry.record_id == int(record_id))
    if actor_handle:
        query = query.where(AuditEntry.actor == actor_handle.strip())
    if since:
        query = query.where(AuditEntry.at >= _local_midnight(parse_date(since, today), zone_name))
    if until:
        next_day = parse_date(until, today) + dt.timedelta(days=1)
        query = query.where(AuditEntry.at < _local_midnight(next_day, zone_name))
    return [
        {
            "id": entry.id,
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "record_type": entry.record_type,
            "record_id": entry.record_id,
            "details": entry.details,
        }
        for entry in db.exec(query)
    ]


def _local_midnight(day: dt.date, zone_name: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(), ZoneInfo(zone_name))
