"""coach kpi: the twelve metrics and the KPI observations behind mini-goals."""

import typer

app = typer.Typer(help="KPI metrics and observations: import, list.", no_args_is_help=True)
