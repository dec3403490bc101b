"""Trust on a shared PostgreSQL server (SPEC §12): the group roles and what
each may do, the row-level security policies, and the functions behind the
triggers — all generated here, from the declarations below, for the schema
coach lives in.

`install` runs as the last step of every migration on PostgreSQL, and again
at each `coach init`: it is idempotent. `db check` compares the server's
catalog with the same definitions (`expected_functions`, `SERVER_TRIGGERS`).
On SQLite there is nothing to install: the file has one owner.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Integer, String, literal_column, select, text
from sqlmodel import Session, col

from coachcli.choices import COACHING_ROLES
from coachcli.db.scope import SEES_EVERYONE, scope_rule, sees_everyone, session_rule

GROUPS = ("agent", "coach", "admin", "service")
EVERYONE = GROUPS
NIGHTLY = ("coach", "admin", "service")


@dataclass(frozen=True)
class TableGrants:
    """Which groups may do what on one table. No group ever gets TRUNCATE,
    REFERENCES, TRIGGER or any DDL (only the owner has those)."""

    select: tuple[str, ...] = EVERYONE
    insert: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    # Columns a group may not read (it reads every other one).
    unreadable: dict[str, tuple[str, ...]] = field(default_factory=dict)


# The privilege table: one line a table. Rows are further limited by the
# row-level security below; the rules the triggers keep (a coached session
# is final, the audit log append-only) hold whatever is granted here.
PRIVILEGES: dict[str, TableGrants] = {
    "coach_schema": TableGrants(),
    # Never holds a row: writers lock it (LOCK TABLE needs UPDATE), so only
    # coach's own groups can take the write lock.
    "coach_write_lock": TableGrants(select=(), update=EVERYONE),
    "users": TableGrants(insert=COACHING_ROLES, update=COACHING_ROLES),
    "teams": TableGrants(insert=COACHING_ROLES),
    "team_memberships": TableGrants(insert=COACHING_ROLES, delete=COACHING_ROLES),
    "forms": TableGrants(insert=COACHING_ROLES, update=COACHING_ROLES),
    "paths": TableGrants(insert=COACHING_ROLES),
    "path_assignments": TableGrants(insert=COACHING_ROLES, delete=COACHING_ROLES),
    "plans": TableGrants(insert=COACHING_ROLES, update=COACHING_ROLES),
    "sessions": TableGrants(
        insert=EVERYONE, update=EVERYONE, delete=EVERYONE, unreadable={"agent": ("private_notes",)}
    ),
    "session_acknowledgements": TableGrants(insert=("agent",), update=("admin",)),
    "action_items": TableGrants(insert=COACHING_ROLES, update=EVERYONE),
    "minigoals": TableGrants(insert=COACHING_ROLES, update=NIGHTLY, delete=COACHING_ROLES),
    "minigoal_changes": TableGrants(insert=NIGHTLY),
    "kpi_observations": TableGrants(insert=NIGHTLY, update=NIGHTLY),
    "notifications": TableGrants(insert=EVERYONE, update=EVERYONE),
    "run_marks": TableGrants(insert=NIGHTLY, update=NIGHTLY),
    # Written by everyone, read by admins (coach log) and the service role
    # (db copy); each entry's actor is checked against the login role.
    "audit_log": TableGrants(select=("admin", "service"), insert=EVERYONE),
    "rule_firings": TableGrants(insert=NIGHTLY),
    # Only the owner writes it, through coach_begin_erasure().
    "erasures_in_progress": TableGrants(select=()),
}

# Row-level security: which rows of each table that holds people's records
# a linked role sees and writes, in terms of the people the one scope rule
# lets it see ({visible}) and the sessions it may see. The owner and
# superusers are not limited (coach filters for them, as on SQLite).
ROW_SCOPE: dict[str, str] = {
    # Staff are shown by handle on every record they touched.
    "users": "id IN {visible} OR role <> 'agent'",
    "team_memberships": (
        "user_id IN {visible} OR (team_id IN (SELECT {schema}.coach_viewer_teams())"
        " AND user_id IN (SELECT id FROM {schema}.users WHERE role <> 'agent'))"
    ),
    "path_assignments": "user_id IN {visible}",
    "plans": "agent_id IN {visible}",
    "sessions": "({session_rule})",
    "session_acknowledgements": "session_id IN (SELECT id FROM {schema}.sessions)",
    "action_items": "owner_id IN {visible} OR session_id IN (SELECT id FROM {schema}.sessions)",
    "minigoals": "assignee_id IN {visible}",
    "minigoal_changes": "minigoal_id IN (SELECT id FROM {schema}.minigoals)",
    "kpi_observations": "agent_id IN {visible}",
    "notifications": "user_id IN {visible}",
    "rule_firings": "agent_id IN {visible}",
}

# What a role may add beyond the rows it sees: a notification to anyone it
# sees in `users` (an agent's acknowledgement tells their coach).
INSERT_SCOPE: dict[str, str] = {
    "notifications": "user_id IN (SELECT id FROM {schema}.users)",
}

# What an agent's role may write beyond its scope's rows, as RESTRICTIVE
# policies: only its own coaching requests (it requests, or withdraws one).
AGENT_WRITES: dict[str, str] = {
    "sessions": "state = 'requested' AND requested_by_id = (SELECT {schema}.coach_viewer_id())",
}

# The commands an unlinked member of the service group may run: those that
# need no acting user.
SERVICE_COMMANDS = (
    "minigoal evaluate",
    "remind",
    "notify send",
    "kpi import",
    "rules run",
    "db info",
    "db check",
    "db copy",
)

# Every function runs with this search_path and names coach's tables by
# schema: nothing a caller creates (a temporary table, a function in its own
# schema) can stand in for what a function means.
_SAFE_SEARCH_PATH = "pg_catalog, pg_temp"
_MAX_IDENTIFIER = 63


def group_names(database: str, schema: str) -> dict[str, str]:
    """The four group roles of the coach database in this database and
    schema: names unique to it, so one coach database's groups give no power
    over another's on the same server."""
    base = re.sub(r"[^a-z0-9_]", "_", f"coach_{database}_{schema}".lower())
    if len(base) + len("_service") > _MAX_IDENTIFIER:
        digest = hashlib.sha256(f"{database}\0{schema}".encode()).hexdigest()[:20]
        base = f"coach_{digest}"
    return {kind: f"{base}_{kind}" for kind in GROUPS}


