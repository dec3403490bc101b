from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachcli.errors import CoachError, ExitCode
from coachcli.parse import (
    default_timezone_name,
    parse_clock,
    parse_date,
    parse_duration_minutes,
    parse_meeting_link,
    parse_observed_at,
    parse_timezone,
    today_in,
)

FAST = settings(max_examples=200, deadline=None)
TODAY = date(2026, 1, 31)

# Text close to what users type, so the parsers' deeper branches get exercised too.
date_like_text = st.text(alphabet="0123456789-/.:+ TZdwmyapDecJanMonday", max_size=20)
link_like_text = st.text(alphabet="htps:/[]@?#.:0123456789example \t", max_size=30)


def refuses(parse, *args) -> str:
    """Call a parser that must refuse its input; return the message for further checks."""
    with pytest.raises(CoachError) as raised:
        parse(*args)
    assert raised.value.exit_code == ExitCode.BAD_INPUT
    assert "\n" not in raised.value.message
    return raised.value.message


class TestParseDate:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-12-25", date(2026, 12, 25)),
            (" 2026-12-25 ", date(2026, 12, 25)),
            ("today", TODAY),
            ("TODAY", TODAY),
            ("Tomorrow", date(2026, 2, 1)),
            ("yesterday", date(2026, 1, 30)),
            ("+7d", date(2026, 2, 7)),
            ("7d", date(2026, 2, 7)),
            ("-3d", date(2026, 1, 28)),
            ("+2w", date(2026, 2, 14)),
            ("+1m", date(2026, 2, 28)),  # relativedelta clamps to the month's last day
            ("-1m", date(2025, 12, 31)),
            ("+1y", date(2027, 1, 31)),
            ("+0d", TODAY),
            ("Dec 25 2026", date(2026, 12, 25)),
            ("25 December 2026", date(2026, 12, 25)),
            ("December 25, 2026", date(2026, 12, 25)),
            ("12/25/2026", date(2026, 12, 25)),
            ("25.12.2026", date(2026, 12, 25)),
            ("2026-12-25 00:00", date(2026, 12, 25)),
        ],
    )
    def test_accepted_forms(self, text, expected):
        assert parse_date(text, TODAY) == expected

    @pytest.mark.parametrize("text", ["03/04/2026", "2026/03/04", "10/10/03", "1 2 3"])
    def test_ambiguous_dates_are_refused(self, text):
        assert "ambiguous" in refuses(parse_date, text, TODAY)

    @pytest.mark.parametrize("text", ["March", "2026-03", "December 2026", "2026", "Friday", "5"])
    def test_incomplete_dates_are_refused(self, text):
        assert "missing" in refuses(parse_date, text, TODAY)

    @pytest.mark.parametrize("text", ["2026-12-25 10:00", "2026-12-25T09:30:00", "Dec 25 2026 5pm"])
    def test_a_time_of_day_is_refused(self, text):
        assert "time of day" in refuses(parse_date, text, TODAY)

    @pytest.mark.parametrize("text", ["", "soon", "2026-02-30", "next week", "+7x", "99999999999999d"])
    def test_nonsense_is_refused_with_an_example(self, text):
        assert "2026-12-25" in refuses(parse_date, text, TODAY)

    def test_shift_out_of_range_is_refused(self):
        assert "out of range" in refuses(parse_date, "+999999y", TODAY)

    @FAST
    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
    def test_unambiguous_spellings_of_any_date(self, day):
        assert parse_date(day.isoformat(), TODAY) == day
        assert parse_date(day.strftime("%d %B %Y"), TODAY) == day
        assert parse_date(day.strftime("%b %d, %Y"), TODAY) == day

    @FAST
    @given(st.integers(min_value=-3000, max_value=3000))
    def test_relative_days_match_timedelta(self, days):
        assert parse_date(f"{days:+d}d", TODAY) == TODAY + timedelta(days=days)

    @FAST
    @given(st.one_of(st.text(), date_like_text))
    def test_any_text_gives_a_date_or_raises_coach_error(self, text):
        try:
            assert isinstance(parse_date(text, TODAY), date)
        except CoachError as error:
            assert "\n" not in error.message


