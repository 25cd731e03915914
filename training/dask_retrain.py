"""``portsift retrain --engine dask``: :func:`portsift.training.retrain.retrain` on a Dask cluster.

The same steps and records as the pandas retrain: the split is planned from the number
of declarations per day (:func:`portsift.training.retrain.plan_from_days`), both models
are scored on the shared rows on the workers and evaluated from the columns that come
back (:func:`portsift.training.dask_runs.evaluate_bundle_dask`), the challenger is
trained by :func:`portsift.training.scale.train_dask` on the window before the hold-out,
and :func:`portsift.training.retrain.register_challenger` records the run and lets the
shared comparison decide the alias.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd

from portsift.features.pipeline import Registers
from portsift.models.bundle import load_bundle
from portsift.settings import Settings
from portsift.training.comparison import (
    CHALLENGER_ROLE,
    CHAMPION_ROLE,
    measure,
    model_result,
)
from portsift.training.dask_runs import evaluate_bundle_dask, latest_rows, merge_feedback_dask
from portsift.training.retrain import (
    Champion,
    RetrainError,
    RetrainResult,
    comparable,
    plan_from_days,
    register_challenger,
)
from portsift.training.scale import train_dask
from portsift.training.train import Stage


def retrain_dask(
    declarations: dd.DataFrame,
    registers: Registers,
    settings: Settings,
    model_dir: str | Path,
    client: Any,
    *,
    champion: Champion | None,
    window_days: int | None = None,
    holdout_days: int | None = None,
    feedback: pd.DataFrame | None = None,
    feedback_source: str | None = None,
    random_ids: Collection[str] | None = None,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
    stage: Stage | None = None,
) -> RetrainResult:
    """Train a challenger on the cluster, compare it with the champion, register it.

    Args:
        declarations: Canonical declarations with labels (partitions in input order).
        registers: The registers.
        settings: Run settings.
        model_dir: Where the challenger bundle is written.
        client: A ``distributed.Client``.
        champion: The current champion, or None.
        window_days: Train on the last this many days before the hold-out.
        holdout_days: Hold out the last this many days (default: the settings' fraction).
        feedback: Inspection outcomes from the audit store, as ``retrain`` takes them.
        feedback_source: Where the feedback came from.
        random_ids: Declaration ids inspected at random.
        extra_categorical: Schema-file categorical inputs.
        extra_numeric: Schema-file numeric inputs.
        stage: Called with the name of each stage as it starts.

    Returns:
        The result, with the MLflow registration.

    Raises:
        RetrainError: See :func:`portsift.training.retrain.retrain`.
        ValueError: Malformed feedback or too few labels to train.
    """
    step = stage or (lambda _name: None)
    labelled = declarations
    if feedback is not None:
        labelled, _ = merge_feedback_dask(declarations, feedback, client)
    if "illicit" not in labelled.columns:
        raise RetrainError("the declarations carry no inspection outcomes (illicit)")
    days = labelled["declared_at"].dt.normalize()
    trained_to = None if champion is None else pd.Timestamp(champion.bundle.metadata["trained_to"])
    plan = plan_from_days(
        days.value_counts().compute(),
        holdout_fraction=settings.training.holdout_fraction,
        holdout_days=holdout_days,
        window_days=window_days,
        champion_trained_to=trained_to,
    )
    shared = labelled[days >= plan.shared_start]
    has_labels = bool(((shared["inspected"] == 1) & ~shared["illicit"].isna()).any().compute())
    percents = comparable(has_labels, plan, settings)
    champion_result = None
    if champion is not None:
        step("champion on the hold-out")
        evaluation, scored = evaluate_bundle_dask(
            champion.bundle, shared, registers, settings, client, time_order=True
        )
        champion_result = model_result(
            CHAMPION_ROLE,
            champion.bundle,
            champion.registry_version,
            *measure(scored, evaluation, percents, random_ids),
        )
    training = train_dask(
        declarations,
        registers,
        settings,
        model_dir,
        client,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
        stage=step,
        track=False,
        feedback=feedback,
        feedback_source=feedback_source,
        holdout_from=plan.holdout_start,
        window_from=plan.window_start,
    )
    step("challenger on the hold-out")
    bundle = load_bundle(training.model_dir)  # what was written, verified
    evaluation, scored = evaluate_bundle_dask(
        bundle, shared, registers, settings, client, time_order=True
    )
    challenger = model_result(
        CHALLENGER_ROLE, bundle, None, *measure(scored, evaluation, percents, random_ids)
    )
    step("MLflow run")
    return register_challenger(
        plan,
        training,
        bundle,
        challenger,
        champion,
        champion_result,
        settings,
        latest_rows(labelled),
        registers,
    )
