"""Rules as code (SPEC §16): reading and validating a rules file.

No database here: plain data in and out. A rules file is TOML, one
`[[rule]]` table a rule; every refusal names the file, the rule and the
field, and refuses the whole file. The services check what needs the
database (that a path exists) and run the rules.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from coachcli.errors import CoachError
from coachcli.forms import _decode_toml, _printable, _show_value  # as a form file is read and quoted
from coachcli.metrics import Metric, find_metric, format_value, parse_target
from coachcli.parse import parse_date
from coachcli.records import column

CONDITIONS = ("threshold", "below_percentile", "deviations")
RULE_KEYS = (
    "name",
    "metric",
    *CONDITIONS,
    "window",
    "min_samples",
    "title",
    "path",
    "target",
    "due",
    "cooldown",
    "priority",
)
DEFAULT_WINDOW_DAYS = 14
MAX_WINDOW_DAYS = 365
DEFAULT_MIN_SAMPLES = 1
DEFAULT_COOLDOWN_DAYS = 30
DEFAULT_PRIORITY = 100
LOWEST_PERCENTILE, HIGHEST_PERCENTILE = 1, 99


@dataclass(frozen=True)
class Rule:
    """One validated rule. `condition` is one of CONDITIONS and `amount` its
    value (a threshold in the metric's unit, a percentage, or a number of
    standard deviations); `due` is kept as written ("+30d", "2026-07-01")
    and read against each run's as-of date."""

    number: int  # its place in the file, from 1
    name: str
    metric: Metric
    condition: str
    amount: float
    window: int
    min_samples: int
    title: str
    path: str | None
    target: float | None
    due: str | None
    cooldown: int
    priority: int

    def window_days(self, as_of: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last day of the window: `window` days ending the day before `as_of`."""
        return as_of - dt.timedelta(days=self.window), as_of - dt.timedelta(days=1)

    def due_date(self, as_of: dt.date) -> dt.date | None:
        return parse_date(self.due, as_of) if self.due is not None else None

    def describe(self) -> str:
        """When the rule fires, in words, e.g. "the average is above 420 s (7:00)"."""
        if self.condition == "threshold":
            worse = "above" if self.metric.lower_is_better else "below"
            return f"the average is {worse} {format_value(self.amount, self.metric)}"
        if self.condition == "below_percentile":
            return f"the agent is in the worst {self.amount:g}% of their team-mates with data"
        return f"the agent is {self.amount:g} standard deviations or more worse than their team's mean"

    def to_record(self) -> RuleRecord:
        return RuleRecord(
            name=self.name,
            metric=self.metric.key,
            condition=self.condition,
            amount=self.amount,
            window=self.window,
            min_samples=self.min_samples,
            title=self.title,
            path=self.path,
            target=self.target,
            due=self.due,
            cooldown=self.cooldown,
            priority=self.priority,
        )


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """A rule as `rules check` prints it. A table shows the condition and its
    amount in words under "Fires when", and what the rule proposes (path,
    target, due date) under "Proposes"."""

    name: str = column("Rule")
    metric: str = column("Metric")
    condition: str = column("Fires when")
    amount: float = column(None)
    window: int = column("Window")
    min_samples: int = column("Min. samples")
    title: str = column(None)
    path: str | None = column("Proposes")
    target: float | None = column(None)
    due: str | None = column(None)
    cooldown: int = column("Cooldown")
    priority: int = column("Priority")


def load_rules_file(path: Path, today: dt.date) -> list[Rule]:
    """The rules of a TOML file, in priority order (lower first, then as
    written); `today` checks that each `due` reads as a date."""
    source = _printable(str(path))
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise CoachError(f"{source}: no such file; check the path") from None
    except IsADirectoryError:
        raise CoachError(f"{source}: is a directory; give the path of a .toml rules file") from None
    except OSError as error:
        raise CoachError(f"{source}: cannot read the file ({_printable(str(error.strerror or error))})") from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CoachError(f"{source}: byte {error.start} is not UTF-8; save the file as UTF-8") from None
    return parse_rules(_decode_toml(text, source), source, today)


def parse_rules(data: object, source: str, today: dt.date) -> list[Rule]:
    if not isinstance(data, dict):
        raise CoachError(f"{source}: a rules file holds [[rule]] tables, not {_show_value(data)}")
    unknown = [key for key in data if key != "rule"]
    if unknown:
        raise CoachError(
            f"{source}: unknown setting {_printable(str(unknown[0]))!r}; a rules file holds only [[rule]] tables"
        )
    tables = data.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise CoachError(f"{source}: `rule` must be a list of tables: write each rule under [[rule]]")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(tables, start=1):
        rule = _parse_rule(table, _Where(source, number, table.get("name")), today)
        folded = rule.name.casefold()
        if folded in seen:
            raise refusal(
                source,
                number,
                rule.name,
                "name",
                f"the name is already used by rule {seen[folded]}; give every rule its own name",
            )
        seen[folded] = number
        rules.append(rule)
    return sorted(rules, key=lambda rule: (rule.priority, rule.number))


@dataclass(frozen=True)
class _Where:
    """Which rule of which file a refusal is about."""

    source: str
    number: int
    name: object

    def refuse(self, field: str, problem: str) -> CoachError:
        return refusal(self.source, self.number, self.name, field, problem)


def refusal(source: str, number: int, name: object, field: str, problem: str) -> CoachError:
    """A rules file refused for one field of one rule (exit 2): says which."""
    rule = f"rule {_printable(name)!r}" if isinstance(name, str) and name.strip() else ""
    named = f"{rule} (rule {number})" if rule else f"rule {number}"
    return CoachError(f"{source}: {named}, field {field}: {problem}")


def _parse_rule(table: dict, where: _Where, today: dt.date) -> Rule:
    unknown = [key for key in table if key not in RULE_KEYS]
    if unknown:
        raise where.refuse(_printable(str(unknown[0])), f"unknown field; a rule takes {', '.join(RULE_KEYS)}")
    name = _line(table, "name", where, required=True)
    assert name is not None
    metric_text = _line(table, "metric", where, required=True)
    assert metric_text is not None
    try:
        metric = find_metric(metric_text)
    except CoachError as error:
        raise where.refuse("metric", error.message) from None
    given = [condition for condition in CONDITIONS if condition in table]
    if not given:
        raise where.refuse(" or ".join(CONDITIONS), "a rule needs exactly one of them, and none is given")
    if len(given) > 1:
        raise where.refuse(" and ".join(given), "a rule needs exactly one condition; keep one of them")
    condition = given[0]
    amount = _condition_amount(table, condition, metric, where)
    target = _target(table, "target", metric, where) if "target" in table else None
    return Rule(
        number=where.number,
        name=name,
        metric=metric,
        condition=condition,
        amount=amount,
        window=_whole(table, "window", where, DEFAULT_WINDOW_DAYS, 1, MAX_WINDOW_DAYS, "days"),
        min_samples=_whole(table, "min_samples", where, DEFAULT_MIN_SAMPLES, 1, None, "observations"),
        title=_line(table, "title", where) or name,
        path=_line(table, "path", where),
        target=target,
        due=_due(table, where, today),
        cooldown=_whole(table, "cooldown", where, DEFAULT_COOLDOWN_DAYS, 0, None, "days"),
        priority=_whole(table, "priority", where, DEFAULT_PRIORITY, None, None, "(lower runs first)"),
    )


def _condition_amount(table: dict, condition: str, metric: Metric, where: _Where) -> float:
    if condition == "threshold":
        return _target(table, "threshold", metric, where)
    value = _number(table, condition, where)
    if condition == "below_percentile":
        if not LOWEST_PERCENTILE <= value <= HIGHEST_PERCENTILE:
            raise where.refuse(
                condition,
                f"a percentile from {LOWEST_PERCENTILE} to {HIGHEST_PERCENTILE}, not {value:g} "
                "(20 means the worst 20% of the team)",
            )
        return value
    if value <= 0:
        raise where.refuse(condition, f"a number of standard deviations above 0, not {value:g} (e.g. 1.5)")
    return value


def _number(table: dict, key: str, where: _Where) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise where.refuse(key, f"must be a number, not {_show_value(value)}")
    return float(value)


def _target(table: dict, key: str, metric: Metric, where: _Where) -> float:
    """A value in the metric's unit, in any form `--target` takes (420, "7m", "6:40")."""
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise where.refuse(key, f'must be a number or a text such as "6:40", not {_show_value(value)}')
    try:
        return parse_target(str(value), metric)
    except CoachError as error:
        raise where.refuse(key, error.message) from None


def _whole(
    table: dict, key: str, where: _Where, default: int, lowest: int | None, highest: int | None, unit: str
) -> int:
    value = table.get(key, default)
    wanted = "a whole number"
    if lowest is not None and highest is not None:
        wanted += f" from {lowest} to {highest}"
    elif lowest is not None:
        wanted += f" of at least {lowest}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (lowest is not None and value < lowest)
        or (highest is not None and value > highest)
    ):
        raise where.refuse(key, f"must be {wanted} {unit}, not {_show_value(value)}")
    return value


def _line(table: dict, key: str, where: _Where, *, required: bool = False) -> str | None:
    """A one-line text; blank is none (refused when required)."""
    value = table.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise where.refuse(key, "is required" if value is None else "must not be blank")
        if value is None:
            return None
        raise where.refuse(key, "must not be blank; leave the field out instead")
    if not isinstance(value, str):
        raise where.refuse(key, f"must be a text, not {_show_value(value)}")
    if not value.isprintable():
        raise where.refuse(key, "must be one line without control characters")
    return value.strip()


def _due(table: dict, where: _Where, today: dt.date) -> str | None:
    value = table.get("due")
    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise where.refuse("due", f'must be a date or a text such as "+30d", not {_show_value(value)}')
    try:
        parse_date(value, today)
    except CoachError as error:
        raise where.refuse("due", error.message) from None
    return value.strip()
