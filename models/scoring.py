"""Score declarations with a bundle: risk, expected revenue, decision and reasons."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from portsift.features.online import OnlineFeatures
from portsift.features.pipeline import Registers
from portsift.models import explain
from portsift.models import policy as policy_module
from portsift.models.bundle import Bundle
from portsift.models.explain import Explanation
from portsift.models.policy import POLICY_COLUMNS, BatchFacts, SelectionPolicy
from portsift.models.risk_model import feature_matrix

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

#: Further decision columns of the policy that ``portsift score`` writes after the
#: contract's columns (deadlines in hours or days, 采信 and green-channel flags).
POLICY_OUTPUT_COLUMNS = (
    "lab_accepted",
    "green_channel",
    "priority_lane",
    "inspection_deadline_hours",
    "release_deadline_hours",
    "sampling_deadline_days",
    "lab_test_deadline_days",
    "policy_version",
)


@dataclass(frozen=True)
class ScoredBatch:
    """The outcome of scoring a batch.

    Attributes:
        decisions: One row per declaration with the contract's score columns, plus
            ``raw_score`` and ``revenue_estimated``.
        features: The feature frame the model saw.
        explanation: SHAP contributions aligned with the rows (None when no row is
            explained; NaN in the rows left unexplained by a row mask).
        policy_facts: What the selection policy did with the batch (budget, rule hits,
            random draws, whether the tier rules could be met).
    """

    decisions: pd.DataFrame
    features: pd.DataFrame
    explanation: Explanation | None
    policy_facts: BatchFacts | None = None


def ranking_weight(metadata: Mapping[str, Any], objective: str | None) -> float:
    """The revenue weight ``w`` a bundle ranks by under an objective.

    Args:
        metadata: The bundle's metadata (``ranking`` holds the blend weight chosen at
            training, ``training/objective.py``).
        objective: ``hits`` (``w = 0``), ``revenue`` (``w = 1``), ``blend`` (the
            bundle's blend weight; 0 for a bundle without one), or None for the
            objective in force when the bundle was trained.

    Returns:
        ``w``.

    Raises:
        ValueError: An unknown objective.
    """
    ranking = metadata.get("ranking") or {}
    if objective is None:
        return float(ranking.get("revenue_weight", 0.0))
    if objective == "hits":
        return 0.0
    if objective == "revenue":
        return 1.0
    if objective == "blend":
        return float(ranking.get("blend_weight", 0.0))
    raise ValueError(f"unknown ranking objective {objective!r}: hits, revenue or blend")


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
    revenue_weight: float | None = None,
    policy: SelectionPolicy | None = None,
    explain_rows: bool | Literal["selected"] | np.ndarray = True,
    explain_ids: Collection[str] | None = None,
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
        revenue_weight: Weight of the revenue at stake in the priority (0 = risk only);
            None = the weight chosen at training (:func:`ranking_weight`).
        policy: The selection policy (None = the packaged configuration); ``rate``
            overrides its rate.
        explain_rows: Which rows get SHAP contributions and model reasons: True for
            all, False for none, ``"selected"`` for the declarations the policy
            selects (and those named in ``explain_ids``), or a boolean mask aligned
            with ``declarations``. Unexplained rows keep the policy's note only; the
            decisions never depend on it.
        explain_ids: Declaration ids explained besides the selected ones (with
            ``explain_rows="selected"``).
        lang: Language of the reasons.
        reason_count: Reasons per declaration at most.
        num_threads: LightGBM threads (0 = default).

    Returns:
        Decisions (the policy's columns included; ``reasons`` starts with the policy's
        note in ``lang``), features and explanations.
    """
    model = bundle.model
    features = bundle.pipeline.transform(declarations, registers_for(bundle, registers))
    x = feature_matrix(features, model.risk_features)
    raw = model.raw_score(x, num_threads=num_threads)
    risk = model.calibrate(raw)
    amount, estimated = model.revenue_if_illicit(features, num_threads=num_threads)
    decisions = pd.DataFrame(index=features.index)
    decisions["declaration_id"] = declarations["declaration_id"].to_numpy()
    decisions["risk_score"] = risk
    decisions["expected_revenue"] = np.maximum(risk * np.nan_to_num(amount), 0.0)
    if revenue_weight is None:
        revenue_weight = ranking_weight(bundle.metadata, None)
    decisions["priority"] = policy_module.priority(risk, amount, revenue_weight)
    chosen = (policy if policy is not None else SelectionPolicy()).with_params(rate=rate)
    # Only the columns the policy reads, so that the wide feature frame is not copied.
    inputs = features[[c for c in POLICY_COLUMNS if c in features]].assign(
        risk_score=risk, priority=decisions["priority"].to_numpy(), raw_score=raw
    )
    decided = chosen.decide(inputs)
    decisions = pd.concat([decisions, decided], axis=1)
    decisions["credit_tier"] = features["credit_tier"].to_numpy()
    note = decided["policy_note_zh" if lang == "zh" else "policy_note_en"].to_numpy(dtype=object)
    explanation = None
    mask = explain_mask(explain_rows, decided["selected"].to_numpy(), decisions, explain_ids)
    model_text = np.full(len(decisions), "", dtype=object)
    if mask.all():
        contrib = model.contributions(x, num_threads=num_threads)
        explanation = explain.explanation_from_contrib(contrib, model.risk_features)
        texts = explain.reasons(features, explanation, count=reason_count, lang=lang)
        model_text = texts.to_numpy(dtype=object)
    elif mask.any():
        # SHAP costs ~100x a prediction: only the rows asked for pay it; the others
        # keep NaN contributions so that the explanation stays aligned with the rows.
        contrib = model.contributions(x[mask], num_threads=num_threads)
        part = explain.explanation_from_contrib(contrib, model.risk_features)
        texts = explain.reasons(features.loc[mask], part, count=reason_count, lang=lang)
        model_text[mask] = texts.to_numpy(dtype=object)
        values = np.full((len(mask), len(part.features)), np.nan)
        values[mask] = part.values
        base = np.full(len(mask), np.nan)
        base[mask] = part.base_value
        explanation = explain.Explanation(features=part.features, values=values, base_value=base)
    decisions["reasons"] = _join_reasons(note, model_text)
    decisions["reasons"] = decisions["reasons"].astype("str")
    decisions["raw_score"] = raw
    decisions["revenue_estimated"] = int(estimated)
    return ScoredBatch(
        decisions=decisions.reset_index(drop=True),
        features=features,
        explanation=explanation,
        policy_facts=chosen.batch_,
    )


@dataclass(frozen=True)
class OnlineScored:
    """The outcome of :func:`score_online`: columns of numpy arrays, no frames.

    Attributes:
        decisions: The columns of :attr:`ScoredBatch.decisions`, as arrays.
        features: The feature and context columns the model and policy read.
        explanation: SHAP contributions of every row.
    """

    decisions: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    explanation: Explanation


def score_online(
    bundle: Bundle,
    online: OnlineFeatures,
    declarations: Mapping[str, np.ndarray],
    *,
    policy: SelectionPolicy,
    revenue_weight: float | None = None,
    lang: explain.Language = "en",
    reason_count: int = 3,
    num_threads: int = 1,
) -> OnlineScored:
    """Score, decide in real time and explain a few declarations, on numpy columns.

    The per-request path of the API: :func:`score_declarations` with
    ``policy.decide_online`` gives the same decisions (held to it by
    ``tests/models/test_scoring_online.py``), but this path builds no pandas frame
    before the reasons, which is most of the cost of a one-declaration request.

    Args:
        bundle: The loaded model bundle.
        online: Its pipeline compiled against the registers in force.
        declarations: Canonical declaration fields as arrays
            (see :mod:`portsift.features.online`).
        policy: A selection policy with fitted real-time thresholds.
        revenue_weight: Weight of the revenue at stake in the priority; None = the
            weight chosen at training.
        lang: Language of the reasons.
        reason_count: Reasons per declaration at most.
        num_threads: LightGBM threads.

    Returns:
        Decisions, features and explanations as arrays.
    """
    model = bundle.model
    features = online.transform(declarations)
    x = feature_matrix(features, model.risk_features)
    raw = model.raw_score(x, num_threads=num_threads)
    risk = model.calibrate(raw)
    amount, estimated = model.revenue_if_illicit(features, num_threads=num_threads)
    if revenue_weight is None:
        revenue_weight = ranking_weight(bundle.metadata, None)
    priority = policy_module.priority(risk, amount, revenue_weight)
    inputs = {c: features[c] for c in POLICY_COLUMNS if c in features}
    inputs.update(risk_score=risk, priority=priority, raw_score=raw)
    decided = policy.decide_online_columns(inputs)
    contrib = model.contributions(x, num_threads=num_threads)
    explanation = explain.explanation_from_contrib(contrib, model.risk_features)
    model_text = explain.reason_texts(features, explanation, count=reason_count, lang=lang)
    note = decided["policy_note_zh" if lang == "zh" else "policy_note_en"]
    decisions: dict[str, np.ndarray] = {
        "declaration_id": np.asarray(declarations["declaration_id"], dtype=object),
        "risk_score": risk,
        "expected_revenue": np.maximum(risk * np.nan_to_num(amount), 0.0),
        "priority": priority,
        **decided,
        "credit_tier": features["credit_tier"],
        "reasons": _join_reasons(note, model_text),
        "raw_score": raw,
        "revenue_estimated": np.full(len(raw), int(estimated)),
    }
    return OnlineScored(decisions=decisions, features=features, explanation=explanation)


def explain_mask(
    explain_rows: bool | Literal["selected"] | np.ndarray,
    selected: np.ndarray,
    decisions: pd.DataFrame,
    explain_ids: Collection[str] | None = None,
) -> np.ndarray:
    """Return which rows to explain (see ``explain_rows`` of :func:`score_declarations`).

    Args:
        explain_rows: True, False, ``"selected"`` or a boolean mask.
        selected: The policy's 0/1 selection per row.
        decisions: Rows with ``declaration_id``.
        explain_ids: Further ids to explain in ``"selected"`` mode.

    Returns:
        A boolean mask aligned with the rows.

    Raises:
        ValueError: On an unknown mode or a mask of the wrong length.
    """
    n = len(decisions)
    if isinstance(explain_rows, bool):
        return np.full(n, explain_rows)
    if isinstance(explain_rows, str):
        if explain_rows != "selected":
            raise ValueError(f"explain_rows: unknown mode {explain_rows!r}")
        mask = np.asarray(selected).astype(bool)
        if explain_ids:
            ids = decisions["declaration_id"].astype("str")
            mask = mask | ids.isin(list(explain_ids)).to_numpy()
        return mask
    mask = np.asarray(explain_rows, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"explain_rows: need one flag per declaration ({n}), got {mask.shape}")
    return mask


def _join_reasons(note: np.ndarray, model_text: np.ndarray) -> np.ndarray:
    # The policy's part (rule, draw, tier rule, 采信, deadlines) first, then the model's.
    return np.where(
        note == "", model_text, np.where(model_text == "", note, note + "; " + model_text)
    )
