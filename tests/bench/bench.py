"""Benchmark: coach at contact-center scale, each figure a ratio measured side
by side in one run on this machine. Not collected by pytest.

    python tests/bench/bench.py            # full scale (1M KPI rows)
    python tests/bench/bench.py --small    # a quick smoke run (100k rows)
    python tests/bench/bench.py --imports  # only the KPI file formats: long, wide, .xlsx
    python tests/bench/bench.py --start-up # only start-up and the read commands
    python tests/bench/bench.py --trust --small  # PostgreSQL: the service role, and a coach through row-level security
    python tests/bench/bench.py --vacuum   # only db vacuum, on both backends

It generates its own data in a temporary folder, runs the installed `coach`
(next to this Python) and the `sqlite3` shell, and prints one line a figure.
With a PostgreSQL server (`--postgres URL`, default the local one; `--postgres
''` to skip) it measures the same commands there, against `psql`, in throw-away
databases it drops after.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COACH = str(Path(sys.executable).with_name("coach"))
METRICS = ["handle-time", "hold-time", "adherence", "contacts-handled"]
START = dt.date(2025, 1, 1)


def run(command: list[str], env: dict | None = None, stdin: str | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        text=True,
    )
    if stdin is not None:
        process.stdin.write(stdin)
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(command)} failed:\n{process.stderr.read()}")
    return elapsed, usage.ru_maxrss // 1024


def in_turn(rounds: int, commands: dict[str, list[str]], before: dict | None = None) -> dict[str, list[float]]:
    """Wall seconds of each command, run in a new random order each round.

    This machine's speed drifts by a third from one second to the next, and
    some figures are differences of runs of about a second: running the
    commands side by side, in shuffled order, keeps drift and position from
    favouring any one of them."""
    order = random.Random(5)
    timings: dict[str, list[float]] = {key: [] for key in commands}
    for _ in range(rounds):
        keys = list(commands)
        order.shuffle(keys)
        for key in keys:
            if before and key in before:
                before[key]()
            timings[key].append(run(commands[key])[0])
    return timings


def write_roster(path: Path, agents: int) -> list[str]:
    handles = [f"agent{n:05d}" for n in range(agents)]
    teams = [f"Team {n:02d}" for n in range(max(1, agents // 25))]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["handle", "name", "role", "teams"])
        writer.writerow(["boss", "Bench Admin", "admin", ""])
        for n, team in enumerate(teams):
            writer.writerow([f"coach{n:03d}", f"Coach {n}", "coach", team])
        for n, agent in enumerate(handles):
            writer.writerow([agent, f"Agent {n}", "agent", teams[n % len(teams)]])
    return handles


def write_kpi(path: Path, agents: list[str], rows: int) -> None:
    days = rows // (len(agents) * len(METRICS))
    rng = random.Random(7)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["agent", "metric", "observed_at", "value"])
        for agent in agents:
            for metric in METRICS:
                for day in range(days):
                    value = rng.randint(40, 99) if metric == "adherence" else rng.randint(30, 600)
                    writer.writerow([agent, metric, (START + dt.timedelta(days=day)).isoformat(), value])


# A WFM report's columns for the bench's four metrics, its values printed as
# such reports print them: handle time as m:ss, adherence with a % sign.
WIDE_COLUMNS = {"handle-time": "AHT", "hold-time": "Hold", "adherence": "Adherence %", "contacts-handled": "Contacts"}


def _report_value(metric: str, value: int) -> str:
    if metric == "handle-time":
        return f"{value // 60}:{value % 60:02d}"
    if metric == "adherence":
        return f"{value}%"
    return str(value)


def wide_rows(agents: list[str], observations: int):
    """The observations write_kpi writes (the same random values), one row an
    agent and day, one column a metric."""
    days = observations // (len(agents) * len(METRICS))
    rng = random.Random(7)
    for agent in agents:
        by_metric = [
            [rng.randint(40, 99) if metric == "adherence" else rng.randint(30, 600) for _ in range(days)]
            for metric in METRICS
        ]
        for day in range(days):
            yield agent, START + dt.timedelta(days=day), [values[day] for values in by_metric]


def write_wide_kpi(path: Path, agents: list[str], observations: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Agent", "Date", *WIDE_COLUMNS.values()])
        for agent, day, values in wide_rows(agents, observations):
            writer.writerow([agent, day.isoformat(), *map(_report_value, METRICS, values)])


def write_xlsx_kpi(path: Path, agents: list[str], observations: int) -> None:
    """A wide workbook with real date cells, a duration cell for handle time
    and a percentage cell for adherence, as Excel keeps them."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Agent KPIs")
    sheet.append(["Agent", "Date", *WIDE_COLUMNS.values()])
    for agent, day, (handle_time, hold, adherence, contacts) in wide_rows(agents, observations):
        date_cell = WriteOnlyCell(sheet, value=day)
        date_cell.number_format = "yyyy-mm-dd"
        handle_cell = WriteOnlyCell(sheet, value=dt.timedelta(seconds=handle_time))
        handle_cell.number_format = "[h]:mm:ss"
        adherence_cell = WriteOnlyCell(sheet, value=adherence / 100)
        adherence_cell.number_format = "0%"
        sheet.append([agent, date_cell, handle_cell, hold, adherence_cell, contacts])
    workbook.save(path)


