"""Input as a new user hands it over (SPEC §14): strict JSON (a boolean is
not a number, a key twice is refused with its line), a JSON array on stdin
read as rows, KPI values and targets that can exist, session dates in
1900–2999. Bad input: one line, exit 2, nothing changed."""

from __future__ import annotations

import json

import pytest
from conftest import refused

from coachcli.errors import ExitCode


def _kpi_rows() -> list[dict]:
    return [
        {"agent": "alex", "metric": "handle-time", "observed_at": "2026-11-02", "value": 300},
        {"agent": "maria", "metric": "adherence", "observed_at": "2026-11-02", "value": "95%"},
    ]


# --- strict JSON ----------------------------------------------------------------------------


def test_a_boolean_is_not_a_number_in_json_lines(cli):
    """`"value": true` used to be stored as 1."""
    rows = (
        "\n".join(json.dumps(row) for row in _kpi_rows())
        + '\n{"agent": "alex", "metric": "contacts", "observed_at": "2026-11-03", "value": true}\n'
    )
    line = refused(cli, "kpi", "import", "-", input=rows)
    assert "line 3" in line and "boolean" in line


def test_a_key_twice_in_a_json_lines_row_is_refused_with_its_line(cli):
    """`{"value":92,"value":5}` used to keep 5, silently."""
    rows = (
        '{"agent": "alex", "metric": "adherence", "observed_at": "2026-11-02", "value": 90}\n'
        '{"agent": "alex", "metric": "adherence", "observed_at": "2026-11-03", "value": 92, "value": 5}\n'
    )
    line = refused(cli, "kpi", "import", "-", input=rows)
    assert "line 2" in line and "'value' appears twice" in line


def test_a_key_twice_in_a_form_file_is_refused_with_its_line(cli, tmp_path):
    form = tmp_path / "twice.json"
    form.write_text(
        '{\n  "name": "Chat quality",\n  "fields": [{"key": "tone", "label": "Tone", "type": "text"}],\n'
        '  "name": "Chat quality v2"\n}\n'
    )
    line = refused(cli, "form", "add", str(form), user="dana")
    assert "line 4" in line and '"name" appears twice' in line


def test_a_key_twice_in_an_answers_file_is_refused(cli, tmp_path):
    session = cli.json("session", "new", "--agent", "alex", "--form", "Call quality", user="calvin")["id"]
    answers = tmp_path / "answers.json"
    answers.write_text('{"greeting": 4,\n "greeting": 2}')
    line = refused(cli, "session", "save", str(session), "--answers", str(answers), user="calvin")
    assert "line 2" in line and "appears twice" in line


def test_a_boolean_duration_in_a_sessions_file_is_refused(cli):
    row = {
        "title": "Holds",
        "agent": "alex",
        "coach": "calvin",
        "date": "2026-11-20",
        "start": "09:00",
        "duration": True,
    }
    line = refused(cli, "session", "import", "-", input=json.dumps(row) + "\n", user="calvin")
    assert "boolean" in line


# --- a JSON array is rows -------------------------------------------------------------------


def test_a_json_array_on_stdin_is_read_as_rows(cli):
    """It used to be "column '[{"agent":"alex"' is not a metric"."""
    counts = cli.json("kpi", "import", "-", input="\n" + json.dumps(_kpi_rows(), indent=2))
    assert counts == {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0}
    stored = cli.json("kpi", "list", user="dana")
    assert [(r["agent"], r["metric"], r["value"]) for r in stored] == [
        ("alex", "handle-time", 300.0),
        ("maria", "adherence", 95.0),
    ]
    assert cli.json("kpi", "import", "-", input="[]") == {"inserted": 0, "updated": 0, "unchanged": 0, "skipped": 0}


def test_a_bad_row_of_a_json_array_is_named_by_its_line(cli):
    rows = _kpi_rows() + [{"agent": "alex", "metric": "adherence", "observed_at": "2026-11-02", "value": 101}]
    text = "[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n"
    line = refused(cli, "kpi", "import", "-", input=text)
    assert "line 4" in line and "over 100" in line
    assert "line 2" in refused(cli, "kpi", "import", "-", input='[\n{"agent": "alex", "agent": "maria"}]')
    assert "not a valid JSON array" in refused(cli, "kpi", "import", "-", input='[{"agent": "alex"},')
    assert "JSON object" in refused(cli, "kpi", "import", "-", input="[1, 2]")


def test_the_other_imports_take_a_json_array_too(cli):
    roster = [{"handle": "jordan", "name": "Jordan Lee", "role": "agent", "teams": "Inbound"}]
    assert cli.json("user", "import", "-", input=json.dumps(roster), user="dana")["added"] == 1


