"""Student's t from the standard library (§16), against printed tables."""

from __future__ import annotations

import math

import pytest

from coachcli.stats import mean_interval, regularized_incomplete_beta, t_cdf, t_quantile

# Two-sided 95% critical values, t(0.975, df), as statistics tables print them.
TABLE_975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


@pytest.mark.parametrize(("df", "expected"), sorted(TABLE_975.items()))
def test_the_975_quantile_matches_the_table(df, expected):
    assert round(t_quantile(0.975, df), 3) == expected


@pytest.mark.parametrize(
    ("probability", "df", "expected"),
    [(0.95, 1, 6.314), (0.995, 5, 4.032), (0.9, 10, 1.372), (0.999, 3, 10.215), (0.025, 7, -2.365), (0.5, 4, 0.0)],
)
def test_other_quantiles_match_the_table(probability, df, expected):
    assert round(t_quantile(probability, df), 3) == expected


def test_many_degrees_of_freedom_approach_the_normal_quantile():
    assert abs(t_quantile(0.975, 1_000_000) - 1.959964) < 1e-5


def test_the_cdf_and_the_beta_function_at_known_points():
    # One degree of freedom is the Cauchy distribution: P(T <= 1) = 3/4.
    assert abs(t_cdf(1.0, 1) - 0.75) < 1e-12
    assert abs(t_cdf(-1.0, 1) - 0.25) < 1e-12
    # I_x(1, 1) = x; I_x(2, 1) = x²; I_x(1/2, 1/2) = (2/π) asin(√x).
    assert abs(regularized_incomplete_beta(0.3, 1, 1) - 0.3) < 1e-12
    assert abs(regularized_incomplete_beta(0.3, 2, 1) - 0.09) < 1e-12
    assert abs(regularized_incomplete_beta(0.3, 0.5, 0.5) - 2 / math.pi * math.asin(math.sqrt(0.3))) < 1e-12


def test_a_small_sample_by_hand():
    # 10, 20, 30: mean 20, s = 10, se = 10/√3 = 5.7735; t(0.975, 2) = 4.3027:
    # 20 ± 24.841.
    low, high = mean_interval([10.0, 20.0, 30.0])
    assert (round(low, 2), round(high, 2)) == (-4.84, 44.84)
    # 4 and 6: mean 5, s = √2, se = 1; t(0.975, 1) = 12.706: 5 ± 12.706.
    low, high = mean_interval([4.0, 6.0])
    assert (round(low, 3), round(high, 3)) == (-7.706, 17.706)
    assert mean_interval([]) is None and mean_interval([50.0]) is None
    assert mean_interval([3.0, 3.0, 3.0]) == (3.0, 3.0)


def test_bad_arguments_are_refused():
    for probability, df in ((0.0, 3), (1.0, 3), (0.5, 0)):
        with pytest.raises(ValueError):
            t_quantile(probability, df)
