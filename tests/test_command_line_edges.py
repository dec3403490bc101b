"""The command line as a new user meets it (SPEC §14): names in any case,
malformed values refused, files and folders as people have them, output that
scripts can rely on."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import CALL_QUALITY, Cli, empty_postgres_schema

from coachcli.errors import ExitCode

COACH = shutil.which("coach") or str(Path(sys.executable).parent / "coach")


def one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    return lines[0]


# --- names in any case ------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["call quality", "CALL QUALITY", " Call Quality "])
def test_a_form_name_matches_in_any_case(cli, typed):
    """`"call quality"` used to find no form `Call quality`."""
    plan = cli.json("plan", "add", "--agent", "alex", "--form", typed, "--purpose", "Holds", user="calvin")
    assert plan["form"] == "Call quality"
    assert cli.json("form", "show", typed, user="calvin")["name"] == "Call quality"
    session = cli.json("session", "new", "--agent", "alex", "--form", typed, user="calvin")
    assert session["form"] == "Call quality"


def test_a_form_name_differing_only_in_case_is_refused(cli, tmp_path):
    """Names match in any case, so two forms may not differ in case alone."""
    copy = tmp_path / "shouting.toml"
    copy.write_text(CALL_QUALITY.read_text().replace('name = "Call quality"', 'name = "CALL QUALITY"'))
    before = cli.dump()
    assert "already exists" in one_line(cli("form", "add", str(copy), user="dana"), ExitCode.REFUSED)
    assert cli.dump() == before


def test_an_exact_name_and_an_id_still_find_their_form(cli, tmp_path):
    numbered = tmp_path / "one.toml"
    numbered.write_text(CALL_QUALITY.read_text().replace('name = "Call quality"', 'name = "1"'))
    assert cli("form", "add", str(numbered), user="dana").exit_code == 0
    assert cli.json("form", "show", "1", user="dana")["name"] == "1"  # the exact name first
    assert cli.json("form", "show", "2", user="dana")["name"] == "1"  # then the id


# --- malformed values --------------------------------------------------------------------------


@pytest.mark.parametrize("record", ["bogus", "plans", "plan:", "plan:x", ":3", "plan:3:4"])
def test_log_record_malformed_is_refused(cli, record):
    """`log --record bogus` used to list nothing, silently."""
    line = one_line(cli("log", "--record", record, user="dana"), ExitCode.BAD_INPUT)
    assert "--record" in line and "plan:3" in line


def test_log_record_takes_every_kind_of_record_in_any_case(cli):
    assert cli.json("log", "--record", "USER", user="dana")
    assert cli.json("log", "--record", "kpi_observation", user="dana") == []


# --- global options after the command -------------------------------------------------------


def test_global_options_are_taken_after_the_command_too(cli):
    """`coach inbox --as alex` used to be "No such option: --as"."""
    from coachcli.cli.app import app

    assert cli("session", "request", "--title", "Help with holds", user="alex").exit_code == 0
    for args in (
        ["inbox", "--as", "calvin", "--db", cli.target, "-o", "json"],
        ["inbox", "-o", "json", "--as=calvin", f"--db={cli.target}"],
        ["--db", cli.target, "inbox", "--as", "calvin", "-o", "json"],
        ["--as", "dana", "--db", cli.target, "inbox", "--as", "calvin", "-o", "json"],  # the later one wins
    ):
        result = cli.runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.stderr)
        assert [n["kind"] for n in json.loads(result.stdout)] == ["session.requested"], args


def test_a_value_that_reads_like_a_global_option_stays_a_value(cli):
    from coachcli.cli.app import app

    result = cli.runner.invoke(
        app, ["session", "request", "--title", "--as", "--db", cli.target, "--as", "alex", "-o", "json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "--as"
    assert "requires an argument" in one_line(cli.runner.invoke(app, ["session", "list", "--as"]), ExitCode.BAD_INPUT)


# --- files and folders as people have them --------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le"])
def test_a_utf16_file_with_a_bom_is_read_without_encoding(cli, tmp_path, encoding):
    """Excel's "Unicode Text" (UTF-16 with a byte-order mark) used to need --encoding."""
    text = "Agent ID\tDate\tAHT\nalex\t2026-11-02\t6:40\nmaria\t2026-11-02\t300\n"
    path = tmp_path / "unicode.txt"
    bom = {"utf-16": b"", "utf-16-be": b"\xfe\xff", "utf-16-le": b"\xff\xfe"}[encoding]
    path.write_bytes(bom + text.encode(encoding))
    assert cli.json("kpi", "import", str(path))["inserted"] == 2
    values = {(r["agent"], r["value"]) for r in cli.json("kpi", "list", user="dana")}
    assert values == {("alex", 400.0), ("maria", 300.0)}


