"""Performance paths: named paths assigned to agents; a mini-goal needs one."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import insert
from sqlmodel import Session, col, select

from coachcli.db.models import PathAssignment, PerformancePath, User, stored_id
from coachcli.errors import CoachError, forbidden, not_found, refused
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.people import in_scope, require_coaching_role
from coachcli.services.users import check_name


def find_path(db: Session, name: str) -> PerformancePath:
    path = db.exec(select(PerformancePath).where(PerformancePath.name == name.strip())).first()
    if path is None:
        raise not_found(f"no performance path '{name.strip()}'; see `coach path list`, or add it with `coach path add`")
    return path


def is_assigned(db: Session, path: PerformancePath, user: User) -> bool:
    return (
        db.exec(
            select(PathAssignment.path_id).where(PathAssignment.path_id == path.id, PathAssignment.user_id == user.id)
        ).first()
        is not None
    )


def require_assigned(db: Session, path: PerformancePath, user: User) -> None:
    if not is_assigned(db, path, user):
        raise refused(not_assigned_message(path.name, user.handle))


def not_assigned_message(path_name: str, handle: str) -> str:
    return (
        f"path '{path_name}' is not assigned to '{handle}'; "
        f'assign it with `coach path add "{path_name}" --agent {handle}`'
    )


def _agents_to_assign(db: Session, actor: User, handles: list[str]) -> list[User]:
    """The named agents, each checked to exist, be an agent and be in scope —
    two queries whatever the number of handles."""
    wanted = list(dict.fromkeys(handle.strip().lower() for handle in handles if handle.strip()))
    if not wanted:
        return []
    found = {user.handle: user for user in db.exec(select(User).where(col(User.handle).in_(wanted)))}
    unknown = [handle for handle in wanted if handle not in found]
    if unknown:
        raise not_found(f"no user {', '.join(map(repr, unknown))}; see `coach user list`")
    not_agents = [f"'{handle}' is a {found[handle].role}" for handle in wanted if found[handle].role != "agent"]
    if not_agents:
        raise CoachError(f"paths are assigned to agents only: {', '.join(not_agents)}")
    ids = [found[handle].id for handle in wanted]
    visible = set(db.exec(select(User.id).where(col(User.id).in_(ids), in_scope(actor, User.id))))
    outside = [handle for handle in wanted if found[handle].id not in visible]
    if outside:
        raise forbidden(
            f"{', '.join(map(repr, outside))} {'is' if len(outside) == 1 else 'are'} outside the teams "
            f"'{actor.handle}' supervises; an admin can assign them"
        )
    return [found[handle] for handle in wanted]


def add_path(db: Session, actor: User, name: str, agent_handles: list[str]) -> tuple[PerformancePath, bool, list[str]]:
    """Create a path and assign agents to it. Naming a path that exists with
    --agent assigns more agents to it. Returns (path, created, newly assigned handles)."""
    require_coaching_role(actor, "manage performance paths")
    name = check_name(name, "path name")
    agents = _agents_to_assign(db, actor, agent_handles)
    path = db.exec(select(PerformancePath).where(PerformancePath.name == name)).first()
    created = path is None
    if path is None:
        path = PerformancePath(name=name)
        db.add(path)
        db.flush()
    elif not agents:
        raise refused(
            f"path '{name}' already exists; to assign it, name agents with `coach path add \"{name}\" --agent HANDLE`"
        )
    already = set(
        db.exec(
            select(PathAssignment.user_id).where(
                PathAssignment.path_id == path.id, col(PathAssignment.user_id).in_([a.id for a in agents])
            )
        )
    )
    new = [agent for agent in agents if agent.id not in already]
    if new:
        db.execute(insert(PathAssignment.__table__), [{"path_id": path.id, "user_id": agent.id} for agent in new])
    if created or new:
        audit.record(
            db,
            actor,
            "path.add" if created else "path.assign",
            "path",
            path.id,
            name=name,
            agents=new,
        )
    return path, created, [agent.handle for agent in new]


@dataclass(frozen=True, slots=True)
class PathRecord:
    id: int = column("ID")
    name: str = column("Path")
    agents: list[str] = column("Agents")
    created_at: dt.datetime = column(None)


def list_paths(db: Session, actor: User, path_ids: list[int] | None = None) -> list[PathRecord]:
    """Every path with its agents within the actor's scope. Coaches and admins
    see every path (to assign it to their agents); an agent sees only the paths
    assigned to them."""
    query = select(PerformancePath).order_by(PerformancePath.name)
    if path_ids is not None:
        query = query.where(col(PerformancePath.id).in_(path_ids))
    if actor.role == "agent":
        mine = select(PathAssignment.path_id).where(PathAssignment.user_id == actor.id)
        query = query.where(col(PerformancePath.id).in_(mine))
    paths = db.exec(query).all()
    agents: dict[int, list[str]] = defaultdict(list)
    rows = db.exec(
        select(PathAssignment.path_id, User.handle)
        .join(User, col(User.id) == PathAssignment.user_id)
        .where(col(PathAssignment.path_id).in_([path.id for path in paths]), in_scope(actor, User.id))
        .order_by(User.handle)
    )
    for path_id, handle in rows:
        agents[path_id].append(handle)
    return [
        PathRecord(
            id=stored_id(path), name=path.name, agents=agents.get(stored_id(path), []), created_at=path.created_at
        )
        for path in paths
    ]


def path_record(db: Session, actor: User, path: PerformancePath) -> PathRecord:
    return list_paths(db, actor, [stored_id(path)])[0]
