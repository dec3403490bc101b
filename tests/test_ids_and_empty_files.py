"""Databases as a new user meets them (SPEC §14): an empty file is a new
database only for `coach init`, and an id past the database's range is not
found, the same on both backends, wherever an id is given."""

from __future__ import annotations

import stat

import pytest
from conftest import Cli

from coachcli.errors import ExitCode

REASON = "Hold time under five minutes on every audited call for six weeks; purpose met"


def one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert "internal error" not in lines[0]
    return lines[0]


def test_an_empty_file_is_a_new_database_only_for_init(db_path):
    """`: > e.db; coach --db e.db user list` used to make a schema in it, left 0644."""
    db_path.write_bytes(b"")
    db_path.chmod(0o644)
    cli = Cli(db_path)
    for command in (["user", "list"], ["db", "info"], ["user", "add", "dana", "--name", "Dana", "--role", "admin"]):
        line = one_line(cli(*command, user="dana"), ExitCode.DATABASE)
        assert "empty" in line and "run `coach init`" in line
        assert db_path.read_bytes() == b"" and stat.S_IMODE(db_path.stat().st_mode) == 0o644
    assert cli("init").exit_code == 0
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert cli("user", "list", user="dana").exit_code == 5  # a coach database now (with no such user yet)


PAST_THE_RANGE = ["2147483648", "9223372036854775807", "9223372036854775808", "1" + "0" * 30]


@pytest.mark.parametrize("number", PAST_THE_RANGE)
@pytest.mark.parametrize(
    ("command", "user"),
    [
        (["plan", "show", "{}"], "calvin"),
        (["plan", "edit", "{}"], "calvin"),
        (["plan", "close", "{}", "--reason", REASON], "calvin"),
        (["minigoal", "show", "{}"], "calvin"),
        (["action", "done", "{}"], "calvin"),
        (["action", "add", "{}", "--text", "Use the checklist"], "calvin"),
        (["session", "show", "{}"], "calvin"),
        (["session", "delete", "{}"], "calvin"),
        (["session", "save", "{}", "--set", "greeting=4"], "calvin"),
        (["session", "coach", "{}", "--set", "greeting=4"], "calvin"),
        (["session", "autofill", "{}"], "calvin"),
        (["session", "coach-again", "{}"], "calvin"),
        (["session", "ack", "{}"], "alex"),
        (["session", "list", "--plan", "{}"], "calvin"),
        (
            ["session", "schedule", "--from-request", "{}", "--date", "today", "--start", "10:00"],
            "calvin",
        ),
        (["form", "show", "{}"], "calvin"),
        (["log", "--record", "plan:{}"], "dana"),
    ],
)
def test_an_id_past_the_databases_range_is_not_found_on_both_backends(cli, command, user, number):
    """2^31 was exit 6 "integer out of range" on PostgreSQL; 2^63 and more an
    internal OverflowError on both."""
    before = cli.dump()
    one_line(cli(*[part.format(number) for part in command], user=user), ExitCode.NOT_FOUND)
    assert cli.dump() == before


def test_the_largest_id_and_leading_zeros_are_ordinary_ids(cli):
    plan = cli.json("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Holds", user="calvin")
    assert cli.json("plan", "show", f"000{plan['id']}", user="calvin")["id"] == plan["id"]
    line = one_line(cli("plan", "show", "2147483647", user="calvin"), ExitCode.NOT_FOUND)
    assert "no performance plan 2147483647" in line
    assert "is not an id" in one_line(cli("plan", "show", "3x", user="calvin"), ExitCode.BAD_INPUT)
