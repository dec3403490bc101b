"""Who is acting, and whom they may see: identity, roles and scope."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import Session, select

from coachcli.choices import COACHING_ROLES
from coachcli.db.models import Team, User, stored_id
from coachcli.db.scope import scope_rule
from coachcli.errors import CoachError, ExitCode, forbidden, not_found, refused

ROLES = ("agent", "coach", "admin")
# Who is coached, and who may coach (and be named the coach of a session).
COACHED_ROLE = "agent"


def a_role(role: str) -> str:
    """The role with its article: "an agent", "a coach", "an admin"."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def find_user(db: Session, handle: str) -> User:
    """A user by handle; handles are stored lowercase, so `ALEX` finds alex."""
    user = db.exec(select(User).where(User.handle == handle.strip().lower())).first()
    if user is None:
        raise not_found(f"no user '{handle}'; see `coach user list`")
    return user


def find_team(db: Session, name: str) -> Team:
    team = db.exec(select(Team).where(Team.name == name.strip())).first()
    if team is None:
        raise not_found(f"no team '{name}'; create it with `coach team add \"{name.strip()}\"`")
    return team


def acting_user(db: Session, handle: str | None) -> User:
    if not handle:
        raise CoachError(
            "this command needs an acting user: pass --as HANDLE or set COACH_USER",
            ExitCode.PERMISSION,
        )
    user = db.exec(select(User).where(User.handle == handle.strip().lower())).first()
    if user is None:
        raise forbidden(f"acting user '{handle}' does not exist; check --as / COACH_USER")
    if user.erased_at is not None:
        raise forbidden(
            f"'{user.handle}' is the pseudonym of an erased person, who can no longer act; check --as / COACH_USER"
        )
    return user


def require_coaching_role(actor: User, doing: str) -> None:
    if actor.role not in COACHING_ROLES:
        raise forbidden(f"only a coach or an admin can {doing}; '{actor.handle}' is {a_role(actor.role)}")


def require_admin(actor: User, doing: str) -> None:
    if actor.role != "admin":
        raise forbidden(f"only an admin can {doing}; '{actor.handle}' is {a_role(actor.role)}")


def in_scope(actor: User, user_id_column) -> ColumnElement[bool]:
    """SQL condition: the record's person is within the actor's scope (the
    one scope rule, `db/scope.py`, which the server's row-level security
    uses too)."""
    return scope_rule(actor.role, stored_id(actor), user_id_column)


def can_see(db: Session, actor: User, user: User) -> bool:
    return db.exec(select(User.id).where(User.id == user.id, in_scope(actor, User.id))).first() is not None


def require_in_scope(db: Session, actor: User, user: User) -> None:
    if not can_see(db, actor, user):
        raise forbidden(
            f"'{user.handle}' is outside the teams '{actor.handle}' supervises; "
            "an admin can add them to one of your teams"
        )


def coachable_agent(db: Session, actor: User, handle: str, doing: str) -> User:
    """The agent a coach or admin is about to coach, checked for role and scope."""
    require_coaching_role(actor, doing)
    agent = find_user(db, handle)
    refuse_unless_coachable(actor, agent, visible=can_see(db, actor, agent))
    return agent


def refuse_unless_coachable(actor: User, person: User, *, visible: bool) -> None:
    """Who may be coached, on every path to a new session, plan or request:
    an agent, not erased, within the actor's scope (`visible`: the caller
    asks `in_scope`, one person at a time or a whole file's at once).
    `coached_people` is the same rule for SQL that picks agents itself."""
    if person.erased_at is not None:
        raise refused(f"'{person.handle}' has been erased; nothing new is recorded about an erased person")
    if person.role != COACHED_ROLE:
        raise CoachError(f"'{person.handle}' is {a_role(person.role)}, not an agent; only agents are coached")
    if not visible:
        raise forbidden(
            f"'{person.handle}' is outside the teams '{actor.handle}' supervises; "
            "an admin can add them to one of your teams"
        )


def coached_people(users) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """SQL conditions on a users table: the people who may be coached (the
    rule of `refuse_unless_coachable`, scope aside)."""
    return users.c.role == COACHED_ROLE, users.c.erased_at.is_(None)


def refuse_unless_coaching(person: User) -> None:
    """Who may be named the coach of a session: a coach or an admin, not erased."""
    if person.erased_at is not None:
        raise refused(f"'{person.handle}' has been erased; nothing new is recorded about an erased person")
    if person.role not in COACHING_ROLES:
        raise CoachError(
            f"'{person.handle}' cannot be the coach: they are {a_role(person.role)}; name a coach or an admin with --coach"
        )
