"""coach form: coaching forms, defined in TOML or JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.output import FormatOption, OutputFormat, QuietOption, Section, View, emit, emit_id

if TYPE_CHECKING:
    from coachcli.services.forms import FormRecord

app = command_group()


@app.command("add")
def add(
    file: Annotated[Path, typer.Argument(help="A .toml or .json form file.", metavar="FILE")],
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Add a coaching form from a file (see examples/forms/)."""
    from coachcli.db.models import stored_id
    from coachcli.forms import load_form_file
    from coachcli.services import forms

    spec = load_form_file(file)
    with unit_of_work(write=True) as db:
        form = forms.add_form(db, acting_user(db), spec)
        record = forms.form_record(form)
    if quiet:
        emit_id(stored_id(form))
    else:
        _show(record, format)


@app.command("list")
def list_(format: FormatOption = None) -> None:
    """List the coaching forms."""
    from coachcli.services import forms

    with unit_of_work(write=False) as db:
        acting_user(db)
        records = forms.list_forms(db)
        emit(records, format, View(title="Coaching forms", record=forms.FormSummary))


@app.command("show")
def show(
    form: Annotated[str, typer.Argument(help="Form name or id.", metavar="FORM")],
    format: FormatOption = None,
) -> None:
    """Show a coaching form and its fields."""
    from coachcli.services import forms

    with unit_of_work(write=False) as db:
        acting_user(db)
        record = forms.form_record(forms.find_form(db, form))
    _show(record, format)


def _show(record: FormRecord, format: OutputFormat | None) -> None:
    emit(record, format, View(title="Coaching form", sections=[Section("Fields", record.fields)]))
