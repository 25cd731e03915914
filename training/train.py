"""Training: time split, features, models, hold-out evaluation, bundle, MLflow run."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portsift.features import disclosure
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models.bundle import Bundle, load_bundle, save_bundle
from portsift.models.policy import SelectionPolicy
from portsift.models.risk_model import RiskModel, TrainingData
from portsift.models.scoring import ScoredBatch, ranking_weight, score_declarations
from portsift.monitoring.reference import training_reference
from portsift.settings import Settings
from portsift.training.baselines import DateGBDT
from portsift.training.evaluate import Evaluation, evaluate
from portsift.training.feedback import FeedbackCounts, count_feedback, merge_feedback
from portsift.training.model_search import ShapeChoice, fit_best_shape, pipeline_from_settings
from portsift.training.objective import choose_ranking

Stage = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    model_dir: Path
    model_version: str
    evaluation: Evaluation | None
    holdout_start: str | None
    registration: Any | None
    notes: list[str] = field(default_factory=list)
    feedback: FeedbackCounts | None = None


def split_by_time(
    declarations: pd.DataFrame, holdout_fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp | None]:
    """Hold out the latest share of declarations, cutting between whole days.

    Args:
        declarations: Canonical declarations.
        holdout_fraction: Share of rows (the latest) to hold out; 0 for none.

    Returns:
        ``(history, holdout, holdout_start)``; the hold-out starts on a day boundary so
        that no day is split.
    """
    if holdout_fraction <= 0:
        return declarations, declarations.iloc[0:0], None
    days = declarations["declared_at"].dt.normalize()
    start = pd.Timestamp(np.sort(days.to_numpy())[int(len(days) * (1 - holdout_fraction))])
    is_holdout = (days >= start).to_numpy()
    return declarations.loc[~is_holdout], declarations.loc[is_holdout], start


def split_at(
    declarations: pd.DataFrame, holdout_from: pd.Timestamp, window_from: pd.Timestamp | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Hold out the declarations lodged on or after a day; train on a window before it.

    Args:
        declarations: Canonical declarations.
        holdout_from: First day of the hold-out.
        window_from: First day of the training window; None for everything before
            ``holdout_from``.

    Returns:
        ``(history, holdout, holdout_start)`` as :func:`split_by_time` gives them.
    """
    days = declarations["declared_at"].dt.normalize()
    start = pd.Timestamp(holdout_from).normalize()
    is_holdout = (days >= start).to_numpy()
    in_window = ~is_holdout
    if window_from is not None:
        in_window &= (days >= pd.Timestamp(window_from).normalize()).to_numpy()
    return declarations.loc[in_window], declarations.loc[is_holdout], start


def fingerprint(declarations: pd.DataFrame) -> dict[str, Any]:
    """Rows, date range, label rate and a content hash of a declarations table."""
    labelled = declarations.get("inspected", pd.Series(0, index=declarations.index)) == 1
    illicit = declarations["illicit"] if "illicit" in declarations else pd.Series(dtype="float64")
    row_hashes = pd.util.hash_pandas_object(declarations, index=False).to_numpy()
    return {
        "rows": len(declarations),
        "from": str(declarations["declared_at"].min().date()),
        "to": str(declarations["declared_at"].max().date()),
        "labelled_rows": int(labelled.sum()),
        "label_rate": float(labelled.mean()) if len(declarations) else 0.0,
        "violation_rate": float(illicit.mean()) if illicit.notna().any() else None,
        "sha256": hashlib.sha256(row_hashes.tobytes()).hexdigest(),
    }


def training_data(declarations: pd.DataFrame, features: pd.DataFrame) -> TrainingData:
    """The model's training rows: features of a history with its dates and labels.

    Args:
        declarations: The training history (canonical declarations with labels).
        features: Its point-in-time features, aligned with it.

    Returns:
        The rows :meth:`RiskModel.fit` takes (revenue None when the data has no label).
    """
    has_revenue = "revenue" in declarations and declarations["revenue"].notna().any()
    return TrainingData(
        features=features,
        declared_at=declarations["declared_at"],
        inspected=declarations["inspected"],
        illicit=declarations["illicit"],
        revenue=declarations["revenue"] if has_revenue else None,
    )


