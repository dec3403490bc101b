"""The audit trail: who changed what, when. Append-only (the database refuses
UPDATE and DELETE on it)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from coachcli.db.models import AuditEntry, User


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


def entries(
    db: Session,
    *,
    record_type: str | None = None,
    record_id: int | None = None,
    actor: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = None,
) -> list[dict]:
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc())
    if record_type:
        query = query.where(AuditEntry.record_type == record_type)
    if record_id is not None:
        query = query.where(AuditEntry.record_id == record_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if limit:
        query = query.limit(limit)
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
