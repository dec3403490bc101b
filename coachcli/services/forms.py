"""Coaching forms, stored as validated specs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlmodel import Session, select

from coachcli.db.engine import STREAMED_ROWS
from coachcli.db.models import Form, User, stored_id
from coachcli.errors import CoachError, not_found, refused
from coachcli.forms import FormSpec
from coachcli.parse import parse_record_id
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.people import require_coaching_role


def add_form(db: Session, actor: User, spec: FormSpec) -> Form:
    require_coaching_role(actor, "add coaching forms")
    taken = next((name for _, name in _form_names(db) if name.casefold() == spec.name.casefold()), None)
    if taken is not None:
        # Forms are never edited in place: answers already given must keep
        # meaning what they meant, so a changed form gets a new name (one
        # that differs in more than case: names match in any case).
        raise refused(f"a form named '{taken}' already exists; give the new version another name (e.g. add ' v2')")
    form = Form(name=spec.name, description=spec.description, spec=spec.to_dict())
    db.add(form)
    db.flush()
    audit.record(db, actor, "form.add", "form", form.id, name=spec.name)
    return form


def _form_names(db: Session) -> list[tuple[int, str]]:
    # Stored rows: the filter only narrows the id's type.
    return [(form_id, name) for form_id, name in db.exec(select(Form.id, Form.name)) if form_id is not None]


def find_form(db: Session, name_or_id: str) -> Form:
    """A form by its name (exactly, else in any case, as handles and metrics
    match) or by its id. A handful of forms: matched in Python, so that case
    folds the same on both backends."""
    text = name_or_id.strip()
    names = _form_names(db)
    found = [form_id for form_id, name in names if name == text]
    if not found and text.isascii() and text.isdigit():
        try:
            number = parse_record_id(text, "coaching form")
        except CoachError:
            number = None  # past any id: only a name can match
        found = [form_id for form_id, _ in names if form_id == number]
    if not found:
        found = [form_id for form_id, name in names if name.casefold() == text.casefold()]
    if len(found) > 1:
        raise CoachError(f"several forms are named '{text}' in different cases; give the exact name or the form's id")
    if not found:
        raise not_found(f"no coaching form '{text}'; see `coach form list`, or add one with `coach form add FILE`")
    form = db.get(Form, found[0])
    assert form is not None  # just listed
    return form


def form_spec(form: Form) -> FormSpec:
    return FormSpec.from_dict(form.spec)


@dataclass(frozen=True, slots=True)
class FieldRecord:
    key: str = column("Key")
    label: str = column("Label")
    type: str = column(None)
    required: bool = column("Required")
    # The type as a person reads it, with its choices or range.
    rule: str = column("Type")


@dataclass(frozen=True, slots=True)
class FormRecord:
    """A form shown alone: its fields are a section of their own."""

    id: int = column("ID")
    name: str = column("Name")
    description: str = column("Description")
    fields: list[FieldRecord] = column(None)
    created_at: dt.datetime = column(None)


@dataclass(frozen=True, slots=True)
class FormSummary:
    """A form in the list: how many fields it has."""

    id: int = column("ID")
    name: str = column("Form")
    description: str = column("Description")
    fields: int = column("Fields")
    created_at: dt.datetime = column(None)


def form_record(form: Form) -> FormRecord:
    spec = form_spec(form)
    return FormRecord(
        id=stored_id(form),
        name=form.name,
        description=form.description,
        fields=[
            FieldRecord(
                key=field.key,
                label=field.label,
                type=field.type,
                required=field.required,
                rule=field.describe(),
            )
            for field in spec.fields
        ],
        created_at=form.created_at,
    )


def list_forms(db: Session) -> Iterator[FormSummary]:
    """Every form by name, read as they are consumed."""

    forms = db.exec(select(Form).order_by(Form.name).execution_options(yield_per=STREAMED_ROWS))
    return (
        FormSummary(
            id=stored_id(form),
            name=form.name,
            description=form.description,
            fields=len(form.spec.get("fields", [])),
            created_at=form.created_at,
        )
        for form in forms
    )