@dataclass(frozen=True)
class Fitted:
    """What :func:`fit` gives: the fitted parts of a bundle and the features they saw.

    Attributes:
        pipeline: The fitted feature pipeline.
        model: The fitted risk model, of the shape the search chose.
        baseline: The fitted DATE baseline.
        features: The history's point-in-time features.
        shape: The shape search (trials and winner).
    """

    pipeline: FeaturePipeline
    model: RiskModel
    baseline: DateGBDT
    features: pd.DataFrame
    shape: ShapeChoice


def fit(
    declarations: pd.DataFrame,
    registers: Registers,
    settings: Settings,
    *,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
) -> Fitted:
    """Fit the feature pipeline, the risk model (shape by search) and the DATE baseline.

    Args:
        declarations: The training history (canonical declarations with labels).
        registers: The registers.
        settings: Run settings.
        extra_categorical: Schema-file categorical inputs.
        extra_numeric: Schema-file numeric inputs.

    Returns:
        The fitted parts.
    """
    pipeline = pipeline_from_settings(settings, extra_categorical, extra_numeric)
    features = pipeline.fit_transform(declarations, registers)
    model, shape = fit_best_shape(settings, pipeline, training_data(declarations, features))
    labelled = (features["inspected"] == 1).to_numpy() & features["illicit"].notna().to_numpy()
    baseline = DateGBDT(random_state=settings.model.random_state).fit(
        features.loc[labelled], features.loc[labelled, "illicit"].to_numpy(dtype="float64")
    )
    return Fitted(pipeline, model, baseline, features, shape)


def train(
    declarations: pd.DataFrame,
    registers: Registers,
    settings: Settings,
    model_dir: str | Path,
    *,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
    track: bool = True,
    stage: Stage | None = None,
    feedback: pd.DataFrame | None = None,
    feedback_source: str | None = None,
    holdout_from: pd.Timestamp | None = None,
    window_from: pd.Timestamp | None = None,
) -> TrainResult:
    """Train, evaluate on the time hold-out, write the bundle and record the run.

    Args:
        declarations: Canonical labelled declarations.
        registers: The registers (snapshots of enterprises and commodities are saved).
        settings: Run settings.
        model_dir: Where the bundle is written.
        extra_categorical: Schema-file categorical inputs.
        extra_numeric: Schema-file numeric inputs.
        track: Whether to record the run in MLflow.
        stage: Called with the name of each stage as it starts (progress display).
        feedback: Inspection outcomes (``AuditStore.feedback_frame()``) that override the
            labels of the declarations they name
            (:func:`portsift.training.feedback.merge_feedback`).
        feedback_source: Where the feedback came from (recorded; no password in it).
        holdout_from: Hold out the declarations lodged on or after this day instead of
            the latest ``[training] holdout_fraction`` (``portsift retrain``).
        window_from: With ``holdout_from``: train only on declarations lodged on or
            after this day (the latest window); None for the whole history.

    Returns:
        The training result.

    Raises:
        ValueError: If the data cannot train a model (too few labels) or the feedback
            is malformed.
    """
    step = stage or (lambda _name: None)
    counts = None
    if feedback is not None:
        counts = count_feedback(declarations, feedback)
        declarations = merge_feedback(declarations, feedback)
    if "illicit" not in declarations or declarations["illicit"].notna().sum() == 0:
        raise ValueError("the declarations carry no inspection outcomes (illicit) to learn from")
    ordered = declarations.sort_values("declared_at", kind="stable")
    if holdout_from is None:
        history, holdout, holdout_start = split_by_time(ordered, settings.training.holdout_fraction)
    else:
        history, holdout, holdout_start = split_at(ordered, holdout_from, window_from)
    notes: list[str] = []
    step("features and models")
    fitted = fit(
        history,
        registers,
        settings,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
    )
    pipeline, model, baseline, as_of_features = (
        fitted.pipeline,
        fitted.model,
        fitted.baseline,
        fitted.features,
    )
    notes += model_notes(pipeline, model)
    notes.append(f"model shape {fitted.shape.reason}")
    ranking = choose_ranking(
        settings.selection.objective,
        model,
        training_data(history, as_of_features),
        settings.selection.blend,
    )
    notes.append(f"ranking objective {ranking.reason}")
    metadata: dict[str, Any] = {
        "trained_from": str(history["declared_at"].min().date()),
        "trained_to": str(history["declared_at"].max().date()),
        "holdout_start": None if holdout_start is None else str(holdout_start.date()),
        "fingerprint": fingerprint(declarations),
        "settings": settings.model_dump(mode="json"),
        "feature_labels": pipeline.feature_labels(),
        "baseline": baseline.to_dict(),
        "revenue_estimated": model.regressor_ is None,
        "ranking": ranking.to_dict(),
        "model_shape": fitted.shape.to_dict(),
        # What `portsift monitor` compares recent declarations with (bins and shares of
        # every feature and of the score over the training window), so that a service
        # can monitor without the training file.
        "monitoring_reference": training_reference(
            pipeline,
            model,
            history,
            registers,
            bins=settings.monitoring.bins,
            as_of=as_of_features,
            point_in_time=settings.monitoring.point_in_time_features,
        ),
    }
    if counts is not None:
        # Kept with the model: which labels it learnt from is part of its provenance.
        metadata["feedback"] = {"source": feedback_source, **counts.to_dict()}
    evaluation = None
    target = Path(model_dir)
    if len(holdout) and holdout["illicit"].notna().any():
        step("hold-out evaluation")
        evaluation = evaluate_draft(target, pipeline, model, registers, metadata, holdout, settings)
    step("bundle")
    version = save_bundle(
        target,
        pipeline=pipeline,
        model=model,
        enterprises=registers.enterprises,
        commodities=registers.commodities,
        disclosures=registers.disclosures,
        rulings=registers.rulings,
        metadata=metadata,
    )
    registration = None
    if track:
        step("MLflow run")
        registration = record_run(
            target, settings, ordered, registers, evaluation, model, metadata.get("feedback")
        )
    return TrainResult(
        model_dir=target,
        model_version=version,
        evaluation=evaluation,
        holdout_start=metadata["holdout_start"],
        registration=registration,
        notes=notes,
        feedback=counts,
    )


