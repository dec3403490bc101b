"""The right to erasure (SPEC §10, §13): a person's handle and name become a
pseudonym, and the free text of their records, or naming them anywhere,
becomes ERASED. Numbers, dates, states and who-did-what-to-whom (by id) stay,
so every count, score, average and report stays what it was.

Which text is erased is one list, FREE_TEXTS: each table's free-text columns
and which of its rows are the person's. On the person's rows every one of
them is erased whatever it says; on any other row, each one that names them
(`Names`). Text answers of coaching forms are JSON and are rewritten field by
field (`_erase_answers`).

The database accepts these UPDATEs on coached sessions and closed plans
because each only turns text into exactly ERASED (see migrations, version 4,
whose erasable columns a test checks against FREE_TEXTS); it refuses any
other change to them, from coach or from a script.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, Text, bindparam, or_, select, type_coerce, update
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
from coachcli.parse import check_text
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.forms import form_spec
from coachcli.services.people import find_user, require_admin
from coachcli.services.users import PSEUDONYM_PREFIX

ERASED = "[erased]"
MIN_REASON_WORDS = 3
MIN_REASON_LENGTH = 12

_users = User.__table__
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


def _their_session(column) -> Callable[[int], ColumnElement[bool]]:
    return lambda user_id: column.in_(select(_sessions.c.id).where(_sessions_of(user_id)))


def _plans_of(user_id: int) -> ColumnElement[bool]:
    return or_(_plans.c.agent_id == user_id, _plans.c.coach_id == user_id, _plans.c.closed_by_id == user_id)


def _goals_of(user_id: int) -> ColumnElement[bool]:
    return or_(_goals.c.assignee_id == user_id, _their_session(_goals.c.session_id)(user_id))


def _actions_of(user_id: int) -> ColumnElement[bool]:
    """Items they own, wrote or closed, and every item of their sessions."""
    return or_(
        _actions.c.owner_id == user_id,
        _actions.c.created_by_id == user_id,
        _actions.c.done_by_id == user_id,
        _their_session(_actions.c.session_id)(user_id),
    )


def _notifications_to(user_id: int) -> ColumnElement[bool]:
    return _notifications.c.user_id == user_id


@dataclass(frozen=True)
class FreeTexts:
    """A table's free-text columns, and which of its rows are the person's
    (all of those columns erased there, whatever they say)."""

    table: Table
    columns: tuple[str, ...]
    theirs: Callable[[int], ColumnElement[bool]]


FREE_TEXTS = [
    FreeTexts(_sessions, ("title", "notes", "private_notes", "meeting_link"), _sessions_of),  # answers: below
    FreeTexts(_goals, ("name",), _goals_of),
    FreeTexts(_plans, ("purpose", "close_reason"), _plans_of),
    FreeTexts(_acknowledgements, ("comment",), _their_session(_acknowledgements.c.session_id)),
    FreeTexts(_actions, ("text", "note"), _actions_of),
    FreeTexts(_notifications, ("message", "last_error"), _notifications_to),
]
# Besides these, a session's answers (JSON): its text answers are free text.


def _folded(text: str) -> str:
    """Text as a name is compared: decomposed (NFD), accents dropped, case
    folded — Zoë, ZOE and Zoe + a combining diaeresis alike."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


_BETWEEN_WORDS = r"[\s,]+"


def _words(text: str) -> list[str]:
    return [word for word in re.split(_BETWEEN_WORDS, _folded(text)) if word]


def _phrase(words: list[str]) -> str:
    return _BETWEEN_WORDS.join(map(re.escape, words))


class Names:
    """Every way a text may name the person: their handle, their full name
    in either order ("Zoë Quintero", "Quintero, Zoë"), and what `--also`
    adds — each as whole words, compared folded, any spacing, commas or line
    breaks between the words. Built once, applied in Python to every
    candidate text, the same on both backends."""

    def __init__(self, handle: str, name: str, also: Iterable[str] = ()):
        words = _words(name)
        phrases = {_phrase(_words(handle)), _phrase(words), *(_phrase(_words(text)) for text in also)}
        if len(words) > 1:
            phrases.add(_phrase([words[-1], *words[:-1]]))  # surname first
        alternatives = "|".join(sorted(phrase for phrase in phrases if phrase))
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")

    def named_in(self, text: str) -> bool:
        return bool(self._pattern.search(_folded(text)))


def check_reason(reason: str, names: Names) -> str:
    """The reason is kept in the audit log for good, so it must say why, and
    must not itself name the person."""
    cleaned = " ".join(check_text(reason, "reason").split())
    if len(cleaned) < MIN_REASON_LENGTH or len(cleaned.split()) < MIN_REASON_WORDS:
        raise CoachError(
            f"say why the person is erased, in at least {MIN_REASON_WORDS} words (--reason TEXT), "
            'e.g. "left the company, asked for erasure"'
        )
    if names.named_in(cleaned):
        raise CoachError("the reason must not name the person: it is kept in the audit log for good")
    return cleaned


