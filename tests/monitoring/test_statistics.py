"""PSI and the Wilson interval (monitoring/statistics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from portsift.monitoring.statistics import psi, quantile_psi, wilson_interval


def test_psi_hand_computed() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(expected, abs=1e-12)
    # Counts are normalised first: the same PSI from counts.
    assert psi(np.array([10, 10]), np.array([1, 3])) == pytest.approx(expected, abs=1e-12)


def test_wilson_interval() -> None:
    low, high = wilson_interval(10, 100)
    assert (low, high) == pytest.approx((0.0552, 0.1744), abs=1e-4)
    assert wilson_interval(0, 50)[0] == pytest.approx(0.0, abs=1e-12)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.beta(1, 20, 5_000)
    assert quantile_psi(reference, reference) == pytest.approx(0.0)
    assert quantile_psi(reference, rng.beta(1, 20, 5_000)) < 0.02
    assert quantile_psi(reference, rng.beta(2, 10, 5_000)) > 0.5


def test_wilson_interval_of_small_samples() -> None:
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
