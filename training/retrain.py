"""``portsift retrain``: a challenger on the latest window against the champion, same rows.

A retrain trains a challenger on the latest window of a declarations file (the last
``window_days`` before a recent hold-out; by default everything before it), with the
inspection outcomes of the audit store merged in (:mod:`portsift.training.feedback`), and measures
it and the current champion (``models:/<registered_model_name>@champion``) on the *same*
recent rows. Those rows must lie after both models' training windows: the champion was
trained up to its ``trained_to`` and must not be scored on rows it learnt from, so when
its window reaches into the hold-out the comparison is restricted to the rows after it
(and the run says so).

The challenger takes the ``champion`` alias only with a strictly higher P@5% on those
shared rows (:class:`portsift.store.promotion.SharedComparison`, the tracking module's rule on
the shared rows instead of each model's own hold-out); otherwise it is registered as
``challenger``. Without a champion it becomes the champion. The comparison is recorded
in the MLflow run (metrics of both, tags, ``comparison.json``).

The split and the comparison are pure functions (:func:`plan_retrain`,
:func:`comparison_payload`; the measuring and the table are
:mod:`portsift.training.comparison`); reading the
registry and recording the run are at the edges (:func:`fetch_champion`,
:func:`retrain`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle, load_bundle
from portsift.settings import Settings
from portsift.training.comparison import (
    CHALLENGER_ROLE,
    CHAMPION_ROLE,
    PRIMARY_METRIC,
    ModelResult,
    labelled_mask,
    measure,
    model_result,
    run_metrics,
)
from portsift.training.feedback import merge_feedback
from portsift.training.train import Stage, TrainResult, evaluate_bundle, train

#: Name of the comparison artefact of the MLflow run.
COMPARISON_ARTIFACT = "comparison.json"


class RetrainError(ValueError):
    """Input that cannot be retrained on (no hold-out, no shared rows, no labels there)."""


@dataclass(frozen=True)
class Champion:
    """The current champion, fetched from the registry and verified.

    Attributes:
        bundle: The loaded bundle (every file checked against its manifest).
        registry_version: Its version number in the registry.
        uri: The ``models:/NAME@champion`` URI it was resolved from.
    """

    bundle: Bundle
    registry_version: str
    uri: str


@dataclass(frozen=True)
class RetrainPlan:
    """Where a retrain cuts the file.

    Attributes:
        holdout_start: First day of the recent hold-out (the challenger trains before it).
        window_start: First day of the challenger's training window; None for the whole
            history before the hold-out.
        shared_start: First day of the rows both models are compared on: the hold-out
            start, or the day after the champion's training window when that is later.
        champion_trained_to: Last day of the champion's training window (None: no champion).
        notes: What the plan had to adjust, in words.
    """

    holdout_start: pd.Timestamp
    window_start: pd.Timestamp | None
    shared_start: pd.Timestamp
    champion_trained_to: pd.Timestamp | None
    notes: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        """Whether the champion's training window cut the shared rows short."""
        return self.shared_start > self.holdout_start


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain did.

    Attributes:
        plan: The split.
        training: The challenger's training (bundle path, version, own evaluation).
        challenger: The challenger's results on the shared rows.
        champion: The champion's, or None when there was no champion.
        registration: The MLflow registration (alias and reason).
        comparison: The ``comparison.json`` document recorded with the run.
        notes: Notes to show (plan adjustments, training notes).
    """

    plan: RetrainPlan
    training: TrainResult
    challenger: ModelResult
    champion: ModelResult | None
    registration: Any
    comparison: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        """Whether the challenger took the champion alias."""
        return self.registration.alias == CHAMPION_ROLE


# -- pure parts ----------------------------------------------------------------------


def plan_retrain(
    declared_at: pd.Series,
    *,
    holdout_fraction: float,
    holdout_days: int | None = None,
    window_days: int | None = None,
    champion_trained_to: pd.Timestamp | None = None,
) -> RetrainPlan:
    """Decide the hold-out, the training window and the rows both models are compared on.

    Args:
        declared_at: Lodging dates of the declarations (any order).
        holdout_fraction: Share of the latest rows held out when ``holdout_days`` is None
            (cut between whole days, as ``train`` does).
        holdout_days: Hold out the last this many calendar days of the file instead.
        window_days: Train on the last this many days before the hold-out; None for all.
        champion_trained_to: Last day of the champion's training window, if there is one.

    Returns:
        The plan.

    Raises:
        RetrainError: A non-positive day count, no hold-out, no rows to train on, or no
            rows after both training windows.
    """
    days = pd.to_datetime(declared_at).dt.normalize()
    return plan_from_days(
        days.value_counts().sort_index(),
        holdout_fraction=holdout_fraction,
        holdout_days=holdout_days,
        window_days=window_days,
        champion_trained_to=champion_trained_to,
    )


def plan_from_days(
    per_day: pd.Series,
    *,
    holdout_fraction: float,
    holdout_days: int | None = None,
    window_days: int | None = None,
    champion_trained_to: pd.Timestamp | None = None,
) -> RetrainPlan:
    """:func:`plan_retrain` from the number of declarations of each day (what Dask sums).

    Args:
        per_day: Declarations per lodging day, indexed by day (days without any omitted).
        holdout_fraction: See :func:`plan_retrain`.
        holdout_days: See :func:`plan_retrain`.
        window_days: See :func:`plan_retrain`.
        champion_trained_to: See :func:`plan_retrain`.

    Returns:
        The plan.

    Raises:
        RetrainError: See :func:`plan_retrain`.
    """
    for name, value in (("--holdout-days", holdout_days), ("--window-days", window_days)):
        if value is not None and value < 1:
            raise RetrainError(f"{name} must be at least 1, got {value}")
    per_day = per_day[per_day > 0].sort_index()
    first, last = pd.Timestamp(per_day.index.min()), pd.Timestamp(per_day.index.max())
    if holdout_days is not None:
        holdout_start = last - pd.Timedelta(days=holdout_days - 1)
    else:
        holdout_start = _holdout_day(per_day, holdout_fraction)
        if holdout_start is None:
            raise RetrainError(
                "no hold-out: [training] holdout_fraction is 0; give --holdout-days N"
            )
    if holdout_start <= first:
        raise RetrainError(
            f"the hold-out from {holdout_start.date()} covers the whole file "
            f"({first.date()} .. {last.date()}): nothing is left to train on"
        )
    window_start = None
    if window_days is not None:
        window_start = holdout_start - pd.Timedelta(days=window_days)
        in_window = (per_day.index >= window_start) & (per_day.index < holdout_start)
        if not in_window.any():
            raise RetrainError(
                f"no declarations in the {window_days}-day window "
                f"{window_start.date()} .. {(holdout_start - pd.Timedelta(days=1)).date()}"
            )
        if window_start <= first:
            window_start = None  # the window reaches back to the file's start: all of it
    shared_start = holdout_start
    notes: list[str] = []
    if champion_trained_to is not None:
        champion_to = pd.Timestamp(champion_trained_to).normalize()
        if champion_to >= holdout_start:
            shared_start = champion_to + pd.Timedelta(days=1)
            if shared_start > last:
                raise RetrainError(
                    f"the champion was trained on declarations up to {champion_to.date()}, "
                    f"the file ends {last.date()}: no rows after both models' training "
                    "windows to compare them on"
                )
            notes.append(
                f"the champion's training window (to {champion_to.date()}) overlaps the "
                f"hold-out (from {holdout_start.date()}); both are compared on the rows "
                f"from {shared_start.date()} only"
            )
    return RetrainPlan(
        holdout_start=holdout_start,
        window_start=window_start,
        shared_start=shared_start,
        champion_trained_to=(
            None if champion_trained_to is None else pd.Timestamp(champion_trained_to)
        ),
        notes=tuple(notes),
    )


def _holdout_day(per_day: pd.Series, holdout_fraction: float) -> pd.Timestamp | None:
    """The day :func:`portsift.training.train.split_by_time` starts the hold-out on."""
    if holdout_fraction <= 0:
        return None
    # The day of the row at ``position`` in day order (np.sort(days)[position]).
    position = int(int(per_day.sum()) * (1 - holdout_fraction))
    cumulative = np.cumsum(per_day.to_numpy())
    return pd.Timestamp(per_day.index[np.searchsorted(cumulative, position, side="right")])


def comparison_payload(
    plan: RetrainPlan,
    challenger: ModelResult,
    champion: ModelResult | None,
    *,
    registration: Any | None,
    champion_uri: str | None,
    feedback: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``comparison.json`` document of a retrain.

    Args:
        plan: The split.
        challenger: The challenger's results.
        champion: The champion's, or None.
        registration: The MLflow registration (None before it).
        champion_uri: The URI the champion was resolved from.
        feedback: Feedback provenance and counts (as the bundle metadata keeps them).

    Returns:
        A JSON-ready mapping.
    """
    decision = None
    if registration is not None:
        decision = {
            "registry_version": registration.version,
            "alias": registration.alias,
            "promoted": registration.alias == CHAMPION_ROLE,
            "reason": registration.reason,
            "champion_version_before": registration.champion_version_before,
            "run_id": registration.run_id,
        }
    return {
        "primary_metric": PRIMARY_METRIC,
        "rule": "the challenger becomes champion only with a strictly higher "
        f"{PRIMARY_METRIC} than the champion on the shared hold-out",
        "holdout": {
            "from": str(plan.holdout_start.date()),
            "shared_from": str(plan.shared_start.date()),
            "restricted_to_after_champion_window": plan.restricted,
            "window_from": None if plan.window_start is None else str(plan.window_start.date()),
            "notes": list(plan.notes),
        },
        "champion_uri": champion_uri,
        "models": {
            CHALLENGER_ROLE: challenger.to_dict(),
            CHAMPION_ROLE: None if champion is None else champion.to_dict(),
        },
        "feedback": feedback,
        "decision": decision,
    }


