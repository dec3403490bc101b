import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachcli.errors import CoachError, ExitCode
from coachcli.metrics import (
    METRICS,
    Metric,
    check_value,
    find_metric,
    format_value,
    parse_target,
)

FAST = settings(max_examples=200, deadline=None)

HANDLE_TIME = find_metric("handle-time")
AFTER_CALL_WORK = find_metric("after-call-work-time")
CONTACTS_HANDLED = find_metric("contacts-handled")
ADHERENCE = find_metric("adherence")
MANUAL_QM_OVERALL = find_metric("manual-qm-overall-score")
AUTO_QM_FAILURES = find_metric("auto-qm-kpi-failures")

LOWER_IS_BETTER_KEYS = [
    "talk-time",
    "hold-time",
    "after-call-work-time",
    "handle-time",
    "auto-qm-kpi-failures",
    "manual-qm-kpi-failures",
]
HIGHER_IS_BETTER_KEYS = [
    "auto-qm-overall-score",
    "auto-qm-section-score",
    "manual-qm-overall-score",
    "manual-qm-section-score",
    "contacts-handled",
    "adherence",
]
PERCENT_METRICS = [metric for metric in METRICS if metric.unit == "percent"]

# Text close to what users type, so the parsers' deeper branches get exercised too.
metric_like_text = st.text(alphabet="0123456789.:-+ hmsHMSeinfa_", max_size=12)
any_metric = st.sampled_from(METRICS)


class TestCatalogue:
    def test_twelve_metrics_in_the_documented_order(self):
        assert [metric.key for metric in METRICS] == LOWER_IS_BETTER_KEYS + HIGHER_IS_BETTER_KEYS

    def test_display_names(self):
        assert [metric.name for metric in METRICS] == [
            "Talk Time",
            "Hold Time",
            "After-Call Work Time",
            "Handle Time",
            "Auto QM - KPI Failures",
            "Manual QM - KPI Failures",
            "Auto QM - Overall Score",
            "Auto QM - Section Score",
            "Manual QM - Overall Score",
            "Manual QM - Section Score",
            "Contacts Handled",
            "Adherence",
        ]

    @pytest.mark.parametrize("key", LOWER_IS_BETTER_KEYS)
    def test_lower_is_better(self, key):
        metric = find_metric(key)
        assert metric.direction == "lower"
        assert metric.lower_is_better

    @pytest.mark.parametrize("key", HIGHER_IS_BETTER_KEYS)
    def test_higher_is_better(self, key):
        metric = find_metric(key)
        assert metric.direction == "higher"
        assert not metric.lower_is_better

    def test_units(self):
        units = {metric.key: metric.unit for metric in METRICS}
        assert [key for key, unit in units.items() if unit == "seconds"] == LOWER_IS_BETTER_KEYS[:4]
        assert [key for key, unit in units.items() if unit == "count"] == [
            "auto-qm-kpi-failures",
            "manual-qm-kpi-failures",
            "contacts-handled",
        ]
        assert [key for key, unit in units.items() if unit == "percent"] == [
            "auto-qm-overall-score",
            "auto-qm-section-score",
            "manual-qm-overall-score",
            "manual-qm-section-score",
            "adherence",
        ]

    def test_is_time_only_for_seconds(self):
        assert {metric.key for metric in METRICS if metric.is_time} == set(LOWER_IS_BETTER_KEYS[:4])

    def test_metrics_are_immutable(self):
        with pytest.raises(AttributeError):
            HANDLE_TIME.key = "other"  # type: ignore[misc]


class TestFindMetric:
    @pytest.mark.parametrize("metric", METRICS, ids=lambda metric: metric.key)
    def test_by_key_and_name_in_any_case(self, metric):
        assert find_metric(metric.key) is metric
        assert find_metric(metric.key.upper()) is metric
        assert find_metric(metric.name) is metric
        assert find_metric(metric.name.lower()) is metric
        assert find_metric(f"  {metric.name.upper()}\t") is metric

    @pytest.mark.parametrize("text", ["handle time", "Handle_Time", "HANDLE-TIME", " handle  time ", "handle__time"])
    def test_spaces_and_underscores_stand_for_hyphens(self, text):
        assert find_metric(text) is HANDLE_TIME

    def test_name_with_spaced_hyphen(self):
        assert find_metric("manual qm - overall score") is MANUAL_QM_OVERALL
        assert find_metric("after call work time") is AFTER_CALL_WORK

    @pytest.mark.parametrize("text", ["", "   ", "speed", "handle", "handle-times", "qm"])
    def test_unknown_metric_points_to_the_list(self, text):
        with pytest.raises(CoachError) as raised:
            find_metric(text)
        assert "coach kpi metrics" in raised.value.message
        assert raised.value.exit_code == ExitCode.BAD_INPUT

    @FAST
    @given(st.text())
    def test_any_text_finds_a_metric_or_raises_coach_error(self, text):
        try:
            assert isinstance(find_metric(text), Metric)
        except CoachError as error:
            assert "\n" not in error.message


