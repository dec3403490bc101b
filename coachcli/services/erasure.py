"""The right to erasure (SPEC §10): a person's handle and name become a
pseudonym, and the free text written about or by them, or naming them,
becomes ERASED. Numbers, dates, states and who-did-what-to-whom (by id) stay,
so every count, score, average and report stays what it was.

Which text is erased is one list, REWRITES: (column, which rows are the
person's). Every listed column is erased on the person's rows whatever it
says, and on any other row where it names them (their handle or full name as
a whole word, in any case). Text answers of coaching forms are JSON and are
rewritten field by field (`_erase_answers`).

The database accepts these UPDATEs on coached sessions and closed plans
because each only turns text into exactly ERASED (see migrations, version 4);
it refuses any other change to them, from coach or from a script.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Column, ColumnElement, CursorResult, Text, Update, bindparam, or_, select, type_coerce, update
from sqlmodel import Session

from coachcli.db.bulk import chunks
from coachcli.db.models import (
    ActionItem,
    CoachingSession,
    Form,
    MiniGoal,
    Notification,
    Plan,
    SessionAcknowledgement,
    User,
    stored_id,
)
from coachcli.db.security import erasure_in_progress
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, forbidden, refused
from coachcli.services import audit
from coachcli.services.forms import form_spec
from coachcli.services.people import find_user, require_admin
from coachcli.services.users import PSEUDONYM_PREFIX

ERASED = "[erased]"
MIN_REASON_WORDS = 3
MIN_REASON_LENGTH = 12

_sessions = CoachingSession.__table__
_plans = Plan.__table__
_goals = MiniGoal.__table__
_notifications = Notification.__table__
_acknowledgements = SessionAcknowledgement.__table__
_actions = ActionItem.__table__


def _sessions_of(user_id: int) -> ColumnElement[bool]:
    """Sessions about or by the person: theirs as agent, coach, requester or
    the one who completed them."""
    return or_(
        _sessions.c.agent_id == user_id,
        _sessions.c.coach_id == user_id,
        _sessions.c.requested_by_id == user_id,
        _sessions.c.coached_by_id == user_id,
    )


def _notifications_to(user_id: int) -> ColumnElement[bool]:
    return _notifications.c.user_id == user_id


def _acknowledgements_of(user_id: int) -> ColumnElement[bool]:
    return _acknowledgements.c.session_id.in_(select(_sessions.c.id).where(_sessions_of(user_id)))


def _actions_of(user_id: int) -> ColumnElement[bool]:
    """Items they own, wrote or closed, and every item of their sessions."""
    return or_(
        _actions.c.owner_id == user_id,
        _actions.c.created_by_id == user_id,
        _actions.c.done_by_id == user_id,
        _actions.c.session_id.in_(select(_sessions.c.id).where(_sessions_of(user_id))),
    )


@dataclass(frozen=True)
class TextRewrite:
    """A free-text column an erasure turns into ERASED: on the rows `theirs`
    selects (whatever they say), and on every row whose text names the person."""

    column: Column
    theirs: Callable[[int], ColumnElement[bool]] | None = None


REWRITES = [
    TextRewrite(_sessions.c.notes, theirs=_sessions_of),  # request notes included
    TextRewrite(_sessions.c.private_notes, theirs=_sessions_of),
    TextRewrite(_acknowledgements.c.comment, theirs=_acknowledgements_of),
    TextRewrite(_actions.c.text, theirs=_actions_of),
    TextRewrite(_actions.c.note, theirs=_actions_of),
    TextRewrite(_sessions.c.title),
    TextRewrite(_sessions.c.meeting_link),
    TextRewrite(_goals.c.name),
    TextRewrite(_plans.c.purpose),
    TextRewrite(_plans.c.close_reason),
    TextRewrite(_notifications.c.message, theirs=_notifications_to),
    TextRewrite(_notifications.c.last_error, theirs=_notifications_to),
]


class _Names:
    """How the person is named in text: their handle or full name as a whole
    word, in any case."""

    def __init__(self, person: User):
        self.words = [person.handle, person.name]
        self._pattern = re.compile("|".join(rf"(?<!\w){re.escape(word)}(?!\w)" for word in self.words), re.IGNORECASE)

    def named_in(self, text: str) -> bool:
        return bool(self._pattern.search(text))

    def candidates(self, column) -> ColumnElement[bool]:
        """SQL that finds every text that may name them (and some that do not:
        `named_in` decides), the JSON spelling of the words included."""
        spellings: set[str] = set()
        for word in self.words:
            for variant in (word, word.lower(), word.upper(), word.title()):
                spellings.update((variant, json.dumps(variant)[1:-1]))
        return or_(*(column.icontains(spelling, autoescape=True) for spelling in sorted(spellings)))


def check_reason(reason: str, names: _Names) -> str:
    """The reason is kept in the audit log for good, so it must say why, and
    must not itself name the person."""
    cleaned = " ".join(reason.split())
    if len(cleaned) < MIN_REASON_LENGTH or len(cleaned.split()) < MIN_REASON_WORDS:
        raise CoachError(
            f"say why the person is erased, in at least {MIN_REASON_WORDS} words (--reason TEXT), "
            'e.g. "left the company, asked for erasure"'
        )
    if names.named_in(cleaned):
        raise CoachError("the reason must not name the person: it is kept in the audit log for good")
    return cleaned


def erase_user(db: Session, actor: User, handle: str, reason: str) -> dict:
    """Erase a person (admins only, never oneself); returns what was done,
    never the erased values."""
    require_admin(actor, "erase a person")
    person = find_user(db, handle)
    if person.id == actor.id:
        raise forbidden("you cannot erase yourself; another admin must do it")
    if person.erased_at is not None:
        raise refused(f"'{person.handle}' has already been erased")
    names = _Names(person)
    reason = check_reason(reason, names)
    person_id = stored_id(person)
    with erasure_in_progress(db):  # the one place final records may have text become [erased]
        texts = sum(_rewrite(db, rewrite, person_id, names) for rewrite in REWRITES)
        texts += _erase_answers(db, person_id, names)
    pseudonym = f"{PSEUDONYM_PREFIX}{person_id}"
    person.handle = person.name = pseudonym
    person.erased_at = utc_now()
    db.add(person)
    audit.record(db, actor, "user.erase", "user", person_id, reason=reason, texts_erased=texts)
    db.flush()
    return {"id": person_id, "handle": pseudonym, "erased_at": person.erased_at, "texts_erased": texts}


def _rewritten(db: Session, statement: Update) -> int:
    """Session.execute is typed as returning a Result; an UPDATE's is a CursorResult."""
    return cast(CursorResult, db.execute(statement)).rowcount


