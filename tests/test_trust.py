"""Trust on a shared server (SPEC §12): real login roles, made for the test
and dropped after it, connect to the PostgreSQL server (which trusts local
connections) — through `coach`, for what each group may do, and through raw
SQL, for what it may not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from conftest import COMPLETE_ANSWERS, Cli, empty_postgres_schema
from sqlalchemy.engine import make_url

from coachcli.db.security import GROUPS
from coachcli.errors import ExitCode

pytestmark = pytest.mark.postgresql_only


def one_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coach: "), result.stderr
    return lines[0]


class Roles:
    """Login roles for one test, named uniquely for the run."""

    def __init__(self, cli: Cli):
        self.cli = cli
        self.suffix = uuid.uuid4().hex[:8]
        self.made: list[str] = []

    def make(self, name: str) -> str:
        role = f"coach_login_{name}_{self.suffix}"
        self.cli.query(f'CREATE ROLE "{role}" LOGIN')
        self.made.append(role)
        return role

    def linked(self, handle: str) -> str:
        role = self.make(handle)
        assert self.cli("user", "link", handle, "--login", role).exit_code == 0
        return role

    def service(self) -> str:
        role = self.make("nightly")
        self.cli.query(f'GRANT "{self.groups()["service"]}" TO "{role}"')
        return role

    def groups(self) -> dict[str, str]:
        return self.cli.json("db", "info")["roles"]

    def url(self, role: str, target: str | None = None) -> str:
        return make_url(target or self.cli.target).set(username=role).render_as_string(hide_password=False)

    def coach(self, role: str) -> Cli:
        """`coach` run by this login role."""
        return Cli(self.url(role))

    @contextmanager
    def sql(self, role: str) -> Iterator[psycopg.Connection]:
        """psql, as this login role: autocommit, coach's schema on the search_path."""
        url = make_url(self.url(role))
        schema = url.query["options"].split("=", 1)[1]
        with psycopg.connect(
            host=url.host, dbname=url.database, user=role, autocommit=True, options=f"-csearch_path={schema}"
        ) as connection:
            yield connection

    def drop(self) -> None:
        for role in self.made:
            self.cli.query(f'DROP OWNED BY "{role}"')
            self.cli.query(f'DROP ROLE "{role}"')


@pytest.fixture
def roles(cli) -> Iterator[Roles]:
    made = Roles(cli)
    try:
        yield made
    finally:
        made.drop()


def refused(connection: psycopg.Connection, statement: str, error: str) -> None:
    with pytest.raises(psycopg.Error, match=error):
        connection.execute(statement)


# --- the groups ------------------------------------------------------------------------------


