"""The ranking objective: which revenue weight ``w`` the priority ``risk x stake^w`` uses.

``[selection] objective`` says what the risk part of the budget maximises: ``hits``
(``w = 0``, the model's own ranking), ``revenue`` (``w = 1``, expected revenue) or
``blend``, whose ``w`` is chosen at training on the time-ordered validation slice (the
latest labelled rows before the hold-out, the slice that early stopping and
calibration already use): the largest revenue share of the top ``percent`` that
keeps ``min_precision_share`` of the risk-only precision there. Without a revenue
label the amount at stake is only an estimate from declared value and tax rate, and
ranking by it throws away hits for revenue nobody measured, so ``blend`` gives
``w = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from portsift.models.budget import priority, select_top
from portsift.models.risk_model import RiskModel, TrainingData, feature_matrix, time_split
from portsift.settings import BlendSettings, ObjectiveName


@dataclass(frozen=True)
class WeightCandidate:
    """One candidate ``w`` measured on the validation slice."""

    revenue_weight: float
    precision: float
    revenue_share: float
    eligible: bool


@dataclass(frozen=True)
class RankingChoice:
    """The ranking of a bundle: the blend weight chosen at training and how.

    Attributes:
        objective: The objective in force at training (``[selection] objective``).
        blend_weight: The ``w`` the ``blend`` objective ranks by.
        revenue_labelled: Whether the model learnt the revenue from labels.
        reason: Why this ``w`` (in words, for notes and reports).
        validation_rows: Labelled rows of the validation slice.
        candidates: Every weight tried (empty without a revenue label).
    """

    objective: ObjectiveName
    blend_weight: float
    revenue_labelled: bool
    reason: str
    validation_rows: int = 0
    candidates: tuple[WeightCandidate, ...] = ()

    @property
    def revenue_weight(self) -> float:
        """The ``w`` of the objective in force at training."""
        return {"hits": 0.0, "revenue": 1.0}.get(self.objective, self.blend_weight)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (saved in the bundle's metadata as ``ranking``)."""
        return {
            "objective": self.objective,
            "revenue_weight": self.revenue_weight,
            "blend_weight": self.blend_weight,
            "revenue_labelled": self.revenue_labelled,
            "reason": self.reason,
            "validation_rows": self.validation_rows,
            "candidates": [
                {
                    "revenue_weight": c.revenue_weight,
                    "precision": None if math.isnan(c.precision) else c.precision,
                    "revenue_share": None if math.isnan(c.revenue_share) else c.revenue_share,
                    "eligible": c.eligible,
                }
                for c in self.candidates
            ],
        }


def measure_weights(
    risk: np.ndarray,
    amount: np.ndarray,
    illicit: np.ndarray,
    revenue: np.ndarray,
    blend: BlendSettings,
) -> list[WeightCandidate]:
    """Precision and revenue share of the top ``blend.percent`` for every candidate ``w``.

    Args:
        risk: Calibrated risk of labelled rows.
        amount: Revenue at stake if illicit, per row.
        illicit: Outcome per row (0/1).
        revenue: Revenue raised per row (0 where none).
        blend: The candidates and the precision rule.

    Returns:
        One candidate per weight, ``eligible`` where its precision keeps
        ``min_precision_share`` of the risk-only precision.
    """
    rate = blend.percent / 100.0
    total = float(revenue.sum())
    measured = []
    for w in blend.weights:
        top = select_top(priority(risk, amount, w), rate)
        share = float(revenue[top].sum()) / total if total > 0 else math.nan
        measured.append((w, float(illicit[top].mean()), share))
    floor = blend.min_precision_share * measured[0][1]  # weights are sorted: 0 first
    return [
        WeightCandidate(w, precision, share, bool(precision >= floor - 1e-12))
        for w, precision, share in measured
    ]


def choose_ranking(
    objective: ObjectiveName,
    model: RiskModel,
    data: TrainingData,
    blend: BlendSettings,
) -> RankingChoice:
    """Choose the blend weight of a fitted model (whatever the objective in force).

    Args:
        objective: ``[selection] objective`` at training (recorded).
        model: The fitted risk model (its revenue part says whether revenue was labelled).
        data: The training rows it was fitted on (the validation slice is taken from
            them exactly as :meth:`RiskModel.fit` takes it).
        blend: ``[selection.blend]``.

    Returns:
        The choice, saved with the bundle.
    """
    if model.regressor_ is None:
        return RankingChoice(
            objective,
            0.0,
            False,
            "no revenue label: expected revenue is an estimate, so blend ranks by risk "
            "alone (w = 0)",
        )
    _, valid_rows = time_split(data, model.validation_fraction)
    features = data.features.iloc[valid_rows]
    risk = model.calibrate(model.raw_score(feature_matrix(features, model.risk_features)))
    amount, _ = model.revenue_if_illicit(features)
    illicit = data.illicit.to_numpy(dtype="float64")[valid_rows]
    revenue = np.zeros(len(valid_rows))
    if data.revenue is not None:
        revenue = np.nan_to_num(
            pd.Series(data.revenue).to_numpy(dtype="float64", na_value=np.nan)[valid_rows]
        )
    candidates = measure_weights(risk, amount, illicit, revenue, blend)
    eligible = [c for c in candidates if c.eligible and not math.isnan(c.revenue_share)]
    # Largest revenue share among the eligible; ties go to the smaller weight.
    best = max(eligible, key=lambda c: (c.revenue_share, -c.revenue_weight), default=candidates[0])
    base = candidates[0]
    reason = (
        f"blend w = {best.revenue_weight:g}, chosen on the validation slice "
        f"({len(valid_rows):,} labelled rows): P@{blend.percent:g}% {best.precision:.1%} "
        f"vs {base.precision:.1%} risk-only, revenue share {best.revenue_share:.1%} vs "
        f"{base.revenue_share:.1%}"
    )
    return RankingChoice(
        objective, best.revenue_weight, True, reason, len(valid_rows), tuple(candidates)
    )
