"""People and teams."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select
from sqlmodel import Session, col, select

from coachcli.choices import Role
from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.identity import Connected, check_login, require_server
from coachcli.db.models import Team, TeamMembership, User, stored_id
from coachcli.errors import CoachError, forbidden, refused
from coachcli.parse import check_text
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.people import (
    ROLES,
    acting_user,
    find_team,
    find_user,
    in_scope,
    require_admin,
    require_coaching_role,
)

_HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# An erased person's handle and name become PSEUDONYM_PREFIX + their id.
PSEUDONYM_PREFIX = "erased-"


def normalize_handle(handle: str) -> str:
    cleaned = handle.strip().lower()
    if not _HANDLE.match(cleaned):
        raise CoachError(
            f"bad handle '{handle}': use lowercase letters, digits, '.', '_' or '-' "
            "(up to 64), e.g. alex or maria.lopez"
        )
    if cleaned.startswith(PSEUDONYM_PREFIX):
        raise CoachError(
            f"bad handle '{handle}': handles beginning with '{PSEUDONYM_PREFIX}' are kept for erased people"
        )
    return cleaned


def check_role(role: str) -> str:
    cleaned = role.strip().lower()
    if cleaned not in ROLES:
        raise CoachError(f"bad role '{role}': use one of {', '.join(ROLES)}")
    return cleaned


def check_name(name: str, what: str = "name") -> str:
    cleaned = check_text(name, what).strip()
    if not cleaned:
        raise CoachError(f"the {what} cannot be empty")
    return cleaned


def has_users(db: Session) -> bool:
    return db.exec(select(User.id).limit(1)).first() is not None


def adding_actor(db: Session, handle: str | None) -> User | None:
    """Who is adding people. While the database has no users, nobody: the
    --as / COACH_USER a new user already exported may name the very person
    about to be created, and must not lock them out (bootstrap)."""
    if not handle or not has_users(db):
        return None
    return acting_user(db, handle)


def has_admin(db: Session) -> bool:
    return db.exec(select(User.id).where(User.role == "admin").limit(1)).first() is not None


def bootstrapping(db: Session, actor: User | None, doing: str) -> bool:
    """Until the database has an admin, anyone may add people, with or without
    an acting user, so a first user added with the wrong role never locks
    anyone out. Once there is an admin, an acting user is needed."""
    if not has_admin(db):
        return True
    if actor is None:
        raise forbidden(f"{doing} needs an acting user: pass --as HANDLE or set COACH_USER")
    return False


def _authorize_user_change(db: Session, actor: User | None, role: str, teams: list[Team]) -> None:
    """Admins manage everyone; a coach may add agents to the teams they supervise."""
    if bootstrapping(db, actor, "adding a user"):
        return
    assert actor is not None  # bootstrapping() refuses a missing actor once there is an admin
    if actor.role == "admin":
        return
    require_coaching_role(actor, "add users")
    if role != "agent":
        raise forbidden(f"only an admin can add a {role}; a coach can add agents to their teams")
    own = set(db.exec(select(TeamMembership.team_id).where(TeamMembership.user_id == actor.id)))
    outside = [team.name for team in teams if team.id not in own]
    if outside or not teams:
        raise forbidden(
            "a coach can add agents only to teams they supervise"
            + (f" (not {', '.join(outside)})" if outside else "; name one with --team")
        )


def add_user(db: Session, actor: User | None, handle: str, name: str, role: str, team_names: list[str]) -> User:
    handle = normalize_handle(handle)
    role = check_role(role)
    name = check_name(name)
    teams = [find_team(db, team_name) for team_name in dict.fromkeys(team_names)]
    _authorize_user_change(db, actor, role, teams)
    if db.exec(select(User.id).where(User.handle == handle)).first() is not None:
        raise refused(f"user '{handle}' already exists; see `coach user list`")
    user = User(handle=handle, name=name, role=role)
    db.add(user)
    db.flush()
    for team in teams:
        db.add(TeamMembership(team_id=stored_id(team), user_id=stored_id(user)))
    audit.record(db, actor, "user.add", "user", user.id, role=role, teams=[t.name for t in teams])
    return user


def team_names_by_user(db: Session, user_ids: list[int] | Select | None = None) -> dict[int, list[str]]:
    """Each user's team names, by name: of the users listed, or selected by a
    query of user ids (one statement however many there are), or of all."""
    query = select(TeamMembership.user_id, Team.name).join(Team, col(Team.id) == TeamMembership.team_id)
    if user_ids is not None:
        query = query.where(col(TeamMembership.user_id).in_(user_ids))
    names: dict[int, list[str]] = defaultdict(list)
    for user_id, team_name in db.exec(query.order_by(Team.name)):
        names[user_id].append(team_name)
    return names


@dataclass(frozen=True, slots=True)
class UserRecord:
    handle: str = column("Handle")
    name: str = column("Name")
    role: str = column("Role")
    teams: list[str] = column("Teams")
    # The PostgreSQL login role that acts as this user (SPEC §12), or None.
    login: str | None = column("Login", listed=False)


def user_record(user: User, teams: list[str]) -> UserRecord:
    return UserRecord(handle=user.handle, name=user.name, role=user.role, teams=teams, login=user.login)


def link_user(db: Session, actor: User | None, who: Connected, handle: str, login: str | None) -> User:
    """Link a user to a PostgreSQL login role (None: unlink). An admin, or
    the owner without --as, links; the server moves the role into the group
    of the user's coach role (and out of it when unlinked or erased)."""
    require_server(db)
    if login is not None:
        login = login.strip()
    user = find_user(db, handle)
    if actor is None and not who.acts_for_anyone:
        raise forbidden("linking a login role needs an admin: pass --as HANDLE or set COACH_USER")
    if actor is not None:
        require_admin(actor, "link login roles")
    if login is not None:
        check_login(db, login, linked_to=stored_id(user))
        if user.erased_at is not None:
            raise refused(f"'{user.handle}' has been erased and can no longer act; there is no one to link")
    user.login = login
    db.add(user)
    db.flush()
    audit.record(db, actor, "user.link", "user", user.id, linked=login is not None)
    return user


