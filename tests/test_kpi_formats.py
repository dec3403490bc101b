"""The KPI files contact centers really have (SPEC §11): `;` and tab CSVs with
decimal commas, other encodings, Excel workbooks, wide reports with report
metric names, and values as reports print them."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select

from coachcli.db.models import CoachingSession, KpiObservation, MiniGoal, User
from coachcli.errors import CoachError
from coachcli.metrics import ALIASES
from coachcli.records import as_dict
from coachcli.services import kpi, paths, roster, scheduling
from coachcli.tabular import read_sheet

REPO = Path(__file__).resolve().parent.parent


def _import(db, content, source="report.csv", **options):
    if isinstance(content, str):
        content = content.splitlines(keepends=True)
    # The counts' keys and values, as `kpi import -o json` prints them.
    return as_dict(kpi.import_observations(db, None, content, source, **options))


def _stored(db) -> dict[tuple[str, str, str], float]:
    handles = dict(db.exec(select(User.id, User.handle)).all())
    return {(handles[row.agent_id], row.metric, row.observed_at): row.value for row in db.exec(select(KpiObservation))}


def _refusal(db, content, source="report.csv", **options) -> str:
    with pytest.raises(CoachError) as refused:
        _import(db, content, source, **options)
    assert _stored(db) == {}
    return refused.value.message


def write_workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    """A workbook with the given sheets; a cell given as (value, format) gets that number format."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for number, row in enumerate(rows, start=1):
            for column, cell in enumerate(row, start=1):
                value, number_format = cell if isinstance(cell, tuple) else (cell, None)
                if value is None:
                    continue
                written = sheet.cell(number, column, value)
                if number_format:
                    written.number_format = number_format
    workbook.save(path)
    return path


def _sheet(path: Path, sheet: str | None = None):
    return read_sheet(path.open("rb"), path.name, sheet)


# --- delimiters, decimal commas, line endings -----------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_the_delimiter_is_told_from_the_header_and_any_line_ending_is_read(db, center, delimiter, newline):
    lines = [
        delimiter.join(["agent", "metric", "observed_at", "value"]),
        delimiter.join(["alex", "handle-time", "2026-12-15", "350"]),
        delimiter.join(["sam", "Manual QM - Overall Score", "2026-12-15", "91"]),
    ]
    text = "\ufeff" + newline.join(lines) + newline
    assert _import(db, text)["inserted"] == 2
    assert _stored(db) == {
        ("alex", "handle-time", "2026-12-15"): 350.0,
        ("sam", "manual-qm-overall-score", "2026-12-15"): 91.0,
    }


def test_a_semicolon_file_takes_decimal_commas_a_comma_file_does_not(db, center):
    assert _import(db, "agent;metric;observed_at;value\nalex;hold-time;2026-12-15;300,5\n")["inserted"] == 1
    assert _stored(db) == {("alex", "hold-time", "2026-12-15"): 300.5}
    message = _refusal_after(db, 'agent,metric,observed_at,value\nalex,hold-time,2026-12-16,"300,5"\n')
    assert "line 2" in message and "'300,5'" in message


def _refusal_after(db, text: str) -> str:
    before = _stored(db)
    with pytest.raises(CoachError) as refused:
        _import(db, text)
    assert _stored(db) == before
    return refused.value.message


def test_excel_s_empty_rows_below_the_data_are_not_rows(db, center):
    text = "agent;metric;observed_at;value\nalex;adherence;2026-12-15;95\n;;;\n ; ; ; \n"
    assert _import(db, text)["inserted"] == 1


def test_a_column_with_no_name_must_stay_empty(db, center):
    text = "agent,metric,observed_at,value,\nalex,adherence,2026-12-15,95,\n"
    assert _import(db, text)["inserted"] == 1
    message = _refusal_after(db, "agent,metric,observed_at,value,\nalex,adherence,2026-12-16,95,oops\n")
    assert "line 2" in message and "column 5, which has no name" in message


# --- wide reports ---------------------------------------------------------

WFM_REPORT = (
    "Agent ID,Date,AHT,ACW,Hold,Calls Handled,Schedule Adherence\n"
    "alex,2026-12-01,6:40,0:30,45,68,95%\n"
    "alex,2026-12-02,0:06:10,31,,70,95.0 %\n"
    "maria,2026-12-01,400,28,60,,97.5\n"
)