# --- figures that can exist -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "value", "why"),
    [
        ("contacts-handled", "1e308", "over 1,000,000"),
        ("contacts-handled", "1.7e308", "over 1,000,000"),
        ("contacts-handled", "1000001", "over 1,000,000"),
        ("handle-time", "86401", "over 86,400"),
        ("handle-time", "25:00:00", "over 86,400"),
        ("adherence", "100.5%", "over 100"),
    ],
)
def test_a_kpi_value_that_cannot_exist_is_refused(cli, metric, value, why):
    """1e308 contacts were stored, and then every nightly evaluation failed."""
    line = refused(
        cli, "kpi", "import", "-", input=f"agent,metric,observed_at,value\nalex,{metric},2026-11-02,{value}\n"
    )
    assert why in line


def test_the_largest_figures_that_can_exist_are_taken(cli):
    text = (
        "agent,metric,observed_at,value\nalex,contacts-handled,2026-11-02,1000000\n"
        "alex,handle-time,2026-11-02,24:00:00\nalex,adherence,2026-11-02,100%\n"
    )
    assert cli.json("kpi", "import", "-", input=text)["inserted"] == 3


@pytest.fixture
def path_for_alex(cli):
    assert cli("path", "add", "Inbound basics", "--agent", "alex", user="calvin").exit_code == 0


def _schedule(cli, *more: str, user: str = "calvin"):
    return cli(
        "session", "schedule", "--title", "Holds", "--agent", "alex", "--date", "2026-11-20", "--start", "09:00",
        *more, "-o", "json", user=user,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kpi", "target", "why"),
    [
        ("contacts-handled", "99999999999999999999999999", "over 1,000,000"),
        ("handle-time", "25h", "over 86,400"),
        ("adherence", "101%", "over 100"),
        ("adherence", "yes", "e.g. 95, 95%"),
    ],
)
def test_a_target_that_cannot_exist_is_refused(cli, path_for_alex, kpi, target, why):
    """`--target 99999999999999999999999999` was stored as 100000000000000004764729344."""
    args = ["--path", "Inbound basics", "--kpi", kpi, "--target", target, "--target-date", "2026-11-30"]
    before = cli.dump()
    result = _schedule(cli, *args)
    assert result.exit_code == ExitCode.BAD_INPUT and why in result.stderr
    assert cli.dump() == before


@pytest.mark.parametrize(
    ("kpi", "target", "stored"),
    [
        ("adherence", "95%", 95.0),
        ("adherence", "95.5 %", 95.5),
        ("handle-time", "6:40", 400.0),
        ("handle-time", "5m", 300.0),
    ],
)
def test_a_target_takes_the_forms_of_a_files_value(cli, path_for_alex, kpi, target, stored):
    """`--target 95%` used to be refused for adherence, though files take `95%`."""
    args = ["--path", "Inbound basics", "--kpi", kpi, "--target", target, "--target-date", "2026-11-30"]
    result = _schedule(cli, *args)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["target"] == stored


# --- session dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, date",
    [("--date", "9999-12-31"), ("--date", "3000-01-01"), ("--date", "1899-12-31"), ("--target-date", "3000-01-01")],
)
def test_a_session_date_lies_in_1900_to_2999(cli, path_for_alex, option, date):
    """`--date 9999-12-31` was accepted, and then `coach calendar` failed for the whole scope."""
    base = ["--title", "Far", "--agent", "alex", "--start", "09:00", "--date", "2026-11-20"]
    goal = ["--path", "Inbound basics", "--kpi", "adherence", "--target", "90", "--target-date", "2026-11-30"]
    args = base + goal
    args[args.index(option) + 1] = date
    line = refused(cli, "session", "schedule", *args, user="calvin")
    assert date in line and "1900–2999" in line
    assert cli("calendar", user="calvin").exit_code == 0


def test_a_session_file_with_a_date_out_of_range_is_refused_whole(cli):
    text = "title,agent,coach,date,start\nOne,alex,calvin,2026-11-20,09:00\nTwo,alex,calvin,9999-12-31,09:00\n"
    line = refused(cli, "session", "import", "-", input=text, user="calvin")
    assert "line 3" in line and "1900–2999" in line


def test_the_edges_of_the_session_years_are_taken(cli):
    for date in ("1900-01-01", "2999-12-31"):
        result = _schedule(cli, "--date", date)
        assert result.exit_code == 0, result.stderr
    assert cli("calendar", user="calvin").exit_code == 0
