"""Parsers for what users type: texts, dates, start times, durations, time zones,
links, and the observation times of KPI files. Each returns a clean value or raises CoachError."""

import os
import re
import warnings
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from coachcli.errors import CoachError, not_found

DATE_HINT = "use YYYY-MM-DD, e.g. 2026-12-25, or today, +7d, +2w, +1m"
OBSERVED_AT_HINT = (
    "use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] with an optional UTC offset, e.g. 2026-12-25 or 2026-12-25T14:30:00+01:00"
)
MOMENT_HINT = (
    "use YYYY-MM-DD or YYYY-MM-DDTHH:MM with an optional UTC offset, "
    "e.g. 2026-12-25, 2026-12-25T08:00 or 2026-12-25T08:00+01:00"
)
_REACHABLE_YEARS = (2, 9998)
MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 480

_NAMED_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_DAYS_PER_UNIT = {"d": 1, "w": 7}
# Six digits covers any sensible shift and keeps int() far from its size cap.
_RELATIVE_DATE = re.compile(r"([+-]?)(\d{1,6})\s*([dwmy])", re.ASCII | re.IGNORECASE)
_CLOCK = re.compile(
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
    r"\s*(?:(?P<meridiem>[ap])\.?m\.?)?",
    re.ASCII | re.IGNORECASE,
)
# Four digits at most: anything longer is out of range anyway.
_DURATION = re.compile(
    r"(?:(?P<hours>\d{1,4})\s*h)?\s*(?:(?P<minutes>\d{1,4})\s*m(?:in)?)?",
    re.ASCII | re.IGNORECASE,
)
_YEAR_MONTH_DAY = re.compile(r"\d{4}-\d{1,2}-\d{1,2}\b", re.ASCII)
_OBSERVED_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)

# Two defaults that differ in year, month and day: a date that dateutil completes
# differently from each was missing a part.
_FIRST_DEFAULT = datetime(2001, 1, 1)
_SECOND_DEFAULT = datetime(2002, 2, 2)


# C0 and C1 control characters (ESC starts the terminal's escape sequences,
# U+009B and U+009D do too), DEL, and lone surrogates (bytes that were not
# text); a one-line text refuses the line and paragraph separators as well.
_CONTROL_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(text: str, field: str, *, lines: bool = False) -> str:
    """A text typed or read from a file, as it may be stored: without control
    characters, which would reach terminals, spreadsheets and calendars raw.
    A one-line text (a handle, name, title, link or reason) has none; a text
    of `lines` (notes, comments, answers) may hold line breaks (CRLF and CR
    read as LF) and tabs. Refused with the field named (exit 2)."""
    if lines:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    found = (_CONTROL_IN_LINES if lines else _CONTROL_IN_LINE).search(text)
    if found:
        allowed = "line breaks and tabs are the only control characters allowed" if lines else "it must be one line"
        raise CoachError(f"{field}: remove the character U+{ord(found.group()):04X}; {allowed}")
    return text


# Every id column is an INTEGER, which PostgreSQL keeps in 32 bits: no record
# has an id past this on either backend (SQLite hands ids out in sequence).
MAX_RECORD_ID = 2**31 - 1


def parse_record_id(text: str, record: str) -> int:
    """A record's id as typed (`record` names the kind: "coaching session"):
    whole decimal digits. An id past MAX_RECORD_ID names no record, so it is
    not found (exit 3), the same on both backends, before any query."""
    stripped = text.strip()
    if not (stripped.isascii() and stripped.isdigit()):
        raise CoachError(f"{record} id {text!r} is not a whole number: give an id such as 12")
    digits = stripped.lstrip("0") or "0"
    # Compared by length first: int() refuses strings of thousands of digits.
    if len(digits) > len(str(MAX_RECORD_ID)) or int(digits) > MAX_RECORD_ID:
        raise not_found(f"no {record} {digits}: ids go up to {MAX_RECORD_ID}")
    return int(digits)


