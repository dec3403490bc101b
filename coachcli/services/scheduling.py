"""Scheduling coaching sessions (M1, M3, M4), coaching requests (M2), and
bulk scheduling from a file.

One function, `check_schedule`, holds every rule about what makes a valid
scheduled session and its mini-goal; `schedule_session` and `import_sessions`
both go through it, against a `Directory` of people and paths resolved up
front with a few queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
from coachcli.errors import CoachError, forbidden, not_found, refused
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
from coachcli.services import audit
from coachcli.services.forms import find_form
from coachcli.services.minigoals import NOTIFICATION_COLUMNS
from coachcli.services.notifications import notify
from coachcli.services.paths import find_path, not_assigned_message, require_assigned
from coachcli.services.people import in_scope, require_coaching_role
from coachcli.services.sessions import find_session
from coachcli.tabular import Content, Problems, read_rows

DEFAULT_DURATION_MINUTES = 30
MINIGOAL_FIELDS = ("path", "kpi", "target", "target_date")
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


@dataclass
class Directory:
    """What scheduling needs to know about the people and paths it names,
    resolved with a few queries before any row is checked."""

    actor: User
    users: dict[str, tuple[int, str]] = field(default_factory=dict)  # handle -> (id, role)
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


def _text(value: object) -> str | None:
    """A cell as trimmed text; blank is None. JSON numbers become text."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _handle(value: object) -> str | None:
    text = _text(value)
    return text.lower() if text else None


def load_directory(
    db: Session, actor: User, handles: Iterable[str | None], path_names: Iterable[str | None]
) -> Directory:
    """Blank handles and path names (None or empty) are skipped. Every id read
    here is a stored row's, so never None."""
    directory = Directory(actor=actor)
    wanted = sorted({handle for handle in handles if handle})
    for chunk in chunks(wanted):
        for user_id, handle, role in db.exec(
            select(User.id, User.handle, User.role).where(col(User.handle).in_(chunk))
        ):
            assert user_id is not None  # a stored row's primary key
            directory.users[handle] = (user_id, role)
    ids = sorted(user_id for user_id, _ in directory.users.values())
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
    found = directory.users.get(handle)
    if found is None:
        raise not_found(f"no user '{handle}'; see `coach user list`")
    user_id, role = found
    if role != "agent":
        raise CoachError(
            f"'{handle}' is a{'n' if role == 'admin' else ''} {role}, not an agent; only agents are coached"
        )
    if user_id not in directory.in_scope:
        raise forbidden(
            f"'{handle}' is outside the teams '{directory.actor.handle}' supervises; "
            "an admin can add them to one of your teams"
        )
    return user_id


def _coach(directory: Directory, handle: str) -> int:
    found = directory.users.get(handle)
    if found is None:
        raise not_found(f"no user '{handle}' to be the coach; see `coach user list`")
    user_id, role = found
    if role not in ("coach", "admin"):
        raise CoachError(f"'{handle}' cannot be the coach: they are an {role}; name a coach or an admin with --coach")
    return user_id


def _path(directory: Directory, name: str, agent_id: int, agent_handle: str) -> int:
    path_id = directory.paths.get(name)
    if path_id is None:
        raise not_found(f"no performance path '{name}'; see `coach path list`, or add it with `coach path add`")
    if (path_id, agent_id) not in directory.assigned:
        raise refused(not_assigned_message(name, agent_handle))
    return path_id


def _required(values: Mapping[str, object], key: str, message: str) -> str:
    text = _text(values.get(key))
    if text is None:
        raise CoachError(message)
    return text


