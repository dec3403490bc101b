"""What the shell completes: the names a command's options accept."""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, col, select

from coachcli.db.models import Form, PerformancePath, User
from coachcli.services.people import COACHED_ROLE

AGENT_ROLES = (COACHED_ROLE,)


def handles(db: Session, roles: Collection[str] | None = None) -> list[str]:
    """Every user's handle (only those of `roles` when given), sorted."""
    query = select(User.handle).order_by(User.handle)
    if roles is not None:
        query = query.where(col(User.role).in_(roles))
    return list(db.exec(query))


def form_names(db: Session) -> list[str]:
    return list(db.exec(select(Form.name).order_by(Form.name)))


def path_names(db: Session) -> list[str]:
    return list(db.exec(select(PerformancePath.name).order_by(PerformancePath.name)))
