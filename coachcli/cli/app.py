"""The `coach` command: global options, the nouns, and the error boundary.

Nothing here imports SQLAlchemy: `coach --help` and `--version` stay fast.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from coachcli import __version__
from coachcli.cli import form, inbox, init, kpi, log, minigoal, notify, path, plan, session, team, user
from coachcli.cli.context import settings
from coachcli.errors import CoachError, ExitCode


class CoachGroup(TyperGroup):
    """Turns every refusal into one line on stderr and an exit code; no
    traceback reaches a user unless COACH_DEBUG asks for it."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CoachError as error:
            _fail(error.message, error.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as error:  # the boundary: anything unforeseen
            if os.environ.get("COACH_DEBUG"):
                raise
            if _is_cli_signal(error):
                raise
            _fail(
                f"internal error: {type(error).__name__}: {error} "
                "(set COACH_DEBUG=1 for the traceback and report it)",
                ExitCode.INTERNAL,
            )


def _is_cli_signal(error: Exception) -> bool:
    """Usage errors and the like belong to the option parser, not to us."""
    # (typer.Exit and typer.Abort are re-raised before this is asked.)
    from typer._click.exceptions import ClickException

    return isinstance(error, ClickException)


def _fail(message: str, code: ExitCode) -> None:
    sys.stderr.write(f"coach: {message}\n")
    raise typer.Exit(int(code))


app = typer.Typer(
    cls=CoachGroup,
    name="coach",
    help="Contact-center coaching from a SQLite file: performance plans, coaching sessions, mini-goals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"coach {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    database: Annotated[
        Optional[str],
        typer.Option("--db", envvar="COACH_DB", help="Database file or SQLAlchemy URL.", show_default=False),
    ] = None,
    acting: Annotated[
        Optional[str],
        typer.Option("--as", envvar="COACH_USER", help="Act as this user (handle).", show_default=False),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    settings.database = database
    settings.acting_handle = acting


app.add_typer(user.app, name="user")
app.add_typer(team.app, name="team")
app.add_typer(form.app, name="form")
app.add_typer(plan.app, name="plan")
app.add_typer(session.app, name="session")
app.add_typer(path.app, name="path")
app.add_typer(kpi.app, name="kpi")
app.add_typer(minigoal.app, name="minigoal")
app.add_typer(notify.app, name="notify")
app.command("init")(init.init)
app.command("inbox")(inbox.inbox)
app.command("log")(log.log)


def main() -> None:
    app()