def kpi_formats(folder: Path, roster: Path, agents: list[str], kpi: Path, kpi_rows: int) -> None:
    """The long CSV against the wide CSV of the same observations, each into
    a fresh copy of one prepared database, in turn; then a .xlsx workbook."""
    wide = folder / "kpi-wide.csv"
    write_wide_kpi(wide, agents, kpi_rows)
    prepared = prepared_database(folder, "formats.db", roster, agents)
    targets = {"long": folder / "formats-long.db", "wide": folder / "formats-wide.db"}
    memory: dict[str, list[int]] = {"long": [], "wide": []}

    def timed(key: str, source: Path) -> float:
        fresh_copy(prepared, targets[key])
        elapsed, peak = run(coach(targets[key], "kpi", "import", str(source)))
        memory[key].append(peak)
        return elapsed

    order = random.Random(13)
    times: dict[str, list[float]] = {"long": [], "wide": []}
    for _ in range(3):
        for key in order.sample(["long", "wide"], 2):
            times[key].append(timed(key, kpi if key == "long" else wide))
    best = {key: min(values) for key, values in times.items()}
    typical = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"kpi import, wide CSV ({kpi_rows // len(METRICS):,} rows x {len(METRICS)} metric columns, m:ss and % "
        f"values): {kpi_rows:,} observations in {best['wide']:.2f}s vs the long CSV {best['long']:.2f}s "
        f"({best['wide'] / best['long']:.2f}x, target <= 1.5x; medians "
        f"{typical['wide'] / typical['long']:.2f}x); peak memory {max(memory['wide'])} MB "
        f"(long {max(memory['long'])} MB)"
    )

    observations = kpi_rows // 10
    workbook = folder / "kpi-wide.xlsx"
    write_xlsx_kpi(workbook, agents, observations)
    target = folder / "formats-xlsx.db"
    fresh_copy(prepared, target)
    elapsed, peak = run(coach(target, "kpi", "import", str(workbook)))
    print(
        f"kpi import, .xlsx ({observations // len(METRICS):,} rows x {len(METRICS)} metric columns, "
        f"{workbook.stat().st_size / 1e6:.1f} MB): {observations:,} observations in {elapsed:.2f}s; "
        f"peak memory {peak} MB"
    )


def write_sessions(path: Path, agents: list[str], goals: int, days: int) -> None:
    rng = random.Random(11)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "agent", "coach", "date", "start", "path", "kpi", "target", "target_date"])
        for n in range(goals):
            start = START + dt.timedelta(days=rng.randrange(max(1, days - 30)))
            metric = METRICS[n % len(METRICS)]
            writer.writerow(
                [
                    f"Goal {n}",
                    agents[n % len(agents)],
                    "boss",
                    start.isoformat(),
                    "09:00",
                    "Bench path",
                    metric,
                    70 if metric in ("adherence", "contacts-handled") else 300,
                    (start + dt.timedelta(days=30)).isoformat(),
                ]
            )


def write_coached_sessions(path: Path, agents: list[str], teams: int, sessions: int, days: int, window: int) -> None:
    """Sessions with a KPI, each run by the coach of its agent's team, dated
    so that both of its windows fall within the KPI data."""
    rng = random.Random(13)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "agent", "coach", "date", "start", "kpi"])
        for n in range(sessions):
            agent = n % len(agents)
            day = START + dt.timedelta(days=window + rng.randrange(max(1, days - 2 * window)))
            writer.writerow(
                [
                    f"Coaching {n}",
                    agents[agent],
                    f"coach{agent % teams:03d}",
                    day.isoformat(),
                    "09:00",
                    METRICS[rng.randrange(len(METRICS))],
                ]
            )


def coach(db: Path | str, *args: str) -> list[str]:
    return [COACH, "--db", str(db), *args]


def prepared_database(
    folder: Path, name: str, roster: Path, agents: list[str], db: Path | str | None = None
) -> Path | str:
    db = db or folder / name
    run(coach(db, "init"))
    run(coach(db, "user", "import", str(roster)))
    assign = []
    for agent in agents:
        assign += ["--agent", agent]
    run(coach(db, "--as", "boss", "path", "add", "Bench path", *assign))
    return db


def start_up_case() -> None:
    """`coach --version` and `--help` against `import typer` (target <= 1.5x)."""
    start_up = in_turn(
        11,
        {
            "typer": [sys.executable, "-c", "import typer"],
            "version": [COACH, "--version"],
            "help": [COACH, "--help"],
        },
    )
    typer_time, version_time, help_time = (statistics.median(start_up[key]) for key in ("typer", "version", "help"))
    print(
        f"start-up: import typer {typer_time:.3f}s; coach --version {version_time:.3f}s "
        f"({version_time / typer_time:.2f}x, target <= 1.5x); coach --help {help_time:.3f}s "
        f"({help_time / typer_time:.2f}x, target <= 1.5x)"
    )


def read_commands_case(folder: Path) -> None:
    """Each read command against `import sqlmodel` alone, side by side: what
    the command adds to the import it cannot avoid (target <= 1.2x)."""
    sample = folder / "sample.db"
    run(coach(sample, "init", "--sample"))
    as_calvin = [COACH, "--db", str(sample), "--as", "calvin"]
    commands = {
        "plan show": [*as_calvin, "plan", "show", "1", "-o", "json"],
        "session list": [*as_calvin, "session", "list", "-o", "json"],
        "minigoal list": [*as_calvin, "minigoal", "list", "-o", "json"],
    }
    # One run first, so neither side pays for writing bytecode.
    for command in commands.values():
        run(command)
    timings = in_turn(11, {"sqlmodel": [sys.executable, "-c", "import sqlmodel"], **commands})
    baseline = statistics.median(timings["sqlmodel"])
    figures = "; ".join(
        f"{name} {statistics.median(timings[name]):.3f}s ({statistics.median(timings[name]) / baseline:.2f}x)"
        for name in commands
    )
    print(f"read commands: import sqlmodel {baseline:.3f}s; {figures} (target <= 1.2x)")