def parse_date(text: str, today: date, *, time_hint: str = "") -> date:
    """A calendar date: ISO, today/tomorrow/yesterday, +7d/-3d/+2w/+1m/+1y, or any
    unambiguous, complete date python-dateutil understands. A date takes no
    time of day (`time_hint` says where a time goes instead)."""
    stripped = text.strip()
    try:
        return date.fromisoformat(stripped)
    except ValueError:
        pass
    lowered = stripped.lower()
    if lowered in _NAMED_DAYS:
        return today + timedelta(days=_NAMED_DAYS[lowered])
    relative = _RELATIVE_DATE.fullmatch(stripped)
    if relative:
        return _shift_date(today, relative, text)
    try:
        moment: datetime | None = datetime.fromisoformat(stripped)
    except ValueError:
        moment = None
    if moment is None:
        moment = _read_free_form(stripped, text, "date", DATE_HINT, ignoretz=True)
    if moment.time() != time() or moment.tzinfo is not None:
        raise CoachError(f"date {text!r} has a time of day, and a date takes none{time_hint}: {DATE_HINT}")
    return moment.date()


# Session dates (and a mini-goal's target date) lie in these years: far enough
# for any back-fill or plan, and within reach of every calendar and zone rule.
SESSION_YEARS = (1900, 2999)
START_HINT = " (give the time as the start: --start HH:MM)"


def parse_session_date(text: str, today: date, what: str = "session date") -> date:
    """A session's date (or its mini-goal's target date): any date parse_date
    reads, in the years 1900–2999."""
    day = parse_date(text, today, time_hint=START_HINT)
    if not SESSION_YEARS[0] <= day.year <= SESSION_YEARS[1]:
        raise CoachError(
            f"{what} {day.isoformat()} is out of range: session dates lie in the years "
            f"{SESSION_YEARS[0]}–{SESSION_YEARS[1]}"
        )
    return day


def _shift_date(today: date, relative: re.Match[str], text: str) -> date:
    sign, count, unit = relative.groups()
    amount = -int(count) if sign == "-" else int(count)
    unit = unit.lower()
    try:
        if unit in _DAYS_PER_UNIT:
            return today + timedelta(days=amount * _DAYS_PER_UNIT[unit])
        # Imported here: the CLI starts faster when no date needs it.
        from dateutil.relativedelta import relativedelta

        step = relativedelta(months=amount) if unit == "m" else relativedelta(years=amount)
        return today + step
    except (ValueError, OverflowError):
        raise CoachError(f"date {text!r} is out of range: {DATE_HINT}") from None


def _read_free_form(stripped: str, text: str, what: str, hint: str, *, ignoretz: bool) -> datetime:
    """What python-dateutil reads in the text, refused when a part of the date
    is missing or its parts could be read in more than one order."""
    # Imported here: dateutil's parser alone costs ~40 ms of start-up.
    from dateutil import parser as dateutil_parser

    def read(dayfirst: bool, yearfirst: bool, default: datetime) -> datetime:
        return dateutil_parser.parse(
            stripped, dayfirst=dayfirst, yearfirst=yearfirst, default=default, ignoretz=ignoretz
        )

    # A date written year-month-day first has one reading (dateutil would
    # still swap its day and month when asked to read days first).
    orders = (
        [(False, True)]
        if _YEAR_MONTH_DAY.match(stripped)
        else [(dayfirst, yearfirst) for dayfirst in (False, True) for yearfirst in (False, True)]
    )
    try:
        with warnings.catch_warnings():
            # dateutil drops a time zone name it does not know, with a warning.
            warnings.simplefilter("error", RuntimeWarning)
            moment = read(*orders[0], _FIRST_DEFAULT)
            completed_otherwise = read(*orders[0], _SECOND_DEFAULT)
            readings = {read(dayfirst, yearfirst, _FIRST_DEFAULT) for dayfirst, yearfirst in orders}
    # dateutil signals bad input with ParserError (a ValueError) but huge numbers
    # escape as OverflowError or decimal.InvalidOperation (both ArithmeticError).
    except (ValueError, ArithmeticError, RuntimeWarning):
        raise CoachError(f"not a valid {what} {text!r}: {hint}") from None
    if moment != completed_otherwise:
        raise CoachError(f"incomplete {what} {text!r} (year, month or day missing): {hint}")
    if len(readings) > 1:
        raise CoachError(f"ambiguous {what} {text!r} (day, month and year can be read in more than one order): {hint}")
    return moment


