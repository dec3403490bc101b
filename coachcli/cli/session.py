"""coach session: coaching sessions, from request to coached."""

from typing import Annotated

import typer

from coachcli.choices import SessionTab
from coachcli.cli.completion import complete_agent, complete_coach, complete_form, complete_metric, complete_path
from coachcli.cli.context import acting_user, command_group, unit_of_work
from coachcli.cli.ids import record_id
from coachcli.cli.inputs import EncodingOption, SheetOption, import_content, source_name
from coachcli.cli.output import AgentFilter, FormatOption, QuietOption, Section, View, emit, emit_id, say

app = command_group()

SessionId = Annotated[
    int,
    typer.Argument(parser=record_id("coaching session"), help="Session id.", metavar="SESSION", show_default=False),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="KEY=VALUE answer for a form field; repeatable.", show_default=False),
]
AnswersOption = Annotated[
    str | None,
    typer.Option("--answers", help="JSON object of answers, from a file or - for stdin.", show_default=False),
]
NotesOption = Annotated[str | None, typer.Option("--notes", help="Replace the session notes.", show_default=False)]
PrivateNotesOption = Annotated[
    str | None,
    typer.Option(
        "--private-notes", help="Notes for coaches and admins only; never shown to the agent.", show_default=False
    ),
]
FormChoice = Annotated[
    str | None,
    typer.Option(
        "--form",
        autocompletion=complete_form,
        help="Run a session scheduled without a form with this one.",
        show_default=False,
    ),
]


def show_session(record, spec, format) -> None:
    """A session, headed Performance Plan when it belongs to one (P3)."""
    from coachcli.records import WITHHELD, detail_columns
    from coachcli.services.coaching import answer_records

    title = "Performance Plan" if record.plan_id else "Coaching Session"
    sections = [Section("Answers", answer_records(spec, record.answers))] if spec else []
    sections.append(Section("Carried over: open action items from earlier sessions", record.carried_actions))
    # A field the viewer may not see (an agent's private notes) is not even a blank line.
    shown = [(key, header) for key, header in detail_columns(type(record)) if getattr(record, key) is not WITHHELD]
    emit(record, format, View(title=title, columns=shown, sections=sections))


def session_view(db, session) -> tuple:
    """The session as the acting user may see it, with the open action items
    it carries over, and its form; read inside the command's transaction."""
    from coachcli.services.coaching import shown_session
    from coachcli.services.sessions import session_form

    return shown_session(db, acting_user(db), session), session_form(db, session)


def show_created(view: tuple, format, quiet: bool) -> None:
    record, spec = view
    if quiet:
        emit_id(record.id)
    else:
        show_session(record, spec, format)