STREAMED_ROWS = 3_000_000


def first_line_seconds(command: list[str]) -> float:
    """Seconds from starting `command` to its first line through a pipe; the
    reader then goes, as `| head -1` does."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.stdout.close()
    process.wait()
    return elapsed


def kpi_list_case(label: str, db: Path | str) -> None:
    """`kpi list` of the database's observations (3,000,000 under --streaming)
    in every streaming format: peak memory (target <= 200 MB) and, piped to a
    reader that takes one line, the time to that line against the same list
    of no rows (the first row within a second of the query starting). A table
    at a terminal collects its rows (a person reads it), so it is not here."""
    listing = coach(db, "--as", "boss", "kpi", "list")
    for output in ("tsv", "csv", "json"):
        elapsed, peak = run([*listing, "-o", output])
        print(f"{label} kpi list -o {output}: {elapsed:.2f}s, peak memory {peak} MB (target <= 200 MB)")
    # Until the query starts: the same command over no rows (start-up, the
    # database opened, the acting user found, an empty query).
    timings: dict[str, list[float]] = {"no rows": [], "first line": []}
    for _ in range(5):
        timings["no rows"].append(run([*listing, "--agent", "boss"])[0])  # an admin: no observations
        timings["first line"].append(first_line_seconds(listing))
    until_query, first = (statistics.median(timings[key]) for key in ("no rows", "first line"))
    print(
        f"{label} kpi list | head -1: first line after {first:.2f}s, {first - until_query:.2f}s after the query "
        f"started (the same list of no rows {until_query:.2f}s; target <= 1s)"
    )


def streaming_case(folder: Path, server: str) -> None:
    """`kpi list` of 3,000,000 observations on SQLite and, given a server, PostgreSQL."""
    roster = folder / "roster.csv"
    agents = write_roster(roster, 500)
    kpi = folder / "kpi-3m.csv"
    write_kpi(kpi, agents, STREAMED_ROWS)
    db = prepared_database(folder, "stream.db", roster, agents)
    run(coach(db, "kpi", "import", str(kpi)))
    kpi_list_case("sqlite", db)
    if not server:
        return
    base, _, _ = server.rpartition("/")
    name = f"coach_bench_{os.getpid()}_stream"
    psql = ["psql", "-q", "-v", "ON_ERROR_STOP=1", server]
    subprocess.run([*psql, "-c", f'DROP DATABASE IF EXISTS "{name}"', "-c", f'CREATE DATABASE "{name}"'], check=True)
    try:
        target = prepared_database(folder, "", roster, agents, db=f"{base}/{name}")
        run(coach(target, "kpi", "import", str(kpi)))
        kpi_list_case("postgresql", target)
    finally:
        subprocess.run([*psql, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)
        drop_groups(lambda command: [*psql, "-c", command], name)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--small", action="store_true", help="100k KPI rows instead of 1M")
    options.add_argument(
        "--postgres",
        default="postgresql://root@localhost/postgres",
        help="a PostgreSQL server to measure on as well ('' to skip)",
    )
    options.add_argument("--only-postgres", action="store_true", help="skip the SQLite figures")
    options.add_argument("--imports", action="store_true", help="only the KPI file formats (long, wide, .xlsx)")
    options.add_argument("--start-up", action="store_true", help="only start-up and the read commands")
    options.add_argument("--coaching", action="store_true", help="only report impact and rules run, on both backends")
    options.add_argument(
        "--streaming", action="store_true", help="only kpi list of 3,000,000 observations, on both backends"
    )
    options.add_argument(
        "--trust", action="store_true", help="only the PostgreSQL service role and row-level security figures"
    )
    options.add_argument("--vacuum", action="store_true", help="only db vacuum, on both backends")
    args = options.parse_args()
    if not shutil.which("sqlite3"):
        sys.exit("bench: needs the sqlite3 shell (apt-get install sqlite3)")
    kpi_rows = 100_000 if args.small else 1_000_000
    agent_count = 500
    folder = Path(tempfile.mkdtemp(prefix="coach-bench-"))
    env = {"COACH_TZ": "UTC"}
    os.environ.update(env)
    # Every command measured may write its bytecode, as an installed coach
    # has it (as sqlmodel has in site-packages): a shell that sets
    # PYTHONDONTWRITEBYTECODE would make each coach run compile its modules
    # again, and the baselines not.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    print(f"coach bench: {kpi_rows:,} KPI rows, {agent_count} agents, data in {folder}")
    if args.streaming:
        streaming_case(folder, args.postgres)
        shutil.rmtree(folder)
        return
    if args.start_up:
        start_up_case()
        read_commands_case(folder)
        shutil.rmtree(folder)
        return

    roster = folder / "roster.csv"
    agents = write_roster(roster, agent_count)
    big_roster = folder / "roster-1000.csv"
    write_roster(big_roster, 1000)
    kpi = folder / "kpi.csv"
    write_kpi(kpi, agents, kpi_rows)
    days = kpi_rows // (agent_count * len(METRICS))
    if args.only_postgres:
        postgresql_figures(args.postgres, folder, roster, agents, kpi, kpi_rows, days)
        shutil.rmtree(folder)
        return
    if args.trust:
        trust_figures(args.postgres, folder, roster, agents, kpi, days)
        shutil.rmtree(folder)
        return
    if args.imports:
        kpi_formats(folder, roster, agents, kpi, kpi_rows)
        shutil.rmtree(folder)
        return
    if args.vacuum:
        db = prepared_database(folder, "coach.db", roster, agents)
        run(coach(db, "kpi", "import", str(kpi)))
        sessions = folder / "sessions-10k.csv"
        write_sessions(sessions, agents, 10_000, days)
        run(coach(db, "--as", "boss", "session", "import", str(sessions)))
        vacuum_case(db, kpi_rows, "10,000")
        if args.postgres:
            postgresql_vacuum_figure(args.postgres, folder, roster, agents, kpi, kpi_rows, days)
        shutil.rmtree(folder)
        return
    if args.coaching:
        db = prepared_database(folder, "coach.db", roster, agents)
        run(coach(db, "kpi", "import", str(kpi)))
        report_impact_case(folder, db, agents, days)
        rules_run_case(folder, db, days)
        if args.postgres:
            postgresql_figures(args.postgres, folder, roster, agents, kpi, kpi_rows, days, coaching_only=True)
        shutil.rmtree(folder)
        return

    start_up_case()
    read_commands_case(folder)

    # Roster and bulk scheduling.
    users_db = folder / "users.db"
    run(coach(users_db, "init"))
    elapsed, _ = run(coach(users_db, "user", "import", str(big_roster)))
    print(f"user import: 1,000 users in {elapsed:.2f}s")

    # KPI import against sqlite3 .import of the same file.
    raw_db = folder / "raw.db"
    schema = (
        "CREATE TABLE kpi(agent TEXT NOT NULL, metric TEXT NOT NULL, observed_at TEXT NOT NULL, "
        "value REAL NOT NULL, UNIQUE(agent, metric, observed_at));"
    )
    subprocess.run(["sqlite3", str(raw_db), schema], check=True)
    raw_time, _ = run(["sqlite3", str(raw_db), f".import --csv --skip 1 {kpi} kpi"])
    db = prepared_database(folder, "coach.db", roster, agents)
    import_time, import_mb = run(coach(db, "kpi", "import", str(kpi)))
    print(
        f"kpi import: {kpi_rows:,} rows in {import_time:.2f}s vs sqlite3 .import {raw_time:.2f}s "
        f"({import_time / raw_time:.2f}x, target <= 3x); peak memory {import_mb} MB (target <= 200 MB)"
    )
    again_time, _ = run(coach(db, "kpi", "import", str(kpi)))
    print(f"kpi import again (all unchanged): {again_time:.2f}s")
    kpi_formats(folder, roster, agents, kpi, kpi_rows)

    report_impact_case(folder, db, agents, days)
    rules_run_case(folder, db, days)

    # Mini-goal evaluation: 10k goals, then 100k, against the raw aggregate.
    sessions = folder / "sessions-10k.csv"
    write_sessions(sessions, agents, 10_000, days)
    elapsed, _ = run(coach(db, "--as", "boss", "session", "import", str(sessions)))
    print(f"session import: 10,000 sessions with mini-goals in {elapsed:.2f}s")
    as_of = (START + dt.timedelta(days=days + 60)).isoformat()
    empty = folder / "empty.db"
    run(coach(empty, "init"))
    raw_sql = (
        "SELECT g.id, avg(o.value), count(o.value) FROM minigoals g LEFT JOIN kpi_observations o "
        "ON o.agent_id = g.assignee_id AND o.metric = g.metric "
        "AND o.observed_at >= CAST(g.start_date AS TEXT) AND o.observed_at < g.due_date || 'T24' "
        "GROUP BY g.id;"
    )
    ten_k = folder / "coach-10k.db"
    evaluated = folder / "coach-10k-evaluated.db"
    evaluate = ["minigoal", "evaluate", "--as-of", as_of, "-q"]
    fresh_copy(db, evaluated)
    run(coach(evaluated, *evaluate))
    timings = in_turn(
        11,
        {
            "raw": ["sqlite3", str(db), raw_sql],
            "empty": coach(empty, *evaluate),
            "first": coach(ten_k, *evaluate),
            "nightly": coach(evaluated, *evaluate),
        },
        before={"first": lambda: fresh_copy(db, ten_k)},
    )
    evaluate_10k = print_evaluation_figures(timings, "raw SQL aggregate")

    big_sessions = folder / "sessions-100k.csv"
    write_sessions(big_sessions, agents, 90_000, days)
    run(coach(db, "--as", "boss", "session", "import", str(big_sessions)))
    hundred_k = folder / "coach-100k.db"
    evaluate_100k = evaluate_fresh(db, hundred_k, as_of)
    print(
        f"minigoal evaluate: 100,000 goals {evaluate_100k:.2f}s = "
        f"{evaluate_100k / evaluate_10k:.1f}x the 10,000-goal time (target <= 12x)"
    )
    vacuum_case(db, kpi_rows, "100,000")
    if args.postgres:
        postgresql_figures(args.postgres, folder, roster, agents, kpi, kpi_rows, days)
    shutil.rmtree(folder)


def postgresql_figures(
    server: str,
    folder: Path,
    roster: Path,
    agents: list[str],
    kpi: Path,
    kpi_rows: int,
    days: int,
    coaching_only: bool = False,
) -> None:
    """The same KPI import, evaluation, impact report and rules run on
    PostgreSQL, against psql (`coaching_only`: the last two)."""
    if not shutil.which("psql"):
        sys.exit("bench: --postgres needs the psql client")
    base, _, _ = server.rpartition("/")
    kinds = ("raw", "coach", "empty", "first", "nightly", "reports", "reports_empty", "rules", "rules_empty")
    names = [f"coach_bench_{os.getpid()}_{what}" for what in kinds]
    raw_db, coach_db, empty_db, first_db, nightly_db = (f"{base}/{name}" for name in names[:5])

    def psql(*commands: str, database: str = server) -> list[str]:
        return ["psql", "-q", "-v", "ON_ERROR_STOP=1", database, *(part for c in commands for part in ("-c", c))]

    try:
        for name in names:
            subprocess.run(
                psql(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        print("postgresql:")
        if coaching_only:
            prepared_database(folder, "", roster, agents, db=coach_db)
            run(coach(coach_db, "kpi", "import", str(kpi)))
            postgresql_coaching_figures(psql, folder, agents, days, coach_db, *(f"{base}/{name}" for name in names[5:]))
            return
        # The raw side: the same CSV with psql's \copy into a table with the
        # same unique index, and into one that also has kpi_observations'
        # foreign key to the people (as coach's table must).
        handles = ",".join(f"('{agent}')" for agent in agents)
        subprocess.run(
            psql(
                "CREATE TABLE kpi(agent TEXT NOT NULL, metric TEXT NOT NULL, observed_at TEXT NOT NULL, "
                "value DOUBLE PRECISION NOT NULL, UNIQUE(agent, metric, observed_at))",
                "CREATE TABLE people(handle TEXT PRIMARY KEY)",
                f"INSERT INTO people VALUES {handles}",
                "CREATE TABLE kpi_fk(agent TEXT NOT NULL REFERENCES people(handle), metric TEXT NOT NULL, "
                "observed_at TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, UNIQUE(agent, metric, observed_at))",
                database=raw_db,
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        prepared_database(folder, "", roster, agents, db=coach_db)
        empty_tables = {
            "raw": psql("TRUNCATE kpi", database=raw_db),
            "raw_fk": psql("TRUNCATE kpi_fk", database=raw_db),
            "coach": psql("TRUNCATE kpi_observations", database=coach_db),
        }
        imports = {
            "raw": psql(f"\\copy kpi FROM '{kpi}' WITH (FORMAT csv, HEADER true)", database=raw_db),
            "raw_fk": psql(f"\\copy kpi_fk FROM '{kpi}' WITH (FORMAT csv, HEADER true)", database=raw_db),
            "coach": coach(coach_db, "kpi", "import", str(kpi)),
        }
        timings = in_turn(
            3, imports, before={key: (lambda command=command: run(command)) for key, command in empty_tables.items()}
        )
        best = {key: min(times) for key, times in timings.items()}
        _, import_mb = run(coach(coach_db, "kpi", "import", str(kpi)))
        import_time, raw_time = best["coach"], best["raw"]
        print(
            f"kpi import: {kpi_rows:,} rows in {import_time:.2f}s vs psql \\copy {raw_time:.2f}s "
            f"({import_time / raw_time:.2f}x, target <= 3x), vs psql \\copy into a table with the same foreign key "
            f"{best['raw_fk']:.2f}s ({import_time / best['raw_fk']:.2f}x); peak memory {import_mb} MB (target <= 200 MB)"
        )
        sessions = folder / "sessions-10k.csv"
        write_sessions(sessions, agents, 10_000, days)
        run(coach(coach_db, "--as", "boss", "session", "import", str(sessions)))
        run(coach(empty_db, "init"))
        as_of = (START + dt.timedelta(days=days + 60)).isoformat()
        evaluate = ["minigoal", "evaluate", "--as-of", as_of, "-q"]
        coach_name, first_name, nightly_name = names[1], names[3], names[4]

        def fresh(name: str) -> None:
            subprocess.run(
                psql(
                    f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                    f'CREATE DATABASE "{name}" TEMPLATE "{coach_name}"',
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )

        fresh(nightly_name)
        run(coach(nightly_db, *evaluate))
        raw_sql = (
            "SELECT g.id, avg(o.value), count(o.value) FROM minigoals g LEFT JOIN kpi_observations o "
            "ON o.agent_id = g.assignee_id AND o.metric = g.metric "
            "AND o.observed_at >= CAST(g.start_date AS TEXT) AND o.observed_at < CAST(g.due_date AS TEXT) || 'T24' "
            "GROUP BY g.id"
        )
        timings = in_turn(
            7,
            {
                "raw": psql(raw_sql, database=coach_db),
                "empty": coach(empty_db, *evaluate),
                "first": coach(first_db, *evaluate),
                "nightly": coach(nightly_db, *evaluate),
            },
            before={"first": lambda: fresh(first_name)},
        )
        print_evaluation_figures(timings, "raw SQL aggregate in psql")
        vacuum_time, _ = run(coach(coach_db, "db", "vacuum"))
        raw_vacuum, _ = run(psql("VACUUM FULL", database=coach_db))
        print(
            f"db vacuum: {kpi_rows:,} KPI rows, 10,000 sessions in {vacuum_time:.2f}s "
            f"vs psql VACUUM FULL of the whole database {raw_vacuum:.2f}s"
        )
        postgresql_coaching_figures(psql, folder, agents, days, coach_db, *(f"{base}/{name}" for name in names[5:]))
    finally:
        for name in names:
            subprocess.run(psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), stdout=subprocess.DEVNULL)
        # The groups last: the copies of a database (TEMPLATE) hold grants to its groups.
        for name in names:
            drop_groups(psql, name)


def drop_groups(psql, database: str) -> None:
    """The group roles `coach init` made for a database's public schema
    (roles belong to the server, not to the database dropped)."""
    for group in ("agent", "coach", "admin", "service"):
        subprocess.run(psql(f'DROP ROLE IF EXISTS "coach_{database}_public_{group}"'), stdout=subprocess.DEVNULL)


def trust_figures(server: str, folder: Path, roster: Path, agents: list[str], kpi: Path, days: int) -> None:
    """SPEC §12 on PostgreSQL: the nightly commands run as an unlinked
    service role against the owner running them (keep their ratios), and a
    coach's read commands as the coach's own login role, through row-level
    security, against the owner with --as (target <= 1.2x)."""
    from urllib.parse import urlsplit, urlunsplit

    name = f"coach_bench_{os.getpid()}_trust"
    nightly, coach_login = f"{name}_nightly", f"{name}_coach000"
    parts = urlsplit(server)
    owner_db = urlunsplit(parts._replace(path=f"/{name}"))

    def as_role(role: str) -> str:
        return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}", path=f"/{name}"))

    def psql(*commands: str, database: str = server) -> None:
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", database, *(part for c in commands for part in ("-c", c))],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    try:
        prepared_database(folder, "", roster, agents, db=owner_db)
        run(coach(owner_db, "kpi", "import", str(kpi)))
        sessions = folder / "sessions-10k.csv"
        write_sessions(sessions, agents, 10_000, days)
        run(coach(owner_db, "--as", "boss", "session", "import", str(sessions)))
        groups = json.loads(
            subprocess.run(coach(owner_db, "db", "info", "-o", "json"), capture_output=True, check=True).stdout
        )["roles"]
        psql(
            f'CREATE ROLE "{nightly}" LOGIN',
            f'GRANT "{groups["service"]}" TO "{nightly}"',
            f'CREATE ROLE "{coach_login}" LOGIN',
        )
        run(coach(owner_db, "user", "link", "coach000", "--login", coach_login))
        as_of = (START + dt.timedelta(days=days + 60)).isoformat()
        run(coach(owner_db, "minigoal", "evaluate", "--as-of", as_of, "-q"))
        service_db, coach_db = as_role(nightly), as_role(coach_login)
        print("postgresql, service role and row-level security:")
        pairs = {
            "kpi import": ["kpi", "import", str(kpi), "-o", "json"],
            "minigoal evaluate": ["minigoal", "evaluate", "--as-of", as_of, "-q"],
            "remind": ["remind", "--as-of", as_of, "-q"],
        }
        commands = {}
        for label, arguments in pairs.items():
            commands[f"{label} owner"] = coach(owner_db, *arguments)
            commands[f"{label} service"] = coach(service_db, *arguments)
        reads = {"session list": ["session", "list", "-o", "json"], "minigoal list": ["minigoal", "list", "-o", "json"]}
        for label, arguments in reads.items():
            commands[f"{label} owner"] = coach(owner_db, "--as", "coach000", *arguments)
            commands[f"{label} coach role"] = coach(coach_db, *arguments)
        for command in commands.values():
            run(command)
        timings = in_turn(7, commands)
        for label in pairs:
            owner, service = (statistics.median(timings[f"{label} {who}"]) for who in ("owner", "service"))
            print(f"{label}: owner {owner:.3f}s, service role {service:.3f}s ({service / owner:.2f}x)")
        for label in reads:
            owner, through = (statistics.median(timings[f"{label} {who}"]) for who in ("owner", "coach role"))
            print(
                f"{label} (a coach): owner with --as {owner:.3f}s, the coach's role through row-level security "
                f"{through:.3f}s ({through / owner:.2f}x, target <= 1.2x)"
            )
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in (
            nightly,
            coach_login,
            *(f"coach_{name}_public_{group}" for group in ("agent", "coach", "admin", "service")),
        ):
            psql(f'DROP ROLE IF EXISTS "{role}"')


def vacuum_case(db: Path | str, kpi_rows: int, sessions: str) -> None:
    """`db vacuum` (after an erasure, or on its own) against sqlite3's VACUUM."""
    timings = in_turn(
        3, {"coach": coach(db, "db", "vacuum"), "raw": ["sqlite3", str(db), "VACUUM; PRAGMA wal_checkpoint(TRUNCATE);"]}
    )
    vacuum_time, raw_time = statistics.median(timings["coach"]), statistics.median(timings["raw"])
    print(
        f"db vacuum: {kpi_rows:,} KPI rows, {sessions} sessions in {vacuum_time:.2f}s "
        f"vs sqlite3 VACUUM {raw_time:.2f}s ({vacuum_time / raw_time:.2f}x)"
    )


