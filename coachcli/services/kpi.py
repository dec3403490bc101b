"""KPI observations: the bulk import behind mini-goals, and reading them back.

An import streams its rows: each is checked with the cheapest code that can
check it, staged in batches, and applied in one set-based upsert. A file
with any bad row changes nothing.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable

from sqlmodel import Session, col, select

from coachcli.db import bulk
from coachcli.db.models import KpiObservation, User
from coachcli.errors import CoachError
from coachcli.metrics import METRICS, PERCENT_MAXIMUM, Metric, check_value, find_metric
from coachcli.parse import default_timezone_name, parse_observed_at
from coachcli.services import audit
from coachcli.services.people import find_user, in_scope
from coachcli.tabular import Problems, read_rows

COLUMNS = ("agent", "metric", "observed_at", "value")
ALIASES = {"date": "observed_at"}
BATCH_ROWS = 50_000
OBSERVED_CACHE_SIZE = 50_000


def metric_records() -> list[dict]:
    return [
        {"key": metric.key, "name": metric.name, "direction": metric.direction, "unit": metric.unit}
        for metric in METRICS
    ]


def agent_ids_by_handle(db: Session) -> dict[str, int]:
    """Every user's id by handle, in one query: the import's only lookup."""
    return dict(db.exec(select(User.handle, User.id)).all())


def import_observations(
    db: Session,
    actor: User | None,
    lines: Iterable[str],
    source: str,
    *,
    skip_unknown: bool = False,
) -> dict[str, int]:
    """Import a KPI file (CSV or JSON Lines) and return how many rows were
    inserted, updated, unchanged and skipped (each row counts once). Refuses
    the whole file, naming the first few bad lines, when any row is bad.

    The same (agent, metric, observed_at) imported again replaces the value;
    within one file, rows apply in order, so the last row for a key wins.
    """
    agent_ids = agent_ids_by_handle(db)
    tz_name = default_timezone_name()
    problems = Problems(source)
    staging = bulk.kpi_staging(db)
    # Per distinct text rather than per row: a file names a dozen metrics and a
    # few hundred days over a million rows. Metric text -> (key, upper bound, metric).
    metrics: dict[object, tuple[str, float, Metric]] = {}
    observed_times: dict[object, str] = {}
    skipped = 0
    batch: list[tuple[int, str, str, float]] = []
    append = batch.append

    for line, values in read_rows(lines, source, COLUMNS, COLUMNS, ALIASES):
        try:
            agent, metric_text, observed_text, value = values
            agent_id = agent_ids.get(agent)
            if agent_id is None:
                agent_id = _loose_agent_id(agent_ids, agent)
                if agent_id is None:
                    if skip_unknown and _names_someone(agent):
                        skipped += 1
                    else:
                        problems.add(line, _unknown_agent(agent))
                    continue
            known = metrics.get(metric_text)
            if known is None:
                known = metrics[metric_text] = _metric_entry(metric_text)
            key, upper_bound, metric = known
            observed_at = observed_times.get(observed_text)
            if observed_at is None:
                observed_at = parse_observed_at(observed_text, tz_name)
                if len(observed_times) < OBSERVED_CACHE_SIZE:
                    observed_times[observed_text] = observed_at
            # check_value's rule, inlined for the common case; any value it
            # does not pass goes to check_value itself, which words the refusal.
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                number = check_value(value, metric)
            if not 0.0 <= number <= upper_bound:
                number = check_value(value, metric)
            append((agent_id, key, observed_at, number + 0.0))  # + 0.0 turns -0.0 into 0.0
        except CoachError as error:
            problems.add(line, error.message)
            continue
        except (TypeError, ValueError, AttributeError):
            problems.add(line, _shape_problem(values))
            continue
        if len(batch) >= BATCH_ROWS:
            if not problems.count:
                staging.add(batch)
            batch.clear()

    problems.raise_if_any()
    staging.add(batch)
    counts = {**staging.apply(), "skipped": skipped}
    audit.record(db, actor, "kpi.import", "kpi_observation", None, **counts)
    return counts


def _metric_entry(text: object) -> tuple[str, float, Metric]:
    metric = find_metric(text)
    # The largest finite float as the bound also refuses infinity and NaN.
    upper_bound = PERCENT_MAXIMUM if metric.unit == "percent" else sys.float_info.max
    return metric.key, upper_bound, metric


def _loose_agent_id(agent_ids: dict[str, int], agent: object) -> int | None:
    """A handle with stray spaces or capitals ("Alex ") still names its user."""
    if not isinstance(agent, str):
        return None
    return agent_ids.get(agent.strip().lower())


def _names_someone(agent: object) -> bool:
    """--skip-unknown skips agents coach does not know, not rows without one."""
    return isinstance(agent, str | int) and bool(str(agent).strip())


def _unknown_agent(agent: object) -> str:
    if not _names_someone(agent):
        return "the agent is missing"
    return (
        f"unknown agent {agent!r}: add them with `coach user add` or `coach user import`, "
        "or pass --skip-unknown to leave their rows out"
    )


def _shape_problem(values: object) -> str:
    """Why a row could not even be read field by field."""
    if isinstance(values, Exception):  # read_rows reports a malformed row this way
        return str(values)
    return "agent, metric and observed_at must be text and value a number"


def list_observations(
    db: Session,
    actor: User,
    *,
    agent: str | None = None,
    metric: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict]:
    """Observations within the actor's scope, by agent (a handle), metric and
    time; `start` and `end` are dates, both inclusive."""
    query = (
        select(User.handle, KpiObservation.metric, KpiObservation.observed_at, KpiObservation.value)
        .join(User, User.id == KpiObservation.agent_id)
        .where(in_scope(actor, KpiObservation.agent_id))
    )
    if agent:
        query = query.where(KpiObservation.agent_id == find_user(db, agent).id)
    if metric is not None:
        query = query.where(KpiObservation.metric == find_metric(metric).key)
    if start is not None:
        query = query.where(KpiObservation.observed_at >= start.isoformat())
    if end is not None:
        # Date-times sort after their date, so the bound is the next day.
        query = query.where(KpiObservation.observed_at < (end + dt.timedelta(days=1)).isoformat())
    if start is not None and end is not None and start > end:
        raise CoachError(f"--from {start.isoformat()} is after --to {end.isoformat()}; swap them")
    query = query.order_by(col(User.handle), col(KpiObservation.metric), col(KpiObservation.observed_at))
    return [
        {"agent": handle, "metric": key, "observed_at": observed_at, "value": value}
        for handle, key, observed_at, value in db.exec(query)
    ]
