"""``portsift monitor --engine dask``: drift counted on the partitions of a Dask cluster.

Drift is made of counts (rows per week and reference bin of every variable, labelled
rows and violations per window), and counts of disjoint rows add up. So every partition
computes the features and scores of its recent rows and counts them
(:func:`portsift.monitoring.drift.week_bin_counts`,
:func:`portsift.monitoring.labels.label_counts`);
the client adds the counts up and builds the result with the pandas code
(:func:`portsift.monitoring.drift.compare_counts`,
:func:`portsift.monitoring.labels.label_drift_from_counts`). Only the recent rows' risk
scores (the dashboard's histogram) come back row by row.

One difference from the pandas engine: the reference is the bundle's stored one. When
its settings differ from ``[monitoring]``, pandas rebuilds it from the file's
training-window rows; the Dask engine uses the stored one and says so.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle
from portsift.models.scoring import registers_for
from portsift.monitoring.drift import MonitorResult, Thresholds, compare_counts, week_bin_counts
from portsift.monitoring.labels import label_counts, label_drift_from_counts
from portsift.monitoring.reference import MonitoringReference, features_and_scores


def _count_part(
    frame: pd.DataFrame,
    bundle: Bundle,
    registers: Registers,
    reference: MonitoringReference,
    windows: tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp],
    random_ids: frozenset[str] | None,
) -> dict[str, Any]:
    """One partition's drift counts, label counts and recent scores."""
    start, trained_from, trained_to = windows
    day = pd.to_datetime(frame["declared_at"]).dt.normalize()
    is_recent = (day >= start).to_numpy()
    in_training = ((day >= trained_from) & (day <= trained_to)).to_numpy()
    mask = None
    if random_ids is not None:
        mask = frame["declaration_id"].astype(str).isin(random_ids).to_numpy()
    out: dict[str, Any] = {
        "recent": int(is_recent.sum()),
        "training": int(in_training.sum()),
        "labels": None,
        "weeks": None,
    }
    if "illicit" in frame.columns:
        out["labels"] = (
            label_counts(frame.loc[in_training], None if mask is None else mask[in_training]),
            label_counts(frame.loc[is_recent], None if mask is None else mask[is_recent]),
        )
    if is_recent.any():
        recent = frame.loc[is_recent]
        features, scores = features_and_scores(bundle, recent, registers)
        out["weeks"], out["counts"] = week_bin_counts(reference, features, scores)
        out["scores"] = np.asarray(scores, dtype="float64")
        out["days"] = (day[is_recent].min(), day[is_recent].max())
    return out


