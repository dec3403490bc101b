"""The twelve KPI metrics, their units, and the rules for targets and observed values."""

import math
import re
from dataclasses import dataclass
from typing import Literal

from coachcli.errors import CoachError

Direction = Literal["lower", "higher"]
Unit = Literal["seconds", "percent", "count"]

PERCENT_MAXIMUM = 100.0
# The largest figure that can exist, by unit (SPEC §14): a time is of one
# observation, so at most a day; a count at most a million; a percentage 100.
MAXIMUM_BY_UNIT: dict[str, float] = {"seconds": 86_400.0, "count": 1_000_000.0, "percent": PERCENT_MAXIMUM}


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    direction: Direction
    unit: Unit

    @property
    def is_time(self) -> bool:
        return self.unit == "seconds"

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"

    @property
    def maximum(self) -> float:
        """The largest value (or target) the metric can have."""
        return MAXIMUM_BY_UNIT[self.unit]


METRICS: tuple[Metric, ...] = (
    Metric("talk-time", "Talk Time", "lower", "seconds"),
    Metric("hold-time", "Hold Time", "lower", "seconds"),
    Metric("after-call-work-time", "After-Call Work Time", "lower", "seconds"),
    Metric("handle-time", "Handle Time", "lower", "seconds"),
    Metric("auto-qm-kpi-failures", "Auto QM - KPI Failures", "lower", "count"),
    Metric("manual-qm-kpi-failures", "Manual QM - KPI Failures", "lower", "count"),
    Metric("auto-qm-overall-score", "Auto QM - Overall Score", "higher", "percent"),
    Metric("auto-qm-section-score", "Auto QM - Section Score", "higher", "percent"),
    Metric("manual-qm-overall-score", "Manual QM - Overall Score", "higher", "percent"),
    Metric("manual-qm-section-score", "Manual QM - Section Score", "higher", "percent"),
    Metric("contacts-handled", "Contacts Handled", "higher", "count"),
    Metric("adherence", "Adherence", "higher", "percent"),
)

_METRICS_BY_KEY = {metric.key: metric for metric in METRICS}

# The names WFM and ACD reports give the metrics, beside coach's own.
ALIASES: dict[str, tuple[str, ...]] = {
    "handle-time": ("AHT", "Average Handle Time"),
    "talk-time": ("ATT", "Average Talk Time"),
    "after-call-work-time": ("ACW", "ACWT", "Wrap", "Wrap-up Time"),
    "hold-time": ("Hold", "Average Hold Time"),
    "contacts-handled": ("Calls Handled", "Contacts"),
    "adherence": ("Schedule Adherence", "Adherence %"),
}

# Dropping case, spaces, underscores and hyphens maps "handle time", the
# display name "Auto QM - KPI Failures" and a report's "Wrap-up Time" alike.
_SEPARATORS = re.compile(r"[\s_-]+")


def _folded(text: str) -> str:
    return _SEPARATORS.sub("", text).lower()


_METRICS_BY_FOLDED_NAME = {
    _folded(text): metric for metric in METRICS for text in (metric.key, metric.name, *ALIASES.get(metric.key, ()))
}

_TARGET_EXAMPLES = {
    "seconds": "e.g. 300, 300s, 5m, 1h30m, 4:30 or 1:02:03",
    "percent": "e.g. 95, 95% or 87.5",
    "count": "e.g. 70",
}

# "1h30m", "5m", "300s", "2.5m": any of the three units, in that order, at least one.
_UNIT_DURATION = re.compile(
    r"(?:(?P<hours>\d+(?:\.\d+)?)\s*h)?\s*"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)\s*m)?\s*"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)\s*s)?",
    re.ASCII | re.IGNORECASE,
)


def find_metric(text: str) -> Metric:
    """The metric named by its key, display name or a report's alias (AHT,
    Wrap-up Time…), in any case and spacing."""
    exact = _METRICS_BY_KEY.get(text)
    if exact is not None:
        return exact
    found = _METRICS_BY_FOLDED_NAME.get(_folded(text)) if isinstance(text, str) else None
    if found is None:
        raise CoachError(
            f"unknown metric {text!r}: give a key such as handle-time, a name such as "
            '"Handle Time" or a report\'s name such as AHT; run `coach kpi metrics` to list them all'
        )
    return found


def parse_target(text: str, metric: Metric) -> float:
    """A mini-goal target, read as a file's value is (check_value: 400, 6:40,
    95%) and, for a time metric, also as 5m, 1h30m or 300s; seconds for a
    time. It must be a figure the metric can have (M4, SPEC §14)."""
    stripped = text.strip()
    try:
        number: float | None = float(stripped)
    except ValueError:
        number = _report_form(stripped, metric, decimal_comma=False)
        if number is None and metric.is_time:
            number = _unit_duration(stripped)
    if number is None:
        raise CoachError(f"invalid target {text!r} for {metric.name}: give a number, {_TARGET_EXAMPLES[metric.unit]}")
    problem = _range_problem(number, metric)
    if problem:
        raise CoachError(f"invalid target {text!r} for {metric.name}: {problem}")
    # abs() turns "-0" into 0.0 so it never prints as "-0".
    return abs(number)


