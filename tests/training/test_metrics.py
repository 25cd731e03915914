"""Metric definitions checked on examples computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from portsift.training import metrics
from portsift.training.baselines import hindsight_scores

# Ten declarations; scores rank them 0..9 in order. Illicit: rows 0, 2, 5, 9.
SCORES = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
ILLICIT = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 1], dtype=float)
REVENUE = np.array([100, 0, 50, 0, 0, 300, 0, 0, 0, 50], dtype=float)


def test_selected_count_follows_the_date_paper() -> None:
    assert metrics.selected_count(10, 10) == 1
    assert metrics.selected_count(10, 25) == 2  # floor(2.5)
    assert metrics.selected_count(10, 1) == 1  # never fewer than one
    assert metrics.selected_count(200, 5) == 10


def test_top_30_percent_by_hand() -> None:
    # Top 3 = rows 0, 1, 2: two violations, revenue 150 of 500.
    result = metrics.at_percent(SCORES, ILLICIT, REVENUE, 30)
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 4)
    assert result["revenue"] == pytest.approx(150 / 500)


def test_top_60_percent_by_hand() -> None:
    # Top 6 = rows 0..5: three violations, revenue 450 of 500.
    result = metrics.at_percent(SCORES, ILLICIT, REVENUE, 60)
    assert result["precision"] == pytest.approx(3 / 6)
    assert result["recall"] == pytest.approx(3 / 4)
    assert result["revenue"] == pytest.approx(450 / 500)


def test_ties_are_broken_by_position() -> None:
    tied = np.ones(10)
    result = metrics.at_percent(tied, ILLICIT, REVENUE, 20)  # rows 0 and 1
    assert result["precision"] == pytest.approx(0.5)
    assert result["revenue"] == pytest.approx(100 / 500)


def test_without_revenue_the_revenue_metric_is_missing() -> None:
    assert math.isnan(metrics.at_percent(SCORES, ILLICIT, None, 30)["revenue"])


def test_auc_by_hand() -> None:
    # Pairs (illicit, licit) ranked correctly: row 0 beats 6 licit, row 2 beats 5,
    # row 5 beats 3, row 9 beats 0 -> 14 of 4 * 6 = 24.
    assert metrics.auc(SCORES, ILLICIT) == pytest.approx(14 / 24)
    assert math.isnan(metrics.auc(SCORES, np.zeros(10)))


def test_calibration_error_by_hand() -> None:
    probabilities = np.array([0.05, 0.05, 0.95, 0.95])
    outcome = np.array([0.0, 1.0, 1.0, 1.0])
    # Bin 0: mean 0.05, observed 0.5 -> 0.45; bin 9: mean 0.95, observed 1 -> 0.05.
    assert metrics.calibration_error(probabilities, outcome, bins=10) == pytest.approx(0.25)


def test_hindsight_is_the_upper_limit() -> None:
    limit = hindsight_scores(ILLICIT, REVENUE)
    for percent in (10, 20, 40):
        best = metrics.at_percent(limit, ILLICIT, REVENUE, percent)
        model = metrics.at_percent(SCORES, ILLICIT, REVENUE, percent)
        assert best["precision"] >= model["precision"]
        assert best["revenue"] >= model["revenue"]
    # Top 10% of the limit is the declaration with the largest revenue.
    assert metrics.at_percent(limit, ILLICIT, REVENUE, 10)["revenue"] == pytest.approx(300 / 500)


def test_metric_row_names() -> None:
    row = metrics.metric_row(SCORES, ILLICIT, REVENUE, (1, 2.5), SCORES)
    assert {"precision_at_1", "recall_at_2_5", "revenue_at_1", "auc", "calibration_error"} <= set(
        row
    )