def _added(parts: Sequence[dict[str, Any]], names: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The weeks of all partitions and, per variable, their counts added up."""
    with_rows = [p for p in parts if p["weeks"] is not None]
    weeks = np.unique(np.concatenate([p["weeks"] for p in with_rows]))
    counts: dict[str, np.ndarray] = {}
    for name in names:
        total = np.zeros((len(weeks), with_rows[0]["counts"][name].shape[1]), dtype=np.int64)
        for part in with_rows:
            total[np.searchsorted(weeks, part["weeks"])] += part["counts"][name]
        counts[name] = total
    return weeks, counts


def monitor_dask(
    bundle: Bundle,
    declarations: dd.DataFrame,
    registers: Registers,
    client: Any,
    *,
    bins: int,
    thresholds: Thresholds,
    label_confidence: float,
    label_min_rows: int,
    point_in_time: Sequence[str] = (),
    since: pd.Timestamp | None = None,
    random_ids: Collection[str] | None = None,
    marker_column: str | None = None,
) -> MonitorResult:
    """:func:`portsift.monitoring.drift.monitor_declarations` on a Dask frame (see module notes).

    Args:
        bundle: The model bundle.
        declarations: Canonical declarations (any span; the windows are cut here).
        registers: Registers of this run.
        client: A ``distributed.Client``.
        bins: Quantile bins per numeric variable (to check the stored reference's).
        thresholds: Alerting rules.
        label_confidence: Level of the Wilson intervals of the label drift.
        label_min_rows: Fewest labelled rows per window for a label-drift verdict.
        point_in_time: Features whose reference is their point-in-time value.
        since: First day of the recent window (default: the day after ``trained_to``).
        random_ids: Declaration ids inspected at random (None when the file does not say).
        marker_column: The column ``random_ids`` came from, for the notes.

    Returns:
        The monitoring result, as the pandas engine computes it from the same reference.

    Raises:
        ValueError: No recent declarations, or no stored reference.
    """
    trained_from = pd.Timestamp(bundle.metadata["trained_from"])
    trained_to = pd.Timestamp(bundle.metadata["trained_to"])
    start = since if since is not None else trained_to + pd.Timedelta(days=1)
    notes: list[str] = []
    if since is not None and since <= trained_to:
        notes.append(
            f"the recent window starts on {since.date()}, inside the training window "
            f"(which ends {trained_to.date()}): overlapping rows dilute any drift"
        )
    stored = bundle.metadata.get("monitoring_reference")
    if stored is None:
        raise ValueError(
            "the bundle stores no monitoring reference (it was trained before monitoring "
            "existed); the Dask engine does not rebuild one: run monitor with --engine "
            "pandas on the training file, or retrain"
        )
    reference = MonitoringReference.from_dict(stored)
    wanted = tuple(n for n in bundle.model.risk_features if n in set(point_in_time))
    if int(stored.get("bins", -1)) != bins or tuple(stored.get("point_in_time", ())) != wanted:
        notes.append(
            "the bundle's stored reference was built with other [monitoring] settings "
            "(bins or point_in_time_features); the Dask engine does not rebuild it: the "
            "stored one is used"
        )
    shipped = client.scatter(bundle, broadcast=True)
    used = client.scatter(registers_for(bundle, registers), broadcast=True)
    ids = None if random_ids is None else frozenset(map(str, random_ids))
    windows = (start, trained_from, trained_to)
    tasks = [
        dask.delayed(_count_part)(part, shipped, used, reference, windows, ids)
        for part in declarations.to_delayed()
    ]
    parts = list(dask.compute(*tasks))
    if sum(p["recent"] for p in parts) == 0:
        raise ValueError(
            f"no declarations lodged on or after {start.date()} (the model's training "
            f"window ends {trained_to.date()}); nothing recent to monitor"
        )
    has_training_rows = sum(p["training"] for p in parts) > 0
    labels = None
    if all(p["labels"] is None for p in parts):
        # No outcomes in the file: the note pandas gives, and no label drift.
        label_drift_from_counts(
            None,
            None,
            has_training_rows,
            0,
            0,
            None,
            notes,
            confidence=label_confidence,
            min_rows=label_min_rows,
        )
    else:
        training = tuple(int(sum(p["labels"][0][i] for p in parts)) for i in (0, 1))
        recent = tuple(int(sum(p["labels"][1][i] for p in parts)) for i in (0, 1))
        labels = label_drift_from_counts(
            (training[0], training[1]),
            (recent[0], recent[1]),
            has_training_rows,
            reference.inspected,
            reference.violations,
            marker_column if ids is not None else None,
            notes,
            confidence=label_confidence,
            min_rows=label_min_rows,
        )
    if labels is not None and labels.recent_n < label_min_rows:
        notes.append(
            f"only {labels.recent_n} labelled declarations in the {labels.sample} sample of "
            f"the recent window (fewer than {label_min_rows}): no label-drift verdict"
        )
    with_rows = [p for p in parts if p["weeks"] is not None]
    weeks, counts = _added(with_rows, list(with_rows[0]["counts"]))
    days = [p["days"] for p in with_rows]
    return compare_counts(
        reference,
        weeks,
        counts,
        np.concatenate([p["scores"] for p in with_rows]),
        (min(d[0] for d in days), max(d[1] for d in days)),
        thresholds=thresholds,
        labels=labels,
        feature_labels=bundle.pipeline.feature_labels(),
        reference_source="bundle",
        notes=notes,
    )
