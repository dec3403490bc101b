"""coach user: people, their roles and teams."""

from typing import Annotated

import typer

from coachcli.choices import Role
from coachcli.cli.context import command_group, settings, unit_of_work
from coachcli.cli.inputs import EncodingOption, SheetOption, import_content, source_name
from coachcli.cli.output import FormatOption, QuietOption, View, emit

app = command_group()


@app.command("add")
def add(
    handle: Annotated[str, typer.Argument(help="Short unique name, e.g. alex.", metavar="HANDLE")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    role: Annotated[Role, typer.Option("--role", case_sensitive=False, help="What the person does.")] = Role.agent,
    teams: Annotated[
        list[str] | None,
        typer.Option("--team", help="Team to join (agent) or supervise (coach); repeatable."),
    ] = None,
    format: FormatOption = None,
    quiet: QuietOption = False,
) -> None:
    """Add a user. While the database has no users, no acting user is needed."""
    from coachcli.db.models import stored_id
    from coachcli.services import users

    with unit_of_work(write=True) as db:
        actor = users.adding_actor(db, settings.acting_handle)
        user = users.add_user(db, actor, handle, name, role.value, teams or [])
        record = users.user_record(user, users.team_names_by_user(db, [stored_id(user)]).get(stored_id(user), []))
    if quiet:
        typer.echo(record.handle)
    else:
        emit(record, format, View(title="User"))


@app.command("link")
def link(
    handle: Annotated[str, typer.Argument(help="The user to link.", metavar="HANDLE")],
    login: Annotated[
        str | None, typer.Option("--login", help="The PostgreSQL login role that acts as this user.", metavar="ROLE")
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Unlink the user's login role.")] = False,
    format: FormatOption = None,
) -> None:
    """Link a user to their PostgreSQL login role (an admin, or the owner).
    The role then acts as the user, within the user's scope."""
    from coachcli.cli.context import acting_user
    from coachcli.db.models import stored_id
    from coachcli.errors import CoachError
    from coachcli.services import users

    if (login is None) == (not none):
        raise CoachError(
            "give the login role with --login ROLE, or --none to unlink, e.g. coach user link alex --login alex"
        )
    with unit_of_work(write=True) as db:
        actor = acting_user(db) if settings.acting_handle else None
        assert settings.connected is not None  # set as the unit of work began
        user = users.link_user(db, actor, settings.connected, handle, login)
        record = users.user_record(user, users.team_names_by_user(db, [stored_id(user)]).get(stored_id(user), []))
    emit(record, format, View(title="User"))


@app.command("list")
def list_(
    role: Annotated[
        Role | None, typer.Option("--role", case_sensitive=False, help="Only this role.", show_default=False)
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only members of this team.")] = None,
    format: FormatOption = None,
) -> None:
    """List the users within your scope."""
    from coachcli.cli.context import acting_user
    from coachcli.services import users

    with unit_of_work(write=False) as db:
        records = users.list_users(db, acting_user(db), role=role, team=team)
        emit(records, format, View(title="Users", record=users.UserRecord))


@app.command("import")
def import_(
    source: Annotated[
        str, typer.Argument(help="CSV (, ; or tab), JSON Lines or .xlsx file, or - for stdin.", metavar="FILE|-")
    ],
    encoding: EncodingOption = None,
    sheet: SheetOption = None,
    format: FormatOption = None,
) -> None:
    """Roster sync: columns handle,name,role,teams (teams separated by ';').
    Known handles are updated, teams included; missing teams are created."""
    from coachcli.services import roster, users

    with import_content(source, encoding=encoding, sheet=sheet) as content:
        with unit_of_work(write=True) as db:
            actor = users.adding_actor(db, settings.acting_handle)
            counts = roster.import_roster(db, actor, content, source_name(source))
    emit(counts, format, View(title="Roster imported"))


@app.command("erase")
def erase(
    handle: Annotated[str, typer.Argument(help="The person to erase.", metavar="HANDLE")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why, in a few words; kept in the audit log (must not name them).")
    ],
    also: Annotated[
        list[str] | None,
        typer.Option(
            "--also",
            metavar="TEXT",
            help="Another way people wrote their name (a nickname, the surname alone); repeatable; never stored.",
        ),
    ] = None,
    format: FormatOption = None,
) -> None:
    """Right to erasure (admins): the person's handle and name become erased-<id>,
    every free text of their records becomes [erased], and so does any other
    text naming them (by handle or name, in any case, accents, order or
    spacing, or as --also says). Numbers, dates and structure stay. They can
    no longer act. This cannot be undone."""
    from coachcli.cli.context import acting_user
    from coachcli.db.maintenance import forget_old_rows
    from coachcli.services import erasure

    changed_tables: list[str] = []

    def leave_no_old_rows(engine) -> None:
        note = forget_old_rows(engine, changed_tables)
        if note:
            typer.echo(f"coach: note: {note}", err=True)

    with unit_of_work(write=True, after_commit=leave_no_old_rows) as db:
        erased = erasure.erase_user(db, acting_user(db), handle, reason, also or [])
        changed_tables.extend(erased.tables)
    emit(erased.record, format, View(title="Erased"))
