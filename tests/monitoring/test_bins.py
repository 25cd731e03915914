"""Reference bins and the PSI in them (monitoring/bins.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from portsift.monitoring.bins import bin_counts, fit_bins, psi_by_group
from portsift.monitoring.statistics import psi


def test_bins_and_psi_of_a_tiny_example_by_hand() -> None:
    reference = fit_bins(np.arange(1.0, 9.0), bins=2)  # 1..8: one edge at the median 4.5
    assert reference.kind == "numeric"
    assert reference.edges == (4.5,)
    assert reference.shares == (0.5, 0.5, 0.0)  # <= 4.5, > 4.5, missing
    recent = np.array([1.0, 2.0, 3.0, 8.0, np.nan])
    counts = bin_counts(reference, recent)
    assert counts.tolist() == [3.0, 1.0, 1.0]
    floor = 1e-4
    by_hand = (
        (0.6 - 0.5) * math.log(0.6 / 0.5)
        + (0.2 - 0.5) * math.log(0.2 / 0.5)
        + (0.2 - floor) * math.log(0.2 / floor)  # missing: empty in the reference, floored
    )
    assert psi(np.asarray(reference.shares), counts, floor=floor) == pytest.approx(by_hand)


def test_flags_and_categories_get_a_bin_per_value() -> None:
    # A 0/1 flag whose ones are rarer than one decile: quantile edges would merge it.
    flag = np.r_[np.zeros(97), np.ones(3)]
    reference = fit_bins(flag, bins=10)
    assert reference.kind == "discrete"
    assert reference.shares == pytest.approx((0.97, 0.03, 0.0, 0.0))
    assert bin_counts(reference, np.array([1.0, 1.0, 0.0, 2.0])).tolist() == [1, 2, 1, 0]
    codes = fit_bins(np.array([0, 1, 1, 2, np.nan]), bins=10, categorical=True)
    assert codes.kind == "categorical"
    assert codes.labels() == ["0", "1", "2", "other", "missing"]
    # 7 is a code the training window never had: it counts as "other".
    assert bin_counts(codes, np.array([7.0, 2.0, np.nan])).tolist() == [0, 0, 1, 1, 1]


def test_identical_distributions_give_psi_near_zero() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=20_000)
    reference = fit_bins(values, bins=10)
    assert psi(np.asarray(reference.shares), bin_counts(reference, values)) == pytest.approx(0.0)
    other_sample = rng.lognormal(size=20_000)  # same law, fresh draw
    assert psi(np.asarray(reference.shares), bin_counts(reference, other_sample)) < 0.01


def test_weekly_psi_matches_one_psi_per_group() -> None:
    rng = np.random.default_rng(5)
    reference = fit_bins(rng.normal(size=5000), bins=10)
    values = np.r_[rng.normal(size=800), rng.normal(1.0, 1.0, size=800)]
    groups = np.repeat([0, 1], 800)
    values_psi, rows = psi_by_group(reference, values, groups, 2)
    assert rows.tolist() == [800, 800]
    for group in (0, 1):
        one = psi(np.asarray(reference.shares), bin_counts(reference, values[groups == group]))
        assert values_psi[group] == pytest.approx(one)
    assert values_psi[1] > 0.25 > values_psi[0]
