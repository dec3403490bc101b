"""Who is acting, and what they may see and do (SPEC §1 scope, §4 Identity).

Through the CLI against the seeded center: dana (admin); calvin, coach of
Inbound (alex, maria); priya, coach of Chat (sam).
"""

from __future__ import annotations

import pytest

from coachcli.errors import ExitCode

PERMISSION = int(ExitCode.PERMISSION)


@pytest.fixture
def world(cli):
    """A plan for alex (calvin), one for sam (priya), a standalone session for maria."""
    alex_plan = int(
        cli(
            "plan",
            "add",
            "--agent",
            "alex",
            "--form",
            "Call quality",
            "--purpose",
            "Shorter holds",
            "-q",
            user="calvin",
        ).stdout
    )
    sam_plan = int(
        cli(
            "plan",
            "add",
            "--agent",
            "sam",
            "--form",
            "Call quality",
            "--purpose",
            "Fewer escalations",
            "-q",
            user="priya",
        ).stdout
    )
    maria_session = int(cli("session", "new", "--agent", "maria", "--form", "Call quality", "-q", user="calvin").stdout)
    plans = {p["id"]: p for p in cli.json("plan", "list", user="dana")}
    return {
        "alex_plan": alex_plan,
        "sam_plan": sam_plan,
        "alex_session": plans[alex_plan]["current_session_id"],
        "sam_session": plans[sam_plan]["current_session_id"],
        "maria_session": maria_session,
    }


def refused(result, code: int = PERMISSION) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


# --- identity -------------------------------------------------------------------


def test_as_option_names_the_acting_user(cli):
    handles = [u["handle"] for u in cli.json("user", "list", user="alex")]
    assert handles == ["alex"]


def test_coach_user_environment_names_the_acting_user(cli, monkeypatch):
    monkeypatch.setenv("COACH_USER", "calvin")
    handles = {u["handle"] for u in cli.json("user", "list")}
    assert handles == {"calvin", "alex", "maria"}
    # --as wins over COACH_USER
    assert [u["handle"] for u in cli.json("user", "list", user="sam")] == ["sam"]


def test_a_missing_acting_user_says_how_to_set_one(cli):
    line = refused(cli("plan", "list"))
    assert "--as HANDLE" in line and "COACH_USER" in line


def test_an_unknown_acting_user_is_refused(cli, monkeypatch):
    line = refused(cli("session", "list", user="mallory"))
    assert "'mallory'" in line and "does not exist" in line
    monkeypatch.setenv("COACH_USER", "mallory")
    refused(cli("plan", "list"))


# --- scope: what each role sees -------------------------------------------------


def test_admin_sees_everyone_and_everything(cli, world):
    assert {p["id"] for p in cli.json("plan", "list", user="dana")} == {world["alex_plan"], world["sam_plan"]}
    agents = {s["agent"] for s in cli.json("session", "list", user="dana")}
    assert agents == {"alex", "sam", "maria"}
    assert {u["handle"] for u in cli.json("user", "list", user="dana")} == {
        "dana",
        "calvin",
        "priya",
        "alex",
        "maria",
        "sam",
    }
    assert cli.json("plan", "show", str(world["sam_plan"]), user="dana")["agent"] == "sam"


def test_coach_sees_only_the_agents_of_their_teams(cli, world):
    assert [p["id"] for p in cli.json("plan", "list", user="calvin")] == [world["alex_plan"]]
    assert {s["agent"] for s in cli.json("session", "list", user="calvin")} == {"alex", "maria"}
    assert cli.json("session", "list", "--agent", "sam", user="calvin") == []
    assert cli.json("plan", "list", "--agent", "sam", user="calvin") == []
    assert {u["handle"] for u in cli.json("user", "list", user="calvin")} == {"calvin", "alex", "maria"}
    assert [p["agent"] for p in cli.json("plan", "list", user="priya")] == ["sam"]


def test_coach_cannot_open_records_outside_their_teams(cli, world):
    line = refused(cli("plan", "show", str(world["sam_plan"]), user="calvin"))
    assert f"plan {world['sam_plan']}" in line and "scope" in line
    refused(cli("session", "show", str(world["sam_session"]), user="calvin"))
    assert cli.json("session", "list", "--plan", str(world["sam_plan"]), user="calvin") == []


def test_agent_sees_only_themself(cli, world):
    assert [p["id"] for p in cli.json("plan", "list", user="alex")] == [world["alex_plan"]]
    assert [s["id"] for s in cli.json("session", "list", user="alex")] == [world["alex_session"]]
    assert cli.json("session", "show", str(world["alex_session"]), user="alex")["agent"] == "alex"
    assert cli.json("plan", "show", str(world["alex_plan"]), user="alex")["agent"] == "alex"
    refused(cli("session", "show", str(world["maria_session"]), user="alex"))
    refused(cli("plan", "show", str(world["sam_plan"]), user="alex"))
    assert cli.json("session", "list", "--agent", "maria", user="alex") == []