def current_groups(connection: Connection) -> dict[str, str]:
    database, schema = connection.exec_driver_sql("SELECT current_database(), current_schema()").one()
    return group_names(database, schema)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scope_function_body(schema: str) -> str:
    """The one scope rule (db/scope.py), compiled for PostgreSQL, as the
    set of user ids the login role's user may see."""
    from coachcli.db.models import User

    # Read once (scalar subqueries), not once a row.
    viewer_role = literal_column(f"(SELECT {_quoted(schema)}.coach_viewer_role())", String)
    viewer_id = literal_column(f"(SELECT {_quoted(schema)}.coach_viewer_id())", Integer)
    query = select(col(User.id)).where(scope_rule(viewer_role, viewer_id, col(User.id)))
    compiled = query.compile(
        dialect=_postgresql(),
        schema_translate_map={None: schema},
        compile_kwargs={"literal_binds": True},
    )
    return compiled.preparer._render_schema_translates(str(compiled), {None: schema})


@dataclass(frozen=True)
class Function:
    """A function coach installs: its signature, attributes and body. The
    body is compared verbatim by `db check`."""

    name: str
    signature: str
    returns: str
    language: str
    body: str
    security_definer: bool = False
    volatility: str = "VOLATILE"
    search_path: str = _SAFE_SEARCH_PATH

    def create(self, schema: str) -> str:
        definer = " SECURITY DEFINER" if self.security_definer else ""
        return (
            f"CREATE OR REPLACE FUNCTION {schema}.{self.name}({self.signature}) RETURNS {self.returns} "
            f"LANGUAGE {self.language} {self.volatility}{definer} SET search_path = {self.search_path} "
            f"AS $coach${self.body}$coach$"
        )


