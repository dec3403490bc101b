"""`coach init --sample`: a realistic small contact center, built through the
same services a user would call, so the sample obeys every rule."""

from __future__ import annotations

import tomllib
from importlib.resources import files

from sqlmodel import Session

from coachcli.errors import refused
from coachcli.forms import parse_form
from coachcli.services import forms, plans, sessions, users

SAMPLE_ADMIN = "dana"

_PEOPLE = [
    # handle, name, role, teams
    ("dana", "Dana Whitfield", "admin", []),
    ("calvin", "Calvin Brooks", "coach", ["Inbound East"]),
    ("priya", "Priya Raman", "coach", ["Chat Support"]),
    ("alex", "Alex Moreno", "agent", ["Inbound East"]),
    ("maria", "Maria Lopez", "agent", ["Inbound East"]),
    ("jordan", "Jordan Kim", "agent", ["Inbound East"]),
    ("sam", "Sam Okafor", "agent", ["Chat Support"]),
    ("lee", "Lee Chen", "agent", ["Chat Support"]),
    ("nora", "Nora Haddad", "agent", ["Chat Support"]),
]

_GOOD_CALL = {
    "channel": "phone",
    "greeting": 4,
    "empathy": 4,
    "hold_etiquette": True,
    "compliance": True,
    "resolution": "resolved",
    "handle_time": 380,
    "strengths": "Warm opening, verified identity quickly.",
    "opportunities": "Summarise next steps before closing.",
    "agreed_actions": "Use the closing checklist on every call this week.",
}


def _coached(db: Session, coach, session_id: int, **changes) -> None:
    sessions.coach_session(db, coach, session_id, {**_GOOD_CALL, **changes})


def load_sample(db: Session) -> None:
    if users.has_users(db):
        raise refused("the database already has users; `--sample` fills only a new, empty database")
    people = {}
    admin = None
    for team in ("Inbound East", "Chat Support"):
        if admin is None:
            handle, name, role, _ = _PEOPLE[0]
            admin = people[handle] = users.add_user(db, None, handle, name, role, [])
        users.add_team(db, admin, team)
    for handle, name, role, teams in _PEOPLE[1:]:
        people[handle] = users.add_user(db, admin, handle, name, role, teams)
    calvin, priya = people["calvin"], people["priya"]

    spec = parse_form(tomllib.loads(files("coachcli").joinpath("data/call-quality.toml").read_text()), "sample")
    form = forms.add_form(db, admin, spec)

    hold_plan, first = plans.add_plan(
        db, calvin, "alex", form.name, "Bring average hold time under 5 minutes while keeping empathy at 4+"
    )
    _coached(db, calvin, first.id, hold_etiquette=False, empathy=3, opportunities="Long silent holds.")
    for empathy in (4, 4):
        session, _ = plans.edit_plan(db, calvin, hold_plan.id)
        _coached(db, calvin, session.id, empathy=empathy)
    draft, _ = plans.edit_plan(db, calvin, hold_plan.id)
    sessions.autofill_session(db, calvin, draft.id)

    closed_plan, first = plans.add_plan(db, calvin, "maria", form.name, "Read every required disclosure on recorded calls")
    _coached(db, calvin, first.id, compliance=False, opportunities="Skipped the recording disclosure twice.")
    session, _ = plans.edit_plan(db, calvin, closed_plan.id)
    _coached(db, calvin, session.id)
    plans.close_plan(
        db, calvin, closed_plan.id,
        "Disclosures read on 40 of 40 audited calls over four weeks; purpose met.",
    )

    chat_plan, first = plans.add_plan(db, priya, "sam", form.name, "Resolve chats on first contact instead of escalating")
    _coached(db, priya, first.id, channel="chat", resolution="escalated")

    standalone = sessions.new_session(db, calvin, "jordan", form.name, "Monthly call review")
    _coached(db, calvin, standalone.id, greeting=5)