def test_init_makes_four_nologin_groups_that_hold_no_ddl_and_no_truncate(cli):
    groups = cli.json("db", "info")["roles"]
    assert sorted(groups) == sorted(GROUPS)
    for group in groups.values():
        assert cli.query(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{group}'") == [(False,)]
        assert cli.query(
            f"""SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND (
                has_table_privilege('{group}', schemaname || '.' || tablename, 'TRUNCATE')
                OR has_table_privilege('{group}', schemaname || '.' || tablename, 'TRIGGER')
                OR has_table_privilege('{group}', schemaname || '.' || tablename, 'REFERENCES'))"""
        ) == [(0,)]
        assert cli.query(f"SELECT has_schema_privilege('{group}', current_schema(), 'CREATE')") == [(False,)]
    assert cli.query("SELECT has_schema_privilege('public', current_schema(), 'CREATE')") == [(False,)]
    assert cli("init").exit_code == 0  # again: nothing to make, nothing refused
    assert cli.json("db", "info")["roles"] == groups


def test_the_groups_of_one_coach_database_give_no_power_over_another(cli, roles, postgres_database):
    admin = roles.linked("dana")
    with empty_postgres_schema(postgres_database) as other_target:
        other = Cli(other_target)
        assert other("init").exit_code == 0
        assert other.json("db", "info")["roles"] != cli.json("db", "info")["roles"]
        assert other("user", "add", "zoe", "--name", "Zoe", "--role", "admin").exit_code == 0
        other_schema = make_url(other_target).query["options"].split("=", 1)[1]
        with roles.sql(admin) as connection:
            refused(connection, f"SELECT * FROM {other_schema}.users", "permission denied")
            refused(
                connection,
                f"INSERT INTO {other_schema}.teams (name, created_at) VALUES ('x', 'y')",
                "permission denied",
            )
        line = one_line(Cli(roles.url(admin, other_target))("user", "list"), ExitCode.PERMISSION)
        assert "not linked" in line


# --- linking ---------------------------------------------------------------------------------


def test_linking_moves_the_role_into_the_group_of_the_users_role(cli, roles):
    groups = roles.groups()
    role = roles.linked("maria")
    assert {user["handle"]: user["login"] for user in cli.json("user", "list", user="dana")}["maria"] == role

    def member_of() -> list[str]:
        rows = cli.query(
            f"""SELECT g.rolname FROM pg_auth_members AS m JOIN pg_roles AS g ON g.oid = m.roleid
                WHERE m.member = '{role}'::regrole"""
        )
        return sorted(name for (name,) in rows)

    assert member_of() == [groups["agent"]]
    cli.query("UPDATE users SET role = 'coach' WHERE handle = 'maria'")  # as a roster import would
    assert member_of() == [groups["coach"]]
    assert cli.json("user", "link", "maria", "--none", user="dana")["login"] is None
    assert member_of() == []


def test_bad_links_are_one_line_and_change_nothing(cli, roles):
    role = roles.linked("alex")
    before = cli.dump()
    assert "no login role" in one_line(cli("user", "link", "maria", "--login", "no_such_role_x"), ExitCode.NOT_FOUND)
    assert "already linked to 'alex'" in one_line(
        cli("user", "link", "maria", "--login", role, user="dana"), ExitCode.BAD_INPUT
    )
    assert "only an admin" in one_line(
        cli("user", "link", "maria", "--login", role, user="calvin"), ExitCode.PERMISSION
    )
    assert cli.dump() == before


@pytest.mark.sqlite_only
def test_there_is_nothing_to_link_on_sqlite(cli):
    before = cli.dump()
    assert "nothing to link on SQLite" in one_line(
        cli("user", "link", "alex", "--login", "alex", user="dana"), ExitCode.BAD_INPUT
    )
    assert cli.dump() == before


# --- who is acting ---------------------------------------------------------------------------


def test_a_linked_role_acts_as_its_user_and_sees_only_its_scope(cli, roles):
    alex, calvin, dana = roles.linked("alex"), roles.linked("calvin"), roles.linked("dana")
    as_alex = roles.coach(alex)
    assert [user["handle"] for user in as_alex.json("user", "list")] == ["alex"]
    line = one_line(as_alex("user", "list", user="dana"), ExitCode.PERMISSION)
    assert "'alex'" in line and "'dana'" in line
    assert as_alex.json("user", "list", user="alex")[0]["handle"] == "alex"
    assert [user["handle"] for user in roles.coach(calvin).json("user", "list")] == ["alex", "calvin", "maria"]
    assert len(roles.coach(dana).json("user", "list")) == 6
    added = roles.coach(calvin)("team", "add", "Calvin's own")
    assert added.exit_code == 0, added.stderr


def test_the_policies_and_coachs_queries_apply_the_same_scope_rule(cli, roles):
    for handle in ("alex", "calvin", "priya", "dana"):
        shown = sorted(user["handle"] for user in cli.json("user", "list", user=handle))
        with roles.sql(roles.linked(handle)) as connection:
            visible = connection.execute(
                "SELECT handle FROM users WHERE id IN (SELECT coach_visible_people()) ORDER BY handle"
            ).fetchall()
        assert [row[0] for row in visible] == shown, handle


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result


def test_each_group_does_its_days_work_through_coach(cli, roles, tmp_path, postgres_database, monkeypatch):
    monkeypatch.setenv("COACH_NOTIFY_COMMAND", "true")
    calvin, alex, dana = (roles.coach(roles.linked(handle)) for handle in ("calvin", "alex", "dana"))
    service = roles.coach(roles.service())
    answers = [part for key, value in COMPLETE_ANSWERS.items() for part in ("--set", f"{key}={value}")]
    # A coach coaches their agent, with private notes, and gives an action item.
    session = int(ok(calvin("session", "new", "--agent", "alex", "--form", "Call quality", "-q")).stdout)
    ok(calvin("session", "coach", str(session), *answers, "--private-notes", "between coaches"))
    item = calvin.json("action", "add", str(session), "--text", "Closing checklist")["id"]
    assert calvin.json("session", "show", str(session))["private_notes"] == "between coaches"
    # The agent sees it (without the private notes), acknowledges it, finishes the action.
    shown = alex.json("session", "show", str(session))
    assert shown["id"] == session and "private_notes" not in shown
    ok(alex("session", "ack", str(session)))
    ok(alex("action", "done", str(item)))
    ok(alex("inbox"))
    request = int(ok(alex("session", "request", "--title", "Help with holds", "-q")).stdout)
    ok(alex("session", "delete", str(request)))
    assert "only a coach or an admin" in one_line(
        alex("session", "new", "--agent", "maria", "--form", "Call quality"), 5
    )
    # The nightly jobs, as the service role.
    kpi = tmp_path / "kpi.csv"
    kpi.write_text("agent,metric,date,value\nalex,hold-time,2026-12-15,10\n")
    assert service.json("kpi", "import", str(kpi))["inserted"] == 1
    ok(service("minigoal", "evaluate"))
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "Long holds"\nmetric = "hold-time"\nthreshold = 5\nwindow = 30\n')
    fired = service.json("rules", "run", str(rules), "--as-of", "2026-12-20")
    assert "alex" in str(fired), fired
    ok(service("remind"))
    ok(service("notify", "send"))
    with empty_postgres_schema(postgres_database) as copy:
        assert service.json("db", "copy", "--to", copy)["tables"]["sessions"] == 1
    # An admin reads the log, and erases a person.
    assert dana.json("log")
    ok(dana("user", "erase", "maria", "--reason", "Left the company and asked to be erased"))
    ok(dana("db", "check"))


def test_an_unlinked_service_role_runs_only_the_nightly_commands(cli, roles):
    service = roles.coach(roles.service())
    for command in (["minigoal", "evaluate"], ["remind"], ["db", "info"], ["db", "check"]):
        result = service(*command)
        assert result.exit_code == 0, (command, result.stderr)
    line = one_line(service("session", "list"), ExitCode.PERMISSION)
    assert "service role" in line and "minigoal evaluate" in line
    assert "cannot act as 'dana'" in one_line(service("session", "list", user="dana"), ExitCode.PERMISSION)


def test_any_other_role_is_refused_with_the_command_that_links_it(cli, roles):
    stranger = roles.make("stranger")
    line = one_line(roles.coach(stranger)("session", "list", user="dana"), ExitCode.PERMISSION)
    assert f"coach user link HANDLE --login {stranger}" in line


# --- what raw SQL cannot do ------------------------------------------------------------------


def test_an_agent_role_reads_its_own_records_and_no_private_note(cli, roles):
    session = cli.json(
        "session", "new", "--agent", "maria", "--form", "Call quality", "--title", "Call review", user="calvin"
    )["id"]
    cli("session", "save", str(session), "--private-notes", "between coaches", user="calvin")
    with roles.sql(roles.linked("alex")) as connection:
        assert connection.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
        assert connection.execute("SELECT handle FROM users WHERE role = 'agent'").fetchall() == [("alex",)]
        refused(connection, "SELECT private_notes FROM sessions", "permission denied")
        refused(connection, "SELECT * FROM audit_log", "permission denied")
        refused(
            connection,
            """INSERT INTO sessions (title, agent_id, state, created_at, updated_at)
               SELECT 'forged', id, 'coached', 'x', 'x' FROM users WHERE handle = 'alex'""",
            "row-level security",
        )
    with roles.sql(roles.linked("priya")) as connection:  # a coach of another team
        assert connection.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    with roles.sql(roles.linked("calvin")) as connection:
        assert connection.execute("SELECT private_notes FROM sessions").fetchall() == [("between coaches",)]


def test_no_group_can_switch_off_or_empty_what_the_triggers_protect(cli, roles):
    with roles.sql(roles.linked("dana")) as connection:
        refused(connection, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_is_append_only_delete", "owner")
        refused(connection, "DROP TRIGGER closed_plans_are_final ON plans", "owner")
        refused(connection, "TRUNCATE audit_log", "permission denied")
        refused(connection, "TRUNCATE sessions", "permission denied")
        refused(connection, "CREATE TABLE plans2 (id int)", "permission denied")
        refused(
            connection,
            "CREATE OR REPLACE FUNCTION coach_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
            "owner|permission denied",
        )


def test_a_temporary_table_or_function_changes_nothing_a_trigger_decides(cli, roles):
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Handle time", user="calvin"
    )
    cli.query(f"DELETE FROM sessions WHERE plan_id = {plan['id']}")
    closed = cli("plan", "close", str(plan["id"]), "--reason", "Goals met by the agent", user="calvin")
    assert closed.exit_code == 0, closed.stderr
    coached = cli.json("session", "new", "--agent", "alex", "--form", "Call quality", "--title", "Done", user="calvin")[
        "id"
    ]
    cli.query(f"UPDATE sessions SET state = 'coached' WHERE id = {coached}")
    calvin = roles.linked("calvin")
    before = cli.dump()
    with roles.sql(calvin) as connection:
        connection.execute("CREATE TEMP TABLE plans (id integer, state text, form_id integer)")
        connection.execute(f"INSERT INTO plans SELECT {plan['id']}, 'active', id FROM forms")
        connection.execute("SET search_path = pg_temp, " + connection.execute("SELECT current_schema()").fetchone()[0])
        refused(
            connection,
            f"""INSERT INTO {cli_schema(cli)}.sessions (title, agent_id, coach_id, form_id, plan_id, state, created_at, updated_at)
                SELECT 'forged', agent_id, coach_id, form_id, id, 'coached', 'x', 'x' FROM {cli_schema(cli)}.plans
                WHERE id = {plan["id"]}""",
            "plan must be active",
        )
        connection.execute(
            "CREATE FUNCTION pg_temp.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$"
        )
        refused(
            connection,
            f"UPDATE {cli_schema(cli)}.sessions SET notes = 'rewritten' WHERE id = {coached}",
            "coached session cannot be changed",
        )
    assert cli.dump() == before


def cli_schema(cli: Cli) -> str:
    return make_url(cli.target).query["options"].split("=", 1)[1]


def test_a_role_without_coachs_privileges_cannot_take_or_hold_the_write_lock(cli, roles):
    stranger = roles.make("stranger")
    with roles.sql(stranger) as connection:
        with connection.transaction():
            refused(connection, f"LOCK TABLE {cli_schema(cli)}.coach_write_lock IN EXCLUSIVE MODE", "permission denied")
        connection.execute("BEGIN")
        connection.execute("SELECT pg_advisory_xact_lock(x'636F616368'::bigint)")  # the lock coach used to take
        assert cli("team", "add", "Night shift", user="dana").exit_code == 0
        connection.execute("ROLLBACK")


def test_an_audit_entry_names_the_login_roles_own_user_only(cli, roles):
    (dana,) = cli.query("SELECT id FROM users WHERE handle = 'dana'")[0]
    (alex,) = cli.query("SELECT id FROM users WHERE handle = 'alex'")[0]
    alex_role = roles.linked("alex")
    before = cli.dump()
    with roles.sql(alex_role) as connection:
        insert = "INSERT INTO audit_log (at, actor_id, action, record_type, details) VALUES ('x', {}, 'user.add', 'user', '{{}}')"
        refused(connection, insert.format(dana), "names the user linked to the login role")
        refused(connection, insert.format("NULL"), "names the user linked to the login role")
        connection.execute(insert.format(alex))
    assert len(cli.dump()["audit_log"]) == len(before["audit_log"]) + 1


def test_erased_is_let_through_only_inside_an_erasure(cli, roles):
    plan = cli.json(
        "plan", "add", "--agent", "alex", "--form", "Call quality", "--purpose", "Handle time", user="calvin"
    )
    cli.query(f"DELETE FROM sessions WHERE plan_id = {plan['id']}")
    closed = cli("plan", "close", str(plan["id"]), "--reason", "Goals met by the agent", user="calvin")
    assert closed.exit_code == 0, closed.stderr
    dana, calvin = roles.linked("dana"), roles.linked("calvin")
    before = cli.dump()
    with roles.sql(dana) as connection:
        refused(connection, "UPDATE plans SET purpose = '[erased]'", "closed performance plan cannot be changed")
        refused(connection, "INSERT INTO erasures_in_progress VALUES (pg_current_xact_id()::text)", "permission denied")
    with roles.sql(calvin) as connection:
        refused(connection, "SELECT coach_begin_erasure()", "permission denied")
    assert cli.dump() == before
