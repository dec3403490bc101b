"""coach plan: performance plans (P1–P12). There is no delete: plans are permanent."""

from typing import Annotated

import typer

from coachcli.choices import PlanState
from coachcli.cli.completion import complete_agent, complete_form
from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.ids import record_id
from coachcli.cli.output import (
    AgentFilter,
    FormatOption,
    OutputFormat,
    QuietOption,
    Section,
    View,
    emit,
    emit_id,
    resolve,
    say,
)
from coachcli.cli.session import session_view, show_session

app = command_group()

GRID_FIELD_TYPES = ("rating", "number")
PlanId = Annotated[
    int,
    typer.Argument(parser=record_id("performance plan"), help="Plan id.", metavar="PLAN", show_default=False),
]


def _plan_view(sections: list[Section] | None = None) -> View:
    from coachcli.services.plans import PlanRecord

    return View(title="Performance Plan", record=PlanRecord, sections=sections or [])


def _offer_to_fill(session_id: int, format, quiet: bool) -> None:
    """On a terminal, go straight to the coaching form, as the plan page does."""
    from coachcli.cli.inputs import interactive

    if quiet or not interactive() or resolve(format) is not OutputFormat.table:
        return
    if typer.confirm(f"Fill session {session_id} now?", default=True, err=True):
        from coachcli.cli.session import save_answers

        save_answers(session_id, coached=False, pairs=None, answers_source=None, notes=None, format=format)


@app.command("add")
def add(
    agent: Annotated[str, typer.Option("--agent", autocompletion=complete_agent, help="The agent the plan is for.")],
    form: Annotated[
        str,
        typer.Option("--form", autocompletion=complete_form, help="The coaching form every session of the plan uses."),
    ],
    purpose: Annotated[str, typer.Option("--purpose", help="What the agent should achieve.")],
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Open a plan and its first session (a draft), in one step."""
    from coachcli.db.models import stored_id
    from coachcli.services import plans

    with unit_of_work(write=True) as db:
        plan, session = plans.add_plan(db, acting_user(db), agent, form, purpose)
        record = plans.plan_record(db, stored_id(plan))
    if quiet:
        emit_id(stored_id(plan))
        return
    emit(record, format, _plan_view())
    say(f"Plan {stored_id(plan)} opened with its first session {stored_id(session)} (draft).")
    _offer_to_fill(stored_id(session), format, quiet)


@app.command("list")
def list_(
    agent: AgentFilter = None,
    state: Annotated[PlanState, typer.Option("--state", case_sensitive=False, help="Only plans in this state.")] = (
        PlanState.active
    ),
    format: FormatOption = None,
) -> None:
    """List performance plans within your scope."""
    from coachcli.services import plans

    with unit_of_work(write=False) as db:
        records = plans.list_plans(db, acting_user(db), agent=agent, state=state)
        # Inside the transaction: the plans stream from the database to stdout.
        emit(records, format, View(title="Performance plans", record=plans.PlanRecord))


@app.command("show")
def show(plan_id: PlanId, format: FormatOption = None) -> None:
    """Show a plan: purpose, form, agent, state, the current session and the five most recent others."""
    from coachcli.records import list_columns
    from coachcli.services import plans
    from coachcli.services.sessions import SessionRecord

    with unit_of_work(write=False) as db:
        overview = plans.plan_overview(db, acting_user(db), plan_id)
        spec = plans.plan_form(db, plan_id)
    current, recent = overview.current_session, overview.recent_sessions
    shown = sorted(([current] if current else []) + recent, key=lambda session: session.id)
    recent_columns = [*list_columns(SessionRecord), ("coached_at", "Coached at")]
    sections = [
        Section("Current session", [current] if current else [], recent_columns),
        Section("Open action items from earlier sessions", overview.open_actions),
        Section("Recent sessions (open one with `coach session show ID`)", recent, recent_columns),
        _answer_grid(spec, shown),
    ]
    emit(overview, format, _plan_view(sections))


def _answer_grid(spec, sessions: list) -> Section:
    """Ratings and numbers, field by field, one column per session (oldest
    first): how the agent is moving, at a glance."""
    from coachcli.forms import format_answer

    fields = [field for field in spec.fields if field.type in GRID_FIELD_TYPES]
    rows = [
        {
            "label": field.label,
            **{f"session_{s.id}": format_answer(field, s.answers.get(field.key)) for s in sessions},
        }
        for field in fields
    ]
    columns = [("label", "Field"), *((f"session_{s.id}", f"#{s.id}") for s in sessions)]
    return Section("Ratings and numbers by session", rows if sessions else [], columns)


@app.command("edit")
def edit(plan_id: PlanId, format: FormatOption = None, quiet: QuietOption = False) -> None:
    """Open the plan's draft session, or start a new blank one in the plan."""
    from coachcli.db.models import stored_id
    from coachcli.services import plans

    with unit_of_work(write=True) as db:
        session, created = plans.edit_plan(db, acting_user(db), plan_id)
        record, spec = session_view(db, session)
    if quiet:
        emit_id(stored_id(session))
        return
    say(f"{'New' if created else 'Open'} session {session.id} in plan {plan_id}.")
    show_session(record, spec, format)
    _offer_to_fill(stored_id(session), format, quiet)


@app.command("close")
def close(
    plan_id: PlanId,
    reason: Annotated[
        str, typer.Option("--reason", help="Specific reason: the official record of why the plan ended.")
    ],
    format: FormatOption = None,
) -> None:
    """Close a plan with a written reason (refused while a session is still open)."""
    from coachcli.db.models import stored_id
    from coachcli.services import plans

    with unit_of_work(write=True) as db:
        plan = plans.close_plan(db, acting_user(db), plan_id, reason)
        record = plans.plan_record(db, stored_id(plan))
    emit(record, format, _plan_view())
