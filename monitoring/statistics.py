"""The two statistics monitoring, evaluation and the simulation share: PSI and Wilson.

One home each, so that the drift dashboard, the hold-out evaluation of the policy and
the replayed weeks of ``portsift simulate`` compute the same numbers the same way.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

#: Normal quantile of a two-sided 95% interval.
Z_95: Final[float] = 1.959964


def psi(expected: np.ndarray, actual: np.ndarray, *, floor: float = 1e-4) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over matching bins.

    Both arguments are normalised to shares first, and shares are floored at ``floor``
    so that a bin empty on one side gives a large but finite term instead of infinity.

    Args:
        expected: Reference counts or shares per bin.
        actual: Recent counts or shares per bin.
        floor: Smallest share used in the logarithm.

    Returns:
        The PSI (0 for identical distributions).

    Raises:
        ValueError: If the lengths differ or a side has no mass.
    """
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    if e.shape != a.shape:
        raise ValueError(f"bins differ: {e.shape} vs {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("a distribution without any mass has no PSI")
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def quantile_psi(
    reference: np.ndarray, current: np.ndarray, bins: int = 10, floor: float = 1e-4
) -> float:
    """:func:`psi` of ``current`` against ``reference`` in the reference's quantile bins.

    Args:
        reference: Reference values (their quantiles set the bins).
        current: Values to compare.
        bins: Number of bins.
        floor: Smallest bin share, so that an empty bin does not give infinity.

    Returns:
        The PSI; NaN when either side is empty.
    """
    reference = np.asarray(reference, dtype="float64")
    current = np.asarray(current, dtype="float64")
    if len(reference) == 0 or len(current) == 0:
        return math.nan
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    slots = len(edges) + 1
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=slots)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=slots)
    return psi(expected, actual, floor=floor)


def wilson_bounds(p: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` (possibly effective) trials.

    Unlike the normal approximation it stays inside [0, 1] and is honest for the small
    samples a random inspection share gives.

    Args:
        p: The observed proportion.
        n: Trials (a Kish effective sample size for a weighted sample).
        z: Normal quantile of the interval (1.96 for 95%).

    Returns:
        The lower and upper bound (NaN, NaN without trials or without a proportion).
    """
    if not n > 0 or not math.isfinite(p):
        return math.nan, math.nan
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_interval(hits: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of ``hits`` successes in ``n`` trials (:func:`wilson_bounds`).

    Args:
        hits: Successes.
        n: Trials.
        z: Normal quantile of the interval (1.96 for 95%).

    Returns:
        The lower and upper bound (NaN, NaN without trials).
    """
    if n <= 0:
        return math.nan, math.nan
    return wilson_bounds(hits / n, n, z)


def finite_or_none(value: float | None) -> float | None:
    """A float for JSON: NaN and infinity (and None) become None."""
    return None if value is None or not math.isfinite(value) else float(value)