@pytest.mark.sqlite_only
def test_an_empty_xdg_config_home_counts_as_unset(db_path, tmp_path, monkeypatch):
    """`XDG_CONFIG_HOME=""` used to make ./coach/coach.db in the current folder."""
    from typer.testing import CliRunner

    from coachcli.cli.app import app

    here = tmp_path / "somewhere"
    here.mkdir()
    monkeypatch.chdir(here)
    for value in ("", "relative/path"):
        monkeypatch.setenv("XDG_CONFIG_HOME", value)
        result = CliRunner().invoke(app, ["init"])
        assert result.exit_code == 0, result.stderr
        assert list(here.iterdir()) == []
        assert (tmp_path / "home" / ".config" / "coach" / "coach.db").exists()


# --- output scripts can rely on -------------------------------------------------------------

LISTS = [
    (["action", "list", "--state", "all"], "dana", "dana"),
    (["form", "list"], "dana", "dana"),
    (["inbox"], "lee", "dana"),
    (["kpi", "list"], "dana", "dana"),
    (["log", "--record", "plan"], "dana", "dana"),
    (["minigoal", "list"], "dana", "dana"),
    (["path", "list"], "dana", "dana"),
    (["plan", "list", "--state", "all"], "dana", "dana"),
    (["report", "cadence"], "dana", "calvin"),
    (["session", "list"], "dana", "dana"),
    (["session", "list"], "lee", "alex"),  # an agent's sessions have no private_notes
    (["team", "list"], "dana", "dana"),
    (["report", "impact"], None, "dana"),
]


@pytest.fixture
def second_target(backend, tmp_path, request):
    """Another new database, on the same backend as db_target."""
    if backend == "sqlite":
        yield str(tmp_path / "second.db")
        return
    with empty_postgres_schema(request.getfixturevalue("postgres_database")) as target:
        yield target


def _header(result) -> str:
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()[0] if result.stdout else ""


def test_an_empty_list_prints_its_header_in_csv_and_tsv(db_target, tmp_path, second_target):
    """An empty list used to print a blank line and no header."""
    sample = Cli(db_target)
    assert sample("init", "--sample").exit_code == 0
    draft = sample.json("session", "list", "--tab", "draft", user="calvin")[0]["id"]
    assert sample("action", "add", str(draft), "--text", "Use the checklist", user="calvin").exit_code == 0
    fresh = Cli(second_target)
    assert fresh("init").exit_code == 0
    assert fresh("user", "add", "dana", "--name", "Dana", "--role", "admin").exit_code == 0
    assert fresh("user", "add", "alex", "--name", "Alex", user="dana").exit_code == 0
    assert fresh("user", "add", "calvin", "--name", "Calvin", "--role", "coach", user="dana").exit_code == 0
    for args, sample_user, fresh_user in LISTS:
        for output in ("csv", "tsv"):
            empty = fresh(*args, "-o", output, user=fresh_user)
            assert len(empty.stdout.splitlines()) == 1, (args, empty.stdout)
            header = _header(empty)
            assert header and header.split("," if output == "csv" else "\t")[0] in ("id", "agent", "session_id"), args
            if sample_user is not None:
                full = sample(*args, "-o", output, user=sample_user)
                assert len(full.stdout.splitlines()) > 1, args
                assert _header(full) == header, args