def postgresql_vacuum_figure(
    server: str, folder: Path, roster: Path, agents: list[str], kpi: Path, kpi_rows: int, days: int
) -> None:
    """`db vacuum` on PostgreSQL (VACUUM FULL of coach's tables) against
    psql's VACUUM FULL of the whole database."""
    base, _, _ = server.rpartition("/")
    name = f"coach_bench_{os.getpid()}_vacuum"
    database = f"{base}/{name}"

    def psql(command: str, on: str = server) -> list[str]:
        return ["psql", "-q", "-v", "ON_ERROR_STOP=1", on, "-c", command]

    subprocess.run(psql(f'CREATE DATABASE "{name}"'), check=True, stdout=subprocess.DEVNULL)
    try:
        prepared_database(folder, "", roster, agents, db=database)
        run(coach(database, "kpi", "import", str(kpi)))
        run(coach(database, "--as", "boss", "session", "import", str(folder / "sessions-10k.csv")))
        vacuum_time, _ = run(coach(database, "db", "vacuum"))
        raw_time, _ = run(psql("VACUUM FULL", on=database))
        print(
            f"postgresql: db vacuum: {kpi_rows:,} KPI rows, 10,000 sessions in {vacuum_time:.2f}s "
            f"vs psql VACUUM FULL of the whole database {raw_time:.2f}s"
        )
    finally:
        subprocess.run(psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), stdout=subprocess.DEVNULL)
        drop_groups(psql, name)


