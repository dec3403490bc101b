"""Column types shared by the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.types import TypeDecorator


def stored_utc(value: datetime) -> str:
    """A timestamp as UTCDateTime stores it: ISO 8601 in UTC, to the second."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="seconds")


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as ISO 8601 text in UTC.

    Text sorts and compares correctly, reads well in the sqlite3 shell, and
    keeps the offset explicit; the CLI converts to COACH_TZ for display.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> str | None:
        return None if value is None else stored_utc(value)

    def process_result_value(self, value: str | None, dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(value).astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class JSONText(TypeDecorator):
    """A JSON value stored as text, read and written the same way on every
    backend (PostgreSQL's json type would hand back parsed values for json
    columns only, and the schema keeps these columns as plain text)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        return None if value is None else json.dumps(value)

    def process_result_value(self, value: str | None, dialect) -> Any:
        return None if value is None else json.loads(value)
