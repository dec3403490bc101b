"""The audit trail: who changed what, when. Append-only (the database refuses
UPDATE and DELETE on it).

An erasure rewrites a person, never this log, so the log must hold nothing an
erasure would have to reach: people are referred to by user id (the actor, and
any person in the details), shown with their handle of the day, which after an
erasure is the pseudonym. Details hold ids, counts, dates, field keys and the
names of forms, teams and paths; never free text such as a title, a reason or
an import's file name, which may name someone (it stays on its record, where
an erasure reaches it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import Session, col, select

from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.models import AuditEntry, User, stored_id
from coachcli.db.types import utc_now
from coachcli.errors import CoachError
from coachcli.records import column

# What entries are about: `coach log --record TYPE[:ID]` takes one of these.
RECORD_TYPES = (
    "action",
    "form",
    "kpi_observation",
    "minigoal",
    "notification",
    "path",
    "plan",
    "session",
    "team",
    "user",
)

# A person in the details is stored as `<key>_user_id` (one) or
# `<key>_user_ids` (several) and shown back as `<key>`: their handles.
_PERSON = "_user_id"
_PEOPLE = "_user_ids"


def record(
    db: Session,
    actor: User | None,
    action: str,
    record_type: str,
    record_id: int | None,
    **details: object,
) -> None:
    """Append one entry. A detail that is a User, or a list of Users, is kept
    as their ids. Nothing is read back: on a PostgreSQL server most roles may
    write the log but not read it."""
    record_many(db, actor, action, record_type, [(record_id, details)])


def record_many(
    db: Session, actor: User | None, action: str, record_type: str, entries: list[tuple[int | None, dict]]
) -> None:
    """Append one entry a (record id, details) pair, as `record` would, in
    one statement however many."""
    _require_known(record_type)
    if not entries:
        return
    now = utc_now()
    db.execute(
        # Nothing read back (inline): most groups may write the log, not read it.
        insert(AuditEntry.__table__).inline(),
        [
            {
                "at": now,
                "actor_id": actor.id if actor else None,
                "action": action,
                "record_type": record_type,
                "record_id": record_id,
                "details": _stored(details),
            }
            for record_id, details in entries
        ],
    )


def _require_known(record_type: str) -> None:
    if record_type not in RECORD_TYPES:
        raise ValueError(f"audit record type {record_type!r} is not in RECORD_TYPES (`coach log --record` takes those)")


def _stored(details: dict) -> dict[str, object]:
    stored: dict[str, object] = {}
    for key, value in details.items():
        if value is None:
            continue
        if isinstance(value, User):
            stored[key + _PERSON] = value.id
        elif isinstance(value, list) and value and all(isinstance(person, User) for person in value):
            stored[key + _PEOPLE] = [person.id for person in value]
        else:
            stored[key] = value
    return stored


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int = column("#")
    at: dt.datetime = column("When")
    actor: str | None = column("Who")
    action: str = column("Action")
    record_type: str = column("Record")
    record_id: int | None = column("ID")
    details: dict = column("Details")


def search(
    db: Session,
    actor: User,
    *,
    record: str | None = None,
    actor_handle: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
) -> Iterator[AuditRecord]:
    """Audit entries, newest first, read as they are consumed (the caller
    keeps the transaction open until then). Dates are local (COACH_TZ)
    calendar days. Checks and refusals happen before the first entry."""
    from coachcli.parse import default_timezone_name, parse_date, parse_record_id, today_in
    from coachcli.services.people import find_user, require_admin

    require_admin(actor, "read the audit log")
    zone_name = default_timezone_name()
    today = today_in(zone_name)
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if record:
        record_type, colon, record_id = record.partition(":")
        record_type = record_type.strip().lower()
        if record_type not in RECORD_TYPES or (colon and not record_id.strip().isdigit()):
            raise CoachError(
                f"bad --record {record!r}: use TYPE or TYPE:ID, e.g. plan:3, where TYPE is one of "
                + ", ".join(RECORD_TYPES)
            )
        query = query.where(AuditEntry.record_type == record_type)
        if colon:
            query = query.where(AuditEntry.record_id == parse_record_id(record_id, record_type))
    if actor_handle:
        query = query.where(AuditEntry.actor_id == find_user(db, actor_handle).id)
    if since:
        query = query.where(AuditEntry.at >= _local_midnight(parse_date(since, today), zone_name))
    if until:
        next_day = parse_date(until, today) + dt.timedelta(days=1)
        query = query.where(AuditEntry.at < _local_midnight(next_day, zone_name))
    return _entries(db, db.exec(query.execution_options(yield_per=STREAMED_ROWS)).partitions())


def _entries(db: Session, batches: Iterator[Sequence[AuditEntry]]) -> Iterator[AuditRecord]:
    # The handles are looked up a batch of entries at a time: one query a
    # batch, and memory for one batch however long the log.
    for entries in batches:
        handles = _handles(db, entries)
        for entry in entries:
            yield AuditRecord(
                id=stored_id(entry),
                at=entry.at,
                actor=handles.get(entry.actor_id),
                action=entry.action,
                record_type=entry.record_type,
                record_id=entry.record_id,
                details=_shown_details(entry.details, handles),
            )


def _handles(db: Session, entries: Sequence[AuditEntry]) -> dict[int | None, str]:
    """Today's handle of every person the entries refer to, in one query."""
    ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    for entry in entries:
        for key, value in entry.details.items():
            if key.endswith(_PERSON):
                ids.add(value)
            elif key.endswith(_PEOPLE):
                ids.update(value)
    if not ids:
        return {}
    rows = db.exec(select(User.id, User.handle).where(col(User.id).in_(ids))).all()
    return {user_id: handle for user_id, handle in rows}


def _shown_details(details: dict, handles: dict[int | None, str]) -> dict:
    shown: dict[str, object] = {}
    for key, value in details.items():
        if key.endswith(_PERSON):
            shown[key.removesuffix(_PERSON)] = handles.get(value)
        elif key.endswith(_PEOPLE):
            shown[key.removesuffix(_PEOPLE)] = [handles.get(person) for person in value]
        else:
            shown[key] = value
    return shown


def _local_midnight(day: dt.date, zone_name: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(), ZoneInfo(zone_name))