# --- what each role may do -------------------------------------------------------


def test_agents_cannot_open_plans(cli, world):
    line = refused(
        cli("plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Self-improvement", user="alex")
    )
    assert "only a coach or an admin" in line
    refused(cli("plan", "edit", str(world["alex_plan"]), user="alex"))
    refused(cli("plan", "close", str(world["alex_plan"]), "--reason", "I think I am done with this now", user="alex"))


@pytest.mark.parametrize(
    "command",
    [
        ["session", "save", "{s}", "--set", "greeting=5"],
        ["session", "coach", "{s}", "--set", "greeting=5"],
        ["session", "autofill", "{s}"],
        ["session", "coach-again", "{s}"],
        ["session", "delete", "{s}"],
    ],
)
def test_agents_cannot_run_sessions(cli, world, command):
    args = [part.format(s=world["alex_session"]) for part in command]
    refused(cli(*args, user="alex"))
    refused(cli("session", "new", "--agent", "alex", "--form", "Call quality", user="alex"))
    assert cli.json("session", "show", str(world["alex_session"]), user="calvin")["answers"] == {}


def test_coach_cannot_act_on_an_agent_outside_their_teams(cli, world):
    line = refused(
        cli("plan", "add", "--agent", "sam", "--form", "Call quality", "--purpose", "Faster replies", user="calvin")
    )
    assert "'sam' is outside the teams 'calvin' supervises" in line
    refused(cli("session", "new", "--agent", "sam", "--form", "Call quality", user="calvin"))
    refused(cli("session", "save", str(world["sam_session"]), "--set", "greeting=1", user="calvin"))
    refused(cli("plan", "edit", str(world["sam_plan"]), user="calvin"))
    refused(cli("session", "delete", str(world["sam_session"]), user="calvin"))
    assert len(cli.json("plan", "list", user="dana")) == 2
    assert cli.json("session", "show", str(world["sam_session"]), user="priya")["state"] == "draft"


def test_admin_can_act_on_any_agent(cli, world):
    result = cli("session", "save", str(world["sam_session"]), "--set", "greeting=3", "-o", "json", user="dana")
    assert result.exit_code == 0, result.stderr
    assert cli.json("session", "show", str(world["sam_session"]), user="priya")["answers"] == {"greeting": 3}


# --- adding users -----------------------------------------------------------------


def test_bootstrap_the_first_user_needs_no_acting_user(empty_cli):
    assert empty_cli("init").exit_code == 0
    result = empty_cli("user", "add", "dana", "--name", "Dana Whitfield", "--role", "admin", "-o", "json")
    assert result.exit_code == 0, result.stderr
    import json

    assert json.loads(result.stdout) == {
        "handle": "dana",
        "name": "Dana Whitfield",
        "role": "admin",
        "teams": [],
        "login": None,
    }
    # Once there is a user, adding another needs an acting user.
    line = refused(empty_cli("user", "add", "alex", "--name", "Alex Moreno"))
    assert "--as" in line
    assert empty_cli("user", "add", "alex", "--name", "Alex Moreno", user="dana").exit_code == 0


def test_bootstrap_ignores_an_acting_user_that_does_not_exist_yet(empty_cli, monkeypatch):
    """A new user who already exported COACH_USER=dana can still create dana."""
    empty_cli("init")
    monkeypatch.setenv("COACH_USER", "dana")
    created = empty_cli("user", "add", "dana", "--name", "Dana", "--role", "admin")
    assert created.exit_code == 0, created.stderr
    # Once a user exists the acting user counts again: an unknown one is refused.
    line = refused(empty_cli("user", "add", "alex", "--name", "Alex Moreno", user="nobody"), int(ExitCode.PERMISSION))
    assert "acting user 'nobody' does not exist" in line
    created = empty_cli.json("user", "add", "alex", "--name", "Alex Moreno")  # COACH_USER=dana acts
    assert created["handle"] == "alex"
    assert empty_cli.json("log", "--user", "dana", user="dana")[0]["action"] == "user.add"


def test_bootstrap_roster_import_ignores_an_acting_user_that_does_not_exist_yet(empty_cli):
    empty_cli("init")
    roster = "handle,name,role\ndana,Dana Whitfield,admin\n"
    assert empty_cli.json("user", "import", "-", user="dana", input=roster)["added"] == 1


