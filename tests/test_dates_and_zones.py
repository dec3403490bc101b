"""Dates and zones as a new user meets them (SPEC §14): KPI files re-saved
with M/D/YYYY or D/M/YYYY dates, a date given a time, start times the
clocks skip or repeat, and TZ in its POSIX forms."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import refused

from coachcli.errors import CoachError, ExitCode
from coachcli.parse import SlashedDates, check_wall_clock, default_timezone_name


def stored(cli) -> list[tuple]:
    return [(r["agent"], r["metric"], r["observed_at"], r["value"]) for r in cli.json("kpi", "list", user="dana")]


HEADER = "agent,metric,observed_at,value\n"

# --- M/D/YYYY and D/M/YYYY ------------------------------------------------------------------


def test_a_file_resaved_by_us_excel_is_read_month_first(cli):
    """`12/13/2026` used to refuse the whole file ("invalid observation time")."""
    text = HEADER + "alex,AHT,12/1/2026,300\nalex,AHT,12/13/2026,310\nalex,AHT,12/2/2026 2:30 PM,320\n"
    assert cli.json("kpi", "import", "-", input=text)["inserted"] == 3
    assert stored(cli) == [
        ("alex", "handle-time", "2026-12-01", 300.0),
        ("alex", "handle-time", "2026-12-02T14:30:00", 320.0),
        ("alex", "handle-time", "2026-12-13", 310.0),
    ]


def test_a_file_written_day_first_is_read_day_first(cli):
    text = "Agent ID;Date;AHT\nalex;1/12/2026;300\nalex;13/12/2026;310,5\n"
    assert cli.json("kpi", "import", "-", input=text)["inserted"] == 2
    assert [row[2:] for row in stored(cli)] == [("2026-12-01", 300.0), ("2026-12-13", 310.5)]


def test_rows_before_the_date_that_shows_the_order_keep_their_place(cli):
    """The last row for a key wins, even when the order shows only later."""
    text = HEADER + "alex,AHT,3/4/2026,300\nalex,AHT,4/4/2026,305\nalex,AHT,3/4/2026,350\nalex,AHT,3/13/2026,310\n"
    assert cli.json("kpi", "import", "-", input=text)["inserted"] == 3
    assert [row[2:] for row in stored(cli)] == [("2026-03-04", 350.0), ("2026-03-13", 310.0), ("2026-04-04", 305.0)]


def test_a_file_whose_every_date_could_be_either_is_refused_naming_the_option(cli):
    text = HEADER + "alex,AHT,3/4/2026,300\nalex,AHT,4/3/2026,310\n"
    line = refused(cli, "kpi", "import", "-", input=text)
    assert "--date-order mdy" in line and "--date-order dmy" in line
    assert cli.json("kpi", "import", "-", "--date-order", "dmy", input=text)["inserted"] == 2
    assert [row[2] for row in stored(cli)] == ["2026-03-04", "2026-04-03"]


def test_the_date_order_given_is_kept_to(cli):
    text = HEADER + "alex,AHT,12/13/2026,310\n"
    line = refused(cli, "kpi", "import", "-", "--date-order", "dmy", input=text)
    assert "line 2" in line and "D/M/YYYY" in line
    assert "mdy" in refused(cli, "kpi", "import", "-", "--date-order", "ymd", input=text)


def test_a_date_against_the_order_the_file_showed_is_a_bad_row(cli):
    text = HEADER + "alex,AHT,12/13/2026,310\nalex,AHT,13/12/2026,320\n"
    line = refused(cli, "kpi", "import", "-", input=text)
    assert "line 3" in line and "M/D/YYYY" in line and "12/13/2026" in line


def test_slashed_dates_unit():
    dates = SlashedDates("UTC")
    assert dates.read("5/5/2026") == "2026-05-05"  # the same either way
    assert dates.read("4/5/2026") is None and dates.order is None
    assert dates.read("30/5/2026 23:59:59") == "2026-05-30T23:59:59" and dates.order == "dmy"
    assert dates.read("4/5/2026") == "2026-05-04"
    assert SlashedDates("UTC", "mdy").read("12/1/2026 12:00 AM") == "2026-12-01T00:00:00"
    assert SlashedDates("UTC").read("2026-12-01") == "2026-12-01"


# --- a date takes no time -------------------------------------------------------------------


def test_a_date_with_a_time_is_told_the_time_goes_in_start(cli):
    """`--date 2026-12-10T10:00` was called "ambiguous date"."""
    line = refused(
        cli, "session", "schedule", "--title", "T", "--agent", "alex", "--date", "2026-12-10T10:00",
        "--start", "10:00", user="calvin",
    )  # fmt: skip
    assert "a date takes none" in line and "--start" in line and "ambiguous" not in line


# --- start times the clocks skip or repeat --------------------------------------------------


def _schedule(cli, date: str, start: str, zone: str = "America/Chicago"):
    return cli(
        "session", "schedule", "--title", "Review", "--agent", "alex", "--date", date, "--start", start,
        "--tz", zone, "-o", "json", user="calvin",
    )  # fmt: skip


def test_a_start_in_the_spring_forward_gap_is_refused_naming_both_sides(cli):
    """02:30 on 2026-03-08 never happens in Chicago; it used to be accepted,
    and the reminder and the .ics carried 02:30."""
    before = cli.dump()
    result = _schedule(cli, "2026-03-08", "02:30")
    assert result.exit_code == ExitCode.BAD_INPUT
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "01:59" in line and "03:00" in line and "does not exist" in line
    assert cli.dump() == before
    text = "title,agent,coach,date,start,timezone\nOne,alex,calvin,2026-03-29,02:15,Europe/Paris\n"
    assert "line 2" in refused(cli, "session", "import", "-", input=text, user="calvin")


def test_a_start_that_happens_twice_is_the_first_and_says_so(cli):
    result = _schedule(cli, "2026-11-01", "01:30")
    assert result.exit_code == 0
    assert "happens twice" in result.stderr and "the first" in result.stderr and "CDT" in result.stderr
    assert _schedule(cli, "2026-11-02", "01:30").stderr == ""


def test_wall_clock_unit():
    assert check_wall_clock(dt.date(2026, 6, 1), "02:30", "America/Chicago") is None
    assert check_wall_clock(dt.date(2026, 3, 8), "03:00", "America/Chicago") is None
    assert check_wall_clock(dt.date(2026, 3, 8), "01:59", "America/Chicago") is None
    assert "UTC-05:00" in check_wall_clock(dt.date(2026, 11, 1), "01:00", "America/Chicago")
    # Lord Howe moves its clocks by half an hour.
    assert "happens twice" in check_wall_clock(dt.date(2026, 4, 5), "01:45", "Australia/Lord_Howe")
    with pytest.raises(CoachError, match="from 01:59 to 02:30"):
        check_wall_clock(dt.date(2026, 10, 4), "02:15", "Australia/Lord_Howe")


# --- TZ as POSIX writes it ------------------------------------------------------------------


@pytest.mark.parametrize(
    "tz", [":Asia/Tokyo", ":/usr/share/zoneinfo/Asia/Tokyo", "/usr/share/zoneinfo/Asia/Tokyo", "Asia/Tokyo"]
)
def test_tz_in_its_posix_forms_is_honoured(cli, monkeypatch, tz):
    """`TZ=:/usr/share/zoneinfo/Asia/Tokyo` used to be ignored (UTC)."""
    monkeypatch.delenv("COACH_TZ")
    monkeypatch.setenv("TZ", tz)
    assert default_timezone_name() == "Asia/Tokyo"
    session = cli.json(
        "session", "schedule", "--title", "T", "--agent", "alex", "--date", "2026-11-20", "--start", "09:00",
        user="calvin",
    )  # fmt: skip
    assert session["timezone"] == "Asia/Tokyo"