@pytest.fixture
def many_observations(cli):
    """Enough KPI rows that every format's output is larger than a pipe holds."""
    rows = "".join(
        f"{agent},{metric},2026-{month:02d}-{day:02d},{300 + day}\n"
        for agent in ("alex", "maria")
        for metric in ("AHT", "Hold", "ACW", "ATT")
        for month in range(1, 13)
        for day in range(1, 29)
    )
    assert cli.json("kpi", "import", "-", input="agent,metric,observed_at,value\n" + rows)["inserted"] == 2688
    return cli


def test_a_closed_pipe_ends_every_format_alike(many_observations):
    """A closed pipe exited 1 for CSV but 0 for JSON and TSV."""
    import os
    import subprocess

    env = {**os.environ, "COACH_DB": many_observations.target, "COACH_USER": "dana", "COLUMNS": "200"}
    outcomes = {}
    for output in ("json", "csv", "tsv", "table"):
        # A reader that takes one line and goes (`| head -1`)...
        process = subprocess.Popen(
            [COACH, "kpi", "list", "-o", output], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        process.stdout.readline()
        process.stdout.close()
        stderr = process.communicate(timeout=60)[1].decode()
        # ...and one gone before coach writes a byte.
        read_end, write_end = os.pipe()
        os.close(read_end)
        gone = subprocess.run(
            [COACH, "kpi", "list", "-o", output], env=env, stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
        os.close(write_end)
        outcomes[output] = (process.returncode, stderr, gone.returncode, gone.stderr.decode())
    # Whether a reader that goes mid-way is noticed depends on the kernel's
    # pipes (a write that fills the pipe may just end); what must not depend
    # on the format is what coach does about it: quietly, the same way.
    assert len(set(outcomes.values())) == 1, outcomes
    mid_way, quiet, before, also_quiet = outcomes["json"]
    assert mid_way in (0, 1) and quiet == also_quiet == "" and before == 1


def test_a_url_for_another_postgresql_driver_names_the_one_coach_uses(cli):
    """`postgresql+psycopg2://` used to say to install psycopg 3, which is installed."""
    for url in ("postgresql+psycopg2://root:s3cr3t@localhost/postgres", "postgres+pg8000://root@localhost/postgres"):
        line = one_line(Cli(url)("user", "list", user="dana"), ExitCode.DATABASE)
        assert "psycopg 3" in line and "postgresql://" in line and "s3cr3t" not in line
        assert "install" not in line
        copy = one_line(cli("db", "copy", "--to", url), ExitCode.DATABASE)
        assert "psycopg 3" in copy and "s3cr3t" not in copy


# --- hints that would be refused ------------------------------------------------------------

REASON = "Hold time under five minutes on every audited call for six weeks; purpose met"


def test_plan_close_never_suggests_a_command_that_would_be_refused(cli):
    """A draft with action items cannot be deleted: `plan close` used to suggest `session delete N`."""
    plan = cli.json("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Holds", user="calvin")
    draft = str(plan["current_session_id"])
    assert cli("action", "add", draft, "--text", "Use the checklist", user="calvin").exit_code == 0
    line = one_line(cli("plan", "close", str(plan["id"]), "--reason", REASON, user="calvin"), ExitCode.REFUSED)
    assert f"coach session coach {draft}" in line and "session delete" not in line
    one_line(cli("session", "delete", draft, user="calvin"), ExitCode.REFUSED)  # as the hint knew

    other = cli.json("plan", "add", "--agent", "maria", "--form", "Call quality", "--purpose", "Holds", user="calvin")
    draft = str(other["current_session_id"])
    line = one_line(cli("plan", "close", str(other["id"]), "--reason", REASON, user="calvin"), ExitCode.REFUSED)
    assert f"coach session delete {draft}" in line
    assert cli("session", "delete", draft, user="calvin").exit_code == 0  # the suggestion is taken
    assert cli("plan", "close", str(other["id"]), "--reason", REASON, user="calvin").exit_code == 0