@app.command("new")
def new(
    agent: Annotated[str, typer.Option("--agent", autocompletion=complete_agent, help="The agent to coach.")],
    form: Annotated[str, typer.Option("--form", autocompletion=complete_form, help="Coaching form name or id.")],
    title: Annotated[str | None, typer.Option("--title", help="Session title.")] = None,
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Start a standalone coaching session (a draft)."""
    from coachcli.services import coaching

    with unit_of_work(write=True) as db:
        view = session_view(db, coaching.new_session(db, acting_user(db), agent, form, title))
    show_created(view, format, quiet)


@app.command("list")
def list_(
    agent: AgentFilter = None,
    plan: Annotated[
        int | None,
        typer.Option(
            "--plan", parser=record_id("performance plan"), help="Only this plan's sessions.", show_default=False
        ),
    ] = None,
    tab: Annotated[
        SessionTab | None,
        typer.Option("--tab", case_sensitive=False, help="Only sessions in this state.", show_default=False),
    ] = None,
    unacknowledged: Annotated[
        bool, typer.Option("--unacknowledged", help="Only coached sessions the agent has not acknowledged yet.")
    ] = False,
    format: FormatOption = None,
) -> None:
    """List coaching sessions within your scope; the Plan column shows plan ids."""
    from coachcli.services import sessions

    with unit_of_work(write=False) as db:
        actor = acting_user(db)
        records = sessions.list_sessions(db, actor, agent=agent, plan_id=plan, tab=tab, unacknowledged=unacknowledged)
        view = View(title="Coaching sessions", record=sessions.SessionRecord, keys=sessions.session_keys(actor))
        emit(records, format, view)


@app.command("show")
def show(session_id: SessionId, format: FormatOption = None) -> None:
    """Show one session with its answers."""
    from coachcli.services import sessions

    with unit_of_work(write=False) as db:
        record, spec = session_view(db, sessions.find_session(db, acting_user(db), session_id))
    show_session(record, spec, format)


def gather_answers(
    session_id: int,
    pairs: list[str] | None,
    answers_source: str | None,
    notes: str | None,
    form: str | None,
    private_notes: str | None = None,
) -> dict:
    """Answers from --answers and --set (which wins), or, with neither and a
    person at the terminal, asked for field by field."""
    from coachcli.cli.inputs import interactive, read_text
    from coachcli.forms import parse_answers_json, parse_assignments

    updates: dict = {}
    if answers_source:
        updates.update(parse_answers_json(read_text(answers_source), answers_source))
    updates.update(parse_assignments(pairs or []))
    if updates or notes is not None or private_notes is not None or not interactive():
        return updates
    from coachcli.cli.prompts import fill_form
    from coachcli.services import coaching

    # Read in its own short transaction: nobody holds the write lock while a
    # person types.
    with unit_of_work(write=False) as db:
        spec, current, previous = coaching.answer_context(db, acting_user(db), session_id, form)
    return fill_form(spec, current, previous) if spec else {}


def save_answers(
    session_id: int, *, coached: bool, pairs, answers_source, notes, format, form=None, private_notes=None
) -> None:
    from coachcli.services import coaching

    updates = gather_answers(session_id, pairs, answers_source, notes, form, private_notes)
    with unit_of_work(write=True) as db:
        session = coaching.save_session(
            db,
            acting_user(db),
            session_id,
            updates,
            notes=notes,
            form_name=form,
            private_notes=private_notes,
            coached=coached,
        )
        record, spec = session_view(db, session)
    say(f"Session {session_id} " + ("coached; the agent has been notified." if coached else "saved as a draft."))
    show_session(record, spec, format)


def _save_command(*, coached: bool):
    """`session save` and `session coach`: the same options, one service."""

    def command(
        session_id: SessionId,
        set_: SetOption = None,
        answers: AnswersOption = None,
        notes: NotesOption = None,
        private_notes: PrivateNotesOption = None,
        form: FormChoice = None,
        format: FormatOption = None,
    ) -> None:
        save_answers(
            session_id,
            coached=coached,
            pairs=set_,
            answers_source=answers,
            notes=notes,
            format=format,
            form=form,
            private_notes=private_notes,
        )

    return command


app.command("save", help="Save Only: keep the answers given, leave the session a draft.")(_save_command(coached=False))
app.command("coach", help="Save & Coached: check required fields, make the session final, notify the agent.")(
    _save_command(coached=True)
)


@app.command("autofill")
def autofill(session_id: SessionId, format: FormatOption = None) -> None:
    """Fill the unanswered fields from the previous session (same plan, or same agent and form)."""
    from coachcli.services import coaching

    with unit_of_work(write=True) as db:
        session, source = coaching.autofill_session(db, acting_user(db), session_id)
        record, spec = session_view(db, session)
    say(f"Session {session_id} filled from session {source.id}.")
    show_session(record, spec, format)


@app.command("delete")
def delete(session_id: SessionId) -> None:
    """Delete a session that is not coached."""
    from coachcli.services import coaching

    with unit_of_work(write=True) as db:
        coaching.delete_session(db, acting_user(db), session_id)
    say(f"Session {session_id} deleted.")


@app.command("coach-again")
def coach_again(session_id: SessionId, format: FormatOption = None, quiet: QuietOption = False) -> None:
    """Start a new standalone draft with the same form and agent (never in a plan)."""
    from coachcli.services import coaching

    with unit_of_work(write=True) as db:
        view = session_view(db, coaching.coach_again(db, acting_user(db), session_id))
    show_created(view, format, quiet)


def _option(help: str, name: str, autocompletion=None, parser=None):
    return typer.Option(name, help=help, show_default=False, autocompletion=autocompletion, parser=parser)


@app.command("schedule")
def schedule(
    title: Annotated[
        str | None, _option("Session title (kept from the request with --from-request).", "--title")
    ] = None,
    agent: Annotated[
        str | None,
        _option("The agent to coach (the requester with --from-request).", "--agent", autocompletion=complete_agent),
    ] = None,
    coach: Annotated[
        str | None, _option("The coach (a coach or an admin); default: you.", "--coach", autocompletion=complete_coach)
    ] = None,
    date: Annotated[str | None, _option("Date: YYYY-MM-DD, today, tomorrow, +7d …", "--date")] = None,
    start: Annotated[str | None, _option("Start time, 24-hour HH:MM.", "--start")] = None,
    tz: Annotated[
        str | None, _option("IANA time zone, e.g. Europe/Paris; default: COACH_TZ, else the system's.", "--tz")
    ] = None,
    duration: Annotated[str | None, _option("Length in minutes (or 1h, 90m); default 30.", "--duration")] = None,
    link: Annotated[str | None, _option("Meeting link, an http(s) URL.", "--link")] = None,
    path: Annotated[
        str | None,
        _option("Performance path assigned to the agent (for a mini-goal).", "--path", autocompletion=complete_path),
    ] = None,
    kpi: Annotated[
        str | None, _option("KPI metric (see `coach kpi metrics`).", "--kpi", autocompletion=complete_metric)
    ] = None,
    target: Annotated[str | None, _option("Mini-goal target; time metrics take 300, 5m or 4:30.", "--target")] = None,
    target_date: Annotated[str | None, _option("Mini-goal due date.", "--target-date")] = None,
    notes: Annotated[str | None, _option("Notes for the session.", "--notes")] = None,
    private_notes: PrivateNotesOption = None,
    form: Annotated[str | None, _option("Coaching form name or id.", "--form", autocompletion=complete_form)] = None,
    from_request: Annotated[
        int | None,
        _option(
            "Schedule this coaching request (see --tab requested).",
            "--from-request",
            parser=record_id("coaching request"),
        ),
    ] = None,
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Schedule a coaching session; with path, KPI, target and target date it sets a mini-goal."""
    from coachcli.parse import default_timezone_name, today_in
    from coachcli.services import scheduling

    with unit_of_work(write=True) as db:
        request = scheduling.ScheduleRequest.typed(
            title=title,
            agent=agent,
            coach=coach,
            date=date,
            start=start,
            timezone=tz,
            duration=duration,
            link=link,
            path=path,
            kpi=kpi,
            target=target,
            target_date=target_date,
            notes=notes,
            private_notes=private_notes,
            form=form,
            from_request=from_request,
        )
        session = scheduling.schedule_session(db, acting_user(db), request, today=today_in(default_timezone_name()))
        warnings = [scheduling.start_note(session), scheduling.minigoal_warning(session)]
        view = session_view(db, session)
    for warning in warnings:
        if warning:
            say(warning)
    show_created(view, format, quiet)


@app.command("ack")
def ack(
    session_id: SessionId,
    comment: Annotated[
        str | None, _option("Your comment on the session, kept with the acknowledgement.", "--comment")
    ] = None,
    format: FormatOption = None,
) -> None:
    """Acknowledge a coached session of yours (once; your coach is notified)."""
    from coachcli.services import coaching

    with unit_of_work(write=True) as db:
        record, spec = session_view(db, coaching.acknowledge_session(db, acting_user(db), session_id, comment))
    say(f"Session {session_id} acknowledged; your coach has been notified.")
    show_session(record, spec, format)


@app.command("request")
def request(
    title: Annotated[str, typer.Option("--title", help="What you would like coaching on.")],
    path: Annotated[
        str | None, _option("A performance path assigned to you.", "--path", autocompletion=complete_path)
    ] = None,
    kpi: Annotated[
        str | None, _option("The KPI metric you want to work on.", "--kpi", autocompletion=complete_metric)
    ] = None,
    notes: Annotated[str | None, _option("Anything your coach should know.", "--notes")] = None,
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Ask for coaching (agents, for themselves); your coaches are notified."""
    from coachcli.services import scheduling

    with unit_of_work(write=True) as db:
        session = scheduling.request_session(db, acting_user(db), title=title, path=path, kpi=kpi, notes=notes)
        view = session_view(db, session)
    if not quiet:
        say(f"Coaching request {session.id} sent; it is on the Requested tab for your coaches.")
    show_created(view, format, quiet)


@app.command("import")
def import_(
    source: Annotated[
        str, typer.Argument(help="CSV (, ; or tab), JSON Lines or .xlsx file, or - for stdin.", metavar="FILE|-")
    ],
    encoding: EncodingOption = None,
    sheet: SheetOption = None,
    format: FormatOption = None,
) -> None:
    """Bulk schedule sessions: columns title,agent,coach,date,start (required),
    timezone,duration,link,path,kpi,target,target_date,notes,private_notes."""
    from coachcli.parse import default_timezone_name, today_in
    from coachcli.services import scheduling

    with import_content(source, encoding=encoding, sheet=sheet) as content:
        with unit_of_work(write=True) as db:
            imported = scheduling.import_sessions(
                db, acting_user(db), content, source_name(source), today=today_in(default_timezone_name())
            )
    if imported.first_of_two:
        say(
            f"{imported.first_of_two} session(s) start at a time that happens twice in their zone (the clocks "
            "go back that night): each is at the first, daylight time"
        )
    if imported.without_minigoal:
        say(
            f"{imported.without_minigoal} session(s) have only some of path, kpi, target, target_date: "
            "no mini-goal for them (a mini-goal needs all four)"
        )
    emit(imported.counts, format, View(title="Sessions imported"))
