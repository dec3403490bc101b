"""Tab completion of the names options take (`--agent al<Tab>`).

Each callback runs only when the shell asks for completions, so the
database layer is imported inside it and `--help` / `--version` never pay
for it. A completion never fails loudly: whatever goes wrong (no database
yet, no server, an old schema) the shell just offers nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import typer


def _database(ctx: typer.Context) -> str | None:
    """What --db (or COACH_DB) names: the root's option is parsed, though
    its callback does not run while the shell completes."""
    return ctx.find_root().params.get("database") or os.environ.get("COACH_DB")


def _from_database(ctx: typer.Context, incomplete: str, names: Callable) -> list[str]:
    try:
        from coachcli.db import open_database, transaction

        engine = open_database(_database(ctx))
        try:
            with transaction(engine, write=False) as db:
                found = names(db)
        finally:
            engine.dispose()
    except Exception:  # a Tab must never print a traceback into the shell
        return []
    return [name for name in found if name.startswith(incomplete)]


def complete_handle(ctx: typer.Context, incomplete: str) -> list[str]:
    from coachcli.services.completion import handles

    return _from_database(ctx, incomplete, handles)


def complete_agent(ctx: typer.Context, incomplete: str) -> list[str]:
    from coachcli.services.completion import handles
    from coachcli.services.people import COACHED_ROLE

    return _from_database(ctx, incomplete, lambda db: handles(db, (COACHED_ROLE,)))


def complete_coach(ctx: typer.Context, incomplete: str) -> list[str]:
    from coachcli.services.completion import handles
    from coachcli.services.people import COACHING_ROLES

    return _from_database(ctx, incomplete, lambda db: handles(db, COACHING_ROLES))


def complete_form(ctx: typer.Context, incomplete: str) -> list[str]:
    from coachcli.services.completion import form_names

    return _from_database(ctx, incomplete, form_names)


def complete_path(ctx: typer.Context, incomplete: str) -> list[str]:
    from coachcli.services.completion import path_names

    return _from_database(ctx, incomplete, path_names)


def complete_metric(incomplete: str) -> list[str]:
    """Metric keys need no database: the twelve are fixed (coachcli.metrics)."""
    from coachcli.metrics import METRICS

    return [metric.key for metric in METRICS if metric.key.startswith(incomplete)]
