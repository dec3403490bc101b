"""`coach init --sample`: a realistic small contact center, built through the
same services a user would call, so the sample obeys every rule."""

from __future__ import annotations

import datetime as dt
import random
import tomllib
from importlib.resources import files

from sqlmodel import Session

from coachcli.db.models import stored_id
from coachcli.errors import refused
from coachcli.forms import parse_form
from coachcli.services import coaching, forms, kpi, minigoals, paths, plans, scheduling, users

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
    coaching.save_session(db, coach, session_id, {**_GOOD_CALL, **changes}, coached=True)


# agent, metric, typical daily value, spread: enough for goals to come out
# achieved, missed and in progress.
_KPI_PROFILES = [
    ("alex", "hold-time", 270, 40),
    ("alex", "handle-time", 380, 60),
    ("maria", "adherence", 86, 5),
    ("maria", "handle-time", 420, 50),
    ("jordan", "handle-time", 405, 45),
    ("sam", "contacts-handled", 72, 8),
    ("lee", "after-call-work-time", 32, 4),
    ("nora", "manual-qm-overall-score", 81, 6),
]
_KPI_DAYS = 60

# title, agent, coach, days from today (session), days from today (due), path, metric, target
_GOALS = [
    ("Shorter holds", "alex", "calvin", -40, -10, "Inbound fundamentals", "hold-time", "5m"),
    ("Adherence back above 90", "maria", "calvin", -30, -5, "Inbound fundamentals", "adherence", "90"),
    ("Wrap-up under 30 seconds", "lee", "priya", -35, -7, "Chat excellence", "after-call-work-time", "30"),
    ("Seventy chats a day", "sam", "priya", -20, 10, "Chat excellence", "contacts-handled", "70"),
    ("Handle time under 400", "jordan", "calvin", -14, 14, "Inbound fundamentals", "handle-time", "400"),
]


def _kpi_lines(today: dt.date) -> list[str]:
    rng = random.Random(2026)
    lines = ["agent,metric,observed_at,value\n"]
    for agent, metric, typical, spread in _KPI_PROFILES:
        for back in range(_KPI_DAYS, 0, -1):
            value = max(0, round(rng.gauss(typical, spread / 2), 1))
            if metric.endswith("score") or metric == "adherence":
                value = min(100, value)
            lines.append(f"{agent},{metric},{today - dt.timedelta(days=back)},{value}\n")
    return lines


def _mini_goals(db: Session, people: dict, today: dt.date) -> None:
    paths.add_path(db, people["calvin"], "Inbound fundamentals", ["alex", "maria", "jordan"])
    paths.add_path(db, people["priya"], "Chat excellence", ["sam", "lee", "nora"])
    for title, agent, coach, start, due, path, metric, target in _GOALS:
        scheduling.schedule_session(
            db,
            people[coach],
            scheduling.ScheduleRequest.typed(
                title=title,
                agent=agent,
                date=str(today + dt.timedelta(days=start)),
                start="10:00",
                duration=30,
                path=path,
                kpi=metric,
                target=target,
                target_date=str(today + dt.timedelta(days=due)),
            ),
            today=today,
        )
    scheduling.schedule_session(
        db,
        people["priya"],
        scheduling.ScheduleRequest.typed(
            title="Chat tone check-in",
            agent="nora",
            date=str(today + dt.timedelta(days=3)),
            start="14:30",
            duration=45,
            link="https://meet.example.com/nora-priya",
        ),
        today=today,
    )
    scheduling.request_session(
        db,
        people["lee"],
        title="Help with long technical chats",
        path="Chat excellence",
        kpi="handle-time",
        notes="Customers with router problems take me 20+ minutes.",
    )
    kpi.import_observations(db, None, _kpi_lines(today), "sample KPI data")
    minigoals.evaluate(db, today)


def load_sample(db: Session, today: dt.date) -> None:
    if users.has_users(db):
        raise refused("the database already has users; `--sample` fills only a new, empty database")
    people = {}
    handle, name, role, _ = _PEOPLE[0]
    admin = people[handle] = users.add_user(db, None, handle, name, role, [])
    for team in ("Inbound East", "Chat Support"):
        users.add_team(db, admin, team)
    for handle, name, role, teams in _PEOPLE[1:]:
        people[handle] = users.add_user(db, admin, handle, name, role, teams)
    calvin, priya = people["calvin"], people["priya"]

    spec = parse_form(tomllib.loads(files("coachcli").joinpath("data/call-quality.toml").read_text()), "sample")
    form = forms.add_form(db, admin, spec)

    hold_plan, first = plans.add_plan(
        db, calvin, "alex", form.name, "Bring average hold time under 5 minutes while keeping empathy at 4+"
    )
    _coached(db, calvin, stored_id(first), hold_etiquette=False, empathy=3, opportunities="Long silent holds.")
    for empathy in (4, 4):
        session, _ = plans.edit_plan(db, calvin, stored_id(hold_plan))
        _coached(db, calvin, stored_id(session), empathy=empathy)
    draft, _ = plans.edit_plan(db, calvin, stored_id(hold_plan))
    coaching.autofill_session(db, calvin, stored_id(draft))

    closed_plan, first = plans.add_plan(
        db, calvin, "maria", form.name, "Read every required disclosure on recorded calls"
    )
    _coached(db, calvin, stored_id(first), compliance=False, opportunities="Skipped the recording disclosure twice.")
    session, _ = plans.edit_plan(db, calvin, stored_id(closed_plan))
    _coached(db, calvin, stored_id(session))
    plans.close_plan(
        db,
        calvin,
        stored_id(closed_plan),
        "Disclosures read on 40 of 40 audited calls over four weeks; purpose met.",
    )

    chat_plan, first = plans.add_plan(
        db, priya, "sam", form.name, "Resolve chats on first contact instead of escalating"
    )
    _coached(db, priya, stored_id(first), channel="chat", resolution="escalated")

    standalone = coaching.new_session(db, calvin, "jordan", form.name, "Monthly call review")
    _coached(db, calvin, stored_id(standalone), greeting=5)

    _mini_goals(db, people, today)