def list_users(db: Session, actor: User, role: Role | None = None, team: str | None = None) -> Iterator[UserRecord]:
    """The users within the actor's scope, by handle, read as the caller
    consumes them (inside its transaction): a batch of rows at a time, with
    one query for the batch's teams. The filters are checked at once."""
    query = select(User).where(in_scope(actor, User.id)).order_by(User.handle)
    if role is not None:
        query = query.where(User.role == Role(role).value)
    if team:
        members = select(TeamMembership.user_id).where(TeamMembership.team_id == find_team(db, team).id)
        query = query.where(col(User.id).in_(members))
    batches = db.exec(query.execution_options(yield_per=STREAMED_ROWS)).partitions()
    return (record for batch in batches for record in _user_records(db, batch))


def _user_records(db: Session, users: Sequence[User]) -> list[UserRecord]:
    teams = team_names_by_user(db, [stored_id(user) for user in users])
    return [user_record(user, teams.get(stored_id(user), [])) for user in users]


def add_team(db: Session, actor: User, name: str) -> Team:
    require_coaching_role(actor, "add teams")
    name = check_name(name, "team name")
    if db.exec(select(Team.id).where(Team.name == name)).first() is not None:
        raise refused(f"team '{name}' already exists; see `coach team list`")
    team = Team(name=name)
    db.add(team)
    db.flush()
    if actor.role == "coach":
        # A coach who creates a team supervises it; otherwise nobody could.
        db.add(TeamMembership(team_id=stored_id(team), user_id=stored_id(actor)))
    audit.record(db, actor, "team.add", "team", team.id, name=name)
    return team


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: int = column("ID")
    name: str = column("Team")
    coaches: list[str] = column("Coaches")
    agents: list[str] = column("Agents")


def list_teams(db: Session, actor: User) -> list[TeamRecord]:
    """Teams with their coaches and agents: an admin sees all; others the
    teams they belong to, and an agent no other agent."""
    query = (
        select(Team.id, Team.name, User.id, User.handle, User.role)  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
        .join(TeamMembership, TeamMembership.team_id == Team.id, isouter=True)
        .join(User, User.id == TeamMembership.user_id, isouter=True)
        .order_by(Team.name, User.handle)
    )
    if actor.role != "admin":
        own = select(TeamMembership.team_id).where(TeamMembership.user_id == actor.id)
        query = query.where(col(Team.id).in_(own))
    teams: dict[int, TeamRecord] = {}
    for team_id, team_name, user_id, handle, role in db.exec(query):
        team = teams.setdefault(team_id, TeamRecord(id=team_id, name=team_name, coaches=[], agents=[]))
        if handle is None or (actor.role == "agent" and role == "agent" and user_id != actor.id):
            continue
        (team.agents if role == "agent" else team.coaches).append(handle)
    return list(teams.values())