def _refusal(message: str) -> str:
    return f"RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = {message};"


def expected_functions(schema: str, groups: dict[str, str]) -> list[Function]:
    """Every function coach installs in `schema`, as installed."""
    s = _quoted(schema)
    login_groups = ", ".join(f"'{groups[kind]}'" for kind in ("agent", "coach", "admin"))
    return [
        Function(
            "coach_viewer_id",
            "",
            "integer",
            "sql",
            f"SELECT id FROM {s}.users WHERE login = session_user AND erased_at IS NULL",
            security_definer=True,
            volatility="STABLE",
        ),
        Function(
            "coach_viewer_role",
            "",
            "text",
            "sql",
            f"SELECT coalesce((SELECT role FROM {s}.users WHERE login = session_user AND erased_at IS NULL),"
            f" CASE WHEN pg_has_role(session_user, '{groups['service']}', 'MEMBER') THEN 'service' END)",
            security_definer=True,
            volatility="STABLE",
        ),
        Function(
            "coach_visible_people",
            "",
            "SETOF integer",
            "sql",
            _scope_function_body(schema),
            security_definer=True,
            volatility="STABLE",
        ),
        Function(
            "coach_viewer_teams",
            "",
            "SETOF integer",
            "sql",
            f"SELECT team_id FROM {s}.team_memberships WHERE user_id = {s}.coach_viewer_id()",
            security_definer=True,
            volatility="STABLE",
        ),
        Function(
            "coach_acts_for_anyone",
            "",
            "boolean",
            "sql",
            "SELECT r.rolsuper OR pg_has_role(session_user, n.nspowner, 'MEMBER')"
            " FROM pg_roles AS r, pg_namespace AS n WHERE r.rolname = session_user"
            f" AND n.oid = '{s}'::regnamespace",
            security_definer=True,
            volatility="STABLE",
        ),
        Function(
            "coach_refuse",
            "",
            "trigger",
            "plpgsql",
            f"BEGIN {_refusal('TG_ARGV[0]')} END",
        ),
        Function(
            "coach_plan_session_rules",
            "",
            "trigger",
            "plpgsql",
            f"""DECLARE
    plan_state text;
    plan_form integer;
BEGIN
    SELECT state, form_id INTO plan_state, plan_form FROM {s}.plans WHERE id = NEW.plan_id;
    IF TG_OP = 'INSERT' AND (plan_state = 'closed' OR NEW.form_id IS DISTINCT FROM plan_form) THEN
        {_refusal("'a plan session must use the plan''s form and the plan must be active'")}
    ELSIF TG_OP = 'UPDATE' AND NEW.form_id IS DISTINCT FROM plan_form THEN
        {_refusal("'a plan session must use the plan''s form'")}
    END IF;
    RETURN NEW;
END""",
            # Reads the plan whatever the row-level security lets the writer see.
            security_definer=True,
        ),
        Function(
            "coach_erasing",
            "",
            "boolean",
            "sql",
            f"SELECT EXISTS (SELECT 1 FROM {s}.erasures_in_progress WHERE transaction_id = pg_current_xact_id()::text)",
            security_definer=True,
            volatility="STABLE",
        ),
        Function(
            "coach_begin_erasure",
            "",
            "void",
            "sql",
            f"INSERT INTO {s}.erasures_in_progress (transaction_id) VALUES (pg_current_xact_id()::text)",
            security_definer=True,
        ),
        Function(
            "coach_end_erasure",
            "",
            "void",
            "sql",
            f"DELETE FROM {s}.erasures_in_progress WHERE transaction_id = pg_current_xact_id()::text",
            security_definer=True,
        ),
        Function(
            "coach_erasure_only",
            "",
            "trigger",
            "plpgsql",
            f"""DECLARE
    before jsonb := to_jsonb(OLD);
    after jsonb := to_jsonb(NEW);
    erasing boolean := {s}.coach_erasing();
    erasable text[] := string_to_array(TG_ARGV[1], ' ');
    answers text;
    column_name text;
BEGIN
    FOREACH column_name IN ARRAY erasable LOOP
        IF after -> column_name IS DISTINCT FROM before -> column_name
           AND (NOT erasing OR after -> column_name IS DISTINCT FROM to_jsonb('[erased]'::text)) THEN
            {_refusal("TG_ARGV[0]")}
        END IF;
    END LOOP;
    IF TG_NARGS > 2 THEN
        answers := TG_ARGV[2];
        IF after ->> answers IS DISTINCT FROM before ->> answers AND (
            NOT erasing OR jsonb_typeof((after ->> answers)::jsonb) IS DISTINCT FROM 'object' OR EXISTS (
                SELECT 1 FROM jsonb_each((after ->> answers)::jsonb) AS new_answer
                FULL JOIN jsonb_each((before ->> answers)::jsonb) AS old_answer
                    ON old_answer.key = new_answer.key
                WHERE new_answer.key IS NULL OR old_answer.key IS NULL OR (
                    new_answer.value IS DISTINCT FROM old_answer.value
                    AND NOT (jsonb_typeof(old_answer.value) = 'string'
                             AND new_answer.value = to_jsonb('[erased]'::text))))) THEN
            {_refusal("TG_ARGV[0]")}
        END IF;
        erasable := erasable || answers;
    END IF;
    IF (after - erasable) IS DISTINCT FROM (before - erasable) THEN
        {_refusal("TG_ARGV[0]")}
    END IF;
    RETURN NEW;
END""",
        ),
        Function(
            "coach_rule_firing_forgets_only_its_deleted_session",
            "",
            "trigger",
            "plpgsql",
            f"""BEGIN
    IF (to_jsonb(NEW) - 'session_id') IS DISTINCT FROM (to_jsonb(OLD) - 'session_id')
       OR (NEW.session_id IS DISTINCT FROM OLD.session_id AND (
           NEW.session_id IS NOT NULL OR EXISTS (SELECT 1 FROM {s}.sessions WHERE id = OLD.session_id))) THEN
        {_refusal("'a rule firing cannot be changed'")}
    END IF;
    RETURN NEW;
END""",
            # Sees whether the session is gone, not whether the writer may see it.
            security_definer=True,
        ),
        Function(
            "coach_audit_actor_is_the_login",
            "",
            "trigger",
            "plpgsql",
            f"""BEGIN
    IF NOT {s}.coach_acts_for_anyone() AND NEW.actor_id IS DISTINCT FROM {s}.coach_viewer_id() THEN
        {_refusal("'an audit entry names the user linked to the login role that writes it, and no one else'")}
    END IF;
    RETURN NEW;
END""",
        ),
        Function(
            "coach_login_follows_role",
            "",
            "trigger",
            "plpgsql",
            f"""DECLARE
    login_group text;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.login IS NOT NULL THEN
        FOR login_group IN
            SELECT g.rolname FROM pg_auth_members AS m
            JOIN pg_roles AS g ON g.oid = m.roleid JOIN pg_roles AS r ON r.oid = m.member
            WHERE r.rolname = OLD.login AND g.rolname = ANY (ARRAY[{login_groups}])
        LOOP
            EXECUTE format('REVOKE %I FROM %I', login_group, OLD.login);
        END LOOP;
    END IF;
    -- A copy onto another server may carry logins that do not exist there.
    IF NEW.login IS NOT NULL AND NEW.erased_at IS NULL AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = NEW.login) THEN
        EXECUTE format('GRANT %I TO %I', CASE NEW.role WHEN 'agent' THEN '{groups["agent"]}'
            WHEN 'coach' THEN '{groups["coach"]}' ELSE '{groups["admin"]}' END, NEW.login);
    END IF;
    RETURN NEW;
END""",
            # Group membership is the owner's to give.
            security_definer=True,
        ),
    ]


