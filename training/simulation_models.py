"""The models of a replay: what each strategy's model may see, its refits and scores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models.risk_model import RiskModel, TrainingData
from portsift.models.scoring import model_scores, policy_inputs, ranking_weight
from portsift.settings import Settings
from portsift.training.model_search import model_from_settings, pipeline_from_settings

if TYPE_CHECKING:  # built by the simulation, which calls this module
    from portsift.training.simulation import LabelledHistory, SimulationPlan

#: The ranking every replayed model records. The replay retrains often on small
#: windows, so it chooses no blend weight on a validation slice: ``blend`` ranks by risk
#: alone there, as a bundle trained without one does; ``hits`` and ``revenue`` keep
#: their fixed weights (:func:`portsift.models.scoring.ranking_weight`).
SIMULATION_RANKING: Final[Mapping[str, Any]] = {"ranking": {"blend_weight": 0.0}}


@dataclass
class Fitted:
    """A strategy's current feature state and model (a deployed bundle, frozen between refits).

    Attributes:
        pipeline: The fitted feature pipeline.
        model: The fitted risk model.
        features: The training features (kept for the warm-up only, for the PSI reference).
    """

    pipeline: FeaturePipeline
    model: RiskModel
    features: pd.DataFrame | None = None


def labelled_view(history: LabelledHistory, end: int, revealed: np.ndarray) -> pd.DataFrame:
    """Rows before ``end`` as a model may see them: labels only where revealed.

    This is the one place outcomes enter model inputs, and it reads them only under the
    ``revealed`` mask, so an unrevealed label cannot reach a feature or a model.

    Args:
        history: The labelled history.
        end: Row before which the view ends.
        revealed: Per row, whether its outcome is known.

    Returns:
        Canonical declarations with ``inspected``, ``illicit`` (and ``revenue``).
    """
    known = revealed[:end]
    view = history.declarations.iloc[:end].copy()
    view["inspected"] = known.astype("int64")
    view["illicit"] = np.where(known, history.illicit[:end], np.nan)
    if history.revenue is not None:
        view["revenue"] = np.where(known, history.revenue[:end], np.nan)
    return view


def fit_pair(
    history: LabelledHistory,
    registers: Registers,
    settings: Settings,
    plan: SimulationPlan,
    end: int,
    revealed: np.ndarray,
    weight: np.ndarray | None,
) -> Fitted:
    """Fit the feature state and a small model on the rows before ``end``.

    Args:
        history: The labelled history.
        registers: The registers.
        settings: Settings (features, model shape).
        plan: The run's plan (the ``[simulation]`` model settings).
        end: Row before which the pair learns.
        revealed: Per row, whether its outcome is known to the strategy.
        weight: Training weight per row (1 / p of exploration draws), or None.

    Returns:
        The fitted pair, with its training features.

    Raises:
        ValueError: Too few labels to train on.
    """
    view = labelled_view(history, end, revealed)
    sim = plan.config
    pipeline = pipeline_from_settings(settings)
    features = pipeline.fit_transform(view, registers)
    # The production model's shape, with fewer and faster trees (a run refits often) and
    # one thread, steady on a shared machine (see [model] n_jobs).
    model = model_from_settings(
        settings,
        pipeline,
        learning_rate=sim.learning_rate,
        n_estimators=sim.n_estimators,
        revenue_n_estimators=sim.revenue_n_estimators,
        early_stopping_rounds=sim.early_stopping_rounds,
        n_jobs=1,
    )
    model.fit(
        TrainingData(
            features=features,
            declared_at=view["declared_at"],
            inspected=view["inspected"],
            illicit=view["illicit"],
            revenue=view.get("revenue"),
        ),
        sample_weight=None if weight is None else weight[:end],
    )
    return Fitted(pipeline, model, features)


def reference_scores(fitted: Fitted, start: int) -> np.ndarray:
    """Warm-up model's risk scores of the last warm-up weeks (point-in-time features).

    Args:
        fitted: The warm-up pair, with its training features (freed here).
        start: First row of the reference weeks.

    Returns:
        The risk scores the weekly PSI compares with.
    """
    assert fitted.features is not None
    features = fitted.features.iloc[start:]
    x = features[fitted.model.risk_features].to_numpy(dtype="float64")
    reference = fitted.model.calibrate(fitted.model.raw_score(x, num_threads=1))
    fitted.features = None  # only the reference was needed; free the frame
    return reference


def score_week(
    fitted: Fitted,
    history: LabelledHistory,
    registers: Registers,
    lo: int,
    hi: int,
    settings: Settings,
) -> pd.DataFrame:
    """Score the week ``[lo, hi)`` with a fitted pair: the policy's inputs and the scores.

    Args:
        fitted: The strategy's pair.
        history: The labelled history.
        registers: The registers.
        lo: First row of the week.
        hi: Row after the week's last.
        settings: Settings (the ranking objective).

    Returns:
        One row per declaration of the week.
    """
    # The week's outcomes are unknown when it is scored.
    week = history.declarations.iloc[lo:hi].assign(inspected=0, illicit=np.nan)
    features = fitted.pipeline.transform(week, registers)
    weight = ranking_weight(SIMULATION_RANKING, settings.selection.objective)
    scores = model_scores(fitted.model, features, revenue_weight=weight, num_threads=1)
    return policy_inputs(features, scores).reset_index(drop=True)