class TestParseTarget:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("300", 300),
            ("300s", 300),
            ("5m", 300),
            ("1h", 3600),
            ("1h30m", 5400),
            ("1h 30m 10s", 5410),
            ("2.5m", 150),
            ("4:30", 270),
            ("1:02:03", 3723),
            ("90:00", 5400),
            (" 5M ", 300),
            ("0", 0),
            ("12.5", 12.5),
        ],
    )
    def test_time_targets_are_seconds(self, text, seconds):
        assert parse_target(text, HANDLE_TIME) == seconds

    def test_the_documents_hold_time_examples_agree(self):
        hold_time = find_metric("Hold Time")
        assert parse_target("300", hold_time) == parse_target("5m", hold_time) == 300

    @pytest.mark.parametrize("text", ["", "abc", "5x", "m", "1:75:00", "4:3", "4:60", "5m5h", "1h-30m", "--5"])
    def test_unreadable_time_targets(self, text):
        with pytest.raises(CoachError, match="5m"):
            parse_target(text, HANDLE_TIME)

    @pytest.mark.parametrize("text", ["-1", "-5m", "nan", "inf", "-inf", "1e400"])
    def test_negative_and_non_finite_targets(self, text):
        with pytest.raises(CoachError, match="Handle Time"):
            parse_target(text, HANDLE_TIME)

    @pytest.mark.parametrize(("text", "value"), [("87.5", 87.5), ("100", 100), ("0", 0)])
    def test_percent_targets(self, text, value):
        assert parse_target(text, ADHERENCE) == value

    @pytest.mark.parametrize("metric", PERCENT_METRICS, ids=lambda metric: metric.key)
    def test_percent_target_over_100_is_refused(self, metric):
        with pytest.raises(CoachError, match="over 100"):
            parse_target("100.5", metric)

    def test_negative_zero_target_becomes_zero(self):
        assert math.copysign(1.0, parse_target("-0", CONTACTS_HANDLED)) == 1.0

    def test_count_target(self):
        assert parse_target("70", CONTACTS_HANDLED) == 70
        assert parse_target("0", AUTO_QM_FAILURES) == 0

    def test_time_forms_only_for_time_metrics(self):
        with pytest.raises(CoachError, match="e.g. 70"):
            parse_target("5m", CONTACTS_HANDLED)

    @FAST
    @given(
        # A time target is of one observation: at most a day (SPEC §14).
        st.integers(min_value=0, max_value=23),
        st.integers(min_value=0, max_value=59),
        st.integers(min_value=0, max_value=59),
    )
    def test_every_time_spelling_of_a_duration_agrees(self, hours, minutes, seconds):
        total = hours * 3600 + minutes * 60 + seconds
        assert parse_target(f"{hours}h{minutes}m{seconds}s", HANDLE_TIME) == total
        assert parse_target(f"{hours}:{minutes:02d}:{seconds:02d}", HANDLE_TIME) == total
        assert parse_target(f"{hours * 60 + minutes}:{seconds:02d}", HANDLE_TIME) == total
        assert parse_target(str(total), HANDLE_TIME) == total

    @FAST
    @given(st.one_of(st.text(), metric_like_text), any_metric)
    def test_any_text_gives_a_valid_target_or_raises_coach_error(self, text, metric):
        try:
            target = parse_target(text, metric)
        except CoachError as error:
            assert "\n" not in error.message
        else:
            assert math.isfinite(target)
            assert target >= 0
            assert metric.unit != "percent" or target <= 100


