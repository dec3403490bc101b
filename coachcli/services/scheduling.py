"""Scheduling: what is asked to be scheduled (a `ScheduleRequest`, from the
options of `session schedule` or a row of `session import`) becomes a
scheduled session (M1), with its mini-goal (M3, M4); and the coaching
requests (M2) that scheduling turns into sessions.

One function, `check_schedule`, holds every rule about what makes a valid
scheduled session and its mini-goal, and one, `schedule_sessions`, checks
and writes a batch of requests against a `Directory` of people and paths
resolved up front with a few queries: scheduling one session is that batch
of one, a file's import the batch of its rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, insert
from sqlmodel import Session, col, select

from coachcli.db import bulk
from coachcli.db.bulk import chunks
from coachcli.db.models import (
    CoachingSession,
    MiniGoal,
    Notification,
    PathAssignment,
    PerformancePath,
    TeamMembership,
    User,
    stored_id,
)
from coachcli.db.types import utc_now
from coachcli.errors import CoachError, not_found, refused
from coachcli.metrics import find_metric, parse_target
from coachcli.parse import (
    check_text,
    check_wall_clock,
    default_timezone_name,
    parse_clock,
    parse_duration_minutes,
    parse_meeting_link,
    parse_session_date,
    parse_timezone,
)
from coachcli.records import column
from coachcli.services import audit
from coachcli.services.forms import find_form
from coachcli.services.minigoals import NOTIFICATION_COLUMNS
from coachcli.services.notifications import notify
from coachcli.services.paths import find_path, not_assigned_message, require_assigned
from coachcli.services.people import (
    a_role,
    in_scope,
    refuse_unless_coachable,
    refuse_unless_coaching,
    require_coaching_role,
)
from coachcli.services.sessions import find_session
from coachcli.tabular import Content, Problems, read_rows

DEFAULT_DURATION_MINUTES = 30
MINIGOAL_FIELDS = ("path", "kpi", "target", "target_date")
# The columns of a `session import` file: the fields of a ScheduleRequest a file gives.
IMPORT_COLUMNS = (
    "title",
    "agent",
    "coach",
    "date",
    "start",
    "timezone",
    "duration",
    "link",
    "path",
    "kpi",
    "target",
    "target_date",
    "notes",
    "private_notes",
)
IMPORT_REQUIRED = ("title", "agent", "coach", "date", "start")
INSERT_BATCH = 1000


def _text(value: object) -> str | None:
    """A cell as trimmed text; blank is None. JSON numbers become text."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _handle(value: object) -> str | None:
    text = _text(value)
    return text.lower() if text else None


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    """A session someone asks to have scheduled, as they typed it: the
    options of `session schedule`, or a row of `session import` (whose
    columns are these fields). Nothing is checked yet (`check_schedule`
    does); texts are trimmed, a blank one is None, handles are lowercase."""

    title: str | None = None
    agent: str | None = None
    coach: str | None = None  # None: the acting user
    date: str | None = None
    start: str | None = None
    timezone: str | None = None
    duration: str | int | None = None  # minutes as a JSON number, or text (90, 1h30m)
    link: str | None = None
    path: str | None = None
    kpi: str | None = None
    target: str | None = None
    target_date: str | None = None
    notes: str | None = None  # as given, untrimmed; None: none given
    private_notes: str | None = None
    form: str | None = None
    from_request: int | None = None  # the coaching request this session answers

    @classmethod
    def typed(cls, **values: object) -> ScheduleRequest:
        """From what was typed or read (text, or a JSON file's values), by field name."""
        unknown = values.keys() - cls.__dataclass_fields__.keys()
        if unknown:
            raise TypeError(f"a ScheduleRequest has no {', '.join(sorted(unknown))}")
        fields: dict[str, Any] = {name: _text(values.get(name)) for name in cls.__dataclass_fields__}
        duration, notes, from_request = values.get("duration"), values.get("notes"), values.get("from_request")
        if isinstance(duration, int) and not isinstance(duration, bool):
            fields["duration"] = duration
        fields["agent"], fields["coach"] = _handle(values.get("agent")), _handle(values.get("coach"))
        fields["notes"] = None if notes is None else str(notes)
        fields["from_request"] = from_request if isinstance(from_request, int) else None
        return cls(**fields)


