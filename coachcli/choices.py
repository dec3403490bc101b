"""The fixed choices and ranges that options take, declared once: the
command-line options give them to Typer (help, completion and the one-line
refusal come from it), and the services type their arguments with them.
Nothing here imports the database layer, so the options cost no start-up."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    agent = "agent"
    coach = "coach"
    admin = "admin"


# The roles that coach people: who runs sessions, sees a team's records and
# owns what an agent may not (the services' rule and the server's grants).
COACHING_ROLES = (Role.coach.value, Role.admin.value)


class PlanState(str, Enum):
    """`plan list --state`: a plan's state, or all of them."""

    active = "active"
    closed = "closed"
    all = "all"


class SessionTab(str, Enum):
    """`session list --tab`: a session's state."""

    requested = "requested"
    scheduled = "scheduled"
    draft = "draft"
    coached = "coached"


class GoalState(str, Enum):
    """`minigoal list --state`: a mini-goal's state (M6)."""

    in_progress = "in_progress"
    achieved = "achieved"
    missed = "missed"


class ActionState(str, Enum):
    """`action list --state`: an action item's state, or all of them."""

    open = "open"
    done = "done"
    all = "all"


class Grouping(str, Enum):
    """`report impact --by`: what one row of the report stands for."""

    session = "session"
    coach = "coach"
    metric = "metric"


# report impact --window: the days before and after a session its windows span.
DEFAULT_WINDOW_DAYS = 14
MAX_WINDOW_DAYS = 365
# report cadence --min: sessions a period that an agent should have.
DEFAULT_CADENCE = 1
