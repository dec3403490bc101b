"""The scope rule, written once: whom a viewer may see.

An admin sees everyone; a coach the agents of the teams they supervise, and
themself; an agent only themself. (The service role — the nightly jobs on a
PostgreSQL server, acting for nobody — sees everyone, as an admin does.)

`services/people.py` filters its queries with `scope_rule` given the acting
user's role and id as plain values; the row-level security policies of
`db/security.py` use the very same expression with the viewer read from the
login role (`session_user`), compiled for PostgreSQL into the body of the
function the policies call. Neither can drift from the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlmodel import col, select

from coachcli.db.models import TeamMembership, User

# The viewers who see everyone.
SEES_EVERYONE = ("admin", "service")


def _has_role(role: Any, roles: tuple[str, ...]) -> ColumnElement[bool]:
    """`role in roles`, decided in Python when the role is a plain value (so
    that the query a service sends carries only the branch that applies), in
    SQL when it is an expression."""
    if isinstance(role, str):
        return true() if role in roles else false()
    return role.in_(roles)


def sees_everyone(viewer_role: Any) -> ColumnElement[bool]:
    """SQL condition: the viewer sees everyone (an admin, the service role)."""
    return _has_role(viewer_role, SEES_EVERYONE)


def supervised_agent_ids(coach_id: Any):
    """Agents who belong to a team that this coach supervises."""
    coach_teams = select(col(TeamMembership.team_id)).where(col(TeamMembership.user_id) == coach_id)
    return (
        select(col(TeamMembership.user_id))
        .join(User, col(User.id) == col(TeamMembership.user_id))
        .where(col(TeamMembership.team_id).in_(coach_teams), col(User.role) == "agent")
    )


def scope_rule(viewer_role: Any, viewer_id: Any, person_id: Any) -> ColumnElement[bool]:
    """SQL condition: the person `person_id` is within the viewer's scope.

    `viewer_role` and `viewer_id` are plain values (a service's acting user)
    or SQL expressions (the login role's user, inside the database)."""
    return or_(
        sees_everyone(viewer_role),
        person_id == viewer_id,
        and_(_has_role(viewer_role, ("coach",)), person_id.in_(supervised_agent_ids(viewer_id))),
    )


def session_rule(agent_in_scope: Any, viewer_id: Any, coach_id: Any) -> ColumnElement[bool]:
    """SQL condition: the viewer may see a coaching session — its agent is in
    scope (`agent_in_scope`: the scope rule applied to the session's agent), or
    the viewer is its coach."""
    return or_(agent_in_scope, coach_id == viewer_id)
