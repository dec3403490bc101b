"""Versioned schema migrations, applied automatically when a database is opened.

A small runner rather than Alembic: the schema is one file's worth of frozen
SQL per version, it must run on every command without adding start-up cost,
and it has to refuse a database written by a newer coach before touching it.
Each migration is a list of statements run in one transaction with the
version bump, so a failed upgrade leaves the old schema intact.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, Engine, inspect, text

from coachcli.db.engine import writer
from coachcli.errors import CoachError, ExitCode

_V1 = [
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        handle TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('agent', 'coach', 'admin')),
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE teams (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE team_memberships (
        team_id INTEGER NOT NULL REFERENCES teams(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        PRIMARY KEY (team_id, user_id)
    )""",
    "CREATE INDEX team_memberships_by_user ON team_memberships(user_id)",
    """CREATE TABLE forms (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        spec TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE paths (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE path_assignments (
        path_id INTEGER NOT NULL REFERENCES paths(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        PRIMARY KEY (path_id, user_id)
    )""",
    """CREATE TABLE plans (
        id INTEGER PRIMARY KEY,
        agent_id INTEGER NOT NULL REFERENCES users(id),
        form_id INTEGER NOT NULL REFERENCES forms(id),
        purpose TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'closed')),
        coach_id INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        closed_at TEXT,
        closed_by_id INTEGER REFERENCES users(id),
        close_reason TEXT
    )""",
    "CREATE INDEX plans_by_agent ON plans(agent_id)",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        agent_id INTEGER NOT NULL REFERENCES users(id),
        coach_id INTEGER REFERENCES users(id),
        form_id INTEGER REFERENCES forms(id),
        plan_id INTEGER REFERENCES plans(id),
        state TEXT NOT NULL CHECK (state IN ('requested', 'scheduled', 'draft', 'coached')),
        date DATE,
        start TEXT,
        timezone TEXT,
        duration_minutes INTEGER,
        meeting_link TEXT,
        path_id INTEGER REFERENCES paths(id),
        kpi TEXT,
        target FLOAT,
        target_date DATE,
        notes TEXT NOT NULL DEFAULT '',
        answers TEXT NOT NULL DEFAULT '{}',
        requested_by_id INTEGER REFERENCES users(id),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        coached_at TEXT,
        coached_by_id INTEGER REFERENCES users(id)
    )""",
    "CREATE INDEX sessions_by_agent ON sessions(agent_id)",
    "CREATE INDEX sessions_by_plan ON sessions(plan_id)",
    "CREATE INDEX sessions_by_coach ON sessions(coach_id)",
    """CREATE TABLE minigoals (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL UNIQUE REFERENCES sessions(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        assignee_id INTEGER NOT NULL REFERENCES users(id),
        metric TEXT NOT NULL,
        target FLOAT NOT NULL,
        start_date DATE NOT NULL,
        due_date DATE NOT NULL,
        score FLOAT,
        samples INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'in_progress'
            CHECK (state IN ('in_progress', 'achieved', 'missed')),
        evaluated_at TEXT
    )""",
    "CREATE INDEX minigoals_by_assignee ON minigoals(assignee_id)",
    """CREATE TABLE minigoal_changes (
        id INTEGER PRIMARY KEY,
        minigoal_id INTEGER NOT NULL REFERENCES minigoals(id) ON DELETE CASCADE,
        changed_at TEXT NOT NULL,
        as_of DATE NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        score FLOAT,
        samples INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX minigoal_changes_by_goal ON minigoal_changes(minigoal_id)",
    """CREATE TABLE kpi_observations (
        agent_id INTEGER NOT NULL REFERENCES users(id),
        metric TEXT NOT NULL,
        observed_at TEXT NOT NULL,
        value FLOAT NOT NULL,
        PRIMARY KEY (agent_id, metric, observed_at)
    ) WITHOUT ROWID""",
    """CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        record_type TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        read_at TEXT,
        delivered_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    )""",
    "CREATE INDEX notifications_by_user ON notifications(user_id)",
    "CREATE INDEX notifications_pending ON notifications(id) WHERE delivered_at IS NULL",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT,
        action TEXT NOT NULL,
        record_type TEXT NOT NULL,
        record_id INTEGER,
        details TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX audit_log_by_record ON audit_log(record_type, record_id)",
    "CREATE INDEX audit_log_by_time ON audit_log(at)",
]

_V1_SQLITE_GUARDS = [
    """CREATE TRIGGER plans_are_never_deleted BEFORE DELETE ON plans
       BEGIN SELECT RAISE(ABORT, 'performance plans cannot be deleted'); END""",
    """CREATE TRIGGER closed_plans_are_final BEFORE UPDATE ON plans
       WHEN OLD.state = 'closed'
       BEGIN SELECT RAISE(ABORT, 'a closed performance plan cannot be changed'); END""",
    """CREATE TRIGGER coached_sessions_are_never_deleted BEFORE DELETE ON sessions
       WHEN OLD.state = 'coached'
       BEGIN SELECT RAISE(ABORT, 'a coached session cannot be deleted'); END""",
    """CREATE TRIGGER coached_sessions_are_final BEFORE UPDATE ON sessions
       WHEN OLD.state = 'coached'
       BEGIN SELECT RAISE(ABORT, 'a coached session cannot be changed'); END""",
    """CREATE TRIGGER sessions_never_change_plan BEFORE UPDATE OF plan_id ON sessions
       WHEN OLD.plan_id IS NOT NEW.plan_id
       BEGIN SELECT RAISE(ABORT, 'a session cannot be moved into or out of a plan'); END""",
    """CREATE TRIGGER plan_sessions_join_open_plans BEFORE INSERT ON sessions
       WHEN NEW.plan_id IS NOT NULL AND (
           (SELECT state FROM plans WHERE id = NEW.plan_id) = 'closed'
           OR NEW.form_id IS NOT (SELECT form_id FROM plans WHERE id = NEW.plan_id))
       BEGIN SELECT RAISE(ABORT, 'a plan session must use the plan''s form and the plan must be active'); END""",
    """CREATE TRIGGER plan_sessions_keep_the_plan_form BEFORE UPDATE OF form_id ON sessions
       WHEN NEW.plan_id IS NOT NULL
            AND NEW.form_id IS NOT (SELECT form_id FROM plans WHERE id = NEW.plan_id)
       BEGIN SELECT RAISE(ABORT, 'a plan session must use the plan''s form'); END""",
    """CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]


# The same promises in PL/pgSQL. A refusal is SQLSTATE 23001 (restrict_violation,
# integrity class 23), so it reaches the user as SQLite's RAISE(ABORT) does:
# "refused by the database: <message>". PostgreSQL also empties tables with
# TRUNCATE, which row triggers do not see; statement triggers refuse it.
_V1_POSTGRESQL_GUARDS = [
    """CREATE FUNCTION coach_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = TG_ARGV[0];
       END $$""",
    """CREATE FUNCTION coach_plan_session_rules() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
           plan_state TEXT;
           plan_form INTEGER;
       BEGIN
           SELECT state, form_id INTO plan_state, plan_form FROM plans WHERE id = NEW.plan_id;
           IF TG_OP = 'INSERT' AND (plan_state = 'closed' OR NEW.form_id IS DISTINCT FROM plan_form) THEN
               RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
                   MESSAGE = 'a plan session must use the plan''s form and the plan must be active';
           ELSIF TG_OP = 'UPDATE' AND NEW.form_id IS DISTINCT FROM plan_form THEN
               RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
                   MESSAGE = 'a plan session must use the plan''s form';
           END IF;
           RETURN NEW;
       END $$""",
    """CREATE TRIGGER plans_are_never_deleted BEFORE DELETE ON plans FOR EACH ROW
       EXECUTE FUNCTION coach_refuse('performance plans cannot be deleted')""",
    """CREATE TRIGGER plans_are_never_truncated BEFORE TRUNCATE ON plans FOR EACH STATEMENT
       EXECUTE FUNCTION coach_refuse('performance plans cannot be deleted')""",
    """CREATE TRIGGER closed_plans_are_final BEFORE UPDATE ON plans FOR EACH ROW
       WHEN (OLD.state = 'closed')
       EXECUTE FUNCTION coach_refuse('a closed performance plan cannot be changed')""",
    """CREATE TRIGGER coached_sessions_are_never_deleted BEFORE DELETE ON sessions FOR EACH ROW
       WHEN (OLD.state = 'coached')
       EXECUTE FUNCTION coach_refuse('a coached session cannot be deleted')""",
    """CREATE TRIGGER sessions_are_never_truncated BEFORE TRUNCATE ON sessions FOR EACH STATEMENT
       EXECUTE FUNCTION coach_refuse('coaching sessions cannot be truncated; delete uncoached ones by id')""",
    """CREATE TRIGGER coached_sessions_are_final BEFORE UPDATE ON sessions FOR EACH ROW
       WHEN (OLD.state = 'coached')
       EXECUTE FUNCTION coach_refuse('a coached session cannot be changed')""",
    """CREATE TRIGGER sessions_never_change_plan BEFORE UPDATE OF plan_id ON sessions FOR EACH ROW
       WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id)
       EXECUTE FUNCTION coach_refuse('a session cannot be moved into or out of a plan')""",
    """CREATE TRIGGER plan_sessions_join_open_plans BEFORE INSERT ON sessions FOR EACH ROW
       WHEN (NEW.plan_id IS NOT NULL) EXECUTE FUNCTION coach_plan_session_rules()""",
    """CREATE TRIGGER plan_sessions_keep_the_plan_form BEFORE UPDATE OF form_id ON sessions FOR EACH ROW
       WHEN (NEW.plan_id IS NOT NULL) EXECUTE FUNCTION coach_plan_session_rules()""",
    """CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log FOR EACH ROW
       EXECUTE FUNCTION coach_refuse('the audit log is append-only')""",
    """CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log FOR EACH ROW
       EXECUTE FUNCTION coach_refuse('the audit log is append-only')""",
    """CREATE TRIGGER audit_log_is_append_only_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT
       EXECUTE FUNCTION coach_refuse('the audit log is append-only')""",
]


# Follow-through (SPEC §7): the agent's acknowledgement of a coached session,
# the coach's private notes, and action items. Acknowledgements live in a
# table of their own so that a coached session's row stays untouchable.
_V2 = [
    "ALTER TABLE sessions ADD COLUMN private_notes TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE session_acknowledgements (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        acknowledged_at TEXT NOT NULL,
        comment TEXT,
        PRIMARY KEY (session_id)
    )""",
    """CREATE TABLE action_items (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        owner_id INTEGER NOT NULL REFERENCES users(id),
        text TEXT NOT NULL,
        due_date DATE,
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
        created_at TEXT NOT NULL,
        created_by_id INTEGER NOT NULL REFERENCES users(id),
        done_at TEXT,
        done_by_id INTEGER REFERENCES users(id),
        note TEXT
    )""",
    "CREATE INDEX action_items_by_session ON action_items(session_id)",
    "CREATE INDEX action_items_by_owner ON action_items(owner_id)",
]

