"""Probability draws and their rate estimate (training/exploration.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from portsift.monitoring.statistics import wilson_interval
from portsift.training.exploration import inclusion_probabilities, ipw_rate, systematic_sample


def test_ipw_estimate_is_unbiased_on_a_known_rate() -> None:
    rng = np.random.default_rng(3)
    n, r = 3_000, 150
    risk = rng.beta(0.4, 6.0, n)
    outcome = (rng.random(n) < risk).astype(float)
    true_rate = outcome.mean()
    # Uncertainty sizes: draws lean heavily towards the risky rows.
    inclusion = inclusion_probabilities(0.1 + 4 * risk * (1 - risk), r)
    assert inclusion.sum() == pytest.approx(r)
    assert (inclusion > 0).all() and (inclusion <= 1).all()
    estimates, naive, covered = [], [], 0
    counts = np.zeros(n)
    for _ in range(600):
        drawn = systematic_sample(inclusion, rng)
        assert drawn.sum() == r
        counts += drawn
        est = ipw_rate(outcome[drawn], inclusion[drawn])
        estimates.append(est.estimate)
        naive.append(outcome[drawn].mean())
        covered += est.low <= true_rate <= est.high
    # Every row is drawn as often as its inclusion probability says.
    assert np.corrcoef(counts / 600, inclusion)[0, 1] > 0.95
    bias = np.mean(estimates) - true_rate
    naive_bias = np.mean(naive) - true_rate
    assert abs(bias) < 0.004
    assert naive_bias > 5 * abs(bias)  # the unweighted draw overstates the rate
    assert covered / 600 > 0.85


def test_uniform_draw_gives_the_plain_wilson_interval() -> None:
    outcome = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=float)
    est = ipw_rate(outcome, np.full(10, 0.02))
    assert est.estimate == pytest.approx(0.2)
    assert est.n_effective == pytest.approx(10)
    assert (est.low, est.high) == pytest.approx(wilson_interval(2, 10))
    assert math.isnan(ipw_rate(np.array([]), np.array([])).estimate)


def test_capped_inclusion_probabilities() -> None:
    p = inclusion_probabilities(np.array([100.0, 1.0, 1.0, 1.0, 1.0]), 2)
    assert p[0] == 1.0 and p[1:] == pytest.approx([0.25] * 4)
    assert inclusion_probabilities(np.ones(3), 5).tolist() == [1.0, 1.0, 1.0]
