"""The KPI file's header: long or wide, and where a wide file keeps its agent,
its date and its metrics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachcli.errors import CoachError
from coachcli.metrics import ALIASES, METRICS, find_metric
from coachcli.services.kpi import AGENT_COLUMN_NAMES, TIME_COLUMN_NAMES, WideColumns, read_kpi_header

FAST = settings(max_examples=300, deadline=None)

METRIC_NAMES = [text for metric in METRICS for text in (metric.key, metric.name, *ALIASES.get(metric.key, ()))]
NAMES = [*AGENT_COLUMN_NAMES, *TIME_COLUMN_NAMES, *METRIC_NAMES, "metric", "value", "Team", "", "Agent Name"]


def _spelled(name: str, style: int) -> str:
    """The name as a report might spell it: other case, spaces for underscores, padding."""
    return [name, name.upper(), name.title().replace("_", " "), f" {name} "][style]


def test_a_header_with_metric_and_value_is_the_long_format():
    assert read_kpi_header(["agent", "metric", "observed_at", "value"], "f") is None
    assert read_kpi_header(["Agent ID", "Metric", "Date"], "f") is None  # long, its value column missing


def test_a_wide_header_says_where_each_column_is():
    columns = read_kpi_header(["Date", "AHT", "Login", "", "Team", "Adherence %"], "f", skip_unknown=True)
    assert (columns.agent, columns.observed_at, columns.skipped) == (2, 0, (4,))
    assert [(c.position, c.name, c.metric.key) for c in columns.metrics] == [
        (1, "AHT", "handle-time"),
        (5, "Adherence %", "adherence"),
    ]


@FAST
@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(NAMES)), max_size=8), st.booleans())
def test_any_header_is_long_wide_or_a_clean_error(names, skip_unknown):
    try:
        columns = read_kpi_header(names, "any.csv", skip_unknown=skip_unknown)
    except CoachError as error:
        assert "\n" not in error.message
        return
    if columns is None:
        return
    assert isinstance(columns, WideColumns)
    positions = [columns.agent, columns.observed_at, *(c.position for c in columns.metrics), *columns.skipped]
    assert len(positions) == len(set(positions)) and all(0 <= p < len(names) for p in positions)
    assert columns.metrics and len({c.metric.key for c in columns.metrics}) == len(columns.metrics)
    assert skip_unknown or not columns.skipped


@FAST
@given(
    st.sampled_from(AGENT_COLUMN_NAMES),
    st.sampled_from(TIME_COLUMN_NAMES),
    st.lists(st.sampled_from(METRIC_NAMES), min_size=1, max_size=5, unique_by=lambda name: find_metric(name).key),
    st.lists(st.integers(min_value=0, max_value=3), min_size=7, max_size=7),
    st.randoms(use_true_random=False),
)
def test_every_spelling_of_a_wide_header_finds_its_columns(agent, date, metrics, styles, random):
    names = [agent, date, *metrics]
    random.shuffle(names)
    # styles is drawn as long as the longest header; a shorter one uses its head.
    spelled = [_spelled(name, style) for name, style in zip(names, styles, strict=False)]
    columns = read_kpi_header(spelled, "report.csv")
    assert columns.agent == names.index(agent) and columns.observed_at == names.index(date)
    assert {c.metric.key for c in columns.metrics} == {find_metric(name).key for name in metrics}


@pytest.mark.parametrize("skip_unknown", [False, True])
def test_an_unknown_column_is_refused_by_name_unless_skipped(skip_unknown):
    header = ["Agent", "Date", "AHT", "Supervisor"]
    if skip_unknown:
        assert read_kpi_header(header, "f", skip_unknown=True).skipped == (3,)
    else:
        with pytest.raises(CoachError, match="column 'Supervisor' is not a metric"):
            read_kpi_header(header, "f")