def test_bootstrap_lasts_until_there_is_an_admin(empty_cli):
    """A first user with another role never locks the database: until an admin
    exists, users are added with no acting user."""
    empty_cli("init")
    assert empty_cli("user", "add", "alex", "--name", "Alex Moreno").exit_code == 0
    assert empty_cli("user", "add", "calvin", "--name", "Calvin", "--role", "coach").exit_code == 0
    assert empty_cli("user", "add", "dana", "--name", "Dana", "--role", "admin").exit_code == 0
    line = refused(empty_cli("user", "add", "maria", "--name", "Maria Lopez"), int(ExitCode.PERMISSION))
    assert "--as" in line


def test_user_add_without_a_database_says_to_init(empty_cli):
    line = refused(empty_cli("user", "add", "dana", "--name", "Dana", "--role", "admin"), int(ExitCode.DATABASE))
    assert "coach init" in line
    if empty_cli.target.startswith("postgresql"):
        assert empty_cli.dump() == {}  # the empty schema gets no tables
    else:
        assert not empty_cli.db_path.exists()


def test_a_coach_adds_agents_to_their_own_teams_only(cli):
    result = cli("user", "add", "jordan", "--name", "Jordan Kim", "--team", "Inbound", "-o", "json", user="calvin")
    assert result.exit_code == 0, result.stderr
    assert {u["handle"] for u in cli.json("user", "list", user="calvin")} == {"calvin", "alex", "maria", "jordan"}
    line = refused(cli("user", "add", "lee", "--name", "Lee Chen", "--team", "Chat", user="calvin"))
    assert "Chat" in line
    assert "--team" in refused(cli("user", "add", "lee", "--name", "Lee Chen", user="calvin"))
    assert "only an admin" in refused(
        cli("user", "add", "vic", "--name", "Vic", "--role", "coach", "--team", "Inbound", user="calvin")
    )
    refused(cli("user", "add", "kim", "--name", "Kim", "--team", "Inbound", user="alex"))
    assert {u["handle"] for u in cli.json("user", "list", user="dana")} == {
        "dana",
        "calvin",
        "priya",
        "alex",
        "maria",
        "sam",
        "jordan",
    }


def test_a_coach_who_adds_a_team_supervises_it(cli):
    assert cli("team", "add", "Escalations", user="priya").exit_code == 0
    assert cli("user", "add", "lee", "--name", "Lee Chen", "--team", "Escalations", user="priya").exit_code == 0
    assert "lee" in {u["handle"] for u in cli.json("user", "list", user="priya")}
    refused(cli("team", "add", "Agents only", user="alex"))


def test_team_list_shows_an_agent_only_their_team_and_no_other_agent(cli):
    as_agent = cli.json("team", "list", user="alex")
    assert [(team["name"], team["agents"], team["coaches"]) for team in as_agent] == [("Inbound", ["alex"], ["calvin"])]
    as_coach = cli.json("team", "list", user="priya")
    assert [(team["name"], team["agents"]) for team in as_coach] == [("Chat", ["sam"])]
    assert {team["name"] for team in cli.json("team", "list", user="dana")} == {"Inbound", "Chat"}


def test_handles_are_matched_case_insensitively(cli):
    assert cli("plan", "list", "--agent", "ALEX", user="Calvin").exit_code == 0
    assert cli.json("user", "list", user=" CALVIN ")


def test_while_there_is_no_admin_an_acting_user_does_not_narrow_the_bootstrap(empty_cli):
    empty_cli("init")
    assert empty_cli("user", "add", "c1", "--name", "C", "--role", "coach").exit_code == 0
    assert empty_cli("user", "add", "boss", "--name", "B", "--role", "admin", user="c1").exit_code == 0
    assert "only an admin" in refused(empty_cli("user", "add", "x2", "--name", "X", "--role", "coach", user="c1"))


# --- an agent cannot import KPI data (SPEC §14) ---------------------------------------------


def test_an_agent_cannot_import_kpi_data(cli):
    """An agent could `kpi import` anyone's data, their own goals included."""
    text = "agent,metric,observed_at,value\nalex,handle-time,2026-11-02,100\nmaria,handle-time,2026-11-02,900\n"
    before = cli.dump()
    result = cli("kpi", "import", "-", user="alex", input=text)
    assert result.exit_code == 5, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "KPI data" in result.stderr
    assert cli.dump() == before
    # A coach, an admin and a script with no acting user import as before.
    assert cli.json("kpi", "import", "-", user="calvin", input=text)["inserted"] == 2
    assert cli.json("kpi", "import", "-", user="dana", input=text)["unchanged"] == 2
    assert cli.json("kpi", "import", "-", input=text)["unchanged"] == 2
