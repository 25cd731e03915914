"""Score declarations with a bundle: risk, expected revenue, decision and reasons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.pipeline import Registers
from models import explain, policy
from models.bundle import Bundle
from models.explain import Explanation

SCORE_COLUMNS = (
    "declaration_id",
    "risk_score",
    "expected_revenue",
    "selected",
    "lane",
    "selection_reason",
    "credit_tier",
    "reasons",
)


@dataclass(frozen=True)
class ScoredBatch:
    """The outcome of scoring a batch.

    Attributes:
        decisions: One row per declaration with the contract's score columns, plus
            ``raw_score`` and ``revenue_estimated``.
        features: The feature frame the model saw.
        explanation: SHAP contributions of every row (None when not explained).
    """

    decisions: pd.DataFrame
    features: pd.DataFrame
    explanation: Explanation | None


def registers_for(bundle: Bundle, given: Registers) -> Registers:
    """Use the registers given for this run, else the snapshot saved with the model."""
    return Registers(
        enterprises=given.enterprises if given.enterprises is not None else bundle.enterprises,
        lab_results=given.lab_results,
        commodities=given.commodities if given.commodities is not None else bundle.commodities,
    )


def score_declarations(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    rate: float,
    revenue_weight: float = 0.2,
    explain_rows: bool = True,
    lang: explain.Language = "en",
    reason_count: int = 3,
    num_threads: int = 0,
) -> ScoredBatch:
    """Score a batch of declarations and select under the budget.

    Args:
        bundle: The loaded model bundle.
        declarations: Canonical declarations.
        registers: Registers given for this run (missing ones come from the bundle).
        rate: Share of the batch to inspect.
        revenue_weight: Weight of the revenue at stake in the priority (0 = risk only).
        explain_rows: Whether to compute SHAP contributions and reasons.
        lang: Language of the reasons.
        reason_count: Reasons per declaration at most.
        num_threads: LightGBM threads (0 = default).

    Returns:
        Decisions, features and explanations.
    """
    model = bundle.model
    features = bundle.pipeline.transform(declarations, registers_for(bundle, registers))
    x = features[model.risk_features].to_numpy(dtype="float64")
    raw = model.raw_score(x, num_threads=num_threads)
    risk = model.calibrate(raw)
    amount, estimated = model.revenue_if_illicit(features, num_threads=num_threads)
    decisions = pd.DataFrame(index=features.index)
    decisions["declaration_id"] = declarations["declaration_id"].to_numpy()
    decisions["risk_score"] = risk
    decisions["expected_revenue"] = np.maximum(risk * np.nan_to_num(amount), 0.0)
    decisions["priority"] = policy.priority(risk, amount, revenue_weight)
    selected = policy.select_top(decisions["priority"].to_numpy(), rate)
    decisions = pd.concat([decisions, policy.assign_lanes(features, selected)], axis=1)
    decisions["credit_tier"] = features["credit_tier"].to_numpy()
    explanation = None
    if explain_rows:
        contrib = model.contributions(x, num_threads=num_threads)
        explanation = explain.explanation_from_contrib(contrib, model.risk_features)
        texts = explain.reasons(features, explanation, count=reason_count, lang=lang)
        decisions["reasons"] = texts.to_numpy()
    else:
        decisions["reasons"] = ""
    decisions["raw_score"] = raw
    decisions["revenue_estimated"] = int(estimated)
    return ScoredBatch(
        decisions=decisions.reset_index(drop=True), features=features, explanation=explanation
    )