def evaluate_bundle_on(
    model_dir: str | Path, declarations: pd.DataFrame, registers: Registers, settings: Settings
) -> Evaluation:
    """Score labelled declarations with a saved bundle and evaluate them.

    Args:
        model_dir: The bundle.
        declarations: Labelled declarations lodged after the bundle's history.
        registers: Registers for this run (the bundle's snapshot fills the gaps).
        settings: Run settings (evaluation and selection sections).

    Returns:
        The evaluation of the model, the baselines and the policy.
    """
    return evaluate_bundle(load_bundle(model_dir), declarations, registers, settings)[0]


def evaluate_bundle(
    bundle: Bundle, declarations: pd.DataFrame, registers: Registers, settings: Settings
) -> tuple[Evaluation, ScoredBatch]:
    """Score labelled declarations with a bundle and evaluate them.

    Args:
        bundle: The model bundle (loaded, or not yet saved).
        declarations: Labelled declarations lodged after the bundle's history.
        registers: Registers for this run (the bundle's snapshot fills the gaps).
        settings: Run settings (evaluation and selection sections).

    Returns:
        The evaluation and the scored batch it was computed from.
    """
    policy = SelectionPolicy(settings.selection)
    weight = ranking_weight(bundle.metadata, settings.selection.objective)
    scored = score_declarations(
        bundle,
        declarations,
        registers,
        rate=settings.selection.default_rate,
        revenue_weight=weight,
        explain_rows=False,
        policy=policy,
    )
    return evaluate_scored(bundle, scored, settings), scored


def evaluate_scored(bundle: Bundle, scored: ScoredBatch, settings: Settings) -> Evaluation:
    """Evaluate declarations a bundle scored (in this process or on Dask).

    Args:
        bundle: The model bundle that scored them.
        scored: Its decisions with the evaluation's columns in ``features``
            (:data:`EVALUATION_COLUMNS`; a full feature frame has them).
        settings: Run settings (evaluation and selection sections).

    Returns:
        The evaluation of the model, the baselines and the policy.
    """
    policy = SelectionPolicy(settings.selection)
    objective = settings.selection.objective
    weight = ranking_weight(bundle.metadata, objective)
    e = settings.evaluation
    baseline = DateGBDT.from_dict(bundle.metadata["baseline"])
    return evaluate(
        scored.features,
        scored.decisions["risk_score"].to_numpy(),
        scored.decisions["expected_revenue"].to_numpy(),
        scored.decisions["priority"].to_numpy(),
        baseline=baseline,
        percents=tuple(e.percents),
        bins=e.calibration_bins,
        random_draws=e.random_baseline_draws,
        random_state=e.random_state,
        policy=policy,
        ranking={
            "objective": objective,
            "revenue_weight": weight,
            "reason": (bundle.metadata.get("ranking") or {}).get("reason", ""),
        },
    )


