"""Right to erasure (SPEC §10): what an erasure rewrites, what it keeps, who
may do it, and that nothing of the person is left behind — in any output, in
any table, and (SQLite) in the file's bytes."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
import sqlalchemy
from conftest import COMPLETE_ANSWERS, Cli
from sqlalchemy.exc import IntegrityError

from coachcli.db.migrations import MIGRATIONS
from coachcli.errors import ExitCode
from coachcli.services import erasure

ERASED = "[erased]"
REASON = "left the company, asked for erasure"
KEEP = "Kept because it never mentions the erased person QKEEPQ"
# Every string here is about, by or names maria (Maria Lopez), so none may survive.
GONE = [
    "maria",
    "Maria Lopez",
    "QNOTEQ",
    "QANSWERQ",
    "QREQUESTQ",
    "QOTHERQ",
    "QACTIONQ",
    "QPRIVATEQ",
    "QACKQ",
    "QITEMQ",
    "QDONEQ",
    "QPAIRQ",
    "QLINKQ",
]


def _answers(**changes) -> list[str]:
    return [part for key, value in {**COMPLETE_ANSWERS, **changes}.items() for part in ("--set", f"{key}={value}")]


def _erase(cli: Cli, handle: str = "maria", reason: str = REASON, user: str = "dana"):
    return cli("user", "erase", handle, "--reason", reason, user=user)


def _one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def world(cli, tmp_path) -> dict:
    """Maria's coaching history, her colleagues' records that mention her,
    and records that do not: all the places an erasure must reach or keep."""
    plan = cli.json(
        "plan",
        "add",
        "--agent",
        "maria",
        "--form",
        "Call quality",
        "--purpose",
        "Help Maria Lopez hold calls less",
        user="calvin",
    )
    coached = str(plan["current_session_id"])
    result = cli(
        "session",
        "coach",
        coached,
        *_answers(strengths="Warm greeting QANSWERQ"),
        "--notes",
        "Private matters QNOTEQ",
        "--private-notes",
        "Coach only QPRIVATEQ",
        user="calvin",
    )
    assert result.exit_code == 0, result.stderr
    assert cli("session", "ack", coached, "--comment", "Thanks QACKQ", user="maria").exit_code == 0
    item = cli.json("action", "add", coached, "--text", "Practice holds QITEMQ", user="calvin")
    assert cli("action", "done", str(item["id"]), "--note", "Practised QDONEQ", user="maria").exit_code == 0
    closed = cli(
        "plan",
        "close",
        str(plan["id"]),
        "--reason",
        "maria now holds calls under two minutes; purpose met",
        user="calvin",
    )
    assert closed.exit_code == 0, closed.stderr
    request = cli.json(
        "session", "request", "--title", "Help with escalations", "--notes", "Need help QREQUESTQ", user="maria"
    )
    # A colleague's session that names her, and one that does not.
    other = cli.json(
        "session", "new", "--agent", "alex", "--form", "Call quality", "--title", "Shadowing maria", user="calvin"
    )
    cli(
        "session",
        "save",
        str(other["id"]),
        "--notes",
        "Took over Maria Lopez's queue QOTHERQ",
        "--set",
        "opportunities=Ask MARIA about QACTIONQ",
        "--set",
        "strengths=" + KEEP,
        user="calvin",
    )
    cli.json("action", "add", str(other["id"]), "--text", "Pair with maria on QPAIRQ", user="calvin")
    kept = cli.json(
        "session", "new", "--agent", "alex", "--form", "Call quality", "--title", "Alex alone", user="calvin"
    )
    cli("session", "save", str(kept["id"]), "--notes", KEEP, "--set", "greeting=5", user="calvin")
    # A mini-goal with a score.
    assert cli("path", "add", "Holds", "--agent", "maria", user="dana").exit_code == 0
    goal_session = cli.json(
        "session",
        "schedule",
        "--title",
        "Maria Lopez hold goal",
        "--agent",
        "maria",
        "--date",
        "2026-11-01",
        "--start",
        "10:00",
        "--path",
        "Holds",
        "--kpi",
        "hold-time",
        "--target",
        "60",
        "--target-date",
        "2026-11-10",
        "--notes",
        "Goal talk QNOTEQ",
        "--link",
        "https://meet.example/maria-QLINKQ",
        user="calvin",
    )
    kpi = tmp_path / "kpi.csv"
    kpi.write_text(
        "agent,metric,observed_at,value\nmaria,hold-time,2026-11-02,50\nmaria,hold-time,2026-11-03,80\n"
        "alex,hold-time,2026-11-02,40\n"
    )
    assert cli("kpi", "import", str(kpi)).exit_code == 0
    assert cli("minigoal", "evaluate", "--as-of", "2026-11-20").exit_code == 0
    return {
        "plan": plan["id"],
        "coached": coached,
        "request": request["id"],
        "other": other["id"],
        "kept": kept["id"],
        "goal_session": goal_session["id"],
        "goal": goal_session["minigoal_id"],
        "maria_id": cli.query("SELECT id FROM users WHERE handle = 'maria'")[0][0],
    }


def _numbers(cli: Cli) -> dict:
    """What an erasure must not change: counts, scores, ratings, dates."""
    return {
        "tables": {name: rows for name, rows in cli.json("db", "info")["tables"].items() if name != "audit_log"},
        "goals": [
            (g["score"], g["samples"], g["state"], g["target"], g["due_date"])
            for g in cli.json("minigoal", "list", user="dana")
        ],
        "kpi": [(k["metric"], k["observed_at"], k["value"]) for k in cli.json("kpi", "list", user="dana")],
        "sessions": [
            (s["id"], s["state"], s["date"], s["plan_id"], s["coached_at"])
            for s in cli.json("session", "list", user="dana")
        ],
    }


def _every_output(cli: Cli, world: dict) -> str:
    """What every command shows, to everyone who can still act."""
    shown = []
    for user in ("dana", "calvin", "priya", "alex"):
        for command in (
            ["user", "list"],
            ["team", "list"],
            ["path", "list"],
            ["plan", "list", "--state", "all"],
            ["session", "list"],
            ["session", "list", "--tab", "requested"],
            ["minigoal", "list"],
            ["kpi", "list"],
            ["inbox"],
            ["log"],
            ["form", "list"],
            ["report", "impact"],
            ["report", "impact", "--by", "coach"],
            ["report", "cadence"],
            ["action", "list", "--state", "all"],
            ["session", "list", "--unacknowledged"],
        ):
            for fmt in ("json", "tsv"):
                shown.append(cli(*command, "-o", fmt, user=user).stdout)
    for session in ("coached", "request", "other", "kept", "goal_session"):
        shown.append(cli("session", "show", str(world[session]), "-o", "json", user="dana").stdout)
    shown.append(cli("plan", "show", str(world["plan"]), "-o", "json", user="dana").stdout)
    shown.append(cli("minigoal", "show", str(world["goal"]), "-o", "json", user="dana").stdout)
    shown.append(cli("db", "info", "-o", "json").stdout)
    shown.append(cli("calendar", user="dana").stdout)
    return "\n".join(shown)


def _absent(text: str, strings: list[str]) -> list[str]:
    return [s for s in strings if s.lower() in text.lower()]


def test_erasure_rewrites_the_person_and_their_texts_and_keeps_every_number(cli, world):
    before = _numbers(cli)
    assert _absent(_every_output(cli, world), GONE) == GONE  # the search finds them while they are there
    erased = cli.json("user", "erase", "maria", "--reason", REASON, user="dana")
    pseudonym = f"erased-{world['maria_id']}"
    assert erased["handle"] == pseudonym and erased["texts_erased"] > 0

    assert _numbers(cli) == before
    coached = cli.json("session", "show", world["coached"], user="calvin")
    assert coached["agent"] == pseudonym and coached["notes"] == ERASED and coached["state"] == "coached"
    assert coached["answers"]["strengths"] == ERASED
    assert {
        k: v for k, v in coached["answers"].items() if k not in ("strengths", "opportunities", "agreed_actions")
    } == {
        "channel": "phone",
        "greeting": 4,
        "empathy": 5,
        "compliance": True,
        "resolution": "resolved",
    }
    assert (coached["private_notes"], coached["agent_comment"]) == (ERASED, ERASED)
    assert coached["acknowledged_at"] is not None
    items = cli.json("action", "list", "--state", "all", user="dana")
    assert sorted((item["state"], item["text"], item["note"]) for item in items) == [
        ("done", ERASED, ERASED),
        ("open", ERASED, None),
    ]
    plan = cli.json("plan", "show", str(world["plan"]), user="dana")
    assert (plan["purpose"], plan["close_reason"], plan["state"]) == (ERASED, ERASED, "closed")
    assert cli.json("session", "show", str(world["request"]), user="dana")["notes"] == ERASED
    other = cli.json("session", "show", str(world["other"]), user="calvin")
    assert (other["agent"], other["title"], other["notes"]) == ("alex", ERASED, ERASED)
    assert other["answers"] == {"opportunities": ERASED, "strengths": KEEP}
    kept = cli.json("session", "show", str(world["kept"]), user="calvin")
    assert (kept["title"], kept["notes"], kept["answers"]) == ("Alex alone", KEEP, {"greeting": 5})
    goal = cli.json("minigoal", "show", str(world["goal"]), user="dana")
    assert (goal["name"], goal["assignee"]) == (ERASED, pseudonym)
    assert [user["handle"] for user in cli.json("user", "list", "--team", "Inbound", user="dana")] == [
        "alex",
        "calvin",
        pseudonym,
    ]

    assert _absent(_every_output(cli, world), GONE) == []
    assert _absent(json.dumps(cli.dump()), GONE) == []


def test_the_log_shows_the_pseudonym_and_records_the_erasure_without_the_erased_values(cli, world):
    assert any(entry["actor"] == "maria" for entry in cli.json("log", user="dana"))
    _erase(cli)
    pseudonym = f"erased-{world['maria_id']}"
    entries = cli.json("log", user="dana")
    assert entries[0]["action"] == "user.erase" and entries[0]["actor"] == "dana"
    assert entries[0]["record_id"] == world["maria_id"] and entries[0]["details"]["reason"] == REASON
    assert any(entry["actor"] == pseudonym for entry in entries)  # her own request
    assert any(entry["details"].get("agent") == pseudonym for entry in entries)  # plan.add about her
    assert cli.json("log", "--user", pseudonym, user="dana")[0]["action"] == "session.request"
    assert _absent(json.dumps(entries), GONE) == []
    with pytest.raises(IntegrityError, match="append-only"):
        cli.query("UPDATE audit_log SET details = '{}'")


def test_an_erased_person_can_no_longer_act_nor_be_coached(cli, world):
    _erase(cli)
    pseudonym = f"erased-{world['maria_id']}"
    assert "acting user 'maria' does not exist" in _one_line(cli("inbox", user="maria"), ExitCode.PERMISSION)
    assert "erased person" in _one_line(cli("inbox", user=pseudonym), ExitCode.PERMISSION)
    assert "erased" in _one_line(
        cli("plan", "add", "--agent", pseudonym, "--form", "Call quality", "--purpose", "More", user="calvin"),
        ExitCode.REFUSED,
    )
    # The pseudonym cannot be taken by a new user, and the old handle is free again.
    assert "kept for erased people" in _one_line(
        cli("user", "add", pseudonym, "--name", "Impostor", user="dana"), ExitCode.BAD_INPUT
    )
    assert cli("user", "add", "maria", "--name", "Maria Other", "--team", "Inbound", user="dana").exit_code == 0


# Every path to something new about an agent: each must refuse an erased
# one (the rule's one home is services/people.py, refuse_unless_coachable).
NEW_FOR_AN_AGENT = {
    "session new": (["session", "new", "--agent", "{agent}", "--form", "Call quality"], None, ExitCode.REFUSED),
    "session schedule": (
        ["session", "schedule", "--title", "Holds", "--agent", "{agent}", "--date", "+1d", "--start", "09:00"],
        None,
        ExitCode.REFUSED,
    ),
    "session import": (  # a bad row: the whole file is refused as bad input, naming the line
        ["session", "import", "-"],
        "title,agent,coach,date,start\nHolds,{agent},calvin,+1d,09:00\n",
        ExitCode.BAD_INPUT,
    ),
    "plan add": (
        ["plan", "add", "--agent", "{agent}", "--form", "Call quality", "--purpose", "More"],
        None,
        ExitCode.REFUSED,
    ),
}


@pytest.mark.parametrize("path", NEW_FOR_AN_AGENT)
def test_an_erased_agent_is_the_agent_of_nothing_new_on_every_path(cli, path):
    assert _erase(cli).exit_code == 0
    (pseudonym,) = cli.query("SELECT handle FROM users WHERE erased_at IS NOT NULL")[0]
    words, given, code = NEW_FOR_AN_AGENT[path]
    before = cli.dump()
    result = cli(
        *(word.format(agent=pseudonym) for word in words),
        input=given.format(agent=pseudonym) if given else None,
        user="calvin",
    )
    assert "has been erased" in _one_line(result, code)
    assert cli.dump() == before


def test_an_erased_coach_coaches_nothing_new(cli):
    assert _erase(cli, "priya").exit_code == 0
    (pseudonym,) = cli.query("SELECT handle FROM users WHERE erased_at IS NOT NULL")[0]
    before = cli.dump()
    result = cli(
        "session", "schedule", "--title", "Holds", "--agent", "maria", "--coach", pseudonym,
        "--date", "+1d", "--start", "09:00", user="calvin",
    )  # fmt: skip
    assert "has been erased" in _one_line(result, ExitCode.REFUSED)
    assert cli.dump() == before


def test_a_rule_never_fires_for_an_erased_agent(cli, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "Slow"\nmetric = "handle-time"\nthreshold = 420\nwindow = 7\n')
    days = [f"2026-06-{day:02d}" for day in range(8, 15)]
    observations = "".join(f"{agent},handle-time,{day},450\n" for agent in ("maria", "alex") for day in days)
    assert (
        cli("kpi", "import", "-", input="agent,metric,observed_at,value\n" + observations, user="dana").exit_code == 0
    )
    assert _erase(cli).exit_code == 0
    fired = cli.json("rules", "run", str(rules), "--as-of", "2026-06-15")["fired"]
    assert [firing["agent"] for firing in fired] == ["alex"]


@pytest.mark.parametrize(
    ("user", "handle", "reason", "code", "words"),
    [
        ("calvin", "maria", REASON, ExitCode.PERMISSION, "only an admin"),
        ("dana", "dana", REASON, ExitCode.PERMISSION, "cannot erase yourself"),
        ("dana", "maria", "", ExitCode.BAD_INPUT, "at least 3 words"),
        ("dana", "maria", "gone", ExitCode.BAD_INPUT, "at least 3 words"),
        ("dana", "maria", "Maria Lopez asked for it", ExitCode.BAD_INPUT, "must not name the person"),
        ("dana", "nobody", REASON, ExitCode.NOT_FOUND, "no user 'nobody'"),
    ],
)
def test_refused_erasures_change_nothing(cli, world, user, handle, reason, code, words):
    before = cli.dump()
    assert words in _one_line(_erase(cli, handle, reason, user), code)
    assert cli.dump() == before


def test_a_person_is_erased_once(cli, world):
    _erase(cli)
    before = cli.dump()
    assert "already been erased" in _one_line(_erase(cli, f"erased-{world['maria_id']}"), ExitCode.REFUSED)
    assert cli.dump() == before


def test_erasing_a_coach_erases_what_they_wrote(cli, world):
    _erase(cli, "calvin")
    other = cli.json("session", "show", str(world["other"]), user="dana")
    assert other["coach"].startswith("erased-") and other["notes"] == ERASED
    assert other["answers"]["strengths"] == ERASED
    assert cli.json("session", "show", str(world["kept"]), user="dana")["notes"] == ERASED
    assert "Calvin" not in json.dumps(cli.dump())


def _erasable_columns_in_the_guards() -> dict[str, dict[str, set[str]]]:
    """Per backend, per guarded table: the columns its latest guard lets an
    erasure turn into the marker."""
    latest: dict[str, dict[str, str]] = {"sqlite": {}, "postgresql": {}}
    for migration in MIGRATIONS:
        for dialect, statements in migration.items():
            for statement in statements:
                found = re.match(r"\s*CREATE TRIGGER (\w+)", statement)
                if found:
                    latest[dialect][found.group(1)] = " ".join(statement.split())
    guarded: dict[str, dict[str, set[str]]] = {"sqlite": {}, "postgresql": {}}
    for statement in latest["sqlite"].values():
        columns = set(re.findall(r"NEW\.(\w+) = '\[erased\]'", statement))
        columns |= {"answers"} if "after.value = '[erased]'" in statement else set()
        if columns:
            guarded["sqlite"][re.search(r" ON (\w+)", statement).group(1)] = columns
    for statement in latest["postgresql"].values():
        found = re.search(r" ON (\w+) .*coach_erasure_only\('[^']*', '([^']*)'(?:, '(\w+)')?\)", statement)
        if found:
            guarded["postgresql"][found.group(1)] = set(found.group(2).split()) | {found.group(3)} - {None}
    return guarded


def test_the_guards_let_through_exactly_the_free_texts_an_erasure_rewrites():
    declared = {free.table.name: set(free.columns) for free in erasure.FREE_TEXTS}
    declared["sessions"].add("answers")
    for guarded in _erasable_columns_in_the_guards().values():
        assert set(guarded) == {"sessions", "plans", "session_acknowledgements", "action_items"}
        assert guarded == {table: declared[table] for table in guarded}


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Quintero, Zoë", True),
        ("quintero zoe", True),
        ("ZOË\n  QUINTERO", True),
        (unicodedata.normalize("NFD", "Zoë Quintero"), True),
        ("ask zoeq.", True),
        ("Zizi said", True),
        ("Zoë Adams", False),
        ("Zoë Quinteros", False),
        ("zoeqq", False),
        ("Quintero", False),
    ],
)
def test_names_find_every_written_form_of_the_name_and_nothing_else(text, named):
    assert erasure.Names("zoeq", "Zoë Quintero", ["Zizi"]).named_in(text) is named


# --- the database keeps permanence: only erasure's own change gets through -------------------


def _coached_row(cli: Cli, world: dict) -> dict:
    (answers,) = cli.query(f"SELECT answers FROM sessions WHERE id = {world['coached']}")[0]
    return json.loads(answers)


def _answers_update(session: str, answers: dict) -> str:
    literal = json.dumps(answers).replace("'", "''")
    return f"UPDATE sessions SET answers = '{literal}' WHERE id = {session}"


def in_an_erasure(cli: Cli, *statements: str) -> None:
    """Run statements in one transaction with an erasure in progress, as
    `coach user erase` does (the owner's connection), and commit them."""
    from sqlmodel import Session

    from coachcli.db.engine import database_url, make_engine
    from coachcli.db.security import erasure_in_progress

    engine = make_engine(database_url(cli.target))
    try:
        with Session(engine) as db:
            with erasure_in_progress(db):
                for statement in statements:
                    db.connection().exec_driver_sql(statement)
            db.commit()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE sessions SET notes = 'rewritten' WHERE state = 'coached'", "coached session cannot be changed"),
        ("UPDATE sessions SET title = 'erased' WHERE state = 'coached'", "coached session cannot be changed"),
        (
            "UPDATE sessions SET notes = '[erased]', target = 1 WHERE state = 'coached'",
            "coached session cannot be changed",
        ),
        (
            "UPDATE sessions SET notes = '[erased]', coached_at = NULL WHERE state = 'coached'",
            "coached session cannot be changed",
        ),
        ("UPDATE sessions SET state = 'draft' WHERE state = 'coached'", "coached session cannot be changed"),
        ("UPDATE plans SET purpose = 'rewritten'", "closed performance plan cannot be changed"),
        ("UPDATE plans SET purpose = '[erased]', closed_at = NULL", "closed performance plan cannot be changed"),
        ("UPDATE plans SET state = 'active'", "closed performance plan cannot be changed"),
        ("UPDATE session_acknowledgements SET comment = 'rewritten'", "acknowledgement cannot be changed"),
        (
            "UPDATE session_acknowledgements SET comment = '[erased]', acknowledged_at = '2020-01-01T00:00:00+00:00'",
            "acknowledgement cannot be changed",
        ),
        ("UPDATE action_items SET text = 'rewritten' WHERE state = 'done'", "done action item cannot be changed"),
        (
            "UPDATE action_items SET note = '[erased]', done_at = NULL WHERE state = 'done'",
            "done action item cannot be changed",
        ),
        (
            "UPDATE sessions SET private_notes = 'rewritten' WHERE state = 'coached'",
            "coached session cannot be changed",
        ),
    ],
)
def test_a_stray_update_of_a_coached_session_or_closed_plan_is_still_refused(cli, world, statement, refusal):
    _erase(cli)  # the erasure feature exists, and has run
    before = cli.dump()
    with pytest.raises(IntegrityError, match=refusal):
        cli.query(statement)
    with pytest.raises(IntegrityError, match=refusal):
        in_an_erasure(cli, statement)
    assert cli.dump() == before


