"""Storage faults (SPEC §13): a sound SQLite database is never called damaged;
read-only storage serves every reading command and `db copy`, and refuses
writing ones (exit 6, "read-only"); a file or folder coach may not read or
write is exit 6 with the path and the reason, never exit 1.

The suite runs as root, whom file modes do not stop, so the installed `coach`
runs here as a user who owns none of the files: root without the capabilities
that override file permissions (`setpriv --bounding-set`), the files owned by
`nobody`. A read-only mount is a read-only bind mount in a mount namespace of
the command's own (`unshare -m`), seen by nothing else on the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import COMPLETE_ANSWERS, Cli, snapshot
from sqlalchemy.engine import make_url

from coachcli.errors import ExitCode

COACH = shutil.which("coach") or str(Path(sys.executable).with_name("coach"))
NOBODY = 65534
AS_ANOTHER_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("unshare"),
    reason="simulating another user and a read-only mount needs root, setpriv and unshare",
)


def one_line(result, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def run(*args: str, prefix: list[str] | None = None, **env: str) -> subprocess.CompletedProcess:
    """The installed `coach`, in a process of its own (under `prefix`)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("COACH_")}
    environment.update({"COACH_TZ": "UTC", **env})
    return subprocess.run([*(prefix or []), COACH, *args], capture_output=True, text=True, env=environment, timeout=120)


# Many commands in one process of their own (under the same prefix, so as
# the same user or in the same read-only mount), each through the command
# line as the suite's CliRunner runs it: a hundred `coach` processes, each
# paying Python's and SQLAlchemy's start-up, cost the suite a minute.
_RUN_EACH = textwrap.dedent(
    """
    import json, sys
    from typer.testing import CliRunner
    from coachcli.cli.app import app
    runner = CliRunner()
    results = []
    for arguments in json.loads(sys.argv[1]):
        result = runner.invoke(app, arguments)
        results.append([result.exit_code, result.stdout, result.stderr])
    sys.stdout.write(json.dumps(results))
    """
)