#: Quantiles of recent risk scores kept with the model, for "percentile among recent
#: declarations" in real-time decisions and reports.
RECENT_QUANTILES = 101


def model_notes(pipeline: FeaturePipeline, model: RiskModel) -> list[str]:
    """What a user should know about a fitted model: features left out, estimated revenue."""
    notes = []
    if pipeline.dropped_features_:
        notes.append(
            "features left out because the data lacks their fields: "
            + ", ".join(pipeline.dropped_features_)
        )
    if model.regressor_ is None:
        notes.append(
            "no revenue label: expected_revenue is estimated from declared value and tax rate"
        )
    history = [name for name in disclosure.HISTORY_FEATURES if name in model.risk_features]
    if history:
        # Measure 22: the disclosure history weighs what the data says it weighs.
        gain = model.classifier_.feature_importance("gain").astype("float64")
        share = gain / gain.sum() if gain.sum() > 0 else gain
        rank = {
            name: int(r) + 1
            for r, name in enumerate(
                np.array(model.risk_features)[np.argsort(-gain, kind="stable")]
            )
        }
        parts = [
            f"{name} {share[model.risk_features.index(name)]:.2%} of the gain "
            f"(rank {rank[name]} of {len(model.risk_features)})"
            for name in history
        ]
        notes.append("voluntary disclosure history in the risk model: " + ", ".join(parts))
    return notes


def evaluate_draft(
    target: Path,
    pipeline: FeaturePipeline,
    model: RiskModel,
    registers: Registers,
    metadata: dict[str, Any],
    holdout: pd.DataFrame,
    settings: Settings,
) -> Evaluation:
    """Evaluate a bundle before it is saved, and add its real-time policy state.

    The hold-out's scores are the most recent the model has seen, so the policy's
    real-time thresholds and the recent risk quantiles are fitted on them and written into
    ``metadata`` (in place), which is then saved with the bundle.

    Args:
        target: Where the bundle will be saved.
        pipeline: The fitted feature pipeline.
        model: The fitted risk model.
        registers: The registers of the training run.
        metadata: The bundle's metadata so far (updated in place).
        holdout: The hold-out declarations, in time order.
        settings: The settings.

    Returns:
        The hold-out evaluation.
    """
    draft = draft_bundle(target, pipeline, model, registers, metadata)
    evaluation, scored = evaluate_bundle(draft, holdout, registers, settings)
    metadata.update(recent_state(scored, settings))
    return evaluation


def draft_bundle(
    target: Path,
    pipeline: FeaturePipeline,
    model: RiskModel,
    registers: Registers,
    metadata: dict[str, Any],
) -> Bundle:
    """The bundle of a training run before it is saved (model version ``unsaved``).

    Args:
        target: Where the bundle will be saved.
        pipeline: The fitted feature pipeline.
        model: The fitted risk model.
        registers: The registers of the training run.
        metadata: The bundle's metadata so far.

    Returns:
        A bundle that scores like the saved one will.
    """
    return Bundle(
        path=target,
        pipeline=pipeline,
        model=model,
        enterprises=registers.enterprises,
        commodities=registers.commodities,
        disclosures=registers.disclosures,
        rulings=registers.rulings,
        metadata={**metadata, "model_version": "unsaved"},
    )