@pytest.mark.parametrize(
    "change",
    [
        {"greeting": ERASED},  # a rating is a number: it stays
        {"strengths": "something else"},  # text may only become the marker
        {"extra": ERASED},  # no new answer
        {"channel": None},  # a value swapped for null
    ],
)
def test_answers_of_a_coached_session_only_lose_text_to_the_marker(cli, world, change):
    answers = _coached_row(cli, world)
    before = cli.dump()
    with pytest.raises(IntegrityError, match="coached session cannot be changed"):
        in_an_erasure(cli, _answers_update(world["coached"], {**answers, **change}))
    with pytest.raises(IntegrityError, match="coached session cannot be changed"):
        in_an_erasure(cli, _answers_update(world["coached"], {k: v for k, v in answers.items() if k != "greeting"}))
    assert cli.dump() == before


def test_the_database_lets_text_become_the_marker_only_inside_an_erasure(cli, world):
    answers = _coached_row(cli, world)
    erasing = [
        _answers_update(world["coached"], {**answers, "agreed_actions": ERASED}),
        "UPDATE sessions SET notes = '[erased]', title = '[erased]' WHERE state = 'coached'",
        "UPDATE plans SET close_reason = '[erased]'",
        "UPDATE session_acknowledgements SET comment = '[erased]'",
        "UPDATE action_items SET text = '[erased]', note = '[erased]' WHERE state = 'done'",
    ]
    before = cli.dump()
    for statement in erasing:  # outside `coach user erase`, the marker is a change like any other
        with pytest.raises(IntegrityError, match="cannot be changed"):
            cli.query(statement)
    assert cli.dump() == before
    in_an_erasure(cli, *erasing)
    assert cli.query("SELECT count(*) FROM erasures_in_progress") == [(0,)]
    assert cli.query("SELECT text, note FROM action_items WHERE state = 'done'") == [(ERASED, ERASED)]
    assert cli.query("SELECT notes, title FROM sessions WHERE state = 'coached'") == [(ERASED, ERASED)]
    assert _coached_row(cli, world)["agreed_actions"] == ERASED


