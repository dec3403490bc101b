"""coach minigoal: short-term KPI targets set in coaching sessions."""

import typer

app = typer.Typer(help="Mini-goals: list, show, evaluate (nightly from cron).", no_args_is_help=True)