class TestParseClock:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("09:05", "09:05"),
            ("9:05", "09:05"),
            ("09:05:00", "09:05"),
            ("00:00", "00:00"),
            ("23:59", "23:59"),
            ("9am", "09:00"),
            ("9 AM", "09:00"),
            ("2:30 pm", "14:30"),
            ("2:30p.m.", "14:30"),
            ("12am", "00:00"),
            ("12:15 am", "00:15"),
            ("12pm", "12:00"),
            (" 14:00 ", "14:00"),
        ],
    )
    def test_accepted_forms(self, text, expected):
        assert parse_clock(text) == expected

    @pytest.mark.parametrize("text", ["", "9", "24:00", "12:60", "9:5", "09:05:30", "13pm", "0am", "noon", "9:05 xm"])
    def test_refused_forms(self, text):
        assert "HH:MM" in refuses(parse_clock, text)

    @FAST
    @given(st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=59))
    def test_24_hour_and_12_hour_spellings_agree(self, hour, minute):
        expected = f"{hour:02d}:{minute:02d}"
        twelve_hour = f"{(hour % 12) or 12}:{minute:02d} {'pm' if hour >= 12 else 'am'}"
        assert parse_clock(f"{hour}:{minute:02d}") == expected
        assert parse_clock(twelve_hour) == expected

    @FAST
    @given(st.one_of(st.text(), st.text(alphabet="0123456789: apmAPM.", max_size=10)))
    def test_any_text_gives_a_clock_or_raises_coach_error(self, text):
        try:
            hour, minute = parse_clock(text).split(":")
        except CoachError as error:
            assert "\n" not in error.message
        else:
            assert 0 <= int(hour) <= 23
            assert 0 <= int(minute) <= 59


class TestParseDurationMinutes:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("30", 30),
            (30, 30),
            ("5", 5),
            ("480", 480),
            ("1h", 60),
            ("90m", 90),
            ("1h30m", 90),
            ("1h 30m", 90),
            ("45min", 45),
            ("8H", 480),
            (" 60 ", 60),
        ],
    )
    def test_accepted_forms(self, value, expected):
        assert parse_duration_minutes(value) == expected

    @pytest.mark.parametrize(
        "value",
        ["0", 0, "-30", -30, "4", "481", 481, "9h", "1.5", "30.0", "", "h", "half an hour", True],
    )
    def test_refused_forms(self, value):
        assert "5 to 480" in refuses(parse_duration_minutes, value)

    @FAST
    @given(st.integers(min_value=5, max_value=480))
    def test_minutes_and_hours_spellings_agree(self, minutes):
        hours, rest = divmod(minutes, 60)
        assert parse_duration_minutes(str(minutes)) == minutes
        assert parse_duration_minutes(f"{hours}h{rest}m") == minutes

    @FAST
    @given(st.one_of(st.text(), st.text(alphabet="0123456789hmin -.", max_size=8)))
    def test_any_text_gives_a_duration_or_raises_coach_error(self, text):
        try:
            minutes = parse_duration_minutes(text)
        except CoachError as error:
            assert "\n" not in error.message
        else:
            assert 5 <= minutes <= 480


class TestTimezones:
    @pytest.mark.parametrize("name", ["Europe/Paris", "UTC", "America/New_York", "Asia/Kolkata"])
    def test_known_zones_are_returned_as_given(self, name):
        assert parse_timezone(name) == name

    def test_surrounding_spaces_are_dropped(self):
        assert parse_timezone(" Europe/Paris ") == "Europe/Paris"

    @pytest.mark.parametrize(("name", "canonical"), [("utc", "UTC"), ("europe/paris", "Europe/Paris")])
    def test_wrong_letter_case_gives_the_canonical_name(self, name, canonical):
        assert parse_timezone(name) == canonical

    @pytest.mark.parametrize(
        "name",
        ["", "Mars/Olympus", "Europe", "zone.tab", "/etc/passwd", "../UTC", "Paris", "UTC\x00"],
    )
    def test_unknown_zones_are_refused(self, name):
        assert "Europe/Paris" in refuses(parse_timezone, name)

    @FAST
    @given(st.one_of(st.text(), st.text(alphabet="abcEUTC/_.-+0", max_size=15)))
    def test_any_text_gives_a_zone_or_raises_coach_error(self, text):
        try:
            assert ZoneInfo(parse_timezone(text))
        except CoachError as error:
            assert "\n" not in error.message

    def test_coach_tz_wins(self, monkeypatch):
        monkeypatch.setenv("COACH_TZ", "Europe/Paris")
        monkeypatch.setenv("TZ", "Asia/Tokyo")
        assert default_timezone_name() == "Europe/Paris"

    def test_a_bad_coach_tz_is_named_in_the_error(self, monkeypatch):
        monkeypatch.setenv("COACH_TZ", "Mars/Olympus")
        assert "COACH_TZ" in refuses(default_timezone_name)

    def test_tz_is_used_without_coach_tz(self, monkeypatch):
        monkeypatch.delenv("COACH_TZ", raising=False)
        monkeypatch.setenv("TZ", ":Asia/Tokyo")
        assert default_timezone_name() == "Asia/Tokyo"

    def test_localtime_link_is_used_without_tz(self, monkeypatch):
        monkeypatch.delenv("COACH_TZ", raising=False)
        monkeypatch.setenv("TZ", "not a zone")
        monkeypatch.setattr("coachcli.parse.os.readlink", lambda path: "../usr/share/zoneinfo/America/New_York")
        assert default_timezone_name() == "America/New_York"

    def test_utc_when_nothing_names_a_zone(self, monkeypatch):
        def no_link(path):
            raise FileNotFoundError(path)

        monkeypatch.delenv("COACH_TZ", raising=False)
        monkeypatch.delenv("TZ", raising=False)
        monkeypatch.setattr("coachcli.parse.os.readlink", no_link)
        assert default_timezone_name() == "UTC"

    def test_today_in_a_zone(self):
        before = datetime.now(UTC).date()
        today = today_in("UTC")
        after = datetime.now(UTC).date()
        assert today in {before, after}

    def test_today_differs_across_the_date_line(self):
        assert (today_in("Pacific/Kiritimati") - today_in("Pacific/Pago_Pago")).days in (1, 2)

    def test_today_in_an_unknown_zone(self):
        assert "time zone" in refuses(today_in, "Mars/Olympus")