# --- nothing left behind in the SQLite file ------------------------------------------------


@pytest.mark.sqlite_only
def test_no_byte_of_the_erased_text_stays_in_the_sqlite_file_or_its_wal(cli, world):
    path = cli.db_path
    wal = path.with_name(path.name + "-wal")

    def stored_bytes() -> bytes:
        return (path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")).lower()

    markers = [text.lower().encode() for text in GONE]
    assert all(marker in stored_bytes() for marker in markers)
    assert _erase(cli).exit_code == 0
    left = [marker for marker in markers if marker in stored_bytes()]
    assert left == []
    assert KEEP.lower().encode() in stored_bytes()  # the search reads the live data


@pytest.mark.sqlite_only
def test_every_connection_runs_sqlite_with_secure_delete(engine):
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


# --- every written form of the name (SPEC §13) ---------------------------------------------

NFD_ZOE = unicodedata.normalize("NFD", "Zoë")
# Each text carries a marker: a marker gone means its whole text was erased.
NAMED = {
    "QV1Q": "Shadowing Quintero, Zoë QV1Q",  # surname first, comma
    "QV2Q": "Zoë  Quintero took the queue QV2Q",  # two spaces
    "QV3Q": "Ask Zoë\nQuintero about QV3Q",  # a line break
    "QV4Q": f"{NFD_ZOE} Quintero helped QV4Q",  # NFD
    "QV5Q": "Pair with Zoe Quintero QV5Q",  # no accent
    "QV6Q": "Learn from ZOEQ on QV6Q",  # the handle
    "QV7Q": "Ask Zizi about QV7Q",  # a nickname, given with --also
    "QV8Q": "Quintero Zoë said QV8Q",  # surname first, no comma
}
OWN = ["QTITLEQ", "QREQQ", "QLINKQ", "QPURPOSEQ", "QPRIVQ"]
ZOE_GONE = [*NAMED, *OWN, "quintero", "zoeq", "zizi"]
ZOE_KEEP = "Handover to Zoë Adams QKEEPQ"  # another Zoë: the first name alone names no one


def _folded(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).casefold()


def _found(text: str, strings: list[str]) -> list[str]:
    return [s for s in strings if _folded(s) in _folded(text)]


@pytest.fixture
def zoe(cli) -> dict:
    """Zoë Quintero's own records (request → session with a mini-goal, a
    plan) and a colleague's records that name her in every way people write it."""
    assert cli("user", "add", "zoeq", "--name", "Zoë Quintero", "--team", "Inbound", user="dana").exit_code == 0
    assert cli("path", "add", "Holds", "--agent", "zoeq", user="dana").exit_code == 0
    request = cli.json("session", "request", "--title", "Escalations QTITLEQ", "--notes", "Need QREQQ", user="zoeq")
    scheduled = cli.json(
        *("session", "schedule", "--from-request", str(request["id"]), "--date", "2026-12-20", "--start", "10:00"),
        *("--path", "Holds", "--kpi", "hold-time", "--target", "60", "--target-date", "2026-12-30"),
        *("--link", "https://meet.example/QLINKQ", "--private-notes", "Coach only QPRIVQ"),
        user="calvin",
    )
    plan = cli.json(
        "plan", "add", "--agent", "zoeq", "--form", "Call quality", "--purpose", "Calm QPURPOSEQ", user="calvin"
    )
    other = cli.json(
        "session", "new", "--agent", "alex", "--form", "Call quality", "--title", NAMED["QV1Q"], user="calvin"
    )
    saved = cli(
        *("session", "save", str(other["id"]), "--notes", NAMED["QV2Q"], "--private-notes", NAMED["QV3Q"]),
        *("--set", f"strengths={NAMED['QV4Q']}", "--set", f"opportunities={ZOE_KEEP}"),
        user="calvin",
    )
    assert saved.exit_code == 0, saved.stderr
    item = cli.json("action", "add", str(other["id"]), "--text", NAMED["QV5Q"], user="calvin")
    assert cli("action", "done", str(item["id"]), "--note", NAMED["QV8Q"], user="calvin").exit_code == 0
    alex_plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", NAMED["QV6Q"], user="calvin"
    )
    cli.json("action", "add", str(other["id"]), "--text", NAMED["QV7Q"], user="calvin")
    return {
        "sessions": [request["id"], scheduled["id"], other["id"], plan["current_session_id"]],
        "plans": [plan["id"], alex_plan["id"]],
        "goal": scheduled["minigoal_id"],
    }


