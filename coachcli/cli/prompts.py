"""Filling a coaching form field by field at a terminal."""

from __future__ import annotations

import typer

from coachcli.errors import CoachError
from coachcli.forms import FormSpec, coerce_answer, format_answer


def fill_form(spec: FormSpec, current: dict, previous: dict) -> dict[str, str]:
    """Ask for each field; Enter keeps the shown default (the current answer,
    else the previous session's, as autofill would give). Returns raw answers
    to merge; a field left blank with no default stays unanswered."""
    typer.echo(f"Filling “{spec.name}” — press Enter to keep the value in brackets.", err=True)
    answers: dict[str, str] = {}
    for field in spec.fields:
        default_value = current.get(field.key, previous.get(field.key))
        default = format_answer(field, default_value) if default_value is not None else ""
        marker = " *" if field.required else ""
        while True:
            raw = typer.prompt(
                f"{field.label} ({field.describe()}){marker}",
                default=default,
                show_default=bool(default),
                err=True,
            )
            if raw == "" and not field.required:
                break
            try:
                coerce_answer(field, raw)
            except CoachError as error:
                typer.echo(f"  {error.message}", err=True)
                continue
            answers[field.key] = raw
            break
    return answers