@dataclass
class Directory:
    """What scheduling needs to know about the people and paths it names,
    resolved with a few queries before any row is checked."""

    actor: User
    users: dict[str, User] = field(default_factory=dict)  # by handle
    in_scope: set[int] = field(default_factory=set)  # of those ids, the ones the actor may coach
    paths: dict[str, int] = field(default_factory=dict)  # name -> id
    assigned: set[tuple[int, int]] = field(default_factory=set)  # (path id, user id)


@dataclass
class Checked:
    """A valid scheduled session: its column values, and its mini-goal's when
    it has all four mini-goal fields (`missing` names the absent ones when
    only some were given)."""

    session: dict
    minigoal: dict | None
    missing: list[str]


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One request of a batch, scheduled."""

    session_id: int
    minigoal: bool
    # Some, not all, of the four mini-goal fields were given: no mini-goal.
    without_minigoal: bool
    # Its start happens twice in its zone (the clocks go back): the first is meant.
    first_of_two: bool


def load_directory(
    db: Session, actor: User, handles: Iterable[str | None], path_names: Iterable[str | None]
) -> Directory:
    """Blank handles and path names (None or empty) are skipped. Every id read
    here is a stored row's, so never None."""
    directory = Directory(actor=actor)
    wanted = sorted({handle for handle in handles if handle})
    for chunk in chunks(wanted):
        for user in db.exec(select(User).where(col(User.handle).in_(chunk))):
            directory.users[user.handle] = user
    ids = sorted(stored_id(user) for user in directory.users.values())
    for chunk in chunks(ids):
        for user_id in db.exec(select(col(User.id)).where(col(User.id).in_(chunk), in_scope(actor, User.id))):
            assert user_id is not None  # a stored row's primary key
            directory.in_scope.add(user_id)
    names = sorted({name for name in path_names if name})
    for chunk in chunks(names):
        for path_id, name in db.exec(
            select(PerformancePath.id, PerformancePath.name).where(col(PerformancePath.name).in_(chunk))
        ):
            assert path_id is not None  # a stored row's primary key
            directory.paths[name] = path_id
    path_ids = sorted(directory.paths.values())
    if path_ids and ids:
        for chunk in chunks(path_ids):
            directory.assigned.update(
                db.exec(
                    select(PathAssignment.path_id, PathAssignment.user_id).where(col(PathAssignment.path_id).in_(chunk))
                )
            )
    return directory


def missing_minigoal_fields(path: object, kpi: object, target: object, target_date: object) -> list[str]:
    """M3: a mini-goal needs all four. Returns the absent ones when some but
    not all were given, else an empty list."""
    given = dict(zip(MINIGOAL_FIELDS, (path, kpi, target, target_date), strict=True))
    missing = [name for name, value in given.items() if value in (None, "")]
    return missing if 0 < len(missing) < len(MINIGOAL_FIELDS) else []


def start_note(session: CoachingSession) -> str | None:
    """What to tell the person who scheduled a session whose start happens
    twice (the clocks go back): it is the first."""
    if session.date is None or session.start is None or session.timezone is None:
        return None
    return check_wall_clock(session.date, session.start, session.timezone)


def minigoal_warning(session: CoachingSession) -> str | None:
    """What to tell the person who scheduled a session that has some, but not
    all, of the mini-goal fields."""
    missing = missing_minigoal_fields(session.path_id, session.kpi, session.target, session.target_date)
    if not missing:
        return None
    options = ", ".join("--" + name.replace("_", "-") for name in missing)
    return f"no mini-goal: add {options} to set one"