def _zoe_outputs(cli: Cli, zoe: dict, formats: tuple[str, ...] = ("json", "csv", "tsv", "table")) -> str:
    """Every list and show that carries these texts, in every format, and the calendar."""
    commands = [
        ["session", "list"],
        ["session", "list", "--tab", "requested"],
        ["plan", "list", "--state", "all"],
        ["minigoal", "list"],
        ["action", "list", "--state", "all"],
        ["inbox"],
        ["user", "list"],
        ["log"],
        ["minigoal", "show", str(zoe["goal"])],
        *(["session", "show", str(session)] for session in zoe["sessions"]),
        *(["plan", "show", str(plan)] for plan in zoe["plans"]),
    ]
    shown = [cli(*command, "-o", fmt, user="dana").stdout for command in commands for fmt in formats]
    shown += [cli("inbox", "-o", "json", user="calvin").stdout, cli("calendar", user="dana").stdout]
    return "\n".join(shown)


def _erase_zoe(cli: Cli):
    return cli("user", "erase", "zoeq", "--reason", REASON, "--also", "Zizi", user="dana")


def _stored_bytes(cli: Cli) -> bytes:
    """What the storage holds: the SQLite file and its WAL, or every file of
    the PostgreSQL tables (their TOAST and indexes included), read by the
    server after a checkpoint (the test role is a superuser)."""
    if not cli.target.startswith("postgresql"):
        path = cli.db_path
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    cli.query("CHECKPOINT")
    files = cli.query(
        "SELECT pg_read_binary_file(pg_relation_filepath(r.oid)) FROM pg_class t "
        "JOIN pg_class r ON r.oid IN (t.oid, t.reltoastrelid) OR r.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = t.oid) "
        "WHERE t.relnamespace = current_schema()::regnamespace AND t.relkind = 'r'"
    )
    return b"".join(bytes(content) for (content,) in files if content is not None)