def test_each_non_empty_cell_of_a_wide_report_is_one_observation(db, center):
    assert _import(db, WFM_REPORT) == {"inserted": 13, "updated": 0, "unchanged": 0, "skipped": 0}
    stored = _stored(db)
    assert stored[("alex", "handle-time", "2026-12-01")] == 400.0
    assert stored[("alex", "handle-time", "2026-12-02")] == 370.0
    assert stored[("maria", "handle-time", "2026-12-01")] == 400.0
    assert stored[("alex", "after-call-work-time", "2026-12-01")] == 30.0
    assert stored[("alex", "adherence", "2026-12-01")] == stored[("alex", "adherence", "2026-12-02")] == 95.0
    assert ("alex", "hold-time", "2026-12-02") not in stored  # an empty cell is no observation
    assert ("maria", "contacts-handled", "2026-12-01") not in stored
    assert _import(db, WFM_REPORT)["unchanged"] == 13


@pytest.mark.parametrize(("column", "key"), [(alias, key) for key, aliases in ALIASES.items() for alias in aliases])
def test_every_report_name_of_a_metric_names_its_column(db, center, column, key):
    value = "95" if key == "adherence" else "42"
    assert _import(db, f"agent,date,{column}\nalex,2026-12-15,{value}\n")["inserted"] == 1
    assert list(_stored(db)) == [("alex", key, "2026-12-15")]


@pytest.mark.parametrize("agent", ["Agent", "Agent ID", "agent_id", "LOGIN", "Handle", " agent  id "])
@pytest.mark.parametrize("date", ["Date", "Day", "Interval", "Observed At", "observed_at", "OBSERVEDAT"])
def test_report_names_of_the_agent_and_date_columns(db, center, agent, date):
    assert _import(db, f'"{agent}","{date}",Handle Time\nalex,2026-12-15,300\n')["inserted"] == 1


def test_the_long_format_takes_the_report_names_too(db, center):
    text = "Login;Metric;Interval;Value\nalex;AHT;2026-12-15 09:00;6:40\nalex;Adherence %;2026-12-15;95,5 %\n"
    assert _import(db, text)["inserted"] == 2
    assert _stored(db) == {
        ("alex", "handle-time", "2026-12-15T09:00:00"): 400.0,
        ("alex", "adherence", "2026-12-15"): 95.5,
    }


def test_a_column_that_is_no_metric_is_refused_by_name(db, center):
    message = _refusal(db, "Agent,Date,AHT,Team\nalex,2026-12-15,300,Inbound\n")
    assert "column 'Team' is not a metric" in message and "--skip-unknown" in message


def test_skip_unknown_leaves_out_unknown_columns_and_agents_counting_their_cells(db, center):
    text = (
        "Agent,Date,AHT,Team,Contacts\n"
        "alex,2026-12-15,300,Inbound,70\n"
        "alex,2026-12-16,310,,\n"
        "ghost,2026-12-15,300,Inbound,\n"
        "Total,,305,,140\n"
    )
    counts = _import(db, text, skip_unknown=True)
    # Skipped: alex's two Team cells, ghost's AHT and Team, the Total row's AHT and Contacts.
    assert counts == {"inserted": 3, "updated": 0, "unchanged": 0, "skipped": 5}
    assert set(_stored(db)) == {
        ("alex", "handle-time", "2026-12-15"),
        ("alex", "contacts-handled", "2026-12-15"),
        ("alex", "handle-time", "2026-12-16"),
    }


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("Agent,Date,AHT,Handle Time", "columns 'AHT' and 'Handle Time' both name Handle Time; keep one"),
        ("Agent,Login,Date,AHT", "columns 'Agent' and 'Login' both name the agent"),
        ("Agent,Date,Interval,AHT", "columns 'Date' and 'Interval' both name the date"),
        ("Date,AHT", "the header lacks an agent column (agent, agent id, login, handle);"),
        ("Agent,AHT", "the header lacks a date column (observed_at, date, day, interval);"),
        ("Agent,Date", "the header lacks a metric column (AHT, Handle Time, adherence…)"),
        ("AHT", "lacks an agent column (agent, agent id, login, handle) and a date column"),
        ("Agent,Metric,Date", "missing column value"),
    ],
)
def test_a_header_that_is_neither_long_nor_wide_is_refused(db, center, header, words):
    message = _refusal(db, header + "\nalex,2026-12-15,300,300\n")
    assert words in message