def _agent(directory: Directory, handle: str) -> int:
    agent = directory.users.get(handle)
    if agent is None:
        raise not_found(f"no user '{handle}'; see `coach user list`")
    refuse_unless_coachable(directory.actor, agent, visible=stored_id(agent) in directory.in_scope)
    return stored_id(agent)


def _coach(directory: Directory, handle: str) -> int:
    coach = directory.users.get(handle)
    if coach is None:
        raise not_found(f"no user '{handle}' to be the coach; see `coach user list`")
    refuse_unless_coaching(coach)
    return stored_id(coach)


def _path(directory: Directory, name: str, agent_id: int, agent_handle: str) -> int:
    path_id = directory.paths.get(name)
    if path_id is None:
        raise not_found(f"no performance path '{name}'; see `coach path list`, or add it with `coach path add`")
    if (path_id, agent_id) not in directory.assigned:
        raise refused(not_assigned_message(name, agent_handle))
    return path_id


def _required(value: str | None, message: str) -> str:
    if value is None:
        raise CoachError(message)
    return value


def check_schedule(directory: Directory, request: ScheduleRequest, *, today: dt.date) -> Checked:
    """Every rule of M1, M3 and M4 for one session; the coach defaults to
    the acting user."""
    title = check_text(_required(request.title, "a session needs a title; pass --title TEXT"), "title")
    agent_handle = _required(request.agent, "a session needs an agent; pass --agent HANDLE")
    agent_id = _agent(directory, agent_handle)
    coach_id = _coach(directory, request.coach or directory.actor.handle)
    session_date = parse_session_date(
        _required(request.date, "a scheduled session needs a date; pass --date YYYY-MM-DD"), today
    )
    start = parse_clock(_required(request.start, "a scheduled session needs a start time; pass --start HH:MM"))
    timezone = parse_timezone(request.timezone) if request.timezone else default_timezone_name()
    check_wall_clock(session_date, start, timezone)  # a start the clocks skip is refused
    minutes = DEFAULT_DURATION_MINUTES if request.duration is None else parse_duration_minutes(request.duration)
    link = parse_meeting_link(request.link) if request.link else None
    path_id = _path(directory, request.path, agent_id, agent_handle) if request.path else None
    metric = find_metric(request.kpi) if request.kpi else None
    target = None
    if request.target is not None:
        if metric is None:
            raise CoachError("a target needs a KPI metric to measure it; pass --kpi METRIC as well")
        target = parse_target(request.target, metric)
    target_date = parse_session_date(request.target_date, today, "target date") if request.target_date else None
    if target_date is not None and target_date < session_date:
        raise CoachError(
            f"target date {target_date} is before the session date {session_date}; "
            "the mini-goal runs from the session date to the target date"
        )
    session = {
        "title": title,
        "agent_id": agent_id,
        "coach_id": coach_id,
        "state": "scheduled",
        "date": session_date,
        "start": start,
        "timezone": timezone,
        "duration_minutes": minutes,
        "meeting_link": link,
        "path_id": path_id,
        "kpi": metric.key if metric else None,
        "target": target,
        "target_date": target_date,
        "notes": "" if request.notes is None else check_text(request.notes, "notes", lines=True).strip(),
        "private_notes": check_text(request.private_notes or "", "private notes", lines=True),
    }
    minigoal = None
    if path_id is not None and metric is not None and target is not None and target_date is not None:
        minigoal = {
            "name": title,
            "assignee_id": agent_id,
            "metric": metric.key,
            "target": target,
            "start_date": session_date,
            "due_date": target_date,
            "score": None,
            "samples": 0,
            "state": "in_progress",
            "evaluated_at": None,
        }
    return Checked(session, minigoal, missing_minigoal_fields(path_id, metric, target, target_date))


