"""Who is connected: on a PostgreSQL server, the login role (`session_user`)
and the coach user linked to it; on SQLite, the file's owner.

The server says who people are (SPEC §12): a linked login role acts as its
user, the owner and superusers act as `--as` says (as the owner of a SQLite
file does), and an unlinked member of the service group runs only the
commands that need no acting user.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlmodel import Session

from coachcli.db.security import SERVICE_COMMANDS, current_groups
from coachcli.errors import CoachError, forbidden, not_found


@dataclass(frozen=True)
class Connected:
    login: str | None  # the login role; None on SQLite
    acts_for_anyone: bool  # the schema's owner, a superuser, or a SQLite file's owner
    linked_handle: str | None  # the coach user the login role is linked to
    service: bool  # a member of the service group


FILE_OWNER = Connected(login=None, acts_for_anyone=True, linked_handle=None, service=False)


def connected(connection: Connection | Session) -> Connected:
    """The connection's login role, as coach sees it (one query)."""
    plain = connection.connection() if isinstance(connection, Session) else connection
    if plain.dialect.name != "postgresql":
        return FILE_OWNER
    groups = current_groups(plain)
    row = connection.execute(
        text(
            # A group may be missing (a database made from another as a
            # template, before its `coach init`): then nobody is in it.
            """SELECT session_user::text, r.rolsuper OR pg_has_role(session_user, n.nspowner, 'MEMBER'),
                      coalesce(pg_has_role(session_user, to_regrole(:service), 'MEMBER'), false),
                      coalesce(pg_has_role(session_user, to_regrole(:agent), 'MEMBER')
                               OR pg_has_role(session_user, to_regrole(:coach), 'MEMBER')
                               OR pg_has_role(session_user, to_regrole(:admin), 'MEMBER'), false)
               FROM pg_roles AS r, pg_namespace AS n
               WHERE r.rolname = session_user AND n.oid = current_schema()::regnamespace"""
        ),
        groups,
    ).one()
    login, anyone, service, in_a_group = row
    linked = None
    if in_a_group or anyone:
        linked = connection.execute(
            text("SELECT handle FROM users WHERE login = :login AND erased_at IS NULL"), {"login": login}
        ).scalar()
    return Connected(login=login, acts_for_anyone=anyone, linked_handle=linked, service=service)


def acting_handle(who: Connected, given: str | None) -> str | None:
    """The handle a command acts as: the linked user's for a linked role
    (`--as` may name only them), `given` for the owner, none for the service
    role; anyone else is refused, with the command that links them."""
    if who.linked_handle is not None:
        if given and given.strip().lower() != who.linked_handle:
            raise forbidden(
                f"login role '{who.login}' acts as '{who.linked_handle}', not as '{given.strip()}'; "
                "leave out --as / COACH_USER"
            )
        return who.linked_handle
    if who.acts_for_anyone:
        return given
    if who.service:
        if given:
            raise forbidden(
                f"login role '{who.login}' is a service role linked to no user: it cannot act as "
                f"'{given.strip()}'; leave out --as / COACH_USER, or have an admin run "
                f"`coach user link {given.strip()} --login {who.login}`"
            )
        return None
    raise forbidden(
        f"login role '{who.login}' is not linked to a coach user; an admin links it with "
        f"`coach user link HANDLE --login {who.login}`"
    )


def refuse_outsider(connection: Connection) -> None:
    """A login role that may not even use coach's schema (no group of this
    coach database holds it) is told how it gets in, rather than that the
    database has no schema."""
    search_path = connection.exec_driver_sql("SHOW search_path").scalar_one()
    first = next((name.strip().strip('"') for name in search_path.split(",") if "$user" not in name), "public")
    row = connection.execute(
        text(
            """SELECT session_user::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
               WHERE n.nspname = :schema AND c.relname = 'coach_schema'
                 AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT'))"""
        ),
        {"schema": first},
    ).first()
    if row is not None:
        raise forbidden(
            f"login role '{row[0]}' may not use this coach database: it is not linked to a coach user; "
            f"an admin links it with `coach user link HANDLE --login {row[0]}`"
        )


def service_without_user(who: Connected) -> CoachError:
    """The refusal for a service role running a command that needs an acting user."""
    return forbidden(
        f"login role '{who.login}' is a service role linked to no user: it runs only "
        f"{', '.join(SERVICE_COMMANDS)}; an admin links it to a person with "
        f"`coach user link HANDLE --login {who.login}`"
    )


def require_maintainer(who: Connected) -> None:
    """`coach db info|check|copy`: the owner, a superuser, the service role,
    or a linked admin's role."""
    if who.acts_for_anyone or (who.service and who.linked_handle is None):
        return
    acting_handle(who, None)  # refuses a role linked to no one


def require_server(db: Session) -> None:
    """`coach user link` is for a PostgreSQL server: a SQLite file has one owner."""
    if db.get_bind().dialect.name != "postgresql":
        raise CoachError(
            "nothing to link on SQLite: the file's owner holds all of it, and --as names who acts; "
            "`user link` is for a PostgreSQL server"
        )


def check_login(db: Session, login: str, *, linked_to: int) -> None:
    """`coach user link`: the login role exists, may log in, is not the
    owner or a superuser (they act as --as says), and is nobody else's."""
    role = db.execute(
        text(
            """SELECT r.rolcanlogin, r.rolsuper OR pg_has_role(r.oid, n.nspowner, 'MEMBER')
               FROM pg_roles AS r, pg_namespace AS n
               WHERE r.rolname = :login AND n.oid = current_schema()::regnamespace"""
        ),
        {"login": login},
    ).first()
    if role is None or not role[0]:
        raise not_found(
            f"no login role '{login}' on this server; create it first (CREATE ROLE \"{login}\" LOGIN), "
            "with the server's own authentication"
        )
    if role[1]:
        raise CoachError(
            f"login role '{login}' is a superuser or owns coach's schema, and acts as --as says; "
            "link a personal login role instead"
        )
    other = db.execute(
        text("SELECT handle FROM users WHERE login = :login AND id <> :user"), {"login": login, "user": linked_to}
    ).scalar()
    if other is not None:
        raise CoachError(
            f"login role '{login}' is already linked to '{other}'; unlink it first: coach user link {other} --none"
        )
