"""The import reader shared by every import: CSV (, ; or tab), JSON Lines or a sheet, line numbers, bad rows."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachcli.errors import CoachError
from coachcli.tabular import Problems, Sheet, cell_text, header_key, open_table, read_rows, sniff_delimiter

FAST = settings(max_examples=200, deadline=None)

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
    ((line, problem),) = rows("agent,metric,observed_at,value\nalex,adherence\n")
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


def test_two_names_of_one_column_refuse_the_file():
    with pytest.raises(CoachError, match="columns 'Agent' and 'Login' both name the agent column; keep one"):
        rows("Agent,Login,metric,observed_at,value\n", aliases={"login": "agent"})


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


# --- delimiters, headers and sheets -------------------------------------------


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("agent,metric,observed_at,value", ","),
        ("agent;metric;observed_at;value", ";"),
        ("agent\tmetric\tobserved_at\tvalue", "\t"),
        ('"Agent; ID",Date,AHT', ","),
        ('Agent;"AHT (m,s)";Date', ";"),
        ("agent", ","),
        ("handle;name, full;role", ";"),
    ],
)
def test_the_delimiter_is_the_one_that_splits_the_header_most(header, delimiter):
    assert sniff_delimiter(header + "\r\n") == delimiter


def test_only_a_semicolon_file_reads_decimal_commas():
    assert open_table(["a;b\n"], "f.csv").decimal_comma
    assert not open_table(["a,b\n"], "f.csv").decimal_comma
    assert not open_table(["a\tb\n"], "f.csv").decimal_comma


def test_decimal_commas_become_points_only_in_number_columns():
    text = ["title;target;notes\n", "Call;380,5;1,5 pages\n"]
    rows = list(open_table(text, "s.csv").rows_as(("title", "target", "notes"), ("title",), numbers=("target",)))
    assert rows == [(2, ("Call", "380.5", "1,5 pages"))]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Observed At", "observedat"),
        ("observed_at", "observedat"),
        ("OBSERVED-AT", "observedat"),
        (" Agent  ID ", "agentid"),
    ],
)
def test_headers_match_without_case_spaces_underscores_or_hyphens(name, key):
    assert header_key(name) == key


def test_a_byte_order_mark_is_not_part_of_the_header():
    assert rows("\ufeffagent,metric,observed_at,value\na,m,d,1\n") == [(2, ("a", "m", "d", "1"))]


@pytest.mark.parametrize(
    ("value", "number_format", "text"),
    [
        (None, None, ""),
        ("alex", "General", "alex"),
        (42, "General", "42"),
        (42.0, "General", "42"),
        (87.5, "0.0", "87.5"),
        (0.955, "0.0%", "95.5%"),
        (1, "0%", "100%"),
        (True, "General", "TRUE"),
        (dt.datetime(2026, 12, 15), "yyyy-mm-dd", "2026-12-15"),
        (dt.datetime(2026, 12, 15, 9, 29, 59, 999_999), "yyyy-mm-dd hh:mm", "2026-12-15T09:30:00"),
        (dt.date(2026, 12, 15), "yyyy-mm-dd", "2026-12-15"),
        (dt.time(0, 6, 40), "h:mm:ss", "0:06:40"),
        (dt.timedelta(hours=25, seconds=3), "[h]:mm:ss", "25:00:03"),
        (dt.datetime(9999, 12, 31, 23, 59, 59, 999_999), "yyyy-mm-dd hh:mm:ss", "9999-12-31T23:59:59"),
    ],
)
def test_a_cell_reads_as_a_report_prints_it(value, number_format, text):
    assert cell_text(value, number_format) == text


def test_a_sheet_s_header_is_its_first_row_with_a_value_and_rows_keep_their_numbers():
    sheet = Sheet(
        [
            (1, ["", ""]),
            (2, ["agent", "metric", "observed_at", "value", ""]),
            (3, ["a", "m", "d"]),
            (4, []),
            (5, ["b", "m", "d", "2", "", ""]),
        ]
    )
    table = open_table(sheet, "s.xlsx")
    assert table.names == ["agent", "metric", "observed_at", "value"]
    assert list(table.rows_as(COLUMNS, ("agent",))) == [(3, ("a", "m", "d", "")), (5, ("b", "m", "d", "2"))]


@FAST
@given(
    st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=6),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_any_text_file_gives_rows_or_a_clean_error(lines, delimiter, newline):
    content = [line.replace(",", delimiter) + newline for line in lines]
    try:
        table = open_table(content, "any.csv")
        if table.names is None:
            result = list(table.rows_as(COLUMNS, ("agent",)))
        else:
            result = list(table.rows(list))
    except CoachError as error:
        assert "\n" not in error.message
    else:
        for line, row in result:
            assert 1 <= line <= len(lines) + 1
            assert isinstance(row, ValueError | list | tuple)


@FAST
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.none(),
                st.text(max_size=8),
                st.integers(),
                st.floats(allow_nan=True),
                st.datetimes(),
                st.times(),
                st.timedeltas(),
            ),
            max_size=5,
        ),
        max_size=5,
    ),
    st.sampled_from(["General", "0%", "yyyy-mm-dd", None]),
)
def test_any_sheet_gives_rows_or_a_clean_error(rows_of_cells, number_format):
    sheet = Sheet(
        (number, [cell_text(cell, number_format) for cell in cells]) for number, cells in enumerate(rows_of_cells, 1)
    )
    try:
        table = open_table(sheet, "any.xlsx")
        result = list(table.rows(list))
    except CoachError as error:
        assert "\n" not in error.message
    else:
        assert all(isinstance(row, ValueError) or len(row) == len(table.names) for _, row in result)