def test_a_wide_report_names_its_bad_lines_and_their_columns(db, center):
    text = (
        "Agent,Date,AHT,Adherence %\n"
        "alex,2026-12-15,6:40,95%\n"
        "alex,2026-12-16,400s,95\n"
        "alex,,300,95\n"
        "alex,2026-12-17,300,101%\n"
        "ghost,2026-12-17,300,90\n"
        "alex,2026-12-18,300\n"
    )
    message = _refusal(db, text)
    assert message.startswith("report.csv: 5 bad rows, nothing imported")
    assert "line 3: AHT: invalid Handle Time value '400s': give seconds or a clock time" in message
    assert "line 4: the date is missing" in message
    assert "line 5: Adherence %: invalid Adherence value '101%': a percentage cannot be over 100" in message
    assert "line 6: unknown agent 'ghost'" in message
    assert "line 7: expected 4 fields, found 3" in message


def test_within_a_wide_file_the_last_cell_for_a_key_wins(db, center):
    text = "Agent,Date,AHT\nalex,2026-12-15,300\nalex,2026-12-15,310\n"
    assert _import(db, text) == {"inserted": 1, "updated": 1, "unchanged": 0, "skipped": 0}
    assert _stored(db) == {("alex", "handle-time", "2026-12-15"): 310.0}


def test_a_wide_semicolon_file_takes_decimal_commas_in_every_form(db, center):
    text = "Agent;Date;AHT;Adherence %;Contacts\nalex;2026-12-15;6:40,5;95,5 %;70,0\n"
    assert _import(db, text)["inserted"] == 3
    assert _stored(db) == {
        ("alex", "handle-time", "2026-12-15"): 400.5,
        ("alex", "adherence", "2026-12-15"): 95.5,
        ("alex", "contacts-handled", "2026-12-15"): 70.0,
    }


def test_json_lines_stay_long_and_take_the_report_names(db, center):
    text = '{"Agent ID": "alex", "metric": "AHT", "Date": "2026-12-15", "value": "6:40"}\n'
    assert _import(db, text, "kpi.jsonl")["inserted"] == 1
    assert _stored(db) == {("alex", "handle-time", "2026-12-15"): 400.0}


# --- Excel workbooks ------------------------------------------------------


def test_a_workbook_s_cells_are_read_as_excel_keeps_them(db, center, tmp_path):
    path = write_workbook(
        tmp_path / "report.xlsx",
        {
            "Agent KPIs": [
                ["Agent", "Date", "AHT", "ACW", "Hold", "Adherence %", "Contacts"],
                [
                    "alex",
                    (dt.datetime(2026, 12, 1), "yyyy-mm-dd"),
                    (dt.timedelta(minutes=6, seconds=40), "[h]:mm:ss"),
                    (dt.time(0, 0, 30), "h:mm:ss"),
                    45,
                    (0.955, "0.0%"),
                    68,
                ],
                ["alex", "2026-12-02", "6:10", "31", 45.5, "95%", 70.0],
                ["maria", (dt.datetime(2026, 12, 1, 9, 30), "yyyy-mm-dd hh:mm"), 400, None, None, 97, None],
            ]
        },
    )
    assert _import(db, _sheet(path), "report.xlsx")["inserted"] == 12
    stored = _stored(db)
    assert stored[("alex", "handle-time", "2026-12-01")] == 400.0
    assert stored[("alex", "after-call-work-time", "2026-12-01")] == 30.0
    assert stored[("alex", "adherence", "2026-12-01")] == 95.5
    assert stored[("alex", "handle-time", "2026-12-02")] == 370.0
    assert stored[("alex", "hold-time", "2026-12-02")] == 45.5
    assert stored[("alex", "adherence", "2026-12-02")] == 95.0
    assert stored[("maria", "handle-time", "2026-12-01T09:30:00")] == 400.0
    assert stored[("maria", "adherence", "2026-12-01T09:30:00")] == 97.0


def test_a_long_workbook_and_the_sheet_s_row_numbers_in_refusals(db, center, tmp_path):
    path = write_workbook(
        tmp_path / "long.xlsx",
        {
            "Data": [
                [],
                ["agent", "metric", "observed_at", "value"],
                ["alex", "handle-time", (dt.date(2026, 12, 15), "dd/mm/yyyy"), 300],
                [],
                ["alex", "adherence", "2026-12-15", (1.2, "0%")],
                ["ghost", "adherence", "2026-12-15", 50],
            ]
        },
    )
    message = _refusal(db, _sheet(path), "long.xlsx")
    assert "long.xlsx: 2 bad rows" in message
    assert "line 5: invalid Adherence value '120%': a percentage cannot be over 100" in message
    assert "line 6: unknown agent 'ghost'" in message


