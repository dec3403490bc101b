"""coach calendar: the scheduled sessions in scope, as an iCalendar file."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from coachcli.cli.context import acting_user, single_command, unit_of_work
from coachcli.cli.output import AgentFilter

if TYPE_CHECKING:
    from coachcli.services.calendar import CalendarSession

app = single_command()

PRODUCT_ID = "-//coach//Coaching sessions//EN"
CALENDAR_NAME = "Coaching sessions"
# A person as a calendar address: coach has no e-mail addresses, so a URN of
# the handle, with the name as CN for the calendar to show.
ADDRESS_PREFIX = "urn:coach:"


@app.command()
def calendar(
    agent: AgentFilter = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Sessions on or after this date.", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Sessions on or before this date.", show_default=False)
    ] = None,
) -> None:
    """Print an iCalendar file (RFC 5545) of the scheduled sessions in your scope.

    One event per session, in its own time zone; the same session keeps the
    same UID in every export, so importing a newer file updates the events:
    `coach calendar > coaching.ics`."""
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services import calendar as service

    today = today_in(default_timezone_name())
    start_date = parse_date(start, today) if start else None
    end_date = parse_date(end, today) if end else None
    with unit_of_work(write=False) as db:
        sessions = service.scheduled_sessions(db, acting_user(db), agent=agent, start=start_date, end=end_date)
    sys.stdout.buffer.write(ical(sessions))
    sys.stdout.flush()


def ical(sessions: list[CalendarSession]) -> bytes:
    """The sessions as one VCALENDAR: an event each, and a VTIMEZONE for each
    zone the events use (covering their dates)."""
    from zoneinfo import ZoneInfo

    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", CALENDAR_NAME)
    for session in sessions:
        start = dt.datetime.combine(session.date, dt.time.fromisoformat(session.start), ZoneInfo(session.timezone))
        event = Event()
        event.add("uid", f"session-{session.id}@coach")
        # Without a METHOD, DTSTAMP is when the event last changed, so an
        # unchanged session exports byte for byte the same.
        event.add("dtstamp", session.updated_at)
        event.add("created", session.created_at)
        event.add("last-modified", session.updated_at)
        event.add("dtstart", start)
        if session.duration_minutes:
            event.add("duration", dt.timedelta(minutes=session.duration_minutes))
        event.add("summary", session.title)
        if session.notes:
            event.add("description", session.notes)
        if (session.meeting_link or "").startswith(("http://", "https://")):  # not an erased one
            event.add("url", session.meeting_link)
        event.add("organizer", _address(session.coach, session.coach_name))
        event.add("attendee", _address(session.agent, session.agent_name, role="REQ-PARTICIPANT"))
        event.add("status", "CONFIRMED")
        calendar.add_component(event)
    if sessions:
        # Each VTIMEZONE covers the events' dates (and the night after the
        # last), rather than icalendar's default of 1970–2038 in every file.
        days = [session.date for session in sessions]
        calendar.add_missing_timezones(min(days) - dt.timedelta(days=1), max(days) + dt.timedelta(days=2))
    return calendar.to_ical()


def _address(handle: str, name: str, **parameters: str):
    from icalendar import vCalAddress

    address = vCalAddress(ADDRESS_PREFIX + handle)
    address.params["CN"] = name
    for key, value in parameters.items():
        address.params[key.upper()] = value
    return address