def schedule_sessions(
    db: Session,
    actor: User,
    requests: Iterable[tuple[int, ScheduleRequest]],
    *,
    today: dt.date,
    doing: str,
    problems: Problems | None = None,
    required: tuple[str, ...] = (),
) -> list[Scheduled]:
    """M1: schedule each (line, request), in order (M3: with its mini-goal
    when path, KPI, target and target date are all given); a request
    `from_request` makes that coaching request the session, keeping what
    the agent wrote unless overridden. Nothing is written unless every
    request is valid: with `problems` (a file's), every bad line is named
    there, each `required` field left blank as "missing …"; without, the
    first refusal is raised as it is."""
    require_coaching_role(actor, doing)
    items: list[tuple[int, ScheduleRequest, CoachingSession | None]] = []
    for line, request in requests:
        try:
            stored = _open_request(db, actor, request.from_request) if request.from_request is not None else None
            items.append((line, _answering(db, request, stored) if stored else request, stored))
        except CoachError as error:
            if problems is None:
                raise
            problems.add(line, error.message)
    directory = load_directory(
        db,
        actor,
        [handle for _, request, _ in items for handle in (request.agent, request.coach or actor.handle)],
        [request.path for _, request, _ in items],
    )
    checked: list[tuple[Checked, CoachingSession | None]] = []
    for line, request, stored in items:
        try:
            blank = [key for key in required if getattr(request, key) is None]
            if blank:
                raise CoachError(f"missing {', '.join(blank)}")
            valid = check_schedule(directory, request, today=today)
            form_id = find_form(db, request.form).id if request.form else (stored.form_id if stored else None)
        except CoachError as error:
            if problems is None:
                raise
            problems.add(line, error.message)
            continue
        checked.append((Checked({**valid.session, "form_id": form_id}, valid.minigoal, valid.missing), stored))
    if problems is not None:
        problems.raise_if_any()
    session_ids = _write_sessions(db, actor, checked)
    goal_rows = [
        {"session_id": session_id, **valid.minigoal}
        for session_id, (valid, _) in zip(session_ids, checked, strict=True)
        if valid.minigoal is not None
    ]
    for batch in chunks(goal_rows, INSERT_BATCH):
        db.execute(insert(MiniGoal.__table__), batch)
    return [
        Scheduled(
            session_id=session_id,
            minigoal=valid.minigoal is not None,
            without_minigoal=bool(valid.missing),
            first_of_two=check_wall_clock(valid.session["date"], valid.session["start"], valid.session["timezone"])
            is not None,
        )
        for session_id, (valid, _) in zip(session_ids, checked, strict=True)
    ]


def _answering(db: Session, request: ScheduleRequest, stored: CoachingSession) -> ScheduleRequest:
    """The request with what the agent's coaching request says wherever the
    scheduler left it out; its agent is the requester."""
    requester = db.get(User, stored.agent_id)
    assert requester is not None  # stored.agent_id is a foreign key
    if request.agent not in (None, requester.handle):
        raise refused(
            f"request {stored.id} was made by '{requester.handle}', so the session is theirs; leave out --agent"
        )
    path = request.path
    if path is None and stored.path_id is not None:
        requested_path = db.get(PerformancePath, stored.path_id)
        assert requested_path is not None  # stored.path_id is a foreign key
        path = requested_path.name
    kpi = request.kpi if request.kpi is not None else stored.kpi
    target, target_date = request.target, request.target_date
    # A rule's request proposes a mini-goal: its target (in the request's
    # metric) and due date stand unless the coach gives others.
    if stored.kpi is not None and _same_metric(kpi, stored.kpi):
        if target is None and stored.target is not None:
            target = _text(stored.target)
        if target_date is None and stored.target_date is not None:
            target_date = stored.target_date.isoformat()
    return replace(
        request,
        agent=requester.handle,
        title=request.title if request.title is not None else _text(stored.title),
        path=path,
        kpi=kpi,
        target=target,
        target_date=target_date,
        notes=request.notes if request.notes is not None else stored.notes,
    )