def _rewrite(db: Session, rewrite: TextRewrite, user_id: int, names: _Names) -> int:
    column = rewrite.column
    (key,) = column.table.primary_key.columns
    has_text = (column.is_not(None)) & (column != "") & (column != ERASED)
    count = 0
    if rewrite.theirs is not None:
        count += _rewritten(db, update(column.table).where(rewrite.theirs(user_id), has_text).values({column: ERASED}))
    naming = [
        row_id
        for row_id, text in db.execute(select(key, column).where(has_text, names.candidates(column)))
        if names.named_in(text)
    ]
    for ids in chunks(naming):
        count += _rewritten(db, update(column.table).where(key.in_(ids)).values({column: ERASED}))
    return count


def _erase_answers(db: Session, user_id: int, names: _Names) -> int:
    """Text answers: every one on the person's sessions, and any other that
    names them. Ratings, numbers, yes/no and choices stay."""
    stored = type_coerce(_sessions.c.answers, Text)
    rows = db.execute(
        select(_sessions.c.id, _sessions.c.form_id, _sessions.c.answers, _sessions_of(user_id).label("theirs"))
        .where(_sessions.c.form_id.is_not(None), stored != "{}")
        .where(or_(_sessions_of(user_id), names.candidates(stored)))
    ).all()
    form_ids = sorted({row.form_id for row in rows})
    forms = {form.id: form_spec(form) for form in db.scalars(select(Form).where(Form.__table__.c.id.in_(form_ids)))}
    changed = []
    count = 0
    for row in rows:
        text_keys = {field.key for field in forms[row.form_id].fields if field.type == "text"}
        answers = dict(row.answers)
        for key, value in answers.items():
            if key in text_keys and isinstance(value, str) and value not in ("", ERASED):
                if row.theirs or names.named_in(value):
                    answers[key] = ERASED
                    count += 1
        if answers != row.answers:
            changed.append({"row_id": row.id, "new_answers": answers})
    statement = update(_sessions).where(_sessions.c.id == bindparam("row_id")).values(answers=bindparam("new_answers"))
    for batch in chunks(changed):
        db.execute(statement, batch)
    return count