class TestCheckValue:
    @pytest.mark.parametrize(("value", "expected"), [("42", 42.0), (" 87.5 ", 87.5), (0, 0.0), (350.25, 350.25)])
    def test_numbers_are_returned_as_floats(self, value, expected):
        result = check_value(value, HANDLE_TIME)
        assert result == expected
        assert isinstance(result, float)

    def test_percent_bounds_are_inclusive(self):
        assert check_value("0", ADHERENCE) == 0.0
        assert check_value("100", ADHERENCE) == 100.0

    def test_negative_zero_becomes_zero(self):
        assert math.copysign(1.0, check_value("-0", CONTACTS_HANDLED)) == 1.0

    def test_counts_and_times_go_up_to_figures_that_can_exist(self):
        """SPEC §14 (it replaced "no upper bound"): 1e308 contacts used to be
        stored, then overflowed the nightly evaluation."""
        assert check_value("1000000", CONTACTS_HANDLED) == 1e6
        assert check_value("86400", HANDLE_TIME) == 86400.0
        assert check_value("24:00:00", HANDLE_TIME) == 86400.0
        for value, metric, reason in [
            ("1e9", CONTACTS_HANDLED, "over 1,000,000"),
            ("1e308", CONTACTS_HANDLED, "over 1,000,000"),
            ("1.7e308", AUTO_QM_FAILURES, "over 1,000,000"),
            ("86400.5", HANDLE_TIME, "over 86,400 seconds"),
            ("24:00:01", HANDLE_TIME, "over 86,400 seconds"),
            ("100.01", ADHERENCE, "over 100"),
        ]:
            with pytest.raises(CoachError, match=reason):
                check_value(value, metric)
        with pytest.raises(CoachError, match="boolean"):
            check_value(True, CONTACTS_HANDLED)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("-1", "negative"),
            (-0.5, "negative"),
            ("nan", "finite"),
            (float("nan"), "finite"),
            ("inf", "finite"),
            ("-inf", "finite"),
            ("1e400", "finite"),
            ("", "plain number"),
            ("5m", "plain number"),
            ("abc", "plain number"),
        ],
    )
    def test_bad_values(self, value, reason):
        with pytest.raises(CoachError, match=reason):
            check_value(value, CONTACTS_HANDLED)

    @pytest.mark.parametrize("metric", PERCENT_METRICS, ids=lambda metric: metric.key)
    def test_percent_over_100(self, metric):
        with pytest.raises(CoachError, match="over 100"):
            check_value("100.01", metric)

    @FAST
    @given(st.floats(min_value=0, max_value=100), st.sampled_from(PERCENT_METRICS))
    def test_every_percentage_is_kept(self, value, metric):
        assert check_value(repr(value), metric) == value

    @FAST
    @given(st.one_of(st.text(), metric_like_text), any_metric)
    def test_any_text_gives_a_valid_value_or_raises_coach_error(self, text, metric):
        try:
            value = check_value(text, metric)
        except CoachError as error:
            assert "\n" not in error.message
        else:
            assert 0 <= value < math.inf
            assert metric.unit != "percent" or value <= 100


class TestReportNames:
    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ("AHT", "handle-time"),
            ("average handle time", "handle-time"),
            ("att", "talk-time"),
            ("Average_Talk_Time", "talk-time"),
            ("ACW", "after-call-work-time"),
            ("ACWT", "after-call-work-time"),
            ("Wrap", "after-call-work-time"),
            ("WRAP-UP TIME", "after-call-work-time"),
            ("wrapup time", "after-call-work-time"),
            ("Hold", "hold-time"),
            ("Average Hold Time", "hold-time"),
            ("Calls Handled", "contacts-handled"),
            ("contacts", "contacts-handled"),
            ("Schedule Adherence", "adherence"),
            ("Adherence %", "adherence"),
            ("adherence%", "adherence"),
        ],
    )
    def test_the_names_reports_give_find_their_metric(self, text, key):
        assert find_metric(text).key == key

    @pytest.mark.parametrize("text", ["AH", "Average", "Calls", "Adherence %%", "Wrapping"])
    def test_near_misses_are_still_unknown(self, text):
        with pytest.raises(CoachError, match="such as AHT"):
            find_metric(text)

    def test_no_alias_names_two_metrics(self):
        from coachcli.metrics import ALIASES, _folded

        names = [_folded(text) for metric in METRICS for text in (metric.key, metric.name)]
        names += [_folded(alias) for aliases in ALIASES.values() for alias in aliases]
        assert len(names) == len(set(names)) + len(METRICS)  # a key and its name fold alike