def _write_sessions(db: Session, actor: User, checked: list[tuple[Checked, CoachingSession | None]]) -> list[int]:
    """The sessions' ids, in order: new ones inserted in batches, a coaching
    request (its agent told) made the session it asked for."""
    now = utc_now()
    new = [
        {
            **valid.session,
            "plan_id": None,
            "answers": {},
            "requested_by_id": None,
            "created_at": now,
            "updated_at": now,
            "coached_at": None,
            "coached_by_id": None,
        }
        for valid, stored in checked
        if stored is None
    ]
    inserted = iter(bulk.insert_sessions_in_order(db, new) if new else [])
    ids = []
    for valid, stored in checked:
        if stored is None:
            ids.append(next(inserted))
            continue
        for key, value in valid.session.items():
            setattr(stored, key, value)
        stored.updated_at = now
        db.add(stored)
        db.flush()
        notify(
            db,
            stored.agent_id,
            "session.scheduled",
            f"Your coaching request {stored.id} “{stored.title}” is scheduled for "
            f"{valid.session['date'].isoformat()} {stored.start} ({stored.timezone}) by {actor.name}.",
            "session",
            stored_id(stored),
        )
        ids.append(stored_id(stored))
    return ids


def schedule_session(db: Session, actor: User, request: ScheduleRequest, *, today: dt.date) -> CoachingSession:
    """One session: the batch of one request."""
    (scheduled,) = schedule_sessions(db, actor, [(1, request)], today=today, doing="schedule coaching sessions")
    session = db.get(CoachingSession, scheduled.session_id)
    assert session is not None and session.date is not None  # just written, with its date
    goal_id = (
        db.exec(select(MiniGoal.id).where(MiniGoal.session_id == scheduled.session_id)).first()
        if scheduled.minigoal
        else None
    )
    audit.record(
        db,
        actor,
        "session.schedule",
        "session",
        session.id,
        agent=db.get(User, session.agent_id),
        date=session.date.isoformat(),
        from_request=request.from_request,
        minigoal_id=goal_id,
    )
    return session


def _same_metric(given: str | None, key: str) -> bool:
    """Whether a metric as typed (key, name or alias) is the metric `key`; a
    metric that names nothing is refused later, where every input is checked."""
    if given is None:
        return False
    try:
        return find_metric(given).key == key
    except CoachError:
        return False


def _open_request(db: Session, actor: User, session_id: int) -> CoachingSession:
    session = find_session(db, actor, session_id)
    if session.state != "requested":
        raise refused(
            f"session {session_id} is not a coaching request (it is {session.state}); "
            "--from-request takes an id from `coach session list --tab requested`"
        )
    return session


def _supervisors(db: Session, agent_ids: list[int]) -> dict[int, list[int]]:
    """Each agent's coaches (of the agent's teams); the admins for an agent no
    coach supervises, so that a request never goes unseen. Ids in order."""
    mine = TeamMembership.__table__.alias("mine")
    theirs = TeamMembership.__table__.alias("theirs")
    coaches = User.__table__.alias("coach")
    found: dict[int, list[int]] = {agent_id: [] for agent_id in agent_ids}
    for chunk in chunks(sorted(found)):
        for agent_id, coach_id in db.execute(
            select(mine.c.user_id, coaches.c.id)
            .join(theirs, theirs.c.team_id == mine.c.team_id)
            .join(coaches, and_(coaches.c.id == theirs.c.user_id, coaches.c.role == "coach"))
            .where(mine.c.user_id.in_(chunk))
            .distinct()
            .order_by(mine.c.user_id, coaches.c.id)
        ):
            found[agent_id].append(coach_id)
    if not all(found.values()):
        admins = list(db.exec(select(col(User.id)).where(User.role == "admin").order_by(col(User.id))).all())
        for coach_ids in found.values():
            if not coach_ids:
                # Stored users' ids: the filter only narrows the type.
                coach_ids.extend(user_id for user_id in admins if user_id is not None)
    return found