_V2_SQLITE_GUARDS = [
    """CREATE TRIGGER acknowledgements_are_final BEFORE UPDATE ON session_acknowledgements
       BEGIN SELECT RAISE(ABORT, 'an acknowledgement cannot be changed'); END""",
    """CREATE TRIGGER acknowledgements_are_never_deleted BEFORE DELETE ON session_acknowledgements
       BEGIN SELECT RAISE(ABORT, 'an acknowledgement cannot be deleted'); END""",
    """CREATE TRIGGER action_items_are_never_deleted BEFORE DELETE ON action_items
       BEGIN SELECT RAISE(ABORT, 'action items cannot be deleted'); END""",
    """CREATE TRIGGER done_action_items_are_final BEFORE UPDATE ON action_items
       WHEN OLD.state = 'done'
       BEGIN SELECT RAISE(ABORT, 'a done action item cannot be changed'); END""",
]

_V2_POSTGRESQL_GUARDS = [
    """CREATE TRIGGER acknowledgements_are_final BEFORE UPDATE ON session_acknowledgements FOR EACH ROW
       EXECUTE FUNCTION coach_refuse('an acknowledgement cannot be changed')""",
    """CREATE TRIGGER acknowledgements_are_never_deleted BEFORE DELETE ON session_acknowledgements FOR EACH ROW
       EXECUTE FUNCTION coach_refuse('an acknowledgement cannot be deleted')""",
    """CREATE TRIGGER acknowledgements_are_never_truncated BEFORE TRUNCATE ON session_acknowledgements
       FOR EACH STATEMENT EXECUTE FUNCTION coach_refuse('an acknowledgement cannot be deleted')""",
    """CREATE TRIGGER action_items_are_never_deleted BEFORE DELETE ON action_items FOR EACH ROW
       EXECUTE FUNCTION coach_refuse('action items cannot be deleted')""",
    """CREATE TRIGGER action_items_are_never_truncated BEFORE TRUNCATE ON action_items FOR EACH STATEMENT
       EXECUTE FUNCTION coach_refuse('action items cannot be deleted')""",
    """CREATE TRIGGER done_action_items_are_final BEFORE UPDATE ON action_items FOR EACH ROW
       WHEN (OLD.state = 'done')
       EXECUTE FUNCTION coach_refuse('a done action item cannot be changed')""",
]

