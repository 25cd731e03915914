"""Score declarations with a bundle: risk, expected revenue, decision and reasons."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from portsift.features.online import Columns, OnlineFeatures
from portsift.features.pipeline import Registers
from portsift.models import explain, rulings
from portsift.models.budget import priority
from portsift.models.bundle import Bundle
from portsift.models.explain import Explanation
from portsift.models.policy import DECISION_COLUMNS, POLICY_COLUMNS, SelectionPolicy
from portsift.models.risk_model import RiskModel, feature_matrix
from portsift.models.selection_facts import BatchFacts
from portsift.settings import RulingSettings

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
#: contract's columns (deadlines in hours or days, 采信 and green-channel flags): the
#: policy's own list, less what the contract holds and the notes (they open ``reasons``).
POLICY_OUTPUT_COLUMNS: tuple[str, ...] = tuple(
    c for c in DECISION_COLUMNS if c not in SCORE_COLUMNS and not c.startswith("policy_note_")
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
        disclosures=given.disclosures if given.disclosures is not None else bundle.disclosures,
        rulings=given.rulings if given.rulings is not None else bundle.rulings,
    )


@dataclass(frozen=True)
class ModelScores:
    """What the model says of each row, before the selection policy decides.

    Attributes:
        x: The risk-feature matrix (kept: the explanation of the same rows reads it).
        raw_score: The classifier's log-odds.
        risk_score: Calibrated P(illicit).
        amount: Revenue an inspection would raise if the declaration is illicit.
        revenue_estimated: Whether ``amount`` comes from the declared value, not a model.
        expected_revenue: ``risk_score x amount`` (never negative).
        priority: The policy's rank score under the revenue weight.
    """

    x: np.ndarray
    raw_score: np.ndarray
    risk_score: np.ndarray
    amount: np.ndarray
    revenue_estimated: bool
    expected_revenue: np.ndarray
    priority: np.ndarray


def model_scores(
    model: RiskModel,
    features: pd.DataFrame | Mapping[str, np.ndarray],
    *,
    revenue_weight: float,
    num_threads: int = 0,
) -> ModelScores:
    """Score feature rows: risk, calibration, revenue at stake and priority.

    The one place the scoring sequence after the features is written: the batch,
    per-request, Dask and simulation paths all call it on the features they built.

    Args:
        model: The fitted risk model.
        features: The rows' features, as a frame or as columns of numpy arrays.
        revenue_weight: Weight of the revenue at stake in the priority (0 = risk only).
        num_threads: LightGBM threads (0 = default).

    Returns:
        The scores of every row.
    """
    x = feature_matrix(features, model.risk_features)
    raw = model.raw_score(x, num_threads=num_threads)
    risk = model.calibrate(raw)
    amount, estimated = model.revenue_if_illicit(features, num_threads=num_threads)
    return ModelScores(
        x=x,
        raw_score=raw,
        risk_score=risk,
        amount=amount,
        revenue_estimated=bool(estimated),
        expected_revenue=np.maximum(risk * np.nan_to_num(amount), 0.0),
        priority=priority(risk, amount, revenue_weight),
    )


@overload
def policy_inputs(features: pd.DataFrame, scores: ModelScores) -> pd.DataFrame: ...


@overload
def policy_inputs(features: Mapping[str, np.ndarray], scores: ModelScores) -> Columns: ...


def policy_inputs(
    features: pd.DataFrame | Mapping[str, np.ndarray], scores: ModelScores
) -> pd.DataFrame | Columns:
    """The columns the selection policy reads: its feature columns and the scores.

    Args:
        features: The rows' features (a frame keeps its index; columns stay columns).
        scores: Their :func:`model_scores`.

    Returns:
        A frame for a frame (only the policy's columns, so that the wide feature frame
        is not copied), else a dict of arrays.
    """
    names = [c for c in POLICY_COLUMNS if c in features]
    scored = {
        "risk_score": scores.risk_score,
        "priority": scores.priority,
        "raw_score": scores.raw_score,
    }
    if isinstance(features, pd.DataFrame):
        return features[names].assign(**scored)
    return {**{c: features[c] for c in names}, **scored}


def explain_scored(
    model: RiskModel,
    x: np.ndarray,
    features: pd.DataFrame | Mapping[str, np.ndarray],
    mask: np.ndarray | None = None,
    *,
    lang: explain.Language = "en",
    reason_count: int = 3,
    num_threads: int = 0,
    covered: Mapping[str, np.ndarray] | None = None,
) -> tuple[Explanation | None, np.ndarray]:
    """SHAP contributions and the model's reasons of the rows under ``mask``.

    Args:
        model: The fitted risk model.
        x: The rows' risk-feature matrix (:attr:`ModelScores.x`).
        features: The rows' features (the reasons quote them).
        mask: Rows to explain (None = all).
        lang: Language of the reasons.
        reason_count: Reasons per declaration at most.
        num_threads: LightGBM threads (0 = default).
        covered: Per feature, the mark its reason gets where an advance ruling covers
            it (:func:`portsift.models.rulings.covered_marks`), aligned with all rows.

    Returns:
        The explanation aligned with the rows (None when no row is explained; NaN in
        the rows left out) and the reasons per row (``""`` where unexplained).
    """
    n = len(x)
    if mask is None or mask.all():
        contrib = model.contributions(x, num_threads=num_threads)
        explanation = explain.explanation_from_contrib(contrib, model.risk_features)
        texts = explain.reason_texts(
            features, explanation, count=reason_count, lang=lang, covered=covered
        )
        return explanation, texts
    model_text = np.full(n, "", dtype=object)
    if not mask.any():
        return None, model_text
    # SHAP costs ~100x a prediction: only the rows asked for pay it; the others keep NaN
    # contributions so that the explanation stays aligned with the rows.
    contrib = model.contributions(x[mask], num_threads=num_threads)
    part = explain.explanation_from_contrib(contrib, model.risk_features)
    rows = features.loc[mask] if isinstance(features, pd.DataFrame) else _rows(features, mask)
    marks = None if covered is None else {k: v[mask] for k, v in covered.items()}
    model_text[mask] = explain.reason_texts(
        rows, part, count=reason_count, lang=lang, covered=marks
    )
    values = np.full((n, len(part.features)), np.nan)
    values[mask] = part.values
    base = np.full(n, np.nan)
    base[mask] = part.base_value
    return explain.Explanation(features=part.features, values=values, base_value=base), model_text


def decide_batch(
    inputs: pd.DataFrame,
    *,
    declaration_id: np.ndarray,
    expected_revenue: np.ndarray,
    revenue_estimated: int | np.ndarray,
    rate: float,
    policy: SelectionPolicy | None,
    explain_rows: bool | Literal["selected"] | np.ndarray,
    explain_ids: Collection[str] | None,
    lang: explain.Language,
    explainer: Callable[[np.ndarray], tuple[Explanation | None, np.ndarray]],
    features: pd.DataFrame,
) -> ScoredBatch:
    """Select under the budget over a whole batch, explain and assemble the decisions.

    What :func:`score_declarations` and the Dask engine share after the model scores:
    the batch policy selects exactly ``round(rate x N)`` of all rows, so it runs once
    over the whole batch wherever the scores were computed.

    Args:
        inputs: :func:`policy_inputs` of every row.
        declaration_id: Id of every row.
        expected_revenue: :attr:`ModelScores.expected_revenue` of every row.
        revenue_estimated: Whether the revenue is estimated (one flag or one per row).
        rate: Share of the batch to inspect.
        policy: The selection policy (None = the packaged configuration); ``rate``
            overrides its rate.
        explain_rows: See :func:`score_declarations`.
        explain_ids: See :func:`score_declarations`.
        lang: Language of the reasons.
        explainer: Given the mask of rows to explain, their explanation and reasons
            (:func:`explain_scored` where the features are at hand).
        features: The feature frame returned with the decisions (may be empty).

    Returns:
        The scored batch.
    """
    decisions = pd.DataFrame(index=inputs.index)
    decisions["declaration_id"] = declaration_id
    decisions["risk_score"] = inputs["risk_score"].to_numpy()
    decisions["expected_revenue"] = expected_revenue
    decisions["priority"] = inputs["priority"].to_numpy()
    chosen = (policy if policy is not None else SelectionPolicy()).with_params(rate=rate)
    decided = chosen.decide(inputs)
    decisions = pd.concat([decisions, decided], axis=1)
    decisions["credit_tier"] = inputs["credit_tier"].to_numpy()
    note = decided["policy_note_zh" if lang == "zh" else "policy_note_en"].to_numpy(dtype=object)
    mask = explain_mask(explain_rows, decided["selected"].to_numpy(), decisions, explain_ids)
    explanation, model_text = explainer(mask)
    decisions["reasons"] = join_reasons(note, model_text)
    decisions["reasons"] = decisions["reasons"].astype("str")
    decisions["raw_score"] = inputs["raw_score"].to_numpy()
    decisions["revenue_estimated"] = revenue_estimated
    return ScoredBatch(
        decisions=decisions.reset_index(drop=True),
        features=features,
        explanation=explanation,
        policy_facts=chosen.batch_,
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
    if revenue_weight is None:
        revenue_weight = ranking_weight(bundle.metadata, None)
    scores = model_scores(model, features, revenue_weight=revenue_weight, num_threads=num_threads)
    measures = (policy if policy is not None else SelectionPolicy()).settings.rulings
    covered = rulings.covered_marks(measures, features, lang)
    return decide_batch(
        with_rulings(
            policy_inputs(features, scores),
            model,
            scores,
            features,
            measures,
            revenue_weight=revenue_weight,
            num_threads=num_threads,
        ),
        declaration_id=declarations["declaration_id"].to_numpy(),
        expected_revenue=scores.expected_revenue,
        revenue_estimated=int(scores.revenue_estimated),
        rate=rate,
        policy=policy,
        explain_rows=explain_rows,
        explain_ids=explain_ids,
        lang=lang,
        explainer=lambda mask: explain_scored(
            model,
            scores.x,
            features,
            mask,
            lang=lang,
            reason_count=reason_count,
            num_threads=num_threads,
            covered=covered,
        ),
        features=features,
    )


def with_rulings(
    inputs: pd.DataFrame,
    model: RiskModel,
    scores: ModelScores,
    features: pd.DataFrame,
    settings: RulingSettings,
    *,
    revenue_weight: float,
    num_threads: int = 0,
) -> pd.DataFrame:
    """Measure 12: the policy's inputs ranked without the risk valid advance rulings cover.

    Args:
        inputs: :func:`policy_inputs` of the rows.
        model: The fitted risk model.
        scores: The rows' :func:`model_scores`.
        features: Their features (with the ruling columns when a register is given).
        settings: ``[selection.rulings]``.
        revenue_weight: The ranking's weight of the revenue at stake.
        num_threads: LightGBM threads (0 = default).

    Returns:
        ``inputs`` unchanged without a rulings register; with one, ``inputs`` with a
        ``ruling_risk_score`` and ``priority`` of
        :func:`portsift.models.rulings.uncovered_scores` (the model's own where no
        valid ruling covers a feature).
    """
    return inputs.assign(
        **ruling_scores(
            model,
            scores,
            features,
            settings,
            revenue_weight=revenue_weight,
            num_threads=num_threads,
        )
    )


def ruling_scores(
    model: RiskModel,
    scores: ModelScores,
    features: pd.DataFrame | Mapping[str, np.ndarray],
    settings: RulingSettings,
    *,
    revenue_weight: float,
    num_threads: int = 0,
) -> dict[str, np.ndarray]:
    """The policy inputs measure 12 replaces: what :func:`with_rulings` assigns.

    Args:
        model: The fitted risk model.
        scores: The rows' :func:`model_scores`.
        features: Their features, as a frame or as columns.
        settings: ``[selection.rulings]``.
        revenue_weight: The ranking's weight of the revenue at stake.
        num_threads: LightGBM threads (0 = default).

    Returns:
        Nothing without a rulings register; ``ruling_risk_score`` (and ``priority``
        where a valid ruling covers a feature) with one.
    """
    uncovered = rulings.uncovered_scores(
        model,
        scores.x,
        scores.raw_score,
        scores.amount,
        features,
        settings,
        revenue_weight=revenue_weight,
        num_threads=num_threads,
    )
    if uncovered is None:
        return {"ruling_risk_score": scores.risk_score} if rulings.in_play(features) else {}
    return {"ruling_risk_score": uncovered[0], "priority": uncovered[1]}


@dataclass(frozen=True)
class OnlineScored:
    """The outcome of :func:`score_online`: columns of numpy arrays, no frames.

    Attributes:
        decisions: The columns of :attr:`ScoredBatch.decisions`, as arrays.
        features: The feature and context columns the model and policy read.
        explanation: SHAP contributions of every row.
        risk_matrix: The risk features the model scored, one float64 row per declaration
            (the columns of ``explanation.features``).
    """

    decisions: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    explanation: Explanation
    risk_matrix: np.ndarray


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
    if revenue_weight is None:
        revenue_weight = ranking_weight(bundle.metadata, None)
    scores = model_scores(model, features, revenue_weight=revenue_weight, num_threads=num_threads)
    # Measure 12 as in score_declarations: the ranking leaves out the risk valid rulings
    # cover, and the reasons mark the covered features.
    measures = policy.settings.rulings
    inputs = policy_inputs(features, scores)
    inputs.update(
        ruling_scores(
            model,
            scores,
            features,
            measures,
            revenue_weight=revenue_weight,
            num_threads=num_threads,
        )
    )
    decided = policy.decide_online_columns(inputs)
    explanation, model_text = explain_scored(
        model,
        scores.x,
        features,
        lang=lang,
        reason_count=reason_count,
        num_threads=num_threads,
        covered=rulings.covered_marks(measures, features, lang),
    )
    assert explanation is not None  # every row is explained
    note = decided["policy_note_zh" if lang == "zh" else "policy_note_en"]
    decisions: dict[str, np.ndarray] = {
        "declaration_id": np.asarray(declarations["declaration_id"], dtype=object),
        "risk_score": scores.risk_score,
        "expected_revenue": scores.expected_revenue,
        "priority": inputs["priority"],
        **decided,
        "credit_tier": features["credit_tier"],
        "reasons": join_reasons(note, model_text),
        "raw_score": scores.raw_score,
        "revenue_estimated": np.full(len(scores.raw_score), int(scores.revenue_estimated)),
    }
    return OnlineScored(
        decisions=decisions, features=features, explanation=explanation, risk_matrix=scores.x
    )


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


def join_reasons(note: np.ndarray, model_text: np.ndarray) -> np.ndarray:
    """The policy's part of the reasons (rule, draw, tier rule, 采信, deadlines), then the model's.

    Args:
        note: The policy's note per row (``""`` for none).
        model_text: The model's reasons per row (``""`` for none).

    Returns:
        The ``;``-joined reasons per row.
    """
    return np.where(
        note == "", model_text, np.where(model_text == "", note, note + "; " + model_text)
    )


def _rows(columns: Mapping[str, np.ndarray], mask: np.ndarray) -> Columns:
    return {name: np.asarray(values)[mask] for name, values in columns.items()}
