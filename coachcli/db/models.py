"""The tables, as SQLModel classes.

The schema itself is created by the frozen SQL in `migrations.py`; a test
checks that these classes and the migrated schema agree.
"""

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import ConfigDict
from sqlalchemy import Column, Table, Text
from sqlalchemy.orm import deferred
from sqlmodel import Field, SQLModel

from coachcli.db.types import JSONText, UTCDateTime, utc_now

if TYPE_CHECKING:

    class TableModel(SQLModel):
        """What a type checker should know of a table class: SQLModel sets
        `__table__` when the class is made but does not declare it."""

        __table__: ClassVar[Table]

else:

    class TableModel(SQLModel):
        # coach's tables are built from rows and validated by its own
        # parsers, never by pydantic: its validation schema is built only if
        # ever asked for, not for every table at every start (a sixth of a
        # read command's start-up).
        model_config = ConfigDict(defer_build=True)


class _Identified(Protocol):
    id: int | None


def stored_id(record: _Identified) -> int:
    """The id of a record already in the database (added and flushed).
    SQLModel types `id` as `int | None` because a record not yet added has
    none; a service hands back only stored ones."""
    assert record.id is not None, f"{type(record).__name__} has not been flushed"
    return record.id


def table_columns(table: str) -> list[str]:
    """The column names of one of coach's tables, in order."""
    return [column.name for column in SQLModel.metadata.tables[table].columns]


def _timestamp(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utc_now, sa_type=UTCDateTime)


class User(TableModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    handle: str
    name: str
    role: str
    created_at: dt.datetime = _timestamp()
    # Set by an erasure: handle and name are then the pseudonym, and the
    # person can no longer act.
    erased_at: dt.datetime | None = _timestamp(nullable=True)
    # On PostgreSQL, the login role that acts as this user (`coach user link`).
    login: str | None = None


class Team(TableModel, table=True):
    __tablename__ = "teams"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    created_at: dt.datetime = _timestamp()


class TeamMembership(TableModel, table=True):
    """An agent's membership of a team, or a coach's supervision of it: the
    user's role says which."""

    __tablename__ = "team_memberships"
    team_id: int = Field(foreign_key="teams.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)


class Form(TableModel, table=True):
    __tablename__ = "forms"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    description: str = ""
    spec: dict = Field(sa_column=Column(JSONText, nullable=False))
    created_at: dt.datetime = _timestamp()


class PerformancePath(TableModel, table=True):
    __tablename__ = "paths"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    created_at: dt.datetime = _timestamp()


class PathAssignment(TableModel, table=True):
    __tablename__ = "path_assignments"
    path_id: int = Field(foreign_key="paths.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)


class Plan(TableModel, table=True):
    __tablename__ = "plans"
    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="users.id")
    form_id: int = Field(foreign_key="forms.id")
    purpose: str
    state: str = "active"
    coach_id: int = Field(foreign_key="users.id")
    created_at: dt.datetime = _timestamp()
    closed_at: dt.datetime | None = _timestamp(nullable=True)
    closed_by_id: int | None = Field(default=None, foreign_key="users.id")
    close_reason: str | None = None


# Loaded only when read: an agent's group may not read this column on a
# PostgreSQL server, so a query that does not need it must not name it.
_private_notes = Column("private_notes", Text, nullable=False, default="")


class CoachingSession(TableModel, table=True):
    __tablename__ = "sessions"
    __mapper_args__ = {"properties": {"private_notes": deferred(_private_notes)}}
    id: int | None = Field(default=None, primary_key=True)
    title: str
    agent_id: int = Field(foreign_key="users.id")
    coach_id: int | None = Field(default=None, foreign_key="users.id")
    form_id: int | None = Field(default=None, foreign_key="forms.id")
    plan_id: int | None = Field(default=None, foreign_key="plans.id")
    state: str
    date: dt.date | None = None
    start: str | None = None
    timezone: str | None = None
    duration_minutes: int | None = None
    meeting_link: str | None = None
    path_id: int | None = Field(default=None, foreign_key="paths.id")
    kpi: str | None = None
    target: float | None = None
    target_date: dt.date | None = None
    notes: str = ""
    answers: dict = Field(default_factory=dict, sa_column=Column(JSONText, nullable=False))
    requested_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = _timestamp()
    updated_at: dt.datetime = _timestamp()
    coached_at: dt.datetime | None = _timestamp(nullable=True)
    coached_by_id: int | None = Field(default=None, foreign_key="users.id")
    private_notes: str = Field(default="", sa_column=_private_notes)


class SessionAcknowledgement(TableModel, table=True):
    """The agent's acknowledgement of a coached session: given once, never changed."""

    __tablename__ = "session_acknowledgements"
    session_id: int = Field(foreign_key="sessions.id", primary_key=True)
    acknowledged_at: dt.datetime = _timestamp()
    comment: str | None = None


class ActionItem(TableModel, table=True):
    """Something agreed in a session, owned by the agent or the coach; never deleted."""

    __tablename__ = "action_items"
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="sessions.id")
    owner_id: int = Field(foreign_key="users.id")
    text: str
    due_date: dt.date | None = None
    state: str = "open"
    created_at: dt.datetime = _timestamp()
    created_by_id: int = Field(foreign_key="users.id")
    done_at: dt.datetime | None = _timestamp(nullable=True)
    done_by_id: int | None = Field(default=None, foreign_key="users.id")
    note: str | None = None


class MiniGoal(TableModel, table=True):
    __tablename__ = "minigoals"
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="sessions.id")
    name: str
    assignee_id: int = Field(foreign_key="users.id")
    metric: str
    target: float
    start_date: dt.date
    due_date: dt.date
    score: float | None = None
    samples: int = 0
    state: str = "in_progress"
    evaluated_at: dt.datetime | None = _timestamp(nullable=True)


