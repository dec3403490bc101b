"""coach notify: deliver pending notifications through COACH_NOTIFY_COMMAND."""

import typer

app = typer.Typer(help="Deliver pending notifications.", no_args_is_help=True)