def postgresql_coaching_figures(
    psql,
    folder: Path,
    agents: list[str],
    days: int,
    kpi_db: str,
    reports_db: str,
    reports_empty: str,
    rules_db: str,
    rules_empty: str,
) -> None:
    """report impact and rules run on PostgreSQL, against the same raw
    statements in psql (the same figures as on SQLite)."""
    kpi_name = kpi_db.rpartition("/")[2]

    def copy_of_kpi_db(target: str) -> None:
        name = target.rpartition("/")[2]
        subprocess.run(
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}" TEMPLATE "{kpi_name}"'),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    copy_of_kpi_db(reports_db)
    sessions = write_coached_sessions_for_impact(folder, agents, days)
    run(coach(reports_db, "--as", "boss", "session", "import", str(sessions)))
    subprocess.run(psql(COACH_THEM, "ANALYZE", database=reports_db), check=True, stdout=subprocess.DEVNULL)
    prepared_database(folder, "", folder / "roster.csv", agents, db=reports_empty)
    timings = in_turn(
        7,
        {
            "raw": psql(raw_impact_sql(postgresql_shift), database=reports_db),
            "empty": coach(reports_empty, *IMPACT_REPORT),
            "report": coach(reports_db, *IMPACT_REPORT),
        },
    )
    print_versus_raw(
        "report impact --by coach, 10,000 coached sessions (control group included)",
        timings,
        "report",
        "raw SQL before/after averages in psql",
    )
    rules = write_rules(folder)
    as_of = START + dt.timedelta(days=days)
    command = ["rules", "run", str(rules), "--as-of", as_of.isoformat(), "-q"]
    run(coach(rules_empty, "init"))
    copy_of_kpi_db(rules_db)
    fired = json.loads(
        subprocess.run(
            coach(rules_db, *command[:-1], "--dry-run", "-o", "json"), capture_output=True, text=True, check=True
        ).stdout
    )
    timings = in_turn(
        7,
        {
            "raw": psql(raw_rules_sql(as_of), database=kpi_db),
            "empty": coach(rules_empty, *command),
            "rules": coach(rules_db, *command),
        },
        before={"rules": lambda: copy_of_kpi_db(rules_db)},
    )
    print_versus_raw(
        f"rules run, {len(BENCH_RULES)} rules ({len(fired['fired'])} requests made, {fired['held']} held)",
        timings,
        "rules",
        f"raw SQL in psql, one aggregate a rule ({len(BENCH_RULES)} statements)",
    )