def recent_state(scored: ScoredBatch, settings: Settings) -> dict[str, Any]:
    """Real-time selection state derived from the latest scored declarations (the hold-out).

    The API decides one declaration at a time, so the budget can only be met in
    expectation: the policy's per-tier thresholds are fitted on the priorities of the
    most recent declarations the model scored, and saved with it.

    Args:
        scored: The hold-out as scored, in time order (``features`` needs the columns of
            the officer rules and ``declared_at``).
        settings: The settings.

    Returns:
        The metadata entries of the real-time policy state.
    """
    policy = SelectionPolicy(settings.selection)
    decisions, features = scored.decisions, scored.features
    hits, _ = policy.rule_hits(features.reset_index(drop=True))
    state = policy.fit_thresholds(
        decisions["priority"].to_numpy(),
        credit_tier=decisions["credit_tier"].to_numpy(),
        rule_hit=hits,
        declared_at=features["declared_at"].reset_index(drop=True),
    )
    risk = decisions["risk_score"].to_numpy(dtype="float64")
    return {
        "policy_thresholds": state.to_dict(),
        "policy_version": policy.version,
        "recent_risk_quantiles": np.quantile(risk, np.linspace(0, 1, RECENT_QUANTILES)).tolist(),
        "recent_rows": len(risk),
    }


def record_run(
    model_dir: Path,
    settings: Settings,
    declarations: pd.DataFrame,
    registers: Registers,
    evaluation: Evaluation | None,
    model: RiskModel,
    feedback: dict[str, Any] | None = None,
    *,
    extra_metrics: dict[str, float] | None = None,
    extra_tags: dict[str, str] | None = None,
    comparison: Any | None = None,
) -> Any:
    """Record a training run in MLflow and register its bundle.

    ``extra_metrics``, ``extra_tags`` and ``comparison`` (a
    :class:`portsift.store.promotion.SharedComparison` deciding the alias instead of each
    model's own hold-out metric) are what ``portsift retrain`` adds.
    """
    from portsift.store import tracking
    from portsift.training import artefacts

    bundle = load_bundle(model_dir)
    with tempfile.TemporaryDirectory(prefix="portsift-run-") as scratch:
        files = artefacts.write_run_artefacts(
            Path(scratch), bundle, declarations, registers, evaluation
        )
        params: dict[str, object] = {
            **{f"model.{k}": v for k, v in settings.model.model_dump().items()},
            **{f"features.{k}": v for k, v in settings.features.model_dump().items()},
            **{f"training.{k}": v for k, v in settings.training.model_dump().items()},
            "model.best_iteration": model.metadata()["best_iteration"],
            "model.n_features": len(model.risk_features),
            "model_version": bundle.model_version,
            "selection.objective": settings.selection.objective,
            "selection.blend_weight": (bundle.metadata.get("ranking") or {}).get("blend_weight"),
            **_shape_params(bundle.metadata.get("model_shape")),
        }
        metrics = evaluation.model_metrics() if evaluation is not None else {}
        metrics.update(_shape_metrics(bundle.metadata.get("model_shape")))
        if feedback is not None:
            params.update({f"feedback.{k}": v for k, v in feedback.items()})
            # Also as metrics, so that runs can be compared and charted by them.
            metrics = {
                **metrics,
                "feedback_labels": float(feedback["labels_from_feedback"]),
                "feedback_unmatched": float(feedback["unmatched"]),
            }
        metrics = {**metrics, **(extra_metrics or {})}
        return tracking.record_training_run(
            experiment_name=settings.training.experiment_name,
            model_name=settings.training.registered_model_name,
            params=params,
            fingerprint=bundle.metadata["fingerprint"],
            metrics=metrics,
            artifacts=files,
            bundle_dir=model_dir,
            tags={tracking.MODEL_VERSION_TAG: bundle.model_version, **(extra_tags or {})},
            comparison=comparison,
        )


def _shape_params(shape: dict[str, Any] | None) -> dict[str, object]:
    """MLflow params of the shape search: the winner's shape (``model.*`` are [model]'s)."""
    if not shape:
        return {}
    chosen = shape["chosen"]
    return {
        "model_search.chosen": chosen["label"],
        "model_search.trials": len(shape["trials"]),
        "model_search.min_shap_rows_per_second": shape["min_shap_rows_per_second"],
        **{
            f"model_search.chosen.{key}": chosen[key]
            for key in ("n_estimators", "num_leaves", "max_depth", "learning_rate", "trees_kept")
        },
    }


def _shape_metrics(shape: dict[str, Any] | None) -> dict[str, float]:
    """MLflow metrics of the shape search: the winner's measured SHAP speed and precision."""
    if not shape:
        return {}
    chosen = shape["chosen"]
    metrics = {"shap_rows_per_second": float(chosen["shap_rows_per_second"])}
    if chosen["precision"] is not None:
        metrics["validation_precision_at_percent"] = float(chosen["precision"])
    return metrics
