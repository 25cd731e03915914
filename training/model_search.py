"""The classifier's shape, chosen at training within the explanation budget.

Every decision portsift makes is explained by TreeSHAP, whose cost grows with trees x
leaves x depth squared (``benchmarks/model_shapes.py``), so a larger model is only
worth it if it still explains a day's queue. ``[model]``'s own shape and the
``[model_search] shapes`` are each fitted on the same rows, with early stopping on the
time-ordered validation slice (the latest labelled rows before the hold-out, the slice
calibration and the blend weight also use; the hold-out stays untouched). Each trial
is measured there: Precision@``percent`` of its risk ranking, AUC, the trees kept and
TreeSHAP rows per second on one thread (the best of ``timing_repeats`` runs on
``shap_rows`` validation rows: other processes can only slow a run down). Among the
shapes at or above ``min_shap_rows_per_second``, the choice follows the
one-standard-error rule (:func:`choose`): ``[model]``'s shape stays unless it falls
more than one standard error below the best validation precision, in which case the
fastest explainer within that margin wins. When none keeps the budget, the fastest shape
is trained and the run says so.

The trials fit the classifier only; the winner is refitted with its revenue model
(LightGBM is deterministic here, so its classifier is the one measured).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from portsift.features.pipeline import MONOTONE_DECREASING, FeaturePipeline
from portsift.models.budget import budget_count, select_top
from portsift.models.risk_model import RiskModel, TrainingData, feature_matrix, time_split
from portsift.settings import ModelSearchSettings, Settings, ShapeSettings
from portsift.training import metrics

#: Rows timed before the full measurement: a shape far slower than the budget is
#: recognised from these alone instead of spending seconds on it.
_PROBE_ROWS = 40


def pipeline_from_settings(
    settings: Settings, extra_categorical: tuple[str, ...] = (), extra_numeric: tuple[str, ...] = ()
) -> FeaturePipeline:
    """The unfitted feature pipeline of the ``[features]`` settings.

    Args:
        settings: Run settings.
        extra_categorical: Schema-file categorical inputs.
        extra_numeric: Schema-file numeric inputs.

    Returns:
        The pipeline every engine (pandas, Dask, the simulation's refits) fits.
    """
    f = settings.features
    return FeaturePipeline(
        smoothing=f.smoothing,
        label_delay_days=f.label_delay_days,
        reference_period=f.reference_period,
        new_importer_days=f.new_importer_days,
        min_category_count=f.min_category_count,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
    )


def model_from_settings(
    settings: Settings,
    pipeline: FeaturePipeline,
    *,
    shape: ShapeSettings | None = None,
    learning_rate: float | None = None,
    n_estimators: int | None = None,
    revenue_n_estimators: int | None = None,
    early_stopping_rounds: int | None = None,
    n_jobs: int | None = None,
) -> RiskModel:
    """An unfitted :class:`RiskModel` of the configured shape for a fitted pipeline's features.

    Args:
        settings: The settings (``[model]``, ``[revenue_model]``, ``[training]``).
        pipeline: The fitted feature pipeline (its risk, revenue and categorical features).
        shape: The classifier's shape; None for ``[model]``'s own.
        learning_rate: Overrides both models' learning rate (e.g. a faster simulation).
        n_estimators: Overrides the classifier's number of trees.
        revenue_n_estimators: Overrides the revenue model's number of trees.
        early_stopping_rounds: Overrides the classifier's early-stopping patience.
        n_jobs: Overrides ``[model] n_jobs`` (LightGBM threads).

    Returns:
        The model, ready for :meth:`RiskModel.fit`.
    """
    m, r = settings.model, settings.revenue_model
    s = shape or m.shape
    return RiskModel(
        risk_features=pipeline.risk_features_,
        revenue_features=pipeline.revenue_features_,
        categorical_features=pipeline.categorical_features_,
        monotone_decreasing=MONOTONE_DECREASING,
        classifier_params={
            "learning_rate": s.learning_rate if learning_rate is None else learning_rate,
            "num_leaves": s.num_leaves,
            "max_depth": s.max_depth,
            "min_data_in_leaf": m.min_child_samples,
            "bagging_fraction": m.subsample,
            "bagging_freq": m.subsample_freq,
            "feature_fraction": m.colsample_bytree,
            "lambda_l2": m.reg_lambda,
        },
        regressor_params={
            "learning_rate": r.learning_rate if learning_rate is None else learning_rate,
            "num_leaves": r.num_leaves,
            "max_depth": r.max_depth,
            "min_data_in_leaf": r.min_child_samples,
        },
        n_estimators=s.n_estimators if n_estimators is None else n_estimators,
        revenue_n_estimators=r.n_estimators
        if revenue_n_estimators is None
        else revenue_n_estimators,
        early_stopping_rounds=(
            m.early_stopping_rounds if early_stopping_rounds is None else early_stopping_rounds
        ),
        validation_fraction=settings.training.validation_fraction,
        estimate_evaded_share=r.estimate_evaded_share,
        estimate_default_tax_rate=r.estimate_default_tax_rate,
        n_jobs=m.n_jobs if n_jobs is None else n_jobs,
        random_state=m.random_state,
    )


@dataclass(frozen=True)
class ShapeTrial:
    """One shape fitted and measured on the validation slice.

    Attributes:
        shape: The shape.
        trees_kept: Trees after early stopping (what predictions and SHAP use).
        precision: Precision at ``percent`` of the validation rows ranked by risk.
        auc: AUC of the risk on the validation rows.
        shap_rows_per_second: TreeSHAP speed on one thread.
        eligible: Whether it keeps the explanation budget.
        fit_seconds: Wall time of the fit.
    """

    shape: ShapeSettings
    trees_kept: int
    precision: float
    auc: float
    shap_rows_per_second: float
    eligible: bool
    fit_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            **self.shape.model_dump(),
            "label": self.shape.label,
            "trees_kept": self.trees_kept,
            "precision": _finite_or_none(self.precision),
            "auc": _finite_or_none(self.auc),
            "shap_rows_per_second": round(self.shap_rows_per_second, 1),
            "eligible": self.eligible,
            "fit_seconds": _finite_or_none(round(self.fit_seconds, 2)),
        }


@dataclass(frozen=True)
class ShapeChoice:
    """The shape a bundle was trained with, and the trials it won.

    Attributes:
        chosen: The index of the winner in ``trials``.
        trials: Every shape tried, ``[model]``'s own first.
        percent: The precision cut-off of the choice.
        min_shap_rows_per_second: The explanation budget.
        validation_rows: Labelled rows of the validation slice.
        reason: The choice in words (for notes and reports).
    """

    chosen: int
    trials: tuple[ShapeTrial, ...]
    percent: float
    min_shap_rows_per_second: float
    validation_rows: int
    reason: str

    @property
    def winner(self) -> ShapeTrial:
        """The chosen trial."""
        return self.trials[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (saved in the bundle's metadata as ``model_shape``)."""
        return {
            "chosen": self.winner.to_dict(),
            "percent": self.percent,
            "min_shap_rows_per_second": self.min_shap_rows_per_second,
            "validation_rows": self.validation_rows,
            "reason": self.reason,
            "trials": [trial.to_dict() for trial in self.trials],
        }


def shap_rows_per_second(model: RiskModel, x: np.ndarray, budget: float, repeats: int) -> float:
    """TreeSHAP rows per second of a fitted model on one thread.

    Args:
        model: The fitted model.
        x: Rows of its risk features to explain.
        budget: The explanation budget; a shape clearly below it (half of it, on a few
            probe rows) is not timed further.
        repeats: Timed runs; the fastest counts.

    Returns:
        Rows per second.
    """
    probe = x[:_PROBE_ROWS]
    model.contributions(probe[:5], num_threads=1)  # first call allocates; not timed
    probe_rate = _rate(model, probe)
    if probe_rate < budget / 2:
        return probe_rate
    return max(_rate(model, x) for _ in range(repeats))


def _rate(model: RiskModel, x: np.ndarray) -> float:
    start = time.perf_counter()
    model.contributions(x, num_threads=1)
    return len(x) / max(time.perf_counter() - start, 1e-9)


def _measure(
    model: RiskModel, data: TrainingData, valid_rows: np.ndarray, search: ModelSearchSettings
) -> tuple[float, float, float]:
    features = data.features.iloc[valid_rows]
    x = feature_matrix(features, model.risk_features)
    risk = model.calibrate(model.raw_score(x))
    illicit = data.illicit.to_numpy(dtype="float64")[valid_rows]
    top = select_top(risk, search.percent / 100.0)
    precision = float(illicit[top].mean()) if top.any() else math.nan
    auc = metrics.auc(risk, illicit)
    speed = shap_rows_per_second(
        model, x[: search.shap_rows], search.min_shap_rows_per_second, search.timing_repeats
    )
    return precision, auc, speed


def choose(trials: list[ShapeTrial], top_rows: int) -> tuple[int, str]:
    """The winning trial and why, by the one-standard-error rule within the budget.

    Validation precision at a few per cent rests on few rows (a 100,000-row demo has
    about 70 in its top 5%), so a shape only beats ``[model]``'s own (``trials[0]``)
    when the default falls more than one binomial standard error below the best; among
    the shapes within that margin of the best the fastest explainer wins.

    Args:
        trials: The trials, ``[model]``'s own first.
        top_rows: How many validation rows the precision was measured on.

    Returns:
        ``(index, reason)``.
    """
    eligible = [i for i, trial in enumerate(trials) if trial.eligible]
    if not eligible:
        fastest = max(range(len(trials)), key=lambda i: trials[i].shap_rows_per_second)
        return fastest, (
            f"no shape keeps the explanation budget; the fastest, {trials[fastest].shape.label}, "
            f"explains {trials[fastest].shap_rows_per_second:,.0f} rows/s"
        )
    best = max(_or_minus_inf(trials[i].precision) for i in eligible)
    margin = math.sqrt(best * (1 - best) / max(top_rows, 1)) if math.isfinite(best) else 0.0
    contenders = [i for i in eligible if _or_minus_inf(trials[i].precision) >= best - margin]
    if 0 in contenders:
        chosen, why = 0, "the default"
    else:
        chosen = max(contenders, key=lambda i: trials[i].shap_rows_per_second)
        why = "beats the default by more than one standard error"
    winner = trials[chosen]
    return chosen, (
        f"{winner.shape.label} ({why}; {winner.trees_kept} trees kept): validation "
        f"precision {winner.precision:.1%} (best {best:.1%}, one standard error "
        f"{margin:.1%} on {top_rows} rows), TreeSHAP {winner.shap_rows_per_second:,.0f} rows/s "
        f"on one thread; {len(eligible)} of {len(trials)} shapes keep the budget"
    )


def fit_best_shape(
    settings: Settings, pipeline: FeaturePipeline, data: TrainingData
) -> tuple[RiskModel, ShapeChoice]:
    """Fit every shape of the search, keep the best within the budget, fit it fully.

    Args:
        settings: The settings (``[model]``, ``[model_search]`` and the rest the model needs).
        pipeline: The fitted feature pipeline.
        data: The training rows.

    Returns:
        ``(model, choice)``: the fitted winner (with its revenue model) and the trials.

    Raises:
        ValueError: If the data cannot train a model (:meth:`RiskModel.fit`).
    """
    search = settings.model_search
    shapes = [settings.model.shape, *(s for s in search.shapes if s != settings.model.shape)]
    _, valid_rows = time_split(data, settings.training.validation_fraction)
    if len(shapes) == 1:
        model = model_from_settings(settings, pipeline).fit(data)
        trial = _trial(model, shapes[0], data, valid_rows, search, math.nan)
        return model, ShapeChoice(
            0,
            (trial,),
            search.percent,
            search.min_shap_rows_per_second,
            len(valid_rows),
            f"{trial.shape.label} ([model_search] shapes is empty: no search)",
        )
    classifier_only = dataclasses.replace(data, revenue=None)
    trials = []
    for shape in shapes:
        start = time.perf_counter()
        trial_model = model_from_settings(settings, pipeline, shape=shape).fit(classifier_only)
        trials.append(
            _trial(trial_model, shape, data, valid_rows, search, time.perf_counter() - start)
        )
    chosen, reason = choose(trials, budget_count(len(valid_rows), search.percent / 100.0))
    model = model_from_settings(settings, pipeline, shape=shapes[chosen]).fit(data)
    choice = ShapeChoice(
        chosen,
        tuple(trials),
        search.percent,
        search.min_shap_rows_per_second,
        len(valid_rows),
        reason,
    )
    return model, choice


def unsearched(
    model: RiskModel,
    shape: ShapeSettings,
    x: np.ndarray,
    search: ModelSearchSettings,
    why: str,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> ShapeChoice:
    """The record of a model trained without a search (its SHAP speed still measured).

    Args:
        model: The fitted model.
        shape: Its shape.
        x: Rows of its risk features to time TreeSHAP on.
        search: ``[model_search]`` (budget and timing).
        why: Why there was no search (said in the reason).
        validation: The validation slice's calibrated risk and outcomes, to measure the
            precision and AUC as the search does; None leaves them unknown.

    Returns:
        A choice of one trial.
    """
    speed = shap_rows_per_second(
        model, x[: search.shap_rows], search.min_shap_rows_per_second, search.timing_repeats
    )
    precision = auc = math.nan
    top_rows = 0
    if validation is not None:
        risk, illicit = validation
        top = select_top(risk, search.percent / 100.0)
        precision = float(illicit[top].mean()) if top.any() else math.nan
        auc = metrics.auc(risk, illicit)
        top_rows = len(risk)
    trial = ShapeTrial(
        shape=shape,
        trees_kept=int(model.metadata()["best_iteration"]),
        precision=precision,
        auc=auc,
        shap_rows_per_second=speed,
        eligible=speed >= search.min_shap_rows_per_second,
        fit_seconds=math.nan,
    )
    return ShapeChoice(
        0,
        (trial,),
        search.percent,
        search.min_shap_rows_per_second,
        top_rows,
        f"{shape.label} ({why}), TreeSHAP {speed:,.0f} rows/s on one thread",
    )


def _trial(
    model: RiskModel,
    shape: ShapeSettings,
    data: TrainingData,
    valid_rows: np.ndarray,
    search: ModelSearchSettings,
    fit_seconds: float,
) -> ShapeTrial:
    precision, auc, speed = _measure(model, data, valid_rows, search)
    return ShapeTrial(
        shape=shape,
        trees_kept=int(model.metadata()["best_iteration"]),
        precision=precision,
        auc=auc,
        shap_rows_per_second=speed,
        eligible=speed >= search.min_shap_rows_per_second,
        fit_seconds=fit_seconds,
    )


def _or_minus_inf(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value
