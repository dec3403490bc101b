"""The import reader shared by every import: CSV or JSON Lines, line numbers, bad rows."""

from __future__ import annotations

import pytest

from coachcli.errors import CoachError
from coachcli.tabular import Problems, read_rows

COLUMNS = ("agent", "metric", "observed_at", "value")


def rows(text: str, required=COLUMNS, aliases=None):
    return list(read_rows(text.splitlines(keepends=True), "kpi.csv", COLUMNS, required, aliases))


def test_csv_rows_come_in_column_order_with_their_line_numbers():
    assert rows("value,agent,metric,observed_at\n5,alex,adherence,2026-12-01\n") == [
        (2, ("alex", "adherence", "2026-12-01", "5"))
    ]


def test_json_lines_keep_json_types_and_accept_aliases():
    text = '{"agent": "alex", "metric": "adherence", "date": "2026-12-01", "value": 49.5}\n'
    assert rows(text, aliases={"date": "observed_at"}) == [(1, ("alex", "adherence", "2026-12-01", 49.5))]


def test_line_numbers_count_blank_lines_before_the_data():
    text = '\n\n{"agent": "a", "metric": "m", "observed_at": "d", "value": 1}\n\n{"agent": "b"}\n'
    numbered = rows(text, required=("agent",))
    assert [line for line, _ in numbered] == [3, 5]
    csv_numbered = rows("\n\nagent,metric,observed_at,value\na,m,d,1\n")
    assert csv_numbered[0][0] == 4


def test_a_row_of_the_wrong_shape_is_reported_as_that_rows_problem():
    (line, problem), = rows("agent,metric,observed_at,value\nalex,adherence\n")
    assert line == 2 and isinstance(problem, ValueError)


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "is empty"),
        ("agent,metric,observed_at,value,colour\n", "unknown column 'colour'"),
        ("agent,metric,value\n", "missing column observed_at"),
        ("agent,agent,metric,observed_at,value\n", "appears twice"),
    ],
)
def test_a_bad_header_refuses_the_file(text, words):
    with pytest.raises(CoachError, match=words):
        rows(text)


def test_problems_name_the_first_few_lines_and_count_the_rest():
    problems = Problems("kpi.csv")
    for line in range(2, 12):
        problems.add(line, "bad value")
    with pytest.raises(CoachError) as raised:
        problems.raise_if_any()
    message = raised.value.message
    assert message.startswith("kpi.csv: 10 bad rows, nothing imported — line 2: bad value")
    assert "line 6: bad value; and 5 more" in message
    assert "line 7" not in message