# -- I/O at the edges ----------------------------------------------------------------


def fetch_champion(model_name: str, cache_dir: Path) -> Champion | None:
    """Fetch and verify ``models:/<model_name>@champion`` as ``serve --model-uri`` does.

    Args:
        model_name: Registered model name (``[training] registered_model_name``).
        cache_dir: Where to download the bundle (a directory of this run).

    Returns:
        The champion, or None when the store, the model or its champion alias does not
        exist yet.

    Raises:
        RetrainError: The registry cannot be read, or the champion's bundle fails
            verification (a champion that cannot be checked is not replaced blindly).
    """
    from mlflow.exceptions import MlflowException

    from portsift.store import promotion, tracking
    from portsift.store.model_store import ModelUriError, resolve_model_uri

    uri = f"models:/{model_name}@{promotion.CHAMPION}"
    if not tracking.store_exists():
        return None
    try:
        tracking.find_registered_bundle(model_name, alias=promotion.CHAMPION)
    except LookupError:
        return None
    except MlflowException as exc:
        raise RetrainError(f"{uri}: the MLflow registry cannot be read: {exc}") from exc
    try:
        resolved = resolve_model_uri(uri, cache_dir)
    except ModelUriError as exc:
        raise RetrainError(str(exc)) from exc
    bundle = load_bundle(resolved.path)
    if not bundle.metadata.get("trained_to"):
        raise RetrainError(
            f"{uri}: version {resolved.registry_version} records no trained_to; the rows it "
            "was trained on are unknown, so it cannot be compared without leakage"
        )
    return Champion(bundle=bundle, registry_version=resolved.registry_version, uri=uri)


