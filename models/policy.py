"""Inspection selection: spend the budget on the riskiest declarations.

This is the batch budget rule (exact top-k by priority: calibrated risk weighted by the
revenue at stake) with the lane split by goods class; the credit-management,
exploration, lab-acceptance and green-channel rules build on it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LANES = ("green", "yellow", "red", "red_sampling")


def budget_count(n_rows: int, rate: float) -> int:
    """Return how many of ``n_rows`` declarations an inspection ``rate`` selects."""
    if not 0 < rate <= 1:
        raise ValueError(f"inspection rate must be in (0, 1], got {rate}")
    return min(n_rows, max(1, math.floor(n_rows * rate + 0.5))) if n_rows else 0


def priority(risk_score: np.ndarray, amount: np.ndarray, revenue_weight: float) -> np.ndarray:
    """Rank score: risk times the revenue at stake raised to ``revenue_weight``.

    Args:
        risk_score: Calibrated P(illicit).
        amount: Revenue an inspection would raise if the declaration is illicit.
        revenue_weight: 0 ranks by risk alone, 1 by expected revenue.

    Returns:
        The priority per declaration (higher = inspect first).
    """
    stake = np.maximum(np.nan_to_num(np.asarray(amount, dtype="float64")), 1.0)
    return np.asarray(risk_score, dtype="float64") * stake**revenue_weight


def select_top(score: np.ndarray, rate: float) -> np.ndarray:
    """Mark the top ``rate`` share by ``score`` (ties by position) as selected.

    Args:
        score: Priority per declaration.
        rate: Share of declarations to inspect.

    Returns:
        A boolean array, exactly ``budget_count`` True.
    """
    score = np.asarray(score, dtype="float64")
    selected = np.zeros(len(score), dtype=bool)
    k = budget_count(len(score), rate)
    selected[np.argsort(-score, kind="stable")[:k]] = True
    return selected


def assign_lanes(features: pd.DataFrame, selected: np.ndarray) -> pd.DataFrame:
    """Return ``selected``, ``lane`` and ``selection_reason`` per declaration.

    Selected goods of the acceptance catalogue without an accredited ``pass`` report go
    to ``red_sampling`` (their risk is one of quality and safety, which a lab test
    settles); other selections go to ``red``; the rest are released (``green``).

    Args:
        features: Feature frame with ``acceptance_listed`` and the lab report features.
        selected: Selection per declaration.

    Returns:
        The three decision columns, aligned with ``features.index``.
    """
    accepted = (features["lab_accredited"].to_numpy(dtype="float64") == 1) & (
        features["lab_result_pass"].to_numpy(dtype="float64") == 1
    )
    listed = features["acceptance_listed"].to_numpy(dtype="float64") == 1
    lane = np.where(selected, np.where(listed & ~accepted, "red_sampling", "red"), "green")
    return pd.DataFrame(
        {
            "selected": selected.astype("int64"),
            "lane": pd.Series(lane, index=features.index, dtype="str"),
            "selection_reason": pd.Series(
                np.where(selected, "risk", ""), index=features.index, dtype="str"
            ),
        },
        index=features.index,
    )