def _in_storage(cli: Cli, strings: list[str]) -> list[str]:
    stored = _folded(_stored_bytes(cli).decode("utf-8", "replace"))
    return [s for s in strings if _folded(s) in stored]


def test_erasure_reaches_her_own_texts_and_every_written_form_of_her_name(cli, zoe, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no table cell folds a word across lines
    # The searches find every string while it is there.
    assert _found(_zoe_outputs(cli, zoe, ("json",)), ZOE_GONE) == ZOE_GONE
    assert NAMED["QV1Q"] in cli("session", "list", "-o", "table", user="dana").stdout  # and tables show whole texts
    assert _in_storage(cli, ZOE_GONE) == ZOE_GONE
    result = _erase_zoe(cli)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # the acting role (the owner) rewrote the tables itself
    shown = _zoe_outputs(cli, zoe)
    assert "│" in shown  # tables were drawn
    assert _found(shown, ZOE_GONE) == []
    assert ZOE_KEEP in shown
    assert _found(json.dumps(cli.dump(), ensure_ascii=False), ZOE_GONE) == []
    assert _in_storage(cli, ZOE_GONE) == []
    assert _in_storage(cli, ["QKEEPQ"]) == ["QKEEPQ"]  # the search reads the live data
    assert "zizi" not in json.dumps(cli.json("log", user="dana")).lower()  # --also is never stored


@pytest.mark.parametrize("also", ["", "  ", ",", "alex", "ALEX", "Alex Moreno", "alex  moreno"])
def test_an_also_that_is_blank_or_names_another_user_is_refused(cli, also):
    before = cli.dump()
    result = cli("user", "erase", "maria", "--reason", REASON, "--also", "Mary", "--also", also, user="dana")
    assert "--also" in _one_line(result, ExitCode.BAD_INPUT)
    assert cli.dump() == before


def test_db_vacuum_and_an_erasure_by_a_role_that_may_not_rewrite_the_tables(cli, backend):
    """The owner's `db vacuum` rewrites the tables; a role that may change
    rows but not rewrite the tables erases, and says on stderr the one
    command the owner runs."""
    vacuumed = cli.json("db", "vacuum")
    assert vacuumed["backend"] == backend and vacuumed["tables"] == len(cli.json("db", "info")["tables"])
    if backend == "sqlite":
        return
    cli.json("session", "request", "--title", "Maria QMARIAQ needs help", user="maria")
    (database, schema) = cli.query("SELECT current_database(), current_schema()")[0]
    role = f"{database}_{schema}_eraser"
    cli.query(f"CREATE ROLE {role} LOGIN")
    try:
        # An admin's own login role (SPEC §12): its group may change rows, not rewrite tables.
        assert cli("user", "link", "dana", "--login", role).exit_code == 0
        as_role = Cli(sqlalchemy.engine.make_url(cli.target).set(username=role).render_as_string(hide_password=False))
        erased = as_role("user", "erase", "maria", "--reason", REASON, user="dana")
        assert erased.exit_code == 0, erased.stderr
        assert erased.stderr.strip().endswith("the tables' owner runs, on this database: coach db vacuum")
        assert _in_storage(cli, ["QMARIAQ"]) == ["QMARIAQ"]  # an old row version still holds it
        assert "only the owner" in _one_line(as_role("db", "vacuum"), ExitCode.DATABASE)
        assert cli("db", "vacuum").exit_code == 0
        assert _in_storage(cli, ["QMARIAQ", "Maria Lopez"]) == []
    finally:
        cli.query(f"DROP OWNED BY {role}")
        cli.query(f"DROP ROLE {role}")