def check_schedule(directory: Directory, values: Mapping[str, object], *, today: dt.date) -> Checked:
    """Every rule of M1, M3 and M4 for one session. `values` holds what the
    user typed (text, or JSON values) under the import column names; the
    coach defaults to the acting user."""
    title = check_text(_required(values, "title", "a session needs a title; pass --title TEXT"), "title")
    agent_handle = _required(values, "agent", "a session needs an agent; pass --agent HANDLE").lower()
    agent_id = _agent(directory, agent_handle)
    coach_id = _coach(directory, _handle(values.get("coach")) or directory.actor.handle)
    session_date = parse_session_date(
        _required(values, "date", "a scheduled session needs a date; pass --date YYYY-MM-DD"), today
    )
    start = parse_clock(_required(values, "start", "a scheduled session needs a start time; pass --start HH:MM"))
    zone_text = _text(values.get("timezone"))
    timezone = parse_timezone(zone_text) if zone_text else default_timezone_name()
    check_wall_clock(session_date, start, timezone)  # a start the clocks skip is refused
    duration = values.get("duration")
    if isinstance(duration, int) and not isinstance(duration, bool):
        minutes = parse_duration_minutes(duration)
    else:
        duration_text = _text(duration)
        minutes = parse_duration_minutes(duration_text) if duration_text else DEFAULT_DURATION_MINUTES
    link_text = _text(values.get("link"))
    link = parse_meeting_link(link_text) if link_text else None
    path_name = _text(values.get("path"))
    path_id = _path(directory, path_name, agent_id, agent_handle) if path_name else None
    kpi_text = _text(values.get("kpi"))
    metric = find_metric(kpi_text) if kpi_text else None
    target_text = _text(values.get("target"))
    target = None
    if target_text is not None:
        if metric is None:
            raise CoachError("a target needs a KPI metric to measure it; pass --kpi METRIC as well")
        target = parse_target(target_text, metric)
    target_date_text = _text(values.get("target_date"))
    target_date = parse_session_date(target_date_text, today, "target date") if target_date_text else None
    if target_date is not None and target_date < session_date:
        raise CoachError(
            f"target date {target_date} is before the session date {session_date}; "
            "the mini-goal runs from the session date to the target date"
        )
    notes = values.get("notes")
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
        "notes": "" if notes is None else check_text(str(notes), "notes", lines=True).strip(),
        "private_notes": check_text(_text(values.get("private_notes")) or "", "private notes", lines=True),
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


def schedule_session(
    db: Session,
    actor: User,
    *,
    title: str | None = None,
    agent: str | None = None,
    coach: str | None = None,
    date: str | None = None,
    start: str | None = None,
    tz: str | None = None,
    duration: str | int | None = None,
    link: str | None = None,
    path: str | None = None,
    kpi: str | None = None,
    target: str | None = None,
    target_date: str | None = None,
    notes: str | None = None,
    private_notes: str | None = None,
    form: str | None = None,
    from_request: int | None = None,
    today: dt.date,
) -> CoachingSession:
    """M1: schedule a session (M3: with its mini-goal when path, KPI, target
    and target date are all given). With `from_request`, the agent's request
    becomes this session, keeping what the agent wrote unless overridden."""
    require_coaching_role(actor, "schedule coaching sessions")
    values: dict[str, object] = {
        "title": title,
        "agent": agent,
        "coach": coach,
        "date": date,
        "start": start,
        "timezone": tz,
        "duration": duration,
        "link": link,
        "path": path,
        "kpi": kpi,
        "target": target,
        "target_date": target_date,
        "notes": notes,
        "private_notes": private_notes,
    }
    request = None
    if from_request is not None:
        request = _open_request(db, actor, from_request)
        requester = db.get(User, request.agent_id)
        assert requester is not None  # request.agent_id is a foreign key
        if _handle(agent) not in (None, requester.handle):
            raise refused(
                f"request {request.id} was made by '{requester.handle}', so the session is theirs; leave out --agent"
            )
        values["agent"] = requester.handle
        if _text(title) is None:
            values["title"] = request.title
        if _text(path) is None and request.path_id is not None:
            requested_path = db.get(PerformancePath, request.path_id)
            assert requested_path is not None  # request.path_id is a foreign key
            values["path"] = requested_path.name
        if _text(kpi) is None:
            values["kpi"] = request.kpi
        # A rule's request proposes a mini-goal: its target (in the request's
        # metric) and due date stand unless the coach gives others.
        if request.kpi is not None and _same_metric(values["kpi"], request.kpi):
            if _text(target) is None and request.target is not None:
                values["target"] = request.target
            if _text(target_date) is None and request.target_date is not None:
                values["target_date"] = request.target_date.isoformat()
        if notes is None:
            values["notes"] = request.notes
    directory = load_directory(
        db, actor, [_handle(values["agent"]), _handle(coach) or actor.handle], [_text(values["path"])]
    )
    checked = check_schedule(directory, values, today=today)
    form_id = find_form(db, form).id if form is not None and _text(form) else (request.form_id if request else None)
    if request is None:
        session = CoachingSession(**checked.session, form_id=form_id)
    else:
        session = request
        for key, value in checked.session.items():
            setattr(session, key, value)
        session.form_id = form_id
        session.updated_at = utc_now()
    db.add(session)
    db.flush()
    assert session.date is not None  # check_schedule gives a scheduled session its date
    goal = None
    if checked.minigoal is not None:
        goal = MiniGoal(session_id=stored_id(session), **checked.minigoal)
        db.add(goal)
        db.flush()
    audit.record(
        db,
        actor,
        "session.schedule",
        "session",
        session.id,
        agent=db.get(User, session.agent_id),
        date=session.date.isoformat(),
        from_request=from_request,
        minigoal_id=goal.id if goal else None,
    )
    if request is not None:
        notify(
            db,
            session.agent_id,
            "session.scheduled",
            f"Your coaching request {session.id} “{session.title}” is scheduled for "
            f"{session.date.isoformat()} {session.start} ({session.timezone}) by {actor.name}.",
            "session",
            stored_id(session),
        )
    return session


