"""coach rules: rules as code — coaching requests that start themselves from
the KPI data (SPEC §16)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coachcli.cli.context import command_group, unit_of_work
from coachcli.cli.output import FormatOption, OutputFormat, View, emit, resolve, say

if TYPE_CHECKING:
    from coachcli.rules import Rule, RuleRecord
    from coachcli.services.rules import FiringRecord

app = command_group()

RulesFile = Annotated[
    Path, typer.Argument(help="The rules file (TOML, one [[rule]] table a rule).", metavar="FILE", show_default=False)
]


@app.callback()
def rules() -> None:
    """Rules as code: when an agent should be coached, from the KPI data."""


def _load(path: Path):
    """The file's rules, checked against the database too (its paths exist)."""
    from coachcli.parse import default_timezone_name, today_in
    from coachcli.rules import load_rules_file

    return load_rules_file(path, today_in(default_timezone_name()))


@app.command("check")
def check(path: RulesFile, format: FormatOption = None) -> None:
    """Check a rules file: every rule and field, and that its paths exist.

    Exit 2, naming the rule and the field, at the first fault; nothing is
    written either way."""
    from coachcli.rules import RuleRecord
    from coachcli.services.rules import check_rules

    loaded = _load(path)
    with unit_of_work(write=False) as db:
        check_rules(db, loaded, str(path))
    records = [rule.to_record() for rule in loaded]
    if resolve(format) is OutputFormat.table:
        records = [_displayed_rule(rule) for rule in loaded]
    emit(records, format, View(title=f"Rules in {path} (they run in this order)", record=RuleRecord))


def _displayed_rule(rule: Rule) -> RuleRecord:
    from coachcli.metrics import format_value
    from coachcli.records import shown

    proposed = [f"path {rule.path}"] if rule.path else []
    if rule.target is not None:
        proposed.append(f"target {format_value(rule.target, rule.metric)}")
    if rule.due is not None:
        proposed.append(f"due {rule.due}")
    return shown(
        rule.to_record(),
        metric=rule.metric.name,
        condition=rule.describe(),
        window=f"{rule.window} days",
        path=", ".join(proposed),
        cooldown=f"{rule.cooldown} days",
    )


@app.command("run")
def run(
    path: RulesFile,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Run as of this date: windows end the day before (default: today in COACH_TZ; "
            "a date to come is a dry run).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would fire; write nothing, notify no one.")
    ] = False,
    format: FormatOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """Fire the rules: a coaching request for each agent a rule matches (run from cron).

    At most one request an agent a run (the first rule in priority order),
    none while the rule's earlier request is open or within its cooldown.
    The coaches of the agent's teams are notified; schedule a request with
    `coach session schedule --from-request ID` or delete it. Prints what
    fired, nothing when nothing did (-o json always prints the summary)."""
    from coachcli.parse import default_timezone_name, parse_date, today_in
    from coachcli.services.rules import check_rules, run_rules
    from coachcli.services.runs import dry_run_reason

    zone = default_timezone_name()
    day = parse_date(as_of, today_in(zone)) if as_of else today_in(zone)
    loaded = _load(path)
    not_writing = dry_run_reason(day, zone, requested=dry_run)
    with unit_of_work(write=not_writing is None) as db:
        paths = check_rules(db, loaded, str(path))
        result = run_rules(db, loaded, paths, day, write=not_writing is None)
    if not_writing is not None:
        say(not_writing)
    if quiet:
        return
    chosen = resolve(format)
    if chosen is OutputFormat.json:
        emit(result, format)
        return
    fired = result.fired
    if not fired:
        return
    if chosen is OutputFormat.table:
        fired = [_displayed_firing(firing) for firing in fired]
    title = f"Coaching requested by rules as of {day.isoformat()}"
    if result.held:
        title += f" ({result.held} held back: one a run, open request or cooldown)"
    emit(fired, format, View(title=title))


def _displayed_firing(firing: FiringRecord) -> FiringRecord:
    from coachcli.metrics import find_metric, format_value
    from coachcli.records import shown

    metric = find_metric(firing.metric)
    return shown(
        firing,
        metric=metric.name,
        value=format_value(firing.value, metric),
        session_id="(dry run)" if firing.session_id is None else firing.session_id,
    )