class TestReportValues:
    @pytest.mark.parametrize("text", ["400", "6:40", "0:06:40", " 6:40 ", "400.0", "00:06:40", "06:40"])
    def test_times_as_seconds_or_clock_times(self, text):
        assert check_value(text, HANDLE_TIME) == 400.0

    @pytest.mark.parametrize("text", ["95", "95%", "95.0 %", " 95 % ", "95.00"])
    def test_percentages_with_or_without_their_sign(self, text):
        assert check_value(text, ADHERENCE) == 95.0

    @pytest.mark.parametrize(
        ("text", "metric", "expected"),
        [
            ("300,5", HANDLE_TIME, 300.5),
            ("6:40,5", HANDLE_TIME, 400.5),
            ("95,5 %", ADHERENCE, 95.5),
            ("7,0", CONTACTS_HANDLED, 7.0),
        ],
    )
    def test_decimal_commas_when_the_file_uses_them(self, text, metric, expected):
        assert check_value(text, metric, decimal_comma=True) == expected
        with pytest.raises(CoachError):
            check_value(text, metric)

    @pytest.mark.parametrize(
        ("text", "metric", "words"),
        [
            ("400s", HANDLE_TIME, "give seconds or a clock time"),
            ("6m40s", HANDLE_TIME, "give seconds or a clock time"),
            ("95%", HANDLE_TIME, "give seconds or a clock time"),
            ("1:60:00", HANDLE_TIME, "give seconds or a clock time"),
            ("6:4", HANDLE_TIME, "give seconds or a clock time"),
            ("6:40", ADHERENCE, "give a percentage"),
            ("95 pct", ADHERENCE, "give a percentage"),
            ("%95", ADHERENCE, "give a percentage"),
            ("101%", ADHERENCE, "over 100"),
            ("-5%", ADHERENCE, "negative"),
            ("70%", CONTACTS_HANDLED, "plain number"),
            ("1:10", CONTACTS_HANDLED, "plain number"),
        ],
    )
    def test_other_forms_are_bad_values(self, text, metric, words):
        with pytest.raises(CoachError, match=words):
            check_value(text, metric)

    @FAST
    @given(
        st.integers(min_value=0, max_value=23),  # a time is of one observation: at most a day
        st.integers(min_value=0, max_value=59),
        st.integers(min_value=0, max_value=59),
    )
    def test_every_clock_time_is_its_seconds(self, hours, minutes, seconds):
        total = hours * 3600 + minutes * 60 + seconds
        assert check_value(f"{hours}:{minutes:02d}:{seconds:02d}", HANDLE_TIME) == total
        assert check_value(f"{hours * 60 + minutes}:{seconds:02d}", HANDLE_TIME) == total

    @FAST
    @given(
        st.one_of(
            st.text(),
            st.from_regex(r"\A\s*-?\d{0,7}([.,]\d{0,3})?(:\d{1,3}){0,2}([.,]\d{0,3})?\s*%?\s*\Z"),
        ),
        any_metric,
        st.booleans(),
    )
    def test_any_text_in_any_file_gives_a_valid_value_or_raises_coach_error(self, text, metric, decimal_comma):
        try:
            value = check_value(text, metric, decimal_comma=decimal_comma)
        except CoachError as error:
            assert "\n" not in error.message
        else:
            assert 0 <= value < math.inf
            assert metric.unit != "percent" or value <= 100


class TestFormatValue:
    @pytest.mark.parametrize(
        ("value", "metric", "shown"),
        [
            (300, HANDLE_TIME, "300 s (5:00)"),
            (300.0, HANDLE_TIME, "300 s (5:00)"),
            (59, HANDLE_TIME, "59 s (0:59)"),
            (3723, HANDLE_TIME, "3723 s (1:02:03)"),
            (87.5, ADHERENCE, "87.5 %"),
            (100.0, ADHERENCE, "100 %"),
            (87.33333, MANUAL_QM_OVERALL, "87.33 %"),
            (70.0, CONTACTS_HANDLED, "70"),
            (0.0, AUTO_QM_FAILURES, "0"),
            (None, CONTACTS_HANDLED, ""),
            (None, HANDLE_TIME, ""),
        ],
    )
    def test_display(self, value, metric, shown):
        assert format_value(value, metric) == shown