def _unit_duration(text: str) -> float | None:
    """A target's "1h30m", "5m" or "300s" in seconds (M4; never a file's value)."""
    units = _UNIT_DURATION.fullmatch(text)
    if units and any(units.groupdict().values()):
        return float(units["hours"] or 0) * 3600.0 + float(units["minutes"] or 0) * 60.0 + float(units["seconds"] or 0)
    return None


def check_value(value: float | str, metric: Metric, *, decimal_comma: bool = False) -> float:
    """An observed KPI value as a float, written as reports print it: a number,
    and for time metrics a clock time (6:40 or 0:06:40 are 400 seconds), for
    percentages a number with a % sign (95%, 95.0 %). `decimal_comma` reads
    300,5 as 300.5 (as a ;-delimited CSV writes it). Refuses anything else,
    negatives, infinities, NaN and figures no metric can have
    (metric.maximum: a day of seconds, a million, 100 %). A boolean is not a
    number.

    Bulk imports call this once per row, hence plain float() and comparisons first.
    """
    if isinstance(value, bool):
        raise CoachError(f"invalid {metric.name} value {value!r}: a boolean is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = _report_number(value, metric, decimal_comma)
    # NaN fails both comparisons (and infinity the second), so one test admits exactly the valid values.
    if 0.0 <= number <= metric.maximum:
        # abs() turns "-0" into 0.0 so it never prints as "-0".
        return abs(number)
    raise CoachError(f"invalid {metric.name} value {value!r}: {_range_problem(number, metric)}")


_VALUE_EXAMPLES = {
    "seconds": "give seconds or a clock time, e.g. 400, 6:40 or 0:06:40",
    "percent": "give a percentage, e.g. 95, 95% or 87.5",
    "count": "give a plain number, e.g. 42",
}
# "6:40" (m:ss) or "0:06:40" (h:mm:ss), seconds perhaps with a fraction.
_CLOCK_VALUE = re.compile(r"(?:(?P<hours>\d{1,6}):)?(?P<minutes>\d{1,6}):(?P<seconds>[0-5]\d(?:\.\d{1,6})?)", re.ASCII)
_PERCENT_VALUE = re.compile(r"(?P<number>[^%]*\S)\s*%")


def _report_number(value: object, metric: Metric, decimal_comma: bool) -> float:
    """The number in a value float() did not read (see _report_form)."""
    number = _report_form(value, metric, decimal_comma) if isinstance(value, str) else None
    if number is None:
        raise CoachError(f"invalid {metric.name} value {value!r}: {_VALUE_EXAMPLES[metric.unit]}")
    return number


def _report_form(text: str, metric: Metric, decimal_comma: bool) -> float | None:
    """The number in a value written as reports print it — a decimal comma,
    a clock time of a time metric, a percentage with its sign — or None.
    File values and targets alike are read here."""
    text = text.strip()
    if decimal_comma:
        text = text.replace(",", ".")
    if metric.is_time:
        clock = _CLOCK_VALUE.fullmatch(text)
        if clock and not (clock["hours"] and int(clock["minutes"]) > 59):
            return int(clock["hours"] or 0) * 3600.0 + int(clock["minutes"]) * 60.0 + float(clock["seconds"])
    elif metric.unit == "percent":
        percent = _PERCENT_VALUE.fullmatch(text)
        if percent:
            text = percent["number"]
    try:
        return float(text)
    except ValueError:
        return None


def _range_problem(number: float, metric: Metric) -> str:
    """Why the number cannot be a value of the metric, or "" when it can."""
    if not math.isfinite(number):
        return "it must be a finite number"
    if number < 0:
        return "it cannot be negative"
    if number > metric.maximum:
        return {
            "percent": "a percentage cannot be over 100",
            "seconds": "a time cannot be over 86,400 seconds (a day) an observation",
            "count": "a count cannot be over 1,000,000",
        }[metric.unit]
    return ""


def format_value(value: float | None, metric: Metric) -> str:
    """Display form: "300 s (5:00)", "87.5 %", "70"; None shows as nothing."""
    if value is None:
        return ""
    number = _plain_number(value)
    if metric.is_time and math.isfinite(value):
        return f"{number} s ({_clock(value)})"
    if metric.unit == "percent":
        return f"{number} %"
    return number


def _plain_number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _clock(seconds: float) -> str:
    hours, remainder = divmod(round(seconds), 3600)
    minutes, whole_seconds = divmod(remainder, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{whole_seconds:02d}"
    return f"{minutes}:{whole_seconds:02d}"