class TestParseObservedAt:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-12-25", "2026-12-25"),
            (" 2026-12-25 ", "2026-12-25"),
            ("2026-12-25T14:30", "2026-12-25T14:30:00"),
            ("2026-12-25 14:30", "2026-12-25T14:30:00"),
            ("2026-12-25T14:30:15", "2026-12-25T14:30:15"),
            ("2026-12-25T14:30:15.999", "2026-12-25T14:30:15"),
            # Paris is UTC+1 in winter and UTC+2 in summer.
            ("2026-12-25T13:30:00Z", "2026-12-25T14:30:00"),
            ("2026-12-25T14:30:00+01:00", "2026-12-25T14:30:00"),
            ("2026-07-01T12:00:00+00:00", "2026-07-01T14:00:00"),
            ("2026-12-25T23:30:00-05:00", "2026-12-26T05:30:00"),
            ("2026-12-25T14:30+0100", "2026-12-25T14:30:00"),
        ],
    )
    def test_accepted_forms(self, text, expected):
        assert parse_observed_at(text, "Europe/Paris") == expected

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "2026-13-01",
            "2026-02-30",
            "20261225",
            "2026-W52-5",
            "12/25/2026",
            "Dec 25 2026",
            "2026-12-25T14",
            "2026-12-25T25:00",
            "2026-12-25t14:30",
            "2026-12-25T14:30:00+25:00",
            "0001-01-01T00:00+01:00",
            "today",
        ],
    )
    def test_refused_forms(self, text):
        assert "YYYY-MM-DD" in refuses(parse_observed_at, text, "UTC")

    def test_offset_with_an_unknown_zone_is_refused(self):
        assert "time zone" in refuses(parse_observed_at, "2026-12-25T10:00Z", "Mars/Olympus")

    @FAST
    @given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
    def test_local_date_times_keep_their_second(self, moment):
        moment = moment.replace(microsecond=0)
        assert parse_observed_at(moment.isoformat(), "UTC") == moment.isoformat()
        assert parse_observed_at(moment.date().isoformat(), "UTC") == moment.date().isoformat()

    @FAST
    @given(st.one_of(st.text(), st.text(alphabet="0123456789-T :+Z.", max_size=26)))
    def test_any_text_gives_an_iso_time_or_raises_coach_error(self, text):
        try:
            observed = parse_observed_at(text, "Europe/Paris")
        except CoachError as error:
            assert "\n" not in error.message
        else:
            assert datetime.fromisoformat(observed).tzinfo is None


class TestParseMeetingLink:
    @pytest.mark.parametrize(
        "text",
        [
            "https://meet.example.com/abc-defg",
            "http://example.com",
            "HTTPS://Example.com/Room?pwd=x#top",
            "https://example.com:8443/room",
            "https://[::1]/room",
        ],
    )
    def test_accepted_links(self, text):
        assert parse_meeting_link(text) == text

    def test_surrounding_spaces_are_dropped(self):
        assert parse_meeting_link("  https://example.com/x\n") == "https://example.com/x"

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "example.com",
            "meet.example.com/abc",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://example.com/a\tb",
            "https://example.com/\x00",
            "https://example.com:99999",
            "http://[::1",
        ],
    )
    def test_refused_links(self, text):
        assert "https://" in refuses(parse_meeting_link, text)

    @FAST
    @given(st.one_of(st.text(), link_like_text))
    def test_any_text_gives_a_link_or_raises_coach_error(self, text):
        try:
            link = parse_meeting_link(text)
        except CoachError as error:
            assert "\n" not in error.message
        else:
            assert link.lower().startswith(("http://", "https://"))
            assert " " not in link
