"""Targeting metrics as defined in the DATE paper (Kim et al., KDD 2020).

For an inspection rate of n%, the top ``floor(N * n / 100)`` declarations by score
(at least one) are inspected:

* Precision@n%: share of the inspected that are illicit.
* Recall@n%: share of all illicit declarations that are among the inspected.
* Revenue@n%: share of all revenue that the inspected would raise.

Ties in the score are broken by position (earlier rows first), so results are
deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score


def selected_count(n_rows: int, percent: float) -> int:
    """Return how many of ``n_rows`` an inspection rate of ``percent`` % selects."""
    return max(1, math.floor(n_rows * percent / 100.0 + 1e-9))


def top_order(scores: np.ndarray) -> np.ndarray:
    """Return row positions by descending score, ties in original order."""
    return np.argsort(-np.asarray(scores, dtype="float64"), kind="stable")


def at_percent(
    scores: np.ndarray, illicit: np.ndarray, revenue: np.ndarray | None, percent: float
) -> dict[str, float]:
    """Precision, recall and revenue share of inspecting the top ``percent`` %.

    Args:
        scores: Ranking score per declaration (higher = inspect first).
        illicit: 1 for a violation, 0 otherwise.
        revenue: Revenue raised per declaration, or None without a revenue label.
        percent: Inspection rate in percent.

    Returns:
        ``precision``, ``recall`` and ``revenue`` (NaN without revenue or when the
        total is zero; recall NaN when nothing is illicit).
    """
    illicit = np.asarray(illicit, dtype="float64")
    k = selected_count(len(illicit), percent)
    top = top_order(scores)[:k]
    found = illicit[top].sum()
    total = illicit.sum()
    result = {
        "precision": float(found / k),
        "recall": float(found / total) if total > 0 else math.nan,
        "revenue": math.nan,
    }
    if revenue is not None:
        revenue = np.asarray(revenue, dtype="float64")
        total_revenue = revenue.sum()
        if total_revenue > 0:
            result["revenue"] = float(revenue[top].sum() / total_revenue)
    return result


def auc(scores: np.ndarray, illicit: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    illicit = np.asarray(illicit, dtype="float64")
    if len(np.unique(illicit)) < 2:
        return math.nan
    return float(roc_auc_score(illicit, scores))


def calibration_error(probabilities: np.ndarray, illicit: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins.

    The weighted mean, over bins, of ``|mean predicted - observed rate|``.

    Args:
        probabilities: Predicted P(illicit) in [0, 1].
        illicit: Observed outcome (0/1).
        bins: Number of equal-width bins.

    Returns:
        The calibration error, in probability units.
    """
    probabilities = np.asarray(probabilities, dtype="float64")
    illicit = np.asarray(illicit, dtype="float64")
    if len(probabilities) == 0:
        return math.nan
    which = np.minimum((probabilities * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=probabilities, minlength=bins)
    observed = np.bincount(which, weights=illicit, minlength=bins)
    used = counts > 0
    gap = np.abs(predicted[used] - observed[used]) / counts[used]
    return float((gap * counts[used]).sum() / counts.sum())


def metric_row(
    scores: np.ndarray,
    illicit: np.ndarray,
    revenue: np.ndarray | None,
    percents: tuple[float, ...],
    probabilities: np.ndarray | None = None,
    bins: int = 10,
) -> dict[str, float]:
    """All metrics of one ranking, keyed ``precision_at_5``, ``auc``, ``calibration_error``.

    Args:
        scores: Ranking score per declaration.
        illicit: Outcome per declaration.
        revenue: Revenue per declaration, or None.
        percents: Inspection rates to report.
        probabilities: Calibrated probabilities, for the calibration error (else NaN).
        bins: Bins of the calibration error.

    Returns:
        A flat mapping of metric name to value.
    """
    row: dict[str, float] = {}
    for percent in percents:
        values = at_percent(scores, illicit, revenue, percent)
        label = f"{percent:g}".replace(".", "_")
        for name, value in values.items():
            row[f"{name}_at_{label}"] = value
    row["auc"] = auc(scores, illicit)
    row["calibration_error"] = (
        calibration_error(probabilities, illicit, bins) if probabilities is not None else math.nan
    )
    return row