def notify_of_requests(db: Session, requests: list[tuple[int, int, str, str]]) -> None:
    """Tell the coaches of each request's agent about it (`session.requested`),
    with the command that schedules it. `requests` are (session id, agent id,
    title, who asked — e.g. "Alex Moreno (alex) requested coaching"). One
    query finds the coaches of every agent, one statement tells them all."""
    coaches = _supervisors(db, [agent_id for _, agent_id, _, _ in requests])
    stamp = bulk.stored_timestamp(utc_now())
    rows = [
        (
            coach_id,
            "session.requested",
            f"{asked}: “{title}” (request {session_id}); "
            f"schedule it with `coach session schedule --from-request {session_id} --date D --start HH:MM`.",
            "session",
            session_id,
            stamp,
            0,
        )
        for session_id, agent_id, title, asked in requests
        for coach_id in coaches[agent_id]
    ]
    bulk.insert_rows(db, Notification.__table__, NOTIFICATION_COLUMNS, rows)


def request_session(
    db: Session,
    actor: User,
    *,
    title: str,
    path: str | None = None,
    kpi: str | None = None,
    notes: str | None = None,
) -> CoachingSession:
    """M2: an agent asks for coaching for themself; their coaches are notified."""
    if actor.role != "agent":
        raise refused(
            f"only agents request coaching; '{actor.handle}' is {a_role(actor.role)}"
            " — schedule a session with `coach session schedule` instead"
        )
    title = check_text(title or "", "title").strip()
    if not title:
        raise CoachError("a request needs a title: what would you like coaching on? pass --title TEXT")
    path_id = None
    if path is not None and _text(path):
        found = find_path(db, path)
        require_assigned(db, found, actor)
        path_id = found.id
    metric = find_metric(kpi) if kpi is not None and _text(kpi) else None
    session = CoachingSession(
        title=title,
        agent_id=stored_id(actor),
        coach_id=None,
        requested_by_id=actor.id,
        state="requested",
        path_id=path_id,
        kpi=metric.key if metric else None,
        notes=check_text(notes or "", "notes", lines=True).strip(),
    )
    db.add(session)
    db.flush()
    notify_of_requests(
        db, [(stored_id(session), stored_id(actor), title, f"{actor.name} ({actor.handle}) requested coaching")]
    )
    audit.record(db, actor, "session.request", "session", session.id)
    return session


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What `session import` prints."""

    scheduled: int = column("Scheduled")
    minigoals: int = column("Mini-goals")


@dataclass(frozen=True, slots=True)
class SessionsImported:
    scheduled: int
    minigoals: int
    # Rows with some but not all four mini-goal fields.
    without_minigoal: int
    # Sessions starting at a time that happens twice: the first is meant.
    first_of_two: int

    @property
    def counts(self) -> ImportCounts:
        return ImportCounts(scheduled=self.scheduled, minigoals=self.minigoals)


def import_sessions(db: Session, actor: User, content: Content, source: str, *, today: dt.date) -> SessionsImported:
    """Bulk schedule from CSV or JSON Lines: every row is a ScheduleRequest
    scheduled in one batch, by the rules of `session schedule`, mini-goals
    included; any bad row and nothing is imported."""
    problems = Problems(source)

    def requests() -> Iterable[tuple[int, ScheduleRequest]]:
        for line, cells in read_rows(content, source, IMPORT_COLUMNS, IMPORT_REQUIRED, numbers=("target", "duration")):
            if isinstance(cells, ValueError):
                problems.add(line, str(cells))
                continue
            yield line, ScheduleRequest.typed(**dict(zip(IMPORT_COLUMNS, cells, strict=True)))

    scheduled = schedule_sessions(
        db,
        actor,
        requests(),
        today=today,
        doing="import coaching sessions",
        problems=problems,
        required=IMPORT_REQUIRED,
    )
    imported = SessionsImported(
        scheduled=len(scheduled),
        minigoals=sum(item.minigoal for item in scheduled),
        without_minigoal=sum(item.without_minigoal for item in scheduled),
        first_of_two=sum(item.first_of_two for item in scheduled),
    )
    audit.record(
        db,
        actor,
        "session.import",
        "session",
        None,
        scheduled=imported.scheduled,
        minigoals=imported.minigoals,
        without_minigoal=imported.without_minigoal,
    )
    return imported