def test_sheet_picks_a_sheet_by_name_and_refuses_one_that_does_not_exist(db, center, tmp_path):
    path = write_workbook(
        tmp_path / "weeks.xlsx",
        {
            "Week 1": [["Agent", "Date", "AHT"], ["alex", "2026-12-01", 300]],
            "Week 2": [["Agent", "Date", "AHT"], ["alex", "2026-12-08", 310], ["maria", "2026-12-08", 320]],
        },
    )
    assert _import(db, _sheet(path), "weeks.xlsx")["inserted"] == 1
    assert _import(db, _sheet(path, "week 2"), "weeks.xlsx")["inserted"] == 2
    with pytest.raises(CoachError) as refused:
        _sheet(path, "Week 3")
    assert refused.value.message == (
        "weeks.xlsx has no sheet 'Week 3'; its sheets are 'Week 1', 'Week 2' (pass one with --sheet)"
    )


def test_a_sheet_s_stray_cells_and_empty_columns(db, center, tmp_path):
    path = write_workbook(
        tmp_path / "stray.xlsx",
        {"Sheet": [["Agent", "Date", "AHT", None], ["alex", "2026-12-01", 300, None, "note"]]},
    )
    message = _refusal(db, _sheet(path), "stray.xlsx")
    assert "line 2: a value ('note') to the right of the last column" in message
    empty = write_workbook(tmp_path / "empty.xlsx", {"Sheet": []})
    with pytest.raises(CoachError, match="empty sheet"):
        _import(db, _sheet(empty), "empty.xlsx")


