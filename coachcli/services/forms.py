"""Coaching forms, stored as validated specs."""

from __future__ import annotations

from sqlmodel import Session, select

from coachcli.db.models import Form, User
from coachcli.errors import not_found, refused
from coachcli.forms import FormSpec
from coachcli.services import audit
from coachcli.services.people import require_coaching_role


def add_form(db: Session, actor: User, spec: FormSpec) -> Form:
    require_coaching_role(actor, "add coaching forms")
    if db.exec(select(Form.id).where(Form.name == spec.name)).first() is not None:
        # Forms are never edited in place: answers already given must keep
        # meaning what they meant, so a changed form gets a new name.
        raise refused(f"a form named '{spec.name}' already exists; give the new version another name (e.g. add ' v2')")
    form = Form(name=spec.name, description=spec.description, spec=spec.to_dict())
    db.add(form)
    db.flush()
    audit.record(db, actor, "form.add", "form", form.id, name=spec.name)
    return form


def find_form(db: Session, name_or_id: str) -> Form:
    text = name_or_id.strip()
    query = select(Form).where(Form.name == text)
    if text.isdigit():
        query = select(Form).where((Form.id == int(text)) | (Form.name == text))
    form = db.exec(query).first()
    if form is None:
        raise not_found(f"no coaching form '{text}'; see `coach form list`, or add one with `coach form add FILE`")
    return form


def form_spec(form: Form) -> FormSpec:
    return FormSpec.from_dict(form.spec)


def form_record(form: Form) -> dict:
    spec = form_spec(form)
    return {
        "id": form.id,
        "name": form.name,
        "description": form.description,
        "fields": [
            {
                "key": field.key,
                "label": field.label,
                "type": field.type,
                "required": field.required,
                "rule": field.describe(),
            }
            for field in spec.fields
        ],
        "created_at": form.created_at,
    }


def list_forms(db: Session) -> list[dict]:
    forms = db.exec(select(Form).order_by(Form.name)).all()
    return [
        {
            "id": form.id,
            "name": form.name,
            "description": form.description,
            "fields": len(form.spec.get("fields", [])),
            "created_at": form.created_at,
        }
        for form in forms
    ]
