"""What every command shares: the global options and the unit of work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer
    from sqlalchemy import Engine
    from sqlmodel import Session

    from coachcli.db.identity import Connected
    from coachcli.db.models import User


def command_group() -> typer.Typer:
    """A noun's commands (`coach plan …`). Its one-line help lives in the
    root's table of commands; plain help text keeps Rich off the start-up path."""
    import typer

    return typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)


def single_command() -> typer.Typer:
    """A verb with no sub-commands (`coach init`, `coach inbox`, `coach log`)."""
    import typer

    return typer.Typer(add_completion=False, rich_markup_mode=None)


@dataclass
class Settings:
    database: str | None = None
    # --as / COACH_USER; once a unit of work has begun, the handle the
    # connection acts as (the linked user's, on a PostgreSQL server).
    acting_handle: str | None = None
    # The login role, once a unit of work has begun.
    connected: Connected | None = None


settings = Settings()


@contextmanager
def unit_of_work(
    *,
    write: bool,
    create: bool = False,
    dry_run: bool = False,
    after_commit: Callable[[Engine], None] | None = None,
) -> Iterator[Session]:
    """One transaction for the whole command: services run inside it, and it
    commits once at the end (BEGIN IMMEDIATE when it writes; a `dry_run`
    rolls everything back instead). `after_commit` then runs on the engine,
    for work no transaction may hold (VACUUM)."""
    from sqlalchemy.exc import DBAPIError

    from coachcli.db import identity, open_database, transaction
    from coachcli.db.engine import database_url, describe_database_error

    engine = open_database(settings.database, create=create)
    try:
        with transaction(engine, write=write, commit=not dry_run) as db:
            settings.connected = identity.connected(db)
            settings.acting_handle = identity.acting_handle(settings.connected, settings.acting_handle)
            yield db
        if after_commit is not None and not dry_run:
            after_commit(engine)
    except DBAPIError as error:
        raise describe_database_error(error, database_url(settings.database)) from error
    finally:
        engine.dispose()


def acting_user(db: Session) -> User:
    from coachcli.db.identity import service_without_user
    from coachcli.services.people import acting_user as resolve

    connected = settings.connected
    if settings.acting_handle is None and connected is not None and connected.service and not connected.acts_for_anyone:
        raise service_without_user(connected)
    return resolve(db, settings.acting_handle)