# Reminders (`coach remind`) go out at most once per (kind, record, person),
# however often it runs and however many run at once: the database refuses a
# second one and the reminders' insert skips it. All four kinds of SPEC §8 are
# named, so the two that come with acknowledgements and action items need no
# schema of their own; other notifications (a goal that ends achieved, then
# missed on late data) may rightly repeat.
_V3 = [
    """CREATE UNIQUE INDEX notifications_remind_once ON notifications(kind, record_type, record_id, user_id)
        WHERE kind IN ('session.upcoming', 'session.unacknowledged', 'action.due', 'minigoal.at_risk')""",
]


# Version 4: the right to erasure (SPEC §10).
#
# - users.erased_at marks a person erased: their handle and name are then the
#   pseudonym `erased-<id>` and they can no longer act.
# - The audit log refers to people by user id (actor_id; `<key>_user_id(s)`
#   in details) instead of by handle, and keeps no free text, so that an
#   erasure reaches it without rewriting it. Existing rows are mapped here,
#   with the append-only guard lifted for this one transaction only.
# - A coached session, a closed plan, an acknowledgement and a done action
#   item stay final, except for the one change an erasure makes: a text
#   column becoming exactly '[erased]', and answers
#   whose string values become '[erased]' (same keys, every other value the
#   same). Any other UPDATE — a stray script's included — is still refused.
#   The database cannot tell who runs an UPDATE, so it checks what the change
#   is instead: it can only ever destroy text, down to one fixed marker, and
#   never alter what the record says, put words in anyone's mouth, or touch a
#   number, date, person or state.
_V4 = [
    "ALTER TABLE users ADD COLUMN erased_at TEXT",
    "ALTER TABLE audit_log ADD COLUMN actor_id INTEGER REFERENCES users(id)",
    "CREATE INDEX audit_log_by_actor ON audit_log(actor_id)",
]