def parse_moment(text: str, tz_name: str, today: date) -> datetime:
    """A point in time, timezone-aware: any date parse_date reads (its midnight
    in tz_name), or a date-time, ISO or unambiguous to python-dateutil; one
    without a UTC offset is a wall-clock time in tz_name."""
    zone = _zone(tz_name)
    stripped = text.strip()
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        if stripped.lower() in _NAMED_DAYS or _RELATIVE_DATE.fullmatch(stripped):
            moment = datetime.combine(parse_date(stripped, today), time())
        else:
            moment = _read_free_form(stripped, text, "date-time", MOMENT_HINT, ignoretz=False)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return _within_reach(moment, text)


def _within_reach(moment: datetime, text: str) -> datetime:
    """Reminders count days on either side of a moment; the years 1 and 9999
    leave them no room."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not _REACHABLE_YEARS[0] <= utc.year <= _REACHABLE_YEARS[1]:
        raise CoachError(f"date-time {text!r} is out of range: {MOMENT_HINT}")
    return moment


def parse_clock(text: str) -> str:
    """A start time as zero-padded 24-hour "HH:MM"; accepts 9:05, 09:05:00, 9am, 2:30 pm."""
    match = _CLOCK.fullmatch(text.strip())
    hour_and_minute = _clock_parts(match) if match else None
    if hour_and_minute is None:
        raise CoachError(f"invalid start time {text!r}: use 24-hour HH:MM, e.g. 09:30 or 14:00 (or 2:30 pm)")
    hour, minute = hour_and_minute
    return f"{hour:02d}:{minute:02d}"


def _clock_parts(match: re.Match[str]) -> tuple[int, int] | None:
    hour = int(match["hour"])
    minute = int(match["minute"] or 0)
    meridiem = (match["meridiem"] or "").lower()
    if minute > 59 or int(match["second"] or 0) != 0:
        return None
    if not meridiem:
        # A bare "9" could mean 09:00 or 21:00 to different readers.
        return (hour, minute) if match["minute"] and hour <= 23 else None
    if not 1 <= hour <= 12:
        return None
    return (hour % 12 + (12 if meridiem == "p" else 0), minute)


def parse_duration_minutes(value: str | int) -> int:
    """A session length in whole minutes, 5 to 480; also 1h, 90m, 1h30m."""
    minutes = value if isinstance(value, int) else _duration_from_text(value)
    if minutes is None or not MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES:
        raise CoachError(
            f"invalid duration {value!r}: give whole minutes from {MIN_DURATION_MINUTES} to "
            f"{MAX_DURATION_MINUTES}, e.g. 30, 90m, 1h or 1h30m"
        )
    return minutes


def _duration_from_text(text: str) -> int | None:
    stripped = text.strip()
    if stripped.isascii() and stripped.isdigit() and len(stripped) <= 4:
        return int(stripped)
    match = _DURATION.fullmatch(stripped)
    if not match or not (match["hours"] or match["minutes"]):
        return None
    return int(match["hours"] or 0) * 60 + int(match["minutes"] or 0)


def parse_timezone(name: str) -> str:
    """An IANA time zone name such as Europe/Paris or UTC, as given when it loads,
    else its canonical spelling when only the letter case was off ("europe/paris")."""
    wanted = name.strip()
    if _load_zone(wanted) is not None:
        return wanted
    canonical = _zone_names_by_folded_case().get(wanted.casefold())
    if canonical is None:
        raise CoachError(f"unknown time zone {name!r}: use an IANA name, e.g. Europe/Paris, America/New_York or UTC")
    return canonical


def _load_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    # ValueError covers malformed keys and non-zone files (zone.tab);
    # OSError covers directories (Europe) and over-long names.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=1)
def _zone_names_by_folded_case() -> dict[str, str]:
    return {zone_name.casefold(): zone_name for zone_name in available_timezones()}


def _zone(name: str) -> ZoneInfo:
    # parse_timezone only returns names that load: either it loaded the name itself or
    # took it from available_timezones(), which lists valid zone files only.
    return ZoneInfo(parse_timezone(name))


def default_timezone_name() -> str:
    """COACH_TZ when set, else the system's IANA zone, else UTC."""
    configured = os.environ.get("COACH_TZ", "").strip()
    if configured:
        try:
            return parse_timezone(configured)
        except CoachError as error:
            raise CoachError(f"COACH_TZ: {error.message}") from None
    return _system_timezone_name()


