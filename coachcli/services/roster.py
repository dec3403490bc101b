"""Roster sync (`coach user import`): add and update users and their teams
from a CSV or JSON Lines file, all or nothing, in a few set-based statements."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, update
from sqlmodel import Session, col, select

from coachcli.db.bulk import chunks
from coachcli.db.models import Team, TeamMembership, User
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, forbidden
from coachcli.parse import check_text
from coachcli.records import as_dict, column
from coachcli.services import audit
from coachcli.services.people import a_role
from coachcli.services.users import bootstrapping, check_name, check_role, normalize_handle
from coachcli.tabular import Content, Problems, read_rows

ROSTER_COLUMNS = ("handle", "name", "role", "teams")
ROSTER_REQUIRED = ("handle", "name", "role")
TEAM_SEPARATOR = ";"


def _teams(value: object) -> list[str] | None:
    """The listed team names, or None when the row leaves teams alone (no
    teams column, or JSON null). An empty cell means: no teams."""
    if value is None:
        return None
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = value.split(TEAM_SEPARATOR)
    else:
        raise CoachError(f"teams must be text separated by '{TEAM_SEPARATOR}' or a list, not {value!r}")
    names = []
    for item in items:
        if not isinstance(item, str):
            raise CoachError(f"team names must be text, not {item!r}")
        if item.strip():
            names.append(check_text(item, "team name").strip())
    return list(dict.fromkeys(names))


def _authorize(db: Session, actor: User | None) -> None:
    if bootstrapping(db, actor, "importing users"):
        return
    assert actor is not None  # bootstrapping() refuses a missing actor once there is an admin
    if actor.role != "admin":
        raise forbidden(f"only an admin can import the roster; '{actor.handle}' is {a_role(actor.role)}")


def _team_ids(db: Session, names: list[str]) -> dict[str, int]:
    """The ids of the stored teams among `names`, by name."""
    found: dict[str, int] = {}
    for team_id, name in db.exec(select(Team.id, Team.name).where(col(Team.name).in_(names))):
        assert team_id is not None  # a stored row's primary key
        found[name] = team_id
    return found


@dataclass(frozen=True, slots=True)
class RosterCounts:
    """What a roster import did."""

    added: int = column("Added")
    updated: int = column("Updated")
    unchanged: int = column("Unchanged")
    teams_created: int = column("Teams created")


def import_roster(db: Session, actor: User | None, content: Content, source: str) -> RosterCounts:
    """Add new handles, update existing ones (name, role, and team memberships
    set to exactly the listed teams), create missing teams. Users not in the
    file are left alone."""
    _authorize(db, actor)
    problems = Problems(source)
    wanted: dict[str, tuple[str, str, list[str] | None]] = {}
    first_line: dict[str, int] = {}
    for line, values in read_rows(content, source, ROSTER_COLUMNS, ROSTER_REQUIRED):
        if isinstance(values, ValueError):
            problems.add(line, str(values))
            continue
        raw_handle, raw_name, raw_role, raw_teams = values
        try:
            handle = normalize_handle(str(raw_handle or ""))
            name = check_name(str(raw_name or ""))
            role = check_role(str(raw_role or ""))
            teams = _teams(raw_teams)
        except CoachError as error:
            problems.add(line, error.message)
            continue
        if handle in first_line:
            problems.add(line, f"handle '{handle}' appears twice (also on line {first_line[handle]})")
            continue
        if actor is not None and handle == actor.handle and role != "admin":
            problems.add(line, f"this import would take away your own admin role ('{handle}'); ask another admin")
            continue
        first_line[handle] = line
        wanted[handle] = (name, role, teams)
    problems.raise_if_any()
    handles = list(wanted)
    # Rows read back from the database: their ids are never None.
    existing: dict[str, tuple[int, str | None, str | None]] = {}
    for chunk in chunks(handles):
        for user_id, handle, name, role in db.exec(
            select(User.id, User.handle, User.name, User.role).where(col(User.handle).in_(chunk))
        ):
            assert user_id is not None  # a stored row's primary key
            existing[handle] = (user_id, name, role)

    team_names = sorted({team for _, _, teams in wanted.values() for team in teams or []})
    team_ids: dict[str, int] = {}
    for chunk in chunks(team_names):
        team_ids.update(_team_ids(db, chunk))
    new_teams = [name for name in team_names if name not in team_ids]
    now = utc_now()
    if new_teams:
        db.execute(insert(Team.__table__), [{"name": name, "created_at": now} for name in new_teams])
        for chunk in chunks(new_teams):
            team_ids.update(_team_ids(db, chunk))

    current: dict[int, set[int]] = {}
    existing_ids = [user_id for user_id, _, _ in existing.values()]
    for chunk in chunks(existing_ids):
        for team_id, user_id in db.exec(
            select(TeamMembership.team_id, TeamMembership.user_id).where(col(TeamMembership.user_id).in_(chunk))
        ):
            current.setdefault(user_id, set()).add(team_id)

    additions = [
        {"handle": handle, "name": name, "role": role, "created_at": now}
        for handle, (name, role, _) in wanted.items()
        if handle not in existing
    ]
    if additions:
        db.execute(insert(User.__table__), additions)
        for chunk in chunks([row["handle"] for row in additions]):
            for user_id, handle in db.exec(select(User.id, User.handle).where(col(User.handle).in_(chunk))):
                assert user_id is not None  # a stored row's primary key
                existing.setdefault(handle, (user_id, None, None))
                current.setdefault(user_id, set())

    changed_people = []
    joins: list[dict] = []
    leaves: list[dict] = []
    updated = unchanged = 0
    added_handles = {row["handle"] for row in additions}
    for handle, (name, role, teams) in wanted.items():
        user_id, old_name, old_role = existing[handle]
        have = current.get(user_id, set())
        want = have if teams is None else {team_ids[team] for team in teams}
        joins.extend({"team_id": team_id, "user_id": user_id} for team_id in sorted(want - have))
        leaves.extend({"t": team_id, "u": user_id} for team_id in sorted(have - want))
        if handle in added_handles:
            continue
        if (old_name, old_role) != (name, role):
            changed_people.append({"uid": user_id, "new_name": name, "new_role": role})
        if (old_name, old_role) != (name, role) or want != have:
            updated += 1
        else:
            unchanged += 1

    users = User.__table__
    if changed_people:
        db.execute(
            update(users)
            .where(users.c.id == bindparam("uid"))
            .values(name=bindparam("new_name"), role=bindparam("new_role")),
            changed_people,
        )
    if leaves:
        memberships = TeamMembership.__table__
        db.execute(
            delete(memberships).where(memberships.c.team_id == bindparam("t"), memberships.c.user_id == bindparam("u")),
            leaves,
        )
    if joins:
        db.execute(insert(TeamMembership.__table__), joins)
    if changed_people:
        # The rows changed under the ORM: let loaded users read them again.
        db.flush()
        for user in [obj for obj in db.identity_map.values() if isinstance(obj, User)]:
            db.expire(user)

    counts = RosterCounts(
        added=len(additions),
        updated=updated,
        unchanged=unchanged,
        teams_created=len(new_teams),
    )
    audit.record(db, actor, "user.import", "user", None, **as_dict(counts))
    return counts
