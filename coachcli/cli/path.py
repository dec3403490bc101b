"""coach path: performance paths, assigned to agents."""

import typer

app = typer.Typer(help="Performance paths assigned to agents (needed for a mini-goal).", no_args_is_help=True)