def _system_timezone_name() -> str:
    # POSIX lets TZ name a zone file with a leading colon (":Europe/Paris"),
    # or give the file's path (":/usr/share/zoneinfo/Asia/Tokyo"): its name
    # is what follows "zoneinfo/" once links are resolved.
    configured = os.environ.get("TZ", "").strip().removeprefix(":")
    candidates = [configured]
    if configured.startswith("/"):
        for path in (configured, os.path.realpath(configured)):
            _, found, zone_name = path.rpartition("zoneinfo/")
            if found:
                candidates.append(zone_name)
    try:
        link_target = os.readlink("/etc/localtime")
    except OSError:
        link_target = ""
    _, found, zone_name = link_target.partition("zoneinfo/")
    if found:
        candidates.append(zone_name)
    for candidate in candidates:
        if candidate and _load_zone(candidate) is not None:
            return candidate
    return "UTC"


def today_in(tz_name: str) -> date:
    return datetime.now(_zone(tz_name)).date()


def parse_observed_at(text: str, tz_name: str) -> str:
    """A KPI observation time: "YYYY-MM-DD" as is, or a date-time normalized to
    "YYYY-MM-DDTHH:MM:SS" in the local time of tz_name when it carries an offset.

    Bulk imports call this once per row, so a plain date skips everything else.
    """
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            date.fromisoformat(text)
        except ValueError:
            raise CoachError(f"invalid observation date {text!r}: {OBSERVED_AT_HINT}") from None
        return text
    stripped = text.strip()
    if stripped != text:
        return parse_observed_at(stripped, tz_name)
    return _normalize_observed_moment(text, tz_name)


def _normalize_observed_moment(text: str, tz_name: str) -> str:
    if not _OBSERVED_MOMENT.fullmatch(text):
        raise CoachError(f"invalid observation time {text!r}: {OBSERVED_AT_HINT}")
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            moment = moment.astimezone(_zone(tz_name)).replace(tzinfo=None)
    # OverflowError: an offset that pushes a moment past year 1 or 9999.
    except (ValueError, OverflowError):
        raise CoachError(f"invalid observation time {text!r}: {OBSERVED_AT_HINT}") from None
    # Sub-second precision is dropped: truncating never moves an observation to another day.
    return moment.isoformat(timespec="seconds")


# M/D/YYYY or D/M/YYYY, as Excel re-saves a report's dates, perhaps with a
# time of day (24-hour, or with AM/PM).
_SLASHED_DATE = re.compile(
    r"(?P<first>\d{1,2})/(?P<second>\d{1,2})/(?P<year>\d{4})"
    r"(?:[T ]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second_of_minute>\d{2}))?\s*(?P<meridiem>[AP]M)?)?",
    re.ASCII | re.IGNORECASE,
)
DATE_ORDERS = {"mdy": "M/D/YYYY", "dmy": "D/M/YYYY"}


