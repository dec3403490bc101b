"""The `coach` command: global options, the nouns, and the error boundary.

Start-up stays fast: a noun's module is imported only when that noun runs,
the root help comes from the table below, and nothing here imports
SQLAlchemy, so `coach --help` and `--version` cost little more than Typer.
"""

from __future__ import annotations

import importlib
import os
import sys
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from coachcli import __version__
from coachcli.cli.completion import complete_handle
from coachcli.cli.context import settings
from coachcli.errors import CoachError, ExitCode

# name: (module under coachcli.cli, one-line help). Each module has an `app`.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "Create the database (or upgrade its schema); --sample fills a demo team."),
    "user": ("user", "People: agents, coaches and admins; roster import; right to erasure."),
    "team": ("team", "Teams of agents, supervised by coaches."),
    "form": ("form", "Coaching forms: named lists of typed fields."),
    "path": ("path", "Performance paths assigned to agents (needed for a mini-goal)."),
    "kpi": ("kpi", "The twelve KPI metrics and their observations: import, list."),
    "plan": ("plan", "Performance plans: a purpose, one form, a series of sessions."),
    "session": ("session", "Coaching sessions: schedule, request, save, coach, autofill."),
    "minigoal": ("minigoal", "Mini-goals: list, show, evaluate (nightly from cron)."),
    "action": ("action", "Action items agreed in sessions: add, done, list."),
    "calendar": ("calendar", "Scheduled sessions in your scope as an iCalendar file (RFC 5545), for any calendar app."),
    "inbox": ("inbox", "Your notifications."),
    "remind": (
        "remind",
        "Reminders for cron: upcoming sessions, acknowledgements and action items due, mini-goals at risk (once each).",
    ),
    "notify": ("notify", "Deliver pending notifications through COACH_NOTIFY_COMMAND."),
    "log": ("log", "The audit trail: who changed what, and when (admins)."),
    "db": ("db", "The database itself: info, check, copy (backups, moving to PostgreSQL)."),
    "report": ("report", "Reports: does coaching work? Impact against a control group; coaching cadence."),
    "prep": ("prep", "The 1:1 sheet: what the next conversation with an agent needs, on one page."),
    "rules": ("rules", "Rules as code: coaching requests that start themselves from KPI data (cron)."),
}


# Typer exports Click's BadParameter but not its bases, which Click (installed,
# or vendored inside Typer since 0.2x) raises for every mistyped command line:
# they are reached through the public class, never through a private module.
UsageError: type[Any] = typer.BadParameter.__mro__[1]  # click.UsageError
ClickException: type[Any] = UsageError.__mro__[1]  # click.ClickException

# The root's options that are taken after the command too.
GLOBAL_OPTIONS = ("--db", "--as")


def _takes_a_value(command, name: str) -> bool:
    """Whether the option `name` of `command` is followed by its value."""
    for parameter in command.params:
        if isinstance(parameter, TyperOption) and name in (*parameter.opts, *parameter.secondary_opts):
            return not parameter.is_flag and not parameter.count
    return False


class CoachGroup(TyperGroup):
    """The root command: loads each noun on demand, and turns every refusal
    into one line on stderr and an exit code (no traceback reaches a user
    unless COACH_DEBUG asks for it)."""

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, name: str):
        if name not in COMMANDS:
            return None
        if name not in self.commands:
            module_name, help_text = COMMANDS[name]
            module = importlib.import_module(f"coachcli.cli.{module_name}")
            command = typer.main.get_command(module.app)
            command.name = name
            command.help = command.help or help_text
            self.commands[name] = command
        return self.commands[name]

    def format_commands(self, ctx, formatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:
            from difflib import get_close_matches

            matches = get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches and "Did you mean" not in error.message:
                error.message = f"{error.message.rstrip('.')}. Did you mean {matches[0]!r}?"
            raise

    def make_context(self, info_name, args, parent=None, **extra):
        with _usage_errors_in_one_line():
            return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, self._global_options_first(ctx, args))

    def _global_options_first(self, ctx, args: list[str]) -> list[str]:
        """`coach inbox --as alex` is `coach --as alex inbox`: the global
        options (--db, --as) are taken wherever they are given, by moving
        them before the command. The command line is walked as Click reads
        it — each option's value skipped, the command found level by level —
        so a value that happens to read `--as` is left where it is."""
        moved: list[str] = []
        kept: list[str] = []
        command_at = None  # where the command begins: moved options go just before it
        command = self
        remaining = list(args)
        while remaining:
            word = remaining.pop(0)
            if word == "--":
                kept += [word, *remaining]
                break
            name, equals, _ = word.partition("=")
            if name in GLOBAL_OPTIONS and command is not self:
                if not equals and not remaining:
                    raise UsageError(f"Option '{word}' requires an argument.", ctx)
                moved += [word] if equals else [word, remaining.pop(0)]
                continue
            kept.append(word)
            if word.startswith("-") and word != "-":
                if not equals and remaining and _takes_a_value(command, name):
                    kept.append(remaining.pop(0))
                continue
            if command is self:
                command_at = len(kept) - 1
            if isinstance(command, TyperGroup):
                command = command.get_command(ctx, word) or command
        if command_at is None:
            return kept
        # After the root's own: given after the command, they are the later, and win.
        return kept[:command_at] + moved + kept[command_at:]

    def invoke(self, ctx):
        try:
            with _usage_errors_in_one_line():
                return super().invoke(ctx)
        except CoachError as error:
            _fail(error.message, error.exit_code)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, BrokenPipeError):
            # A closed pipe (`coach … | head`) is Click's to end quietly.
            raise
        except Exception as error:  # the boundary: anything unforeseen
            if os.environ.get("COACH_DEBUG"):
                raise
            if _is_cli_signal(error):
                raise
            _fail(
                f"internal error: {type(error).__name__}: {error} (set COACH_DEBUG=1 for the traceback and report it)",
                ExitCode.INTERNAL,
            )


@contextmanager
def _usage_errors_in_one_line():
    """A mistyped command or option gets the same one-line treatment as any
    other refusal (exit 2), naming the help to read; asking for help by
    giving no arguments still shows it."""
    try:
        yield
    except UsageError as error:
        # Asking for help by giving no arguments: recognised by name, as Typer
        # itself does, since Click exports the class in no version Typer allows.
        if type(error).__name__ == "NoArgsIsHelpError":
            raise
        where = error.ctx.command_path if error.ctx is not None else "coach"
        _fail(f"{error.format_message()} (see `{where} --help`)", ExitCode.BAD_INPUT)


def _is_cli_signal(error: Exception) -> bool:
    """Usage errors and the like belong to the option parser, not to us."""
    # (typer.Exit and typer.Abort are re-raised before this is asked.)
    return isinstance(error, ClickException)


def _fail(message: str, code: ExitCode) -> None:
    sys.stderr.write(f"coach: {message}\n")
    raise typer.Exit(int(code))


app = typer.Typer(
    cls=CoachGroup,
    name="coach",
    help="Contact-center coaching from a SQLite file or a PostgreSQL server: performance plans, coaching sessions, mini-goals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"coach {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    database: Annotated[
        str | None,
        typer.Option("--db", envvar="COACH_DB", help="Database file, or a postgresql:// URL.", show_default=False),
    ] = None,
    acting: Annotated[
        str | None,
        typer.Option(
            "--as",
            envvar="COACH_USER",
            autocompletion=complete_handle,
            help="Act as this user (handle).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    settings.database = database
    settings.acting_handle = acting
    settings.connected = None


def main() -> None:
    app()