def check_also(db: Session, person: User, also: list[str]) -> list[str]:
    """Each `--also` is a way people wrote this person's name: it must say
    something, and must not be another user's handle or name — an erasure
    must not reach someone else by mistake."""
    others = {
        " ".join(_words(text))
        for handle, name in db.execute(select(_users.c.handle, _users.c.name).where(_users.c.id != person.id))
        for text in (handle, name)
    }
    for text in also:
        check_text(text, "--also")
        if not re.search(r"\w", text):
            raise CoachError("--also is blank: give a way people wrote the name, e.g. --also 'Ms Quintero'")
        if " ".join(_words(text)) in others:
            raise CoachError(f"--also '{text}' is another user's handle or name; an erasure reaches only this person")
    return also


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """What an erasure did, never the erased values."""

    id: int = column("Id")
    handle: str = column("Handle")
    erased_at: dt.datetime = column("Erased at")
    texts_erased: int = column("Texts erased")


@dataclass(frozen=True)
class Erasure:
    """What an erasure did (`record`) and the tables it changed (for the
    storage to forget their old row versions)."""

    record: ErasureRecord
    tables: list[str]


def erase_user(db: Session, actor: User, handle: str, reason: str, also: list[str] | None = None) -> Erasure:
    """Erase a person (admins only, never oneself). `also` lists further
    ways people wrote their name; it is never stored."""
    require_admin(actor, "erase a person")
    person = find_user(db, handle)
    if person.id == actor.id:
        raise forbidden("you cannot erase yourself; another admin must do it")
    if person.erased_at is not None:
        raise refused(f"'{person.handle}' has already been erased")
    names = Names(person.handle, person.name, check_also(db, person, also or []))
    reason = check_reason(reason, names)
    person_id = stored_id(person)
    with erasure_in_progress(db):  # the one place final records may have text become [erased]
        changed: dict[str, int] = {}
        for free in FREE_TEXTS:
            changed[free.table.name] = changed.get(free.table.name, 0) + _erase(db, free, person_id, names)
        changed[_sessions.name] += _erase_answers(db, person_id, names)
        texts = sum(changed.values())
    pseudonym = f"{PSEUDONYM_PREFIX}{person_id}"
    person.handle = person.name = pseudonym
    person.erased_at = utc_now()
    db.add(person)
    audit.record(db, actor, "user.erase", "user", person_id, reason=reason, texts_erased=texts)
    db.flush()
    record = ErasureRecord(id=person_id, handle=pseudonym, erased_at=person.erased_at, texts_erased=texts)
    return Erasure(record, [_users.name, *sorted(table for table, count in changed.items() if count)])


def _has_text(text: str | None) -> bool:
    return text not in (None, "", ERASED)


def _erase(db: Session, free: FreeTexts, person_id: int, names: Names) -> int:
    """One read of the table's texts, then one executemany UPDATE per set of
    columns to erase (a row is rewritten once, whatever it held)."""
    table = free.table
    (key,) = table.primary_key.columns
    columns = [table.c[name] for name in free.columns]
    rows = db.execute(
        select(key, free.theirs(person_id).label("theirs"), *columns).where(
            or_(*((column.is_not(None)) & (column != "") & (column != ERASED) for column in columns))
        )
    )
    to_erase: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for row_id, theirs, *texts in rows:
        erased = tuple(
            name
            for name, text in zip(free.columns, texts, strict=True)
            if _has_text(text) and (theirs or names.named_in(text))
        )
        if erased:
            to_erase[erased].append({"row_id": row_id})
    for erased, rows_to_erase in to_erase.items():
        statement = update(table).where(key == bindparam("row_id")).values(dict.fromkeys(erased, ERASED))
        for batch in chunks(rows_to_erase):
            db.execute(statement, batch)
    return sum(len(erased) * len(ids) for erased, ids in to_erase.items())


def _erase_answers(db: Session, person_id: int, names: Names) -> int:
    """Text answers: every one on the person's sessions, and any other that
    names them. Ratings, numbers, yes/no and choices stay."""
    table = _sessions
    rows = db.execute(
        select(table.c.id, table.c.form_id, table.c.answers, _sessions_of(person_id).label("theirs")).where(
            table.c.form_id.is_not(None), type_coerce(table.c.answers, Text) != "{}"
        )
    ).all()
    form_ids = sorted({row.form_id for row in rows})
    forms = {form.id: form_spec(form) for form in db.scalars(select(Form).where(Form.__table__.c.id.in_(form_ids)))}
    changed = []
    count = 0
    for row_id, form_id, stored, theirs in rows:
        text_keys = {field.key for field in forms[form_id].fields if field.type == "text"}
        answers = dict(stored)
        for key, value in answers.items():
            if key in text_keys and isinstance(value, str) and _has_text(value) and (theirs or names.named_in(value)):
                answers[key] = ERASED
                count += 1
        if answers != stored:
            changed.append({"row_id": row_id, "new_answers": answers})
    statement = update(table).where(table.c.id == bindparam("row_id")).values(answers=bindparam("new_answers"))
    for batch in chunks(changed):
        db.execute(statement, batch)
    return count