class SlashedDates:
    """The observation times of one KPI file, which may write its dates
    M/D/YYYY or D/M/YYYY: read in the order the file's own dates show (a
    first part over 12 is a day, a second part over 12 too), or in the order
    given (`--date-order mdy|dmy`). Other times go to parse_observed_at."""

    def __init__(self, tz_name: str, order: str | None = None):
        self.tz_name = tz_name
        self.order = order
        self.shown_by: str | None = None  # the file's date that told its order

    def read(self, text: str) -> str | None:
        """The observation time as stored ("YYYY-MM-DD" or
        "YYYY-MM-DDTHH:MM:SS"), or None for a slashed date that either order
        reads (and differently) while the file has not shown its order yet."""
        match = _SLASHED_DATE.fullmatch(text.strip())
        if match is None:
            return parse_observed_at(text, self.tz_name)
        first, second = int(match["first"]), int(match["second"])
        order = self.order
        if order is None:
            if first > 12 >= second:
                order = "dmy"
            elif second > 12 >= first:
                order = "mdy"
            elif first <= 12 and second <= 12 and first != second:
                return None
        month, day = (first, second) if order in (None, "mdy") else (second, first)
        try:
            moment = datetime(int(match["year"]), month, day, *_slashed_time(match))
        except (ValueError, TypeError):
            written = (
                f"this file's dates are {DATE_ORDERS[self.order]}"
                + (f", as {self.shown_by!r} shows" if self.shown_by else "")
                if self.order
                else "neither M/D/YYYY nor D/M/YYYY reads it"
            )
            raise CoachError(f"invalid observation date {text!r}: {written}") from None
        if self.order is None and order is not None:
            self.order, self.shown_by = order, text.strip()
        if match["hour"] is None:
            return moment.date().isoformat()
        return moment.isoformat(timespec="seconds")

    def ambiguity(self, example: str) -> CoachError:
        """The refusal of a file none of whose dates tells its order."""
        return CoachError(
            f"the dates of this file (e.g. {example!r}) can be read as M/D/YYYY or as D/M/YYYY, and none of "
            "them shows which (no day over 12); say which with --date-order mdy or --date-order dmy"
        )


def _slashed_time(match: re.Match[str]) -> tuple[int, int, int]:
    """The time of day of a slashed date-time (midnight without one); raises
    TypeError for an hour that its AM/PM does not allow."""
    if match["hour"] is None:
        return (0, 0, 0)
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second_of_minute"] or 0)
    meridiem = (match["meridiem"] or "").upper()
    if meridiem:
        if not 1 <= hour <= 12:
            raise TypeError("hour out of range for AM/PM")
        hour = hour % 12 + (12 if meridiem == "PM" else 0)
    return (hour, minute, second)


def check_wall_clock(day: date, start: str, zone_name: str) -> str | None:
    """A session's start (day, "HH:MM", zone) as a moment that happens:
    refused (exit 2) when the clocks skip it (the spring-forward gap),
    naming the last valid minute before the gap and the first after it;
    when it happens twice (fall back) it is the first, daylight time — and
    this returns what to tell the user about it; else None."""
    zone = _zone(zone_name)
    wall = datetime.combine(day, time.fromisoformat(start))
    first, second = wall.replace(tzinfo=zone), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    # Read with each offset, a skipped time lands on either side of the gap
    # (and round-trips to neither); a time that happens twice is both.
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return (
            f"{start} on {day.isoformat()} happens twice in {zone_name} (the clocks go back); "
            f"the session is at the first, {first:%H:%M %Z} (UTC{first.isoformat()[-6:]})"
        )
    gap_start = _offset_change(first.astimezone(UTC), second.astimezone(UTC), zone)
    before = (gap_start - timedelta(minutes=1)).astimezone(zone)
    after = gap_start.astimezone(zone)
    raise CoachError(
        f"start {start} on {day.isoformat()} does not exist in {zone_name}: the clocks skip from "
        f"{before:%H:%M} to {after:%H:%M}; give {before:%H:%M} or {after:%H:%M} (or another time)"
    )


def _offset_change(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first minute (UTC) in [low, high] whose offset in `zone` differs
    from low's: where the clocks change."""
    low, high = min(low, high), max(low, high)
    offset = low.astimezone(zone).utcoffset()
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        middle = middle.replace(second=0, microsecond=0)
        if middle.astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high


def parse_meeting_link(text: str) -> str:
    """An absolute http(s) URL with a host."""
    link = text.strip()
    problem = _link_problem(link)
    if problem:
        raise CoachError(
            f"invalid meeting link {text!r}: {problem}; give a full URL, e.g. https://meet.example.com/abc-defg"
        )
    return link


def _link_problem(link: str) -> str:
    # isprintable() is False for every whitespace and control character but the
    # ASCII space, so the two checks together refuse them all.
    if " " in link or not link.isprintable():
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(link)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return "it is not a well-formed URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "it must start with http:// or https://"
    if not host:
        return "it has no host name"
    return ""
