"""Notifications: messages to users, kept in the database; delivery is separate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from coachcli.db.models import Notification, User, stored_id
from coachcli.db.types import utc_now
from coachcli.records import column


def notify(db: Session, user_id: int, kind: str, message: str, record_type: str, record_id: int) -> None:
    """Nothing read back (inline): on a PostgreSQL server an agent may tell
    their coach something, and not read the coach's notifications."""
    db.execute(
        insert(Notification.__table__)
        .inline()
        .values(
            user_id=user_id,
            kind=kind,
            message=message,
            record_type=record_type,
            record_id=record_id,
            created_at=utc_now(),
        )
    )


@dataclass(frozen=True, slots=True)
class InboxRecord:
    id: int = column(None)
    kind: str = column("Kind")
    message: str = column("Message")
    record_type: str = column(None)
    record_id: int = column(None)
    created_at: dt.datetime = column("When")
    unread: bool = column("New")


def inbox(db: Session, user: User, *, unread_only: bool = False) -> list[InboxRecord]:
    """The user's notifications, newest first; reading them marks them read.
    A list, not a stream: whether each was unread is read before all are
    marked read."""
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    rows = db.exec(query.order_by(col(Notification.id).desc())).all()
    records = [
        InboxRecord(
            id=stored_id(row),
            kind=row.kind,
            message=row.message,
            record_type=row.record_type,
            record_id=row.record_id,
            created_at=row.created_at,
            unread=row.read_at is None,
        )
        for row in rows
    ]
    db.exec(
        update(Notification)
        .where(col(Notification.user_id) == user.id, col(Notification.read_at).is_(None))
        .values(read_at=utc_now())
    )
    return records