# Triggers only the PostgreSQL server needs (SQLite's file has one owner).
SERVER_TRIGGERS = {
    "audit_log_actor_is_the_login": (
        "audit_log",
        "CREATE TRIGGER audit_log_actor_is_the_login BEFORE INSERT ON {schema}.audit_log FOR EACH ROW "
        "EXECUTE FUNCTION {schema}.coach_audit_actor_is_the_login()",
    ),
    "users_login_follows_role": (
        "users",
        "CREATE TRIGGER users_login_follows_role AFTER INSERT OR UPDATE OF login, role, erased_at ON {schema}.users "
        "FOR EACH ROW EXECUTE FUNCTION {schema}.coach_login_follows_role()",
    ),
}

# Functions callable by a group (any other function: the owner only).
_EXECUTABLE = {
    "coach_viewer_id": EVERYONE,
    "coach_viewer_role": EVERYONE,
    "coach_visible_people": EVERYONE,
    "coach_viewer_teams": EVERYONE,
    "coach_acts_for_anyone": EVERYONE,
    "coach_erasing": EVERYONE,
    "coach_begin_erasure": ("admin",),
    "coach_end_erasure": ("admin",),
}


def _policy_condition(table: str, schema: str) -> str:
    """A table's policy: everything for a viewer who sees everyone, else the
    rows of the people the scope rule lets the viewer see. The viewer's role
    and id are each read once a statement (scalar subqueries), not once a row."""
    viewer_role = literal_column(f"(SELECT {schema}.coach_viewer_role())", String)
    viewer_id = literal_column(f"(SELECT {schema}.coach_viewer_id())", Integer)
    sees_all = _compiled(sees_everyone(viewer_role))
    visible = f"(SELECT {schema}.coach_visible_people())"
    rule = ""
    if table == "sessions":
        rule = _compiled(
            session_rule(literal_column(f"agent_id IN {visible}"), viewer_id, literal_column("coach_id", Integer))
        )
    return f"({sees_all}) OR " + ROW_SCOPE[table].format(visible=visible, schema=schema, session_rule=rule)