def run_each(commands: list[list[str]], prefix: list[str]) -> list[subprocess.CompletedProcess]:
    """Each command's exit code, stdout and stderr, run in turn in one process under `prefix`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("COACH_")}
    environment["COACH_TZ"] = "UTC"
    process = subprocess.run(
        [*prefix, sys.executable, "-c", _RUN_EACH, json.dumps(commands)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    return [
        subprocess.CompletedProcess(arguments, code, stdout, stderr)
        for arguments, (code, stdout, stderr) in zip(commands, json.loads(process.stdout), strict=True)
    ]


def fingerprint(path: Path) -> dict[str, str]:
    """Every file in the folder, by content."""
    return {child.name: hashlib.sha256(child.read_bytes()).hexdigest() for child in sorted(path.parent.iterdir())}


def owned_by_nobody(*paths: Path, mode: int) -> None:
    for path in paths:
        os.chown(path, NOBODY, NOBODY)
        path.chmod(mode)


def wal_mode_copy(source: Path, destination: Path) -> None:
    """A consistent copy (SQLite's backup API) in WAL mode, as coach leaves
    its databases, closed: no -wal file beside it."""
    reading, writing = sqlite3.connect(source), sqlite3.connect(destination)
    try:
        reading.backup(writing)
        assert writing.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    finally:
        reading.close()
        writing.close()
    assert not Path(f"{destination}-wal").exists()


def coaching_history(cli: Cli) -> int:
    """A plan with a coached session and an action item: something for every reading command to show."""
    plan = cli.json("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Holds", user="calvin")
    session = plan["current_session_id"]
    answers = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]
    assert cli("session", "coach", str(session), *answers, user="calvin").exit_code == 0
    assert cli("action", "add", str(session), "--text", "Practice holds", user="calvin").exit_code == 0
    return session


# --- a WAL that holds pages beyond the main file's end ------------------------------------------


# Run in a process of its own: commit a transaction that grows the database
# into the WAL, then checkpoint it with the file size limited to one page more
# than the main file has — the disk "fills" half-way through the checkpoint,
# after page 1 (which says how many pages there are) was written. The process
# then ends without closing, as a crash would, so nothing checkpoints later.
_FILL_THE_DISK_DURING_A_CHECKPOINT = textwrap.dedent(
    """
    import os, resource, sqlite3, sys
    path = sys.argv[1]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    connection.execute(
        "WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 3000) "
        "INSERT INTO kpi_observations (agent_id, metric, observed_at, value) "
        "SELECT (SELECT id FROM users WHERE handle = 'alex'), 'hold-time', '2026-01-01T' || value, value FROM n"
    )
    limit = os.path.getsize(path) + 4096
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as error:
        print(error)
    os._exit(0)
    """
)


@pytest.mark.sqlite_only
def test_a_database_whose_wal_holds_pages_beyond_the_main_file_opens_normally(cli):
    path = cli.db_path
    result = subprocess.run(
        [sys.executable, "-c", _FILL_THE_DISK_DURING_A_CHECKPOINT, str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    header = path.read_bytes()[:100]
    page_size, pages = int.from_bytes(header[16:18], "big"), int.from_bytes(header[28:32], "big")
    assert path.stat().st_size < pages * page_size  # shorter than its header says…
    assert path.with_name("coach.db-wal").stat().st_size > 0  # …its pages in the WAL
    checked = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert checked.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    checked.close()

    assert cli.json("db", "check")["integrity"] == "ok"
    assert cli.json("db", "info")["tables"]["kpi_observations"] == 3000
    assert len(cli.json("kpi", "list", "--agent", "alex", user="calvin")) > 0
    assert cli("user", "add", "newbie", "--name", "New Bie", user="dana").exit_code == 0


# --- read-only storage -----------------------------------------------------------------------


READING = [
    ["user", "list"],
    ["team", "list"],
    ["form", "list"],
    ["path", "list"],
    ["plan", "list", "--state", "all"],
    ["plan", "show", "1"],
    ["session", "list"],
    ["minigoal", "list"],
    ["kpi", "list"],
    ["action", "list", "--state", "all"],
    ["log"],
    ["report", "cadence"],
    ["report", "impact"],
]
WRITING = [
    ["user", "add", "newbie", "--name", "New Bie"],
    ["plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "More holds"],
    ["team", "add", "Escalations"],
]


def read_only_places(cli: Cli, backend: str, tmp_path: Path) -> dict[str, tuple[str, list[str]]]:
    """The same database where coach may read but not write it: its --db
    target and how `coach` is run there, by name."""
    if backend == "postgresql":
        # A standby, or a database whose owner made every transaction read-only.
        url = make_url(cli.target)
        options = f"{url.query.get('options', '')} -cdefault_transaction_read_only=on"
        read_only = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
        return {"read-only transactions": (read_only, [])}
    places = {}
    for name in ("folder", "file", "mount", "snapshot with its wal"):
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir(mode=0o755)
        places[name] = folder / "coach.db"
        wal_mode_copy(cli.db_path, places[name])
    # A snapshot taken while a writer had changes in its WAL: the WAL and its
    # index are copied with the file, and hold the last transaction alone.
    live = tmp_path / "live" / "coach.db"
    live.parent.mkdir()
    wal_mode_copy(cli.db_path, live)
    writer = sqlite3.connect(live, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO teams (name, created_at) VALUES ('Snapshot', '2026-01-01T00:00:00+00:00')")
    for suffix in ("", "-wal", "-shm"):
        shutil.copy(f"{live}{suffix}", f"{places['snapshot with its wal']}{suffix}")
    writer.close()
    wal_copy = places["snapshot with its wal"]
    owned_by_nobody(wal_copy.parent, mode=0o755)
    owned_by_nobody(*(Path(f"{wal_copy}{suffix}") for suffix in ("", "-wal", "-shm")), mode=0o644)
    owned_by_nobody(places["folder"].parent, mode=0o755)
    owned_by_nobody(places["folder"], places["file"], mode=0o644)  # the file's folder stays root's
    mount = places["mount"].parent
    in_a_read_only_mount = ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(mount)]
    return {
        name: (str(path), in_a_read_only_mount if name == "mount" else AS_ANOTHER_USER) for name, path in places.items()
    }


def test_read_only_storage_serves_every_reading_command_and_db_copy_and_refuses_writing_ones(cli, backend, tmp_path):
    coaching_history(cli)
    places = read_only_places(cli, backend, tmp_path)
    expected = {tuple(command): cli.json(*command, user="dana") for command in READING}
    for name, (target, prefix) in places.items():
        files_before = fingerprint(Path(target)) if backend == "sqlite" else None
        before = cli.dump()
        copy = tmp_path / f"copy of {name}.db"
        as_dana = ["--db", target, "--as", "dana"]
        results = run_each(
            [
                *([*as_dana, *command, "-o", "json"] for command in READING),
                ["--db", target, "db", "check", "-o", "json"],
                [*as_dana, "calendar"],
                ["--db", target, "db", "copy", "--to", str(copy), "-o", "json"],
                *([*as_dana, *command] for command in WRITING),
            ],
            prefix,
        )
        for command, result in zip(READING, results, strict=False):
            assert result.returncode == 0, (name, command, result.stderr)
            shown = json.loads(result.stdout)
            if command == ["team", "list"] and name == "snapshot with its wal":
                assert "Snapshot" in [team["name"] for team in shown]  # read from the WAL
                shown = [team for team in shown if team["name"] != "Snapshot"]
            assert shown == expected[tuple(command)], (name, command)
        check, calendar, copied, *writing = results[len(READING) :]
        assert json.loads(check.stdout)["integrity"] == "ok"
        assert calendar.returncode == 0 and calendar.stdout.startswith("BEGIN:VCALENDAR"), (name, calendar.stderr)

        assert copied.returncode == 0, (name, copied.stderr)
        assert (
            json.loads(copied.stdout)["tables"]
            == json.loads(run("--db", str(copy), "db", "info", "-o", "json").stdout)["tables"]
        )

        for result in writing:
            line = one_line(result, ExitCode.DATABASE)
            assert "read-only" in line, (name, line)
        assert cli.dump() == before
        if files_before is not None:
            # The database file itself is never written (a reader in a folder
            # it may write may leave SQLite's -wal and -shm files there).
            assert fingerprint(Path(target))["coach.db"] == files_before["coach.db"], name
            if name != "file":
                assert fingerprint(Path(target)) == files_before, name
        assert snapshot(str(copy)) == snapshot(target), name  # (read here, after every check of its bytes)


# --- files and folders coach may not read or write ---------------------------------------------


@pytest.mark.sqlite_only
def test_a_database_file_coach_may_not_read_is_exit_6_with_the_path_and_the_reason(cli, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    theirs = folder / "coach.db"
    wal_mode_copy(cli.db_path, theirs)
    owned_by_nobody(theirs, mode=0o600)
    for command in (["user", "list"], ["db", "info"], ["db", "copy", "--to", str(tmp_path / "copy.db")], ["init"]):
        line = one_line(run("--db", str(theirs), "--as", "dana", *command, prefix=AS_ANOTHER_USER), ExitCode.DATABASE)
        assert str(theirs) in line and "Permission denied" in line, line
    assert not (tmp_path / "copy.db").exists()


@pytest.mark.sqlite_only
def test_a_folder_coach_may_not_enter_is_exit_6_with_the_path_and_the_reason(cli, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    wal_mode_copy(cli.db_path, folder / "coach.db")
    owned_by_nobody(folder, mode=0o700)
    line = one_line(run("--db", str(folder / "coach.db"), "--as", "dana", "user", "list", prefix=AS_ANOTHER_USER), 6)
    assert str(folder / "coach.db") in line and "Permission denied" in line, line


@pytest.mark.sqlite_only
def test_a_folder_coach_may_not_write_is_exit_6_for_a_new_database_or_a_copy(cli, tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    owned_by_nobody(folder, mode=0o755)
    source = tmp_path / "mine"
    source.mkdir()
    wal_mode_copy(cli.db_path, source / "coach.db")
    before = fingerprint(source / "coach.db")
    new = folder / "coach.db"
    line = one_line(run("--db", str(new), "init", prefix=AS_ANOTHER_USER), ExitCode.DATABASE)
    assert str(new) in line and "Permission denied" in line, line
    copy = folder / "copy.db"
    line = one_line(
        run("--db", str(source / "coach.db"), "db", "copy", "--to", str(copy), prefix=AS_ANOTHER_USER),
        ExitCode.DATABASE,
    )
    assert str(copy) in line and "Permission denied" in line, line
    assert os.listdir(folder) == []
    assert fingerprint(source / "coach.db") == before