class MiniGoalChange(TableModel, table=True):
    __tablename__ = "minigoal_changes"
    id: int | None = Field(default=None, primary_key=True)
    minigoal_id: int = Field(foreign_key="minigoals.id")
    changed_at: dt.datetime = _timestamp()
    as_of: dt.date
    from_state: str
    to_state: str
    score: float | None = None
    samples: int = 0


class KpiObservation(TableModel, table=True):
    __tablename__ = "kpi_observations"
    agent_id: int = Field(foreign_key="users.id", primary_key=True)
    metric: str = Field(primary_key=True)
    observed_at: str = Field(primary_key=True)
    value: float


class Notification(TableModel, table=True):
    __tablename__ = "notifications"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    kind: str
    message: str
    record_type: str
    record_id: int
    created_at: dt.datetime = _timestamp()
    read_at: dt.datetime | None = _timestamp(nullable=True)
    delivered_at: dt.datetime | None = _timestamp(nullable=True)
    attempts: int = 0
    last_error: str | None = None
    # The `notify send` run delivering it now (its token), and since when.
    claim: str | None = None
    claimed_at: dt.datetime | None = _timestamp(nullable=True)


class RunMark(TableModel, table=True):
    """The latest as-of a kind of run (`minigoal.evaluate`) was made for:
    time only moves forward."""

    __tablename__ = "run_marks"
    run: str = Field(primary_key=True)
    as_of: dt.date
    recorded_at: dt.datetime = _timestamp()


class AuditEntry(TableModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _timestamp()
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    action: str
    record_type: str
    record_id: int | None = None
    details: dict = Field(default_factory=dict, sa_column=Column(JSONText, nullable=False))


class RuleFiring(TableModel, table=True):
    """A rule of a rules file that fired for an agent (SPEC §16), and the
    coaching request it made; kept for good (the session id becomes empty
    only when that request is deleted)."""

    __tablename__ = "rule_firings"
    id: int | None = Field(default=None, primary_key=True)
    rule: str
    agent_id: int = Field(foreign_key="users.id")
    metric: str
    as_of: dt.date
    value: float
    samples: int
    session_id: int | None = Field(default=None, foreign_key="sessions.id", ondelete="SET NULL")
    fired_at: dt.datetime = _timestamp()