def _same_metric(given: object, key: str) -> bool:
    """Whether a metric as typed (key, name or alias) is the metric `key`; a
    metric that names nothing is refused later, where every input is checked."""
    text = _text(given)
    if text is None:
        return False
    try:
        return find_metric(text).key == key
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
            f"only agents request coaching; '{actor.handle}' is a{'n' if actor.role == 'admin' else ''} "
            f"{actor.role} — schedule a session with `coach session schedule` instead"
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


def import_sessions(db: Session, actor: User, content: Content, source: str, *, today: dt.date) -> dict[str, int]:
    """Bulk schedule from CSV or JSON Lines: every row follows the rules of
    `session schedule`, mini-goals included; any bad row and nothing is
    imported. Returns the counts scheduled, minigoals, without_minigoal
    (rows with some but not all four mini-goal fields) and first_of_two
    (sessions starting at a time that happens twice: the first is meant)."""
    require_coaching_role(actor, "import coaching sessions")
    problems = Problems(source)
    rows: list[tuple[int, dict]] = []
    for line, cells in read_rows(content, source, IMPORT_COLUMNS, IMPORT_REQUIRED, numbers=("target", "duration")):
        if isinstance(cells, ValueError):
            problems.add(line, str(cells))
            continue
        rows.append((line, dict(zip(IMPORT_COLUMNS, cells, strict=True))))
    directory = load_directory(
        db,
        actor,
        [_handle(values[key]) for _, values in rows for key in ("agent", "coach")],
        [_text(values["path"]) for _, values in rows],
    )
    sessions: list[dict] = []
    goals: list[tuple[int, dict]] = []
    incomplete = first_of_two = 0
    for line, values in rows:
        blank = [key for key in IMPORT_REQUIRED if _text(values[key]) is None]
        if blank:
            problems.add(line, f"missing {', '.join(blank)}")
            continue
        try:
            checked = check_schedule(directory, values, today=today)
        except CoachError as error:
            problems.add(line, error.message)
            continue
        if checked.minigoal is not None:
            goals.append((len(sessions), checked.minigoal))
        incomplete += bool(checked.missing)
        first_of_two += (
            check_wall_clock(checked.session["date"], checked.session["start"], checked.session["timezone"]) is not None
        )
        sessions.append(checked.session)
    problems.raise_if_any()
    session_ids = _insert_sessions(db, sessions)
    goal_rows = [{"session_id": session_ids[index], **goal} for index, goal in goals]
    table = MiniGoal.__table__
    for batch in chunks(goal_rows, INSERT_BATCH):
        db.execute(insert(table), batch)
    counts = {"scheduled": len(sessions), "minigoals": len(goal_rows), "without_minigoal": incomplete}
    audit.record(db, actor, "session.import", "session", None, **counts)
    return {**counts, "first_of_two": first_of_two}


def _insert_sessions(db: Session, sessions: list[dict]) -> list[int]:
    now = utc_now()
    extra: dict[str, object] = {
        "form_id": None,
        "plan_id": None,
        "answers": {},
        "requested_by_id": None,
        "created_at": now,
        "updated_at": now,
        "coached_at": None,
        "coached_by_id": None,
    }
    return bulk.insert_sessions_in_order(db, [{**row, **extra} for row in sessions])