IMPACT_WINDOW = 14


def write_coached_sessions_for_impact(folder: Path, agents: list[str], days: int) -> Path:
    sessions = folder / "sessions-coached.csv"
    write_coached_sessions(sessions, agents, max(1, len(agents) // 25), 10_000, days, IMPACT_WINDOW)
    return sessions


# Stands in for 10,000 runs of `coach session coach`: the imported sessions
# become coached on their scheduled day.
COACH_THEM = (
    "UPDATE sessions SET state = 'coached', coached_by_id = coach_id, "
    "coached_at = CAST(date AS TEXT) || 'T15:00:00+00:00' WHERE state = 'scheduled'"
)
IMPACT_REPORT = ["--as", "boss", "report", "impact", "--by", "coach", "--window", str(IMPACT_WINDOW), "-o", "tsv"]


def raw_impact_sql(shift) -> str:
    """One statement computing only the coached sessions' own before/after
    averages; `shift(column, days)` spells a shifted date as text."""
    window = IMPACT_WINDOW
    return (
        f"SELECT s.id, avg(CASE WHEN o.observed_at < CAST(s.date AS TEXT) THEN o.value END), "
        f"count(CASE WHEN o.observed_at < CAST(s.date AS TEXT) THEN o.value END), "
        f"avg(CASE WHEN o.observed_at >= {shift('s.date', 1)} THEN o.value END), "
        f"count(CASE WHEN o.observed_at >= {shift('s.date', 1)} THEN o.value END) "
        "FROM sessions s LEFT JOIN kpi_observations o ON o.agent_id = s.agent_id AND o.metric = s.kpi "
        f"AND o.observed_at >= {shift('s.date', -window)} AND o.observed_at < {shift('s.date', window)} || 'T24' "
        "WHERE s.state = 'coached' AND s.kpi IS NOT NULL GROUP BY s.id"
    )


def sqlite_shift(column: str, days: int) -> str:
    return f"date({column}, '{days:+d} days')"


def postgresql_shift(column: str, days: int) -> str:
    return f"CAST({column} + {days} AS TEXT)"


def report_impact_case(folder: Path, kpi_db: Path, agents: list[str], days: int) -> None:
    """`report impact --by coach` over 10,000 coached sessions, against one raw
    statement computing the same before/after averages, without the control
    group, in the sqlite3 shell."""
    reports_db = folder / "coach-reports.db"
    fresh_copy(kpi_db, reports_db)
    sessions = write_coached_sessions_for_impact(folder, agents, days)
    run(coach(reports_db, "--as", "boss", "session", "import", str(sessions)))
    subprocess.run(["sqlite3", str(reports_db), COACH_THEM + ";"], check=True)
    empty = folder / "empty-reports.db"
    run(coach(empty, "init"))
    run(coach(empty, "user", "import", str(folder / "roster.csv")))
    timings = in_turn(
        11,
        {
            "raw": ["sqlite3", str(reports_db), raw_impact_sql(sqlite_shift) + ";"],
            "empty": coach(empty, *IMPACT_REPORT),
            "report": coach(reports_db, *IMPACT_REPORT),
        },
    )
    print_versus_raw(
        "report impact --by coach, 10,000 coached sessions (control group included)",
        timings,
        "report",
        "raw SQL before/after averages",
    )


BENCH_RULES = [
    ("Long handle time", "handle-time", "threshold = 360"),
    ("Slowest handle time of the team", "handle-time", "below_percentile = 10"),
    ("Handle time outlier", "handle-time", "deviations = 1.5"),
    ("Long holds", "hold-time", "threshold = 380"),
    ("Longest holds of the team", "hold-time", "below_percentile = 10"),
    ("Hold outlier", "hold-time", "deviations = 2"),
    ("Low adherence", "adherence", "threshold = 60"),
    ("Lowest adherence of the team", "adherence", "below_percentile = 10"),
    ("Few contacts", "contacts-handled", "threshold = 250"),
    ("Contacts outlier", "contacts-handled", "deviations = 1.5"),
]
RULES_WINDOW = 14


def write_rules(folder: Path) -> Path:
    """Ten rules, the three kinds of condition, over the bench's four metrics."""
    path = folder / "rules.toml"
    lines = []
    for priority, (name, metric, condition) in enumerate(BENCH_RULES, start=1):
        lines += [
            "[[rule]]",
            f'name = "{name}"',
            f'metric = "{metric}"',
            condition,
            f"window = {RULES_WINDOW}",
            "min_samples = 5",
            f"priority = {priority}",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def raw_rules_sql(as_of: dt.date) -> str:
    """One raw aggregate a rule: each agent's average of the rule's metric
    over its window."""
    first = (as_of - dt.timedelta(days=RULES_WINDOW)).isoformat()
    return " ".join(
        f"SELECT agent_id, avg(value), count(value) FROM kpi_observations WHERE metric = '{metric}' "
        f"AND observed_at >= '{first}' AND observed_at < '{as_of.isoformat()}' GROUP BY agent_id;"
        for _, metric, _ in BENCH_RULES
    )


def rules_run_case(folder: Path, kpi_db: Path, days: int) -> None:
    """`rules run` of ten rules over the KPI data, making its requests (each
    run on a fresh copy), against one raw aggregate statement a rule in the
    sqlite3 shell."""
    rules = write_rules(folder)
    as_of = START + dt.timedelta(days=days)
    command = ["rules", "run", str(rules), "--as-of", as_of.isoformat(), "-q"]
    fresh = folder / "coach-rules.db"
    empty = folder / "empty-rules.db"
    run(coach(empty, "init"))
    fresh_copy(kpi_db, fresh)
    fired = json.loads(
        subprocess.run(
            coach(fresh, *command[:-1], "--dry-run", "-o", "json"), capture_output=True, text=True, check=True
        ).stdout
    )
    timings = in_turn(
        11,
        {
            "raw": ["sqlite3", str(kpi_db), raw_rules_sql(as_of)],
            "empty": coach(empty, *command),
            "rules": coach(fresh, *command),
        },
        before={"rules": lambda: fresh_copy(kpi_db, fresh)},
    )
    print_versus_raw(
        f"rules run, {len(BENCH_RULES)} rules ({len(fired['fired'])} requests made, {fired['held']} held)",
        timings,
        "rules",
        f"raw SQL, one aggregate a rule ({len(BENCH_RULES)} statements)",
    )


def print_versus_raw(what: str, timings: dict[str, list[float]], key: str, raw_what: str) -> None:
    """A command's time minus the same command on an empty database, against
    the raw statements: best to best, and median to median beside it."""
    best = {name: min(times) for name, times in timings.items()}
    typical = {name: statistics.median(times) for name, times in timings.items()}
    work = best[key] - best["empty"]
    print(
        f"{what}: {best[key]:.2f}s, minus empty-database run {best['empty']:.2f}s = {work:.2f}s vs {raw_what} "
        f"{best['raw']:.2f}s ({work / best['raw']:.2f}x, target <= 3x; "
        f"medians {(typical[key] - typical['empty']) / typical['raw']:.2f}x; "
        f"whole command {best[key] / best['raw']:.2f}x)"
    )


def print_evaluation_figures(timings: dict[str, list[float]], raw_what: str) -> float:
    """The first and the nightly evaluation, each minus the empty-database run,
    against the raw aggregate; returns the best first-run time."""
    best = {key: min(times) for key, times in timings.items()}
    typical = {key: statistics.median(times) for key, times in timings.items()}
    for key, what in (
        (
            "first",
            "first run (every goal ends: 10,000 updates and history rows, "
            "10,000 notifications and one digest per coach)",
        ),
        ("nightly", "nightly run with nothing to change"),
    ):
        work = best[key] - best["empty"]
        print(
            f"minigoal evaluate, {what}: {best[key]:.2f}s, minus empty-database run {best['empty']:.2f}s = "
            f"{work:.2f}s vs {raw_what} {best['raw']:.2f}s ({work / best['raw']:.2f}x, target <= 3x; "
            f"medians {(typical[key] - typical['empty']) / typical['raw']:.2f}x)"
        )
    return best["first"]


def fresh_copy(source: Path, copy: Path) -> None:
    """A copy of the database whose goals were never evaluated."""
    shutil.copy(source, copy)
    for suffix in ("-wal", "-shm"):
        Path(str(copy) + suffix).unlink(missing_ok=True)


def evaluate_fresh(source: Path, copy: Path, as_of: str) -> float:
    """Evaluate on a fresh copy (every goal changes state), best of three."""
    times = []
    for _ in range(3):
        fresh_copy(source, copy)
        times.append(run(coach(copy, "minigoal", "evaluate", "--as-of", as_of, "-q"))[0])
    return min(times)


if __name__ == "__main__":
    main()
