"""`coach calendar`: the scheduled sessions in scope as an RFC 5545 file that
a calendar imports, and re-imports without duplicates."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest


def schedule(
    cli, title: str, agent: str, date: str, start: str, tz: str = "UTC", coach: str = "calvin", *more: str
) -> int:
    result = cli(
        "session",
        "schedule",
        "--title",
        title,
        "--agent",
        agent,
        "--date",
        date,
        "--start",
        start,
        "--tz",
        tz,
        "-q",
        *more,
        user=coach,
    )
    assert result.exit_code == 0, result.stderr
    return int(result.stdout)


def export(cli, *options: str, user: str = "calvin") -> bytes:
    result = cli("calendar", *options, user=user)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def events(data: bytes) -> dict[str, icalendar.Event]:
    parsed = icalendar.Calendar.from_ical(data)
    return {str(event["uid"]): event for event in parsed.walk("VEVENT")}


def test_each_session_is_an_event_in_its_own_zone(cli):
    session = schedule(
        cli,
        "Weekly review",
        "alex",
        "2026-12-02",
        "09:00",
        "Europe/Paris",
        "calvin",
        "--duration",
        "45",
        "--link",
        "https://meet.example.com/alex",
        "--notes",
        "Bring two calls",
    )
    data = export(cli)
    (event,) = events(data).values()
    assert str(event["uid"]) == f"session-{session}@coach"
    assert str(event["summary"]) == "Weekly review"
    assert event.decoded("dtstart") == dt.datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert event.decoded("duration") == dt.timedelta(minutes=45)
    assert str(event["description"]) == "Bring two calls"
    assert str(event["url"]) == "https://meet.example.com/alex"
    assert str(event["organizer"]) == "urn:coach:calvin" and event["organizer"].params["CN"] == "Calvin Brooks"
    assert str(event["attendee"]) == "urn:coach:alex" and event["attendee"].params["CN"] == "Alex Moreno"
    # What an event holds is exactly this: nothing else of a session (its
    # private notes, when it has them) can reach a calendar file.
    assert set(event) == {
        "UID",
        "DTSTAMP",
        "CREATED",
        "LAST-MODIFIED",
        "DTSTART",
        "DURATION",
        "SUMMARY",
        "DESCRIPTION",
        "URL",
        "ORGANIZER",
        "ATTENDEE",
        "STATUS",
    }
    lines = data.decode().split("\r\n")
    assert "DTSTART;TZID=Europe/Paris:20261202T090000" in lines
    assert "TZID:Europe/Paris" in lines and "BEGIN:VTIMEZONE" in lines
    assert lines[:3] == ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//coach//Coaching sessions//EN"]
    # RFC 5545 lines end in CRLF.
    assert data.endswith(b"END:VCALENDAR\r\n") and b"\n" not in data.replace(b"\r\n", b"")


def test_time_zones_each_get_their_vtimezone_and_utc_is_written_as_utc(cli):
    schedule(cli, "New York", "alex", "2026-07-01", "14:30", "America/New_York")
    schedule(cli, "Kolkata", "maria", "2026-07-02", "10:00", "Asia/Kolkata")
    schedule(cli, "UTC", "maria", "2026-07-03", "08:15", "UTC")
    data = export(cli)
    lines = data.decode().split("\r\n")
    assert "DTSTART;TZID=America/New_York:20260701T143000" in lines
    assert "DTSTART;TZID=Asia/Kolkata:20260702T100000" in lines
    assert "DTSTART:20260703T081500Z" in lines
    assert sorted(line for line in lines if line.startswith("TZID:")) == ["TZID:America/New_York", "TZID:Asia/Kolkata"]
    # New York is on daylight time in July: its VTIMEZONE says -0400.
    starts = {str(event["summary"]): event.decoded("dtstart") for event in events(data).values()}
    assert starts["New York"].utcoffset() == dt.timedelta(hours=-4)
    assert starts["Kolkata"].astimezone(dt.UTC) == dt.datetime(2026, 7, 2, 4, 30, tzinfo=dt.UTC)


def test_uids_and_content_are_stable_across_exports(cli):
    first = schedule(cli, "First", "alex", "2026-12-02", "09:00", "Europe/Paris")
    before = export(cli)
    assert export(cli) == before  # nothing changed: the same file, byte for byte
    second = schedule(cli, "Second", "maria", "2026-12-03", "09:00", "Europe/Paris")
    after = events(export(cli))
    assert set(after) == {f"session-{first}@coach", f"session-{second}@coach"}
    assert after[f"session-{first}@coach"].to_ical() == events(before)[f"session-{first}@coach"].to_ical()


def test_only_scheduled_sessions_within_scope(cli):
    schedule(cli, "Alex", "alex", "2026-12-02", "09:00")
    schedule(cli, "Maria", "maria", "2026-12-02", "10:00")
    schedule(cli, "Sam", "sam", "2026-12-02", "11:00", "UTC", "priya")
    assert cli("session", "new", "--agent", "alex", "--form", "Call quality", user="calvin").exit_code == 0
    assert cli("session", "request", "--title", "Help please", user="alex").exit_code == 0

    def titles(user: str, *options: str) -> list[str]:
        return [str(event["summary"]) for event in events(export(cli, *options, user=user)).values()]

    assert titles("alex") == ["Alex"]
    assert titles("calvin") == ["Alex", "Maria"]
    assert titles("priya") == ["Sam"]
    assert titles("dana") == ["Alex", "Maria", "Sam"]
    assert titles("calvin", "--agent", "maria") == ["Maria"]
    assert titles("alex", "--agent", "maria") == []  # outside your scope: nothing, as in every list


def test_from_and_to_are_the_sessions_own_dates_both_inclusive(cli):
    # Kiritimati is UTC+14: 23:30 on Dec 2 there is 09:30 UTC on Dec 2, and
    # 00:30 on Dec 3 there is 10:30 UTC on Dec 2 — one hour apart, different days.
    late = schedule(cli, "Late on the 2nd", "alex", "2026-12-02", "23:30", "Pacific/Kiritimati")
    early = schedule(cli, "Early on the 3rd", "alex", "2026-12-03", "00:30", "Pacific/Kiritimati")
    schedule(cli, "On the 1st", "alex", "2026-12-01", "12:00")
    assert set(events(export(cli, "--from", "2026-12-02", "--to", "2026-12-02"))) == {f"session-{late}@coach"}
    assert set(events(export(cli, "--from", "2026-12-03"))) == {f"session-{early}@coach"}
    assert len(events(export(cli, "--to", "2026-12-02"))) == 2
    assert len(events(export(cli))) == 3


def test_an_empty_scope_is_an_empty_calendar(cli):
    data = export(cli, user="alex")
    parsed = icalendar.Calendar.from_ical(data)
    assert parsed.walk("VEVENT") == [] and parsed.walk("VTIMEZONE") == []
    assert str(parsed["prodid"]) == "-//coach//Coaching sessions//EN"


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        (["--from", "2026-12-05", "--to", "2026-12-01"], 2, "is after --to"),
        (["--agent", "nobody"], 3, "no user 'nobody'"),
        (["--from", "someday"], 2, "not a valid date"),
        (["--to", "2026-02-30"], 2, "date"),
    ],
)
def test_bad_options_are_refused_in_one_line(cli, options, code, words):
    schedule(cli, "Review", "alex", "2026-12-02", "09:00")
    result = cli("calendar", *options, user="calvin")
    assert result.exit_code == code
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and words in result.stderr


def test_the_calendar_needs_an_acting_user(cli):
    result = cli("calendar")
    assert result.exit_code == 5 and result.stdout == "" and "--as" in result.stderr