def retrain(
    declarations: pd.DataFrame,
    registers: Registers,
    settings: Settings,
    model_dir: str | Path,
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
    """Train a challenger, compare it with the champion on shared rows, register it.

    Everything that can fail on the input (the split, the labels of the shared rows,
    the champion's scoring) is checked before the bundle is written, so bad input
    leaves no model directory.

    Args:
        declarations: Canonical declarations with labels.
        registers: The registers.
        settings: Run settings (``[training] registered_model_name`` names the champion).
        model_dir: Where the challenger bundle is written (atomically, as by ``train``).
        champion: The current champion (:func:`fetch_champion`), or None.
        window_days: Train on the last this many days before the hold-out.
        holdout_days: Hold out the last this many days (default: the settings' fraction).
        feedback: Inspection outcomes from the audit store (``read_feedback``); they
            replace the file's labels for training and for both evaluations.
        feedback_source: Where the feedback came from (recorded, without password).
        random_ids: Declaration ids inspected at random, for the random-sample metrics.
        extra_categorical: Schema-file categorical inputs.
        extra_numeric: Schema-file numeric inputs.
        stage: Called with the name of each stage as it starts.

    Returns:
        The result, with the MLflow registration.

    Raises:
        RetrainError: See :func:`plan_retrain`; also no labelled row to compare on.
        ValueError: Malformed feedback or too few labels to train (from ``train``).
    """
    step = stage or (lambda _name: None)
    labelled_frame = declarations if feedback is None else merge_feedback(declarations, feedback)
    if "illicit" not in labelled_frame:
        raise RetrainError("the declarations carry no inspection outcomes (illicit)")
    ordered = labelled_frame.sort_values("declared_at", kind="stable")
    trained_to = None if champion is None else pd.Timestamp(champion.bundle.metadata["trained_to"])
    plan = plan_retrain(
        ordered["declared_at"],
        holdout_fraction=settings.training.holdout_fraction,
        holdout_days=holdout_days,
        window_days=window_days,
        champion_trained_to=trained_to,
    )
    days = ordered["declared_at"].dt.normalize()
    shared = ordered.loc[(days >= plan.shared_start).to_numpy()]
    percents = comparable(bool(labelled_mask(shared).any()), plan, settings)
    champion_result = None
    if champion is not None:
        step("champion on the hold-out")
        evaluation, scored = evaluate_bundle(champion.bundle, shared, registers, settings)
        champion_result = model_result(
            CHAMPION_ROLE,
            champion.bundle,
            champion.registry_version,
            *measure(scored, evaluation, percents, random_ids),
        )
    training = train(
        declarations,
        registers,
        settings,
        model_dir,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
        track=False,
        stage=step,
        feedback=feedback,
        feedback_source=feedback_source,
        holdout_from=plan.holdout_start,
        window_from=plan.window_start,
    )
    step("challenger on the hold-out")
    bundle = load_bundle(training.model_dir)  # what was written, verified
    evaluation, scored = evaluate_bundle(bundle, shared, registers, settings)
    challenger = model_result(
        CHALLENGER_ROLE, bundle, None, *measure(scored, evaluation, percents, random_ids)
    )
    step("MLflow run")
    return register_challenger(
        plan, training, bundle, challenger, champion, champion_result, settings, ordered, registers
    )


def comparable(has_labels: bool, plan: RetrainPlan, settings: Settings) -> tuple[float, ...]:
    """Check that the shared rows can compare the models, and return the percents.

    Args:
        has_labels: Whether any shared row is inspected with a known outcome.
        plan: The split.
        settings: Run settings.

    Returns:
        ``[evaluation] percents``.

    Raises:
        RetrainError: No labelled shared row, or no 5 among the percents.
    """
    if not has_labels:
        raise RetrainError(
            f"no inspected declaration with a known outcome from {plan.shared_start.date()} "
            "on: nothing to compare the models on"
        )
    percents = tuple(settings.evaluation.percents)
    if 5 not in percents:
        raise RetrainError(
            f"[evaluation] percents {list(percents)} lack 5: P@5% decides the promotion"
        )
    return percents


def register_challenger(
    plan: RetrainPlan,
    training: Any,
    bundle: Bundle,
    challenger: ModelResult,
    champion: Champion | None,
    champion_result: ModelResult | None,
    settings: Settings,
    recent: pd.DataFrame,
    registers: Registers,
) -> RetrainResult:
    """Record the challenger's run and let the shared comparison decide its alias.

    What ``retrain`` does after both models are measured on the shared rows, whichever
    engine trained and scored them.

    Args:
        plan: The split.
        training: The challenger's training result (``model_dir``, ``evaluation``, ``notes``).
        bundle: The challenger's bundle as written.
        challenger: Its results on the shared rows.
        champion: The champion, or None.
        champion_result: The champion's results on the shared rows, or None.
        settings: Run settings.
        recent: The latest declarations (time order), whose sample the run's SHAP
            artefacts explain.
        registers: The registers.

    Returns:
        The result, with the MLflow registration.
    """
    from portsift.store import promotion, tracking
    from portsift.training.train import record_run as _record

    comparison = promotion.SharedComparison(
        metric=f"shared hold-out {PRIMARY_METRIC}",
        challenger=float(challenger.holdout.metrics[PRIMARY_METRIC] or 0.0),
        champion_version=None if champion is None else champion.registry_version,
        champion=(
            None if champion_result is None else champion_result.holdout.metrics[PRIMARY_METRIC]
        ),
    )
    tags = {
        "portsift.command": "retrain",
        "portsift.retrain.shared_from": str(plan.shared_start.date()),
        "portsift.retrain.shared_ids_sha256": challenger.holdout.ids_sha256,
        "portsift.retrain.holdout_restricted": str(plan.restricted).lower(),
        "portsift.retrain.champion_version": "none"
        if champion is None
        else champion.registry_version,
        "portsift.retrain.champion_model_version": (
            "none" if champion is None else champion.bundle.model_version
        ),
    }
    feedback_meta = bundle.metadata.get("feedback")
    registration = _record(
        training.model_dir,
        settings,
        recent,
        registers,
        training.evaluation,
        bundle.model,
        feedback_meta,
        extra_metrics=run_metrics(challenger, champion_result),
        extra_tags=tags,
        comparison=comparison,
    )
    challenger = replace(challenger, registry_version=registration.version)
    payload = comparison_payload(
        plan,
        challenger,
        champion_result,
        registration=registration,
        champion_uri=None if champion is None else champion.uri,
        feedback=feedback_meta,
    )
    # After the registration: the document records the decision that was actually made.
    tracking.log_json_artifact(registration.run_id, COMPARISON_ARTIFACT, payload)
    return RetrainResult(
        plan=plan,
        training=training,
        challenger=challenger,
        champion=champion_result,
        registration=registration,
        comparison=payload,
        notes=[*plan.notes, *training.notes],
    )