def test_a_damaged_workbook_is_refused_in_one_line(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(CoachError) as refused:
        _sheet(path)
    assert refused.value.message.startswith("broken.xlsx is not an Excel workbook coach can read")
    assert "\n" not in refused.value.message


def test_without_openpyxl_a_workbook_is_refused_with_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(CoachError, match="needs openpyxl.*pip install"):
        read_sheet((tmp_path / "x.xlsx").open("wb+"), "x.xlsx")


# --- users and sessions read the same files -------------------------------


def test_the_roster_reads_semicolon_files_and_workbooks(db, center, tmp_path):
    text = 'handle;name;role;teams\nlee;Lee Chen;agent;"Chat;Inbound"\n'
    assert roster.import_roster(db, center.dana, text.splitlines(True), "roster.csv").added == 1
    path = write_workbook(
        tmp_path / "roster.xlsx", {"People": [["Handle", "Name", "Role"], ["kim", "Kim Park", "coach"]]}
    )
    assert roster.import_roster(db, center.dana, _sheet(path), "roster.xlsx").added == 1
    roles = dict(db.exec(select(User.handle, User.role)).all())
    assert roles["lee"] == "agent" and roles["kim"] == "coach"


def test_sessions_read_semicolon_files_with_decimal_targets_and_workbooks(db, center, tmp_path):
    paths.add_path(db, center.calvin, "Inbound fundamentals", ["alex"])
    text = (
        "title;agent;coach;date;start;path;kpi;target;target_date\n"
        "Faster calls;alex;calvin;2026-12-01;09:00;Inbound fundamentals;AHT;380,5;2026-12-10\n"
    )
    counts = scheduling.import_sessions(db, center.calvin, text.splitlines(True), "s.csv", today=dt.date(2026, 12, 1))
    assert counts.minigoals == 1
    path = write_workbook(
        tmp_path / "sessions.xlsx",
        {
            "Sessions": [
                ["Title", "Agent", "Coach", "Date", "Start"],
                ["Check-in", "alex", "calvin", (dt.datetime(2026, 12, 2), "yyyy-mm-dd"), (dt.time(14, 30), "hh:mm")],
            ]
        },
    )
    assert (
        scheduling.import_sessions(
            db, center.calvin, _sheet(path), "sessions.xlsx", today=dt.date(2026, 12, 1)
        ).scheduled
        == 1
    )
    sessions = {row.title: row for row in db.exec(select(CoachingSession))}
    assert sessions["Check-in"].date == dt.date(2026, 12, 2) and sessions["Check-in"].start == "14:30"
    goal = db.exec(select(MiniGoal)).one()
    assert (goal.metric, goal.target) == ("handle-time", 380.5)


# --- the command line -----------------------------------------------------


def test_cli_imports_a_semicolon_report_from_a_file(cli, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbfAgent;Date;AHT;Adherence %\r\nalex;2026-12-15;6:40;95,5%\r\n")
    assert cli.json("kpi", "import", str(path)) == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0}
    assert cli.json("kpi", "list", user="dana") == [
        {"agent": "alex", "metric": "adherence", "observed_at": "2026-12-15", "value": 95.5},
        {"agent": "alex", "metric": "handle-time", "observed_at": "2026-12-15", "value": 400.0},
    ]


def test_cli_encoding_reads_a_windows_file_and_the_refusal_names_it(cli, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes("handle;name;role\nrene;René Côté;agent\n".encode("cp1252"))
    refused = cli("user", "import", str(path), user="dana")
    assert refused.exit_code == 2
    assert refused.stderr.strip().count("\n") == 0
    assert "is not UTF-8 text" in refused.stderr and "--encoding" in refused.stderr
    assert [user["handle"] for user in cli.json("user", "list", user="dana")].count("rene") == 0
    added = cli.json("user", "import", str(path), "--encoding", "cp1252", user="dana")
    assert added["added"] == 1
    names = {user["handle"]: user["name"] for user in cli.json("user", "list", user="dana")}
    assert names["rene"] == "René Côté"


def test_cli_a_file_not_valid_in_the_chosen_encoding_is_refused(cli, tmp_path):
    path = tmp_path / "kpi.csv"
    path.write_bytes(b"agent,metric,observed_at,value\nalex,hold-time,2026-12-15,1\x81\n")
    result = cli("kpi", "import", str(path), "--encoding", "cp1252")
    assert result.exit_code == 2
    assert "is not cp1252 text; nothing imported" in result.stderr and "--encoding" in result.stderr
    assert cli.json("kpi", "list", user="dana") == []
    unknown = cli("kpi", "import", str(path), "--encoding", "klingon")
    assert unknown.exit_code == 2 and "unknown --encoding 'klingon'" in unknown.stderr
    not_text = cli("kpi", "import", str(path), "--encoding", "base64")
    assert not_text.exit_code == 2 and "unknown --encoding 'base64'" in not_text.stderr


def test_cli_encoding_applies_to_stdin_and_to_session_import(cli, tmp_path):
    text = "agent\tmetric\tobserved_at\tvalue\nalex\thold-time\t2026-12-15\t30\n".encode("utf-16")
    assert cli.json("kpi", "import", "-", "--encoding", "utf-16", input=text)["inserted"] == 1
    sessions = "title;agent;coach;date;start\nRéunion;alex;calvin;2026-12-20;09:00\n".encode("latin-1")
    assert cli("session", "import", "-", user="calvin", input=sessions).exit_code == 2
    assert cli.json("session", "import", "-", "--encoding", "latin-1", user="calvin", input=sessions) == {
        "scheduled": 1,
        "minigoals": 0,
    }
    assert [s["title"] for s in cli.json("session", "list", user="calvin")] == ["Réunion"]


def test_cli_imports_a_workbook_from_a_file_and_from_stdin(cli, tmp_path):
    path = write_workbook(
        tmp_path / "report.xlsx",
        {
            "Summary": [["Agent", "Date", "AHT"], ["alex", (dt.datetime(2026, 12, 15), "yyyy-mm-dd"), 300]],
            "Detail": [["Agent", "Date", "Wrap"], ["maria", "2026-12-15", "0:31"]],
        },
    )
    assert cli.json("kpi", "import", str(path))["inserted"] == 1
    assert cli.json("kpi", "import", "-", "--sheet", "Detail", input=path.read_bytes())["inserted"] == 1
    # The file's first bytes tell a workbook, whatever its name.
    renamed = tmp_path / "report.dat"
    renamed.write_bytes(path.read_bytes())
    assert cli.json("kpi", "import", str(renamed))["unchanged"] == 1
    # A workbook's text is Unicode whatever --encoding says.
    assert cli.json("kpi", "import", str(path), "--encoding", "cp1252")["unchanged"] == 1
    assert {(r["agent"], r["metric"], r["value"]) for r in cli.json("kpi", "list", user="dana")} == {
        ("alex", "handle-time", 300.0),
        ("maria", "after-call-work-time", 31.0),
    }


def test_cli_refuses_unknown_sheets_sheets_of_text_files_and_old_workbooks(cli, tmp_path):
    path = write_workbook(tmp_path / "report.xlsx", {"Week 1": [["Agent", "Date", "AHT"]], "Week 2": [["x"]]})
    unknown = cli("kpi", "import", str(path), "--sheet", "Week 9")
    assert unknown.exit_code == 2
    assert "has no sheet 'Week 9'; its sheets are 'Week 1', 'Week 2'" in unknown.stderr
    text = tmp_path / "kpi.csv"
    text.write_text("agent,metric,observed_at,value\n")
    sheet_of_text = cli("kpi", "import", str(text), "--sheet", "Week 1")
    assert sheet_of_text.exit_code == 2 and "--sheet is for workbooks" in sheet_of_text.stderr
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    old_result = cli("kpi", "import", str(old))
    assert old_result.exit_code == 2 and "old-style .xls workbook; save it from Excel as .xlsx" in old_result.stderr
    for result in (unknown, sheet_of_text, old_result):
        assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_cli_wide_report_refusal_changes_nothing_and_skip_unknown_counts(cli, tmp_path):
    path = tmp_path / "wfm.csv"
    path.write_text("Agent,Date,AHT,Team\nalex,2026-12-15,6:40,Inbound\nghost,2026-12-15,6:00,Inbound\n")
    refused = cli("kpi", "import", str(path))
    assert refused.exit_code == 2 and "column 'Team' is not a metric" in refused.stderr
    assert cli.json("kpi", "list", user="dana") == []
    assert cli.json("kpi", "import", str(path), "--skip-unknown") == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": 3,
    }


def test_cli_report_metric_names_work_wherever_a_metric_is_named(cli, tmp_path):
    path = tmp_path / "kpi.csv"
    path.write_text("agent,metric,date,value\nalex,AHT,2026-12-15,6:40\nalex,ACW,2026-12-15,30\n")
    assert cli.json("kpi", "import", str(path))["inserted"] == 2
    assert [r["metric"] for r in cli.json("kpi", "list", "--metric", "Average Handle Time", user="dana")] == [
        "handle-time"
    ]
    cli("path", "add", "Inbound fundamentals", "--agent", "alex", user="calvin")
    session = cli.json(
        "session",
        "schedule",
        "--title",
        "Wrap faster",
        "--agent",
        "alex",
        "--date",
        "2026-12-15",
        "--start",
        "09:00",
        "--path",
        "Inbound fundamentals",
        "--kpi",
        "Wrap-up Time",
        "--target",
        "25",
        "--target-date",
        "2026-12-31",
        user="calvin",
    )
    assert session["kpi"] == "after-call-work-time" and session["minigoal_id"] is not None
    listed = cli("kpi", "metrics").stdout.splitlines()
    assert listed[0].endswith("\taliases")
    assert listed[4].startswith("handle-time\t") and listed[4].endswith("\tAHT;Average Handle Time")


def test_cli_progress_bar_for_a_workbook_on_a_terminal(monkeypatch, tmp_path):
    from coachcli.cli.inputs import import_content

    path = write_workbook(
        tmp_path / "report.xlsx", {"S": [["Agent", "Date", "AHT"]] + [["alex", "2026-12-15", 1]] * 1200}
    )
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with import_content(str(path)) as content:
        rows = list(content)
    assert [number for number, _ in rows] == list(range(1, 1202))


def test_the_examples_import_as_the_readme_shows(empty_cli):
    assert empty_cli("init").exit_code == 0
    assert empty_cli.json("user", "import", str(REPO / "examples" / "roster.csv"))["added"] == 8
    report = empty_cli.json("kpi", "import", str(REPO / "examples" / "kpi-wfm-report.csv"))
    assert report == {"inserted": 28, "updated": 0, "unchanged": 0, "skipped": 0}
    workbook = str(REPO / "examples" / "kpi-report.xlsx")
    assert empty_cli.json("kpi", "import", workbook)["inserted"] == 16
    assert empty_cli.json("kpi", "import", workbook, "--sheet", "Week 2")["inserted"] == 8


def test_the_example_workbook_is_what_its_script_makes(tmp_path):
    import runpy

    made = tmp_path / "made.xlsx"
    runpy.run_path(str(REPO / "examples" / "make_kpi_workbook.py"))["build"](made)
    committed = REPO / "examples" / "kpi-report.xlsx"

    def cells(path):
        return {
            title: [cells for _, cells in read_sheet(path.open("rb"), path.name, title)]
            for title in ("Week 1", "Week 2")
        }

    assert cells(made) == cells(committed)