_V4_SQLITE_GUARDS = [
    "DROP TRIGGER audit_log_is_append_only_update",
    "UPDATE audit_log SET actor_id = (SELECT u.id FROM users u WHERE u.handle = audit_log.actor)",
    "UPDATE audit_log SET details = json_remove(details, '$.handle', '$.title', '$.reason', '$.source', '$.comment', '$.note')",
    """UPDATE audit_log SET details = json_set(json_remove(details, '$.agent'), '$.agent_user_id',
           (SELECT u.id FROM users u WHERE u.handle = json_extract(audit_log.details, '$.agent')))
       WHERE json_type(details, '$.agent') = 'text'""",
    """UPDATE audit_log SET details = json_set(json_remove(details, '$.agents'), '$.agents_user_ids',
           json((SELECT json_group_array(id) FROM (
               SELECT u.id FROM json_each(audit_log.details, '$.agents') AS e
               JOIN users u ON u.handle = e.value ORDER BY e.key))))
       WHERE json_type(details, '$.agents') = 'array'""",
    "ALTER TABLE audit_log DROP COLUMN actor",
    """CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    # SQLite cannot compare whole rows, so each column is named: one that is
    # final is compared with IS, one an erasure may rewrite is allowed to
    # become '[erased]'. A later version adding columns must add them here.
    "DROP TRIGGER coached_sessions_are_final",
    """CREATE TRIGGER coached_sessions_are_final BEFORE UPDATE ON sessions
       WHEN OLD.state = 'coached' AND NOT (
           NEW.id IS OLD.id AND NEW.agent_id IS OLD.agent_id AND NEW.coach_id IS OLD.coach_id
           AND NEW.form_id IS OLD.form_id AND NEW.plan_id IS OLD.plan_id AND NEW.state IS OLD.state
           AND NEW.date IS OLD.date AND NEW.start IS OLD.start AND NEW.timezone IS OLD.timezone
           AND NEW.duration_minutes IS OLD.duration_minutes AND NEW.path_id IS OLD.path_id
           AND NEW.kpi IS OLD.kpi AND NEW.target IS OLD.target AND NEW.target_date IS OLD.target_date
           AND NEW.requested_by_id IS OLD.requested_by_id AND NEW.created_at IS OLD.created_at
           AND NEW.updated_at IS OLD.updated_at AND NEW.coached_at IS OLD.coached_at
           AND NEW.coached_by_id IS OLD.coached_by_id
           AND (NEW.title IS OLD.title OR NEW.title = '[erased]')
           AND (NEW.notes IS OLD.notes OR NEW.notes = '[erased]')
           AND (NEW.private_notes IS OLD.private_notes OR NEW.private_notes = '[erased]')
           AND (NEW.meeting_link IS OLD.meeting_link OR NEW.meeting_link = '[erased]')
           AND (NEW.answers IS OLD.answers OR (
               json_type(NEW.answers) = 'object'
               AND (SELECT count(*) FROM json_each(NEW.answers)) = (SELECT count(*) FROM json_each(OLD.answers))
               AND NOT EXISTS (
                   SELECT 1 FROM json_each(NEW.answers) AS after
                   LEFT JOIN json_each(OLD.answers) AS before ON before.key = after.key
                   WHERE before.key IS NULL OR NOT (
                       (after.type = before.type AND after.value IS before.value)
                       OR (before.type = 'text' AND after.type = 'text' AND after.value = '[erased]'))))))
       BEGIN SELECT RAISE(ABORT, 'a coached session cannot be changed'); END""",
    "DROP TRIGGER closed_plans_are_final",
    """CREATE TRIGGER closed_plans_are_final BEFORE UPDATE ON plans
       WHEN OLD.state = 'closed' AND NOT (
           NEW.id IS OLD.id AND NEW.agent_id IS OLD.agent_id AND NEW.form_id IS OLD.form_id
           AND NEW.state IS OLD.state AND NEW.coach_id IS OLD.coach_id AND NEW.created_at IS OLD.created_at
           AND NEW.closed_at IS OLD.closed_at AND NEW.closed_by_id IS OLD.closed_by_id
           AND (NEW.purpose IS OLD.purpose OR NEW.purpose = '[erased]')
           AND (NEW.close_reason IS OLD.close_reason OR NEW.close_reason = '[erased]'))
       BEGIN SELECT RAISE(ABORT, 'a closed performance plan cannot be changed'); END""",
    "DROP TRIGGER acknowledgements_are_final",
    """CREATE TRIGGER acknowledgements_are_final BEFORE UPDATE ON session_acknowledgements
       WHEN NOT (
           NEW.session_id IS OLD.session_id AND NEW.acknowledged_at IS OLD.acknowledged_at
           AND (NEW.comment IS OLD.comment OR NEW.comment = '[erased]'))
       BEGIN SELECT RAISE(ABORT, 'an acknowledgement cannot be changed'); END""",
    "DROP TRIGGER done_action_items_are_final",
    """CREATE TRIGGER done_action_items_are_final BEFORE UPDATE ON action_items
       WHEN OLD.state = 'done' AND NOT (
           NEW.id IS OLD.id AND NEW.session_id IS OLD.session_id AND NEW.owner_id IS OLD.owner_id
           AND NEW.due_date IS OLD.due_date AND NEW.state IS OLD.state AND NEW.created_at IS OLD.created_at
           AND NEW.created_by_id IS OLD.created_by_id AND NEW.done_at IS OLD.done_at
           AND NEW.done_by_id IS OLD.done_by_id
           AND (NEW.text IS OLD.text OR NEW.text = '[erased]')
           AND (NEW.note IS OLD.note OR NEW.note = '[erased]'))
       BEGIN SELECT RAISE(ABORT, 'a done action item cannot be changed'); END""",
]

# PL/pgSQL compares whole rows (to_jsonb), so a column added later is final
# too without being listed: coach_erasure_only(message, erasable text columns
# separated by spaces[, the JSON answers column]).
_V4_POSTGRESQL_GUARDS = [
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_is_append_only_update",
    "UPDATE audit_log SET actor_id = (SELECT u.id FROM users u WHERE u.handle = audit_log.actor)",
    "UPDATE audit_log SET details = (details::jsonb - 'handle' - 'title' - 'reason' - 'source' - 'comment' - 'note')::text",
    """UPDATE audit_log SET details = ((details::jsonb - 'agent') || jsonb_build_object('agent_user_id',
           (SELECT u.id FROM users u WHERE u.handle = audit_log.details::jsonb ->> 'agent')))::text
       WHERE jsonb_typeof(details::jsonb -> 'agent') = 'string'""",
    """UPDATE audit_log SET details = ((details::jsonb - 'agents') || jsonb_build_object('agents_user_ids',
           (SELECT coalesce(jsonb_agg(u.id ORDER BY e.position), '[]'::jsonb)
            FROM jsonb_array_elements_text(audit_log.details::jsonb -> 'agents') WITH ORDINALITY AS e(handle, position)
            JOIN users u ON u.handle = e.handle)))::text
       WHERE jsonb_typeof(details::jsonb -> 'agents') = 'array'""",
    "ALTER TABLE audit_log DROP COLUMN actor",
    "ALTER TABLE audit_log ENABLE TRIGGER audit_log_is_append_only_update",
    """CREATE FUNCTION coach_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
           before jsonb := to_jsonb(OLD);
           after jsonb := to_jsonb(NEW);
           erasable text[] := string_to_array(TG_ARGV[1], ' ');
           answers text;
           column_name text;
       BEGIN
           FOREACH column_name IN ARRAY erasable LOOP
               IF after -> column_name IS DISTINCT FROM before -> column_name
                  AND after -> column_name IS DISTINCT FROM to_jsonb('[erased]'::text) THEN
                   RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = TG_ARGV[0];
               END IF;
           END LOOP;
           IF TG_NARGS > 2 THEN
               answers := TG_ARGV[2];
               IF after ->> answers IS DISTINCT FROM before ->> answers AND (
                   jsonb_typeof((after ->> answers)::jsonb) IS DISTINCT FROM 'object' OR EXISTS (
                       SELECT 1 FROM jsonb_each((after ->> answers)::jsonb) AS new_answer
                       FULL JOIN jsonb_each((before ->> answers)::jsonb) AS old_answer
                           ON old_answer.key = new_answer.key
                       WHERE new_answer.key IS NULL OR old_answer.key IS NULL OR (
                           new_answer.value IS DISTINCT FROM old_answer.value
                           AND NOT (jsonb_typeof(old_answer.value) = 'string'
                                    AND new_answer.value = to_jsonb('[erased]'::text))))) THEN
                   RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = TG_ARGV[0];
               END IF;
               erasable := erasable || answers;
           END IF;
           IF (after - erasable) IS DISTINCT FROM (before - erasable) THEN
               RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = TG_ARGV[0];
           END IF;
           RETURN NEW;
       END $$""",
    "DROP TRIGGER coached_sessions_are_final ON sessions",
    """CREATE TRIGGER coached_sessions_are_final BEFORE UPDATE ON sessions FOR EACH ROW
       WHEN (OLD.state = 'coached')
       EXECUTE FUNCTION coach_erasure_only('a coached session cannot be changed', 'title notes private_notes meeting_link', 'answers')""",
    "DROP TRIGGER closed_plans_are_final ON plans",
    """CREATE TRIGGER closed_plans_are_final BEFORE UPDATE ON plans FOR EACH ROW
       WHEN (OLD.state = 'closed')
       EXECUTE FUNCTION coach_erasure_only('a closed performance plan cannot be changed', 'purpose close_reason')""",
    "DROP TRIGGER acknowledgements_are_final ON session_acknowledgements",
    """CREATE TRIGGER acknowledgements_are_final BEFORE UPDATE ON session_acknowledgements FOR EACH ROW
       EXECUTE FUNCTION coach_erasure_only('an acknowledgement cannot be changed', 'comment')""",
    "DROP TRIGGER done_action_items_are_final ON action_items",
    """CREATE TRIGGER done_action_items_are_final BEFORE UPDATE ON action_items FOR EACH ROW
       WHEN (OLD.state = 'done')
       EXECUTE FUNCTION coach_erasure_only('a done action item cannot be changed', 'text note')""",
]


# Rules as code (SPEC §16): every time a rule fires for an agent, kept for
# good — the cooldown counts from it, and it says which rule made a coaching
# request (sessions carry no column for it, so their own guards stay as they
# are). A request may still be deleted (P9): its firing then forgets the
# session (ON DELETE SET NULL), the one change the database lets through.
_RULE_FIRINGS = [
    """CREATE TABLE rule_firings (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        agent_id INTEGER NOT NULL REFERENCES users(id),
        metric TEXT NOT NULL,
        as_of DATE NOT NULL,
        value FLOAT NOT NULL,
        samples INTEGER NOT NULL,
        session_id INTEGER UNIQUE REFERENCES sessions(id) ON DELETE SET NULL,
        fired_at TEXT NOT NULL
    )""",
    "CREATE INDEX rule_firings_by_agent ON rule_firings(agent_id, rule, as_of)",
]

_RULE_FIRINGS_SQLITE_GUARDS = [
    """CREATE TRIGGER rule_firings_are_never_deleted BEFORE DELETE ON rule_firings
       BEGIN SELECT RAISE(ABORT, 'rule firings are kept: they cannot be deleted'); END""",
    """CREATE TRIGGER rule_firings_are_final BEFORE UPDATE ON rule_firings
       WHEN NOT (
           NEW.id IS OLD.id AND NEW.rule IS OLD.rule AND NEW.agent_id IS OLD.agent_id
           AND NEW.metric IS OLD.metric AND NEW.as_of IS OLD.as_of AND NEW.value IS OLD.value
           AND NEW.samples IS OLD.samples AND NEW.fired_at IS OLD.fired_at
           AND (NEW.session_id IS OLD.session_id OR (
               NEW.session_id IS NULL AND NOT EXISTS (SELECT 1 FROM sessions WHERE id = OLD.session_id))))
       BEGIN SELECT RAISE(ABORT, 'a rule firing cannot be changed'); END""",
]

_RULE_FIRINGS_POSTGRESQL_GUARDS = [
    """CREATE FUNCTION coach_rule_firing_forgets_only_its_deleted_session() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           IF (to_jsonb(NEW) - 'session_id') IS DISTINCT FROM (to_jsonb(OLD) - 'session_id')
              OR (NEW.session_id IS DISTINCT FROM OLD.session_id AND (
                  NEW.session_id IS NOT NULL OR EXISTS (SELECT 1 FROM sessions WHERE id = OLD.session_id))) THEN
               RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = 'a rule firing cannot be changed';
           END IF;
           RETURN NEW;
       END $$""",
    """CREATE TRIGGER rule_firings_are_never_deleted BEFORE DELETE ON rule_firings FOR EACH ROW
       EXECUTE FUNCTION coach_refuse('rule firings are kept: they cannot be deleted')""",
    """CREATE TRIGGER rule_firings_are_never_truncated BEFORE TRUNCATE ON rule_firings FOR EACH STATEMENT
       EXECUTE FUNCTION coach_refuse('rule firings are kept: they cannot be deleted')""",
    """CREATE TRIGGER rule_firings_are_final BEFORE UPDATE ON rule_firings FOR EACH ROW
       EXECUTE FUNCTION coach_rule_firing_forgets_only_its_deleted_session()""",
]


# The edges a new user meets (SPEC §14).
#
# - Time only moves forward: run_marks keeps the latest as-of each kind of
#   run was made for (`minigoal.evaluate`), so that a run in the past cannot
#   undo results already told to people. An upgraded database starts from
#   the latest evaluation its audit log records.
# - Each notification is delivered once: a `notify send` run claims what it
#   sends (its token, and when) in a transaction of its own before the hook
#   runs; a claim left by a run that died is released after a while.
_RUN_MARKS = [
    """CREATE TABLE run_marks (
        run TEXT PRIMARY KEY,
        as_of DATE NOT NULL,
        recorded_at TEXT NOT NULL
    )""",
]
_NOTIFY_CLAIMS = [
    "ALTER TABLE notifications ADD COLUMN claim TEXT",
    "ALTER TABLE notifications ADD COLUMN claimed_at TEXT",
]
_RUN_MARKS_FROM_AUDIT_SQLITE = [
    """INSERT INTO run_marks (run, as_of, recorded_at)
       SELECT 'minigoal.evaluate', max(json_extract(details, '$.as_of')), max(at) FROM audit_log
       WHERE action = 'minigoal.evaluate' HAVING count(*) > 0""",
]
_RUN_MARKS_FROM_AUDIT_POSTGRESQL = [
    """INSERT INTO run_marks (run, as_of, recorded_at)
       SELECT 'minigoal.evaluate', max(details::jsonb ->> 'as_of')::date, max(at) FROM audit_log
       WHERE action = 'minigoal.evaluate' HAVING count(*) > 0""",
]


# Trust on a shared server (SPEC §12).
#
# - users.login: the PostgreSQL login role that acts as the user (one role,
#   one user); `coach user link` sets it.
# - erasures_in_progress: a row while `coach user erase` runs, in its own
#   transaction, and only then; the triggers let a final record's text become
#   '[erased]' only while it is there. On PostgreSQL only the owner writes it
#   (through coach_begin_erasure(), which only the admin group may call), and
#   each row names its transaction; on SQLite the file has one writer at a time.
# - coach_write_lock: never holds a row; on PostgreSQL; every writer locks it
#   as it begins, and only coach's own roles may.
#
# The groups, privileges, policies and hardened functions are generated for
# the schema by db/security.py, after the statements (see `migrate`).
_TRUST = [
    "ALTER TABLE users ADD COLUMN login TEXT",
    "CREATE UNIQUE INDEX users_by_login ON users(login)",
    "CREATE TABLE erasures_in_progress (transaction_id TEXT PRIMARY KEY)",
    # Both backends keep the same tables; SQLite's writers queue on BEGIN IMMEDIATE.
    "CREATE TABLE coach_write_lock (never_holds_a_row BOOLEAN)",
]
_ERASING = "EXISTS (SELECT 1 FROM erasures_in_progress)"


def _only_while_erasing(statement: str) -> str:
    """A SQLite guard whose '[erased]' exception holds only during an erasure."""
    statement = re.sub(r"(NEW\.\w+ = '\[erased\]')", rf"(\1 AND {_ERASING})", statement)
    return statement.replace("after.value = '[erased]'", f"after.value = '[erased]' AND {_ERASING}")


_TRUST_SQLITE_GUARDS = [
    rewritten
    for statement in _V4_SQLITE_GUARDS
    if statement.startswith("CREATE TRIGGER") and "[erased]" in statement
    for rewritten in (f"DROP TRIGGER {statement.split()[2]}", _only_while_erasing(statement))
]


def _for_postgresql(statement: str) -> str:
    """The PostgreSQL spelling of a portable CREATE TABLE or CREATE INDEX.

    Integer keys are identity columns (SQLite's INTEGER PRIMARY KEY is its
    rowid); text compares byte by byte ("C"), as in SQLite, so that sorting
    and the text bounds on observed_at and timestamps are the same on both
    whatever the server's locale. Frozen with the migrations it serves.
    """
    statement = statement.replace("id INTEGER PRIMARY KEY", "id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    statement = statement.replace(" WITHOUT ROWID", "")
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', statement)


def _migration(tables: list[str], sqlite: list[str], postgresql: list[str]) -> dict[str, list[str]]:
    return {"sqlite": tables + sqlite, "postgresql": [_for_postgresql(s) for s in tables] + postgresql}


# One sequence of versions for both backends: each version is the statements
# for each dialect.
MIGRATIONS: list[dict[str, list[str]]] = [
    _migration(_V1, _V1_SQLITE_GUARDS, _V1_POSTGRESQL_GUARDS),
    _migration(_V2, _V2_SQLITE_GUARDS, _V2_POSTGRESQL_GUARDS),
    _migration(_V3, [], []),
    _migration(_V4, _V4_SQLITE_GUARDS, _V4_POSTGRESQL_GUARDS),
    _migration(_RULE_FIRINGS, _RULE_FIRINGS_SQLITE_GUARDS, _RULE_FIRINGS_POSTGRESQL_GUARDS),
    _migration(_RUN_MARKS + _NOTIFY_CLAIMS, _RUN_MARKS_FROM_AUDIT_SQLITE, _RUN_MARKS_FROM_AUDIT_POSTGRESQL),
    _migration(_TRUST, _TRUST_SQLITE_GUARDS, []),
]
# The triggers that keep the product's promises of permanence, by backend
# (`coach db check` verifies that each is present).
PROTECTING_TRIGGERS = {
    "sqlite": sorted(
        re.findall(
            r"CREATE TRIGGER (\w+)", " ".join(_V1_SQLITE_GUARDS + _V2_SQLITE_GUARDS + _RULE_FIRINGS_SQLITE_GUARDS)
        )
    ),
    "postgresql": sorted(
        re.findall(
            r"CREATE TRIGGER (\w+)",
            " ".join(_V1_POSTGRESQL_GUARDS + _V2_POSTGRESQL_GUARDS + _RULE_FIRINGS_POSTGRESQL_GUARDS),
        )
    ),
}
LATEST_VERSION = len(MIGRATIONS)
_VERSION_TABLE = "coach_schema"
# Tables that keep coach's own books, not records (no model of their own).
BOOKKEEPING_TABLES = {_VERSION_TABLE, "coach_write_lock", "erasures_in_progress"}


def schema_version(connection: Connection) -> int | None:
    """The stored version; None for an empty database; refuses a foreign one.

    The tables are listed once and everything is decided from that one list:
    asking "is coach_schema there?" and then "which tables are there?" in two
    statements let a concurrent `coach init` commit in between, and the new
    schema's tables without its coach_schema read as another program's."""
    tables = set(inspect(connection).get_table_names())
    if _VERSION_TABLE in tables:
        return connection.execute(text(f"SELECT version FROM {_VERSION_TABLE}")).scalar_one()
    refuse_foreign(tables)
    return None


def refuse_foreign(tables: set[str]) -> None:
    """A database with tables but no coach_schema belongs to another program."""
    if tables - BOOKKEEPING_TABLES:
        raise CoachError(
            "this database was not made by coach (it has other tables); "
            "point --db / COACH_DB at a coach database or a new file",
            ExitCode.DATABASE,
        )


def refuse_newer(version: int | None) -> None:
    if version is not None and version > LATEST_VERSION:
        raise CoachError(
            f"this database has schema version {version}, written by a newer coach "
            f"(this one knows up to {LATEST_VERSION}); upgrade coach to use it",
            ExitCode.DATABASE,
        )


def upgrade(engine: Engine, *, create: bool) -> int:
    """Bring the schema to the latest version; returns the version found.

    A SQLite file belongs to whoever opens it, so any command upgrades it. A
    PostgreSQL database is shared: only `coach init` (`create`) changes its
    schema, and other commands on an older one ask for it.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            from coachcli.db.identity import refuse_outsider

            refuse_outsider(connection)
        found = schema_version(connection)
        connection.rollback()
    refuse_newer(found)
    # `coach init` on PostgreSQL brings the groups and their privileges up to
    # date even when the schema is.
    if found == LATEST_VERSION and not (create and engine.dialect.name == "postgresql"):
        return found
    if engine.dialect.name != "sqlite" and not create:
        state = (
            "has no coach schema yet"
            if found is None
            else f"has schema version {found}, older than this coach's {LATEST_VERSION}"
        )
        raise CoachError(f"this database {state}; run `coach init` to create or upgrade it", ExitCode.DATABASE)
    with writer(engine, schema_change=True).begin() as connection:
        # Re-read under the write lock: another process may have upgraded.
        current = schema_version(connection)
        refuse_newer(current)
        migrate(connection, current)
    return found or 0


def migrate(connection: Connection, current: int | None) -> None:
    """Every version after `current` (None: no coach schema yet), inside the
    caller's transaction."""
    if current is None:
        connection.exec_driver_sql(f"CREATE TABLE {_VERSION_TABLE} (version INTEGER NOT NULL)")
        connection.exec_driver_sql(f"INSERT INTO {_VERSION_TABLE} (version) VALUES (0)")
        current = 0
    for migration in MIGRATIONS[current:]:
        for statement in migration[connection.dialect.name]:
            connection.exec_driver_sql(statement)
    if connection.dialect.name == "postgresql":
        from coachcli.db import security

        security.install(connection)
    connection.execute(text(f"UPDATE {_VERSION_TABLE} SET version = :v"), {"v": LATEST_VERSION})