def _compiled(condition) -> str:
    return str(condition.compile(dialect=_postgresql(), compile_kwargs={"literal_binds": True}))


def _postgresql():
    # Imported when the server's rules are written or checked, not by every
    # command that reads this module's group table: on SQLite it is a tenth
    # of a read command's start-up.
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()


def install(connection: Connection) -> None:
    """The groups, their privileges, the policies and the functions, for the
    coach database in the connection's current schema (run by its owner).
    One script, one round trip: it runs for every new schema."""
    schema, made = connection.exec_driver_sql(
        "SELECT current_schema(), to_regclass('coach_write_lock') IS NOT NULL"
    ).one()
    if not made:
        return  # a schema before the version that brought all this (an upgrade's test stops there)
    groups = current_groups(connection)
    existing = set(
        connection.execute(
            text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"), {"names": list(groups.values())}
        ).scalars()
    )
    s = _quoted(schema)
    script = ["LOCK TABLE coach_write_lock IN EXCLUSIVE MODE"]  # no coach writer runs meanwhile
    script += [f"CREATE ROLE {_quoted(group)} NOLOGIN NOINHERIT" for group in groups.values() if group not in existing]
    script.append(f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC")
    for function in expected_functions(schema, groups):
        script.append(function.create(s))
        script.append(f"REVOKE ALL ON FUNCTION {s}.{function.name}({function.signature}) FROM PUBLIC")
    for name, (table, statement) in SERVER_TRIGGERS.items():
        script.append(f"DROP TRIGGER IF EXISTS {name} ON {s}.{table}")
        script.append(statement.format(schema=s))
    group_list = ", ".join(_quoted(group) for group in groups.values())
    script.append(f"GRANT USAGE ON SCHEMA {s} TO {group_list}")
    script.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {group_list}")
    # Ids for many rows at once come from a table's own sequence (nextval):
    # taking ids is all this allows.
    script.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {group_list}")
    for table, grants in PRIVILEGES.items():
        script += _grant_statements(s, table, grants, groups)
    for name, kinds in _EXECUTABLE.items():
        script.append(f"GRANT EXECUTE ON FUNCTION {s}.{name}() TO {', '.join(_quoted(groups[kind]) for kind in kinds)}")
    for table in ROW_SCOPE:
        script.append(f"ALTER TABLE {s}.{table} ENABLE ROW LEVEL SECURITY")
        script.append(f"DROP POLICY IF EXISTS coach_scope ON {s}.{table}")
        script.append(f"CREATE POLICY coach_scope ON {s}.{table} USING ({_policy_condition(table, s)})")
    # Those the scope rule lets see everyone get it without a condition to
    # test: the planner then treats their queries as the owner's (a range
    # condition on a text column is not "leakproof", and a policy with a
    # condition would keep it from the index). Group membership follows the
    # user's role, so this is the same rule.
    everyone = ", ".join(_quoted(groups[kind]) for kind in SEES_EVERYONE)
    for table in ROW_SCOPE:
        script.append(f"DROP POLICY IF EXISTS coach_sees_everyone ON {s}.{table}")
        script.append(f"CREATE POLICY coach_sees_everyone ON {s}.{table} TO {everyone} USING (true)")
    for table, condition in INSERT_SCOPE.items():
        script.append(f"DROP POLICY IF EXISTS coach_scope_insert ON {s}.{table}")
        script.append(
            f"CREATE POLICY coach_scope_insert ON {s}.{table} FOR INSERT WITH CHECK ({condition.format(schema=s)})"
        )
    agent = f"(SELECT {s}.coach_viewer_role()) IS DISTINCT FROM 'agent'"
    for table, condition in AGENT_WRITES.items():
        rule = f"{agent} OR ({condition.format(schema=s)})"
        for command, clause in (("INSERT", "WITH CHECK"), ("UPDATE", "USING"), ("DELETE", "USING")):
            name = f"coach_agent_{command.lower()}"
            script.append(f"DROP POLICY IF EXISTS {name} ON {s}.{table}")
            script.append(f"CREATE POLICY {name} ON {s}.{table} AS RESTRICTIVE FOR {command} {clause} ({rule})")
    # The driver's own cursor, with no parameters: one round trip, and the
    # functions' % signs left alone.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # an open connection has one
    try:
        cursor.execute(";\n".join(script))
    finally:
        cursor.close()


def _grant_statements(schema: str, table: str, grants: TableGrants, groups: dict[str, str]) -> list[str]:
    """One GRANT a privilege (a group that may not read some columns gets
    its own, naming the others)."""
    from coachcli.db.models import table_columns

    statements = []
    for privilege, kinds in (
        ("SELECT", grants.select),
        ("INSERT", grants.insert),
        ("UPDATE", grants.update),
        ("DELETE", grants.delete),
    ):
        hiding = {kind for kind in kinds if privilege == "SELECT" and grants.unreadable.get(kind)}
        whole = [_quoted(groups[kind]) for kind in kinds if kind not in hiding]
        if whole:
            statements.append(f"GRANT {privilege} ON {schema}.{table} TO {', '.join(whole)}")
        for kind in hiding:
            columns = ", ".join(c for c in table_columns(table) if c not in grants.unreadable[kind])
            statements.append(f"GRANT SELECT ({columns}) ON {schema}.{table} TO {_quoted(groups[kind])}")
    return statements


@contextmanager
def erasure_in_progress(db: Session) -> Iterator[None]:
    """Within this block, and this transaction only, the protecting triggers
    let a final record's text become '[erased]' (`coach user erase`). On
    PostgreSQL only the owner and the admin group may open it."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT coach_begin_erasure()"))
        yield
        db.execute(text("SELECT coach_end_erasure()"))
    else:
        db.execute(text("INSERT INTO erasures_in_progress (transaction_id) VALUES ('current')"))
        yield
        db.execute(text("DELETE FROM erasures_in_progress"))
