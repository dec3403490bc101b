"""What every command shares: the global options and the unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlmodel import Session

    from coachcli.db.models import User


@dataclass
class Settings:
    database: str | None = None
    acting_handle: str | None = None


settings = Settings()


@contextmanager
def unit_of_work(*, write: bool, create: bool = False) -> Iterator[Session]:
    """One transaction for the whole command: services run inside it, and it
    commits once at the end (BEGIN IMMEDIATE when it writes)."""
    from sqlalchemy.exc import DBAPIError

    from coachcli.db import open_database, transaction
    from coachcli.db.engine import database_url, describe_database_error

    engine = open_database(settings.database, create=create)
    try:
        with transaction(engine, write=write) as db:
            yield db
    except DBAPIError as error:
        raise describe_database_error(error, database_url(settings.database)) from error
    finally:
        engine.dispose()


def acting_user(db: Session) -> User:
    from coachcli.services.people import acting_user as resolve

    return resolve(db, settings.acting_handle)
