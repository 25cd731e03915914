"""Drift monitoring: population stability of the model's inputs and score, and label drift.

The reference is the model's training window seen through the bundle's fitted feature
pipeline (``pipeline.transform``), the same mapping the recent declarations get when
they are scored. Comparing ``transform`` output with ``transform`` output isolates a
change in the declarations themselves; the point-in-time values the model was fitted
on (``fit_transform``) would differ from served values even without any drift, since
historic rates are built up from their priors there and frozen at serving.

Everything here is a pure function of DataFrames and arrays; reading files, writing the
dashboard and recording the MLflow run happen at the edges (``portsift monitor``). The
bins are :mod:`portsift.monitoring.bins`, the stored reference
:mod:`portsift.monitoring.reference` and the label drift :mod:`portsift.monitoring.labels`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle
from portsift.monitoring.bins import bin_index, psi_of_counts
from portsift.monitoring.labels import LabelDrift, label_drift
from portsift.monitoring.reference import (
    SCORE,
    MonitoringReference,
    features_and_scores,
    reference_from_declarations,
)
from portsift.monitoring.statistics import finite_or_none, psi

Status = Literal["ok", "warn", "alert"]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Thresholds:
    """The alerting rules (``[monitoring]`` settings)."""

    psi_warn: float
    psi_alert: float
    share_floor: float
    no_alert_features: tuple[str, ...] = ()
    weekly_min_rows: int = 100


@dataclass(frozen=True)
class MonitorResult:
    """Everything one monitoring run found.

    Attributes:
        psi: One row per variable (the model features and ``risk_score``): ``variable,
            label, kind, psi, status, alerting, reference_rows, recent_rows,
            reference_missing, recent_missing``; sorted by PSI, highest first.
        bins: Per variable, a frame of ``bin, reference_share, recent_share``.
        weekly: ``week`` (Monday), ``rows`` and one PSI column per variable; weeks with
            fewer rows than ``weekly_min_rows`` are left out.
        labels: Label drift (None when no labels in one of the windows).
        reference: The reference used.
        reference_source: ``"bundle"`` (stored at training) or ``"recomputed"``.
        recent_from: First day of the recent window.
        recent_to: Last day of the recent window.
        recent_scores: Risk scores of the recent rows.
        thresholds: The rules applied.
        notes: Things the user should know (fallbacks, small samples).
    """

    psi: pd.DataFrame
    bins: dict[str, pd.DataFrame]
    weekly: pd.DataFrame
    labels: LabelDrift | None
    reference: MonitoringReference
    reference_source: str
    recent_from: str
    recent_to: str
    recent_scores: np.ndarray
    thresholds: Thresholds
    notes: list[str] = field(default_factory=list)

    @property
    def alerts(self) -> list[str]:
        """One line per crossed alert threshold (empty when nothing alerts)."""
        lines = [
            f"{row.variable}: PSI {row.psi:.3f} >= {self.thresholds.psi_alert}"
            for row in self.psi.itertuples()
            if row.status == "alert" and row.alerting
        ]
        if self.labels is not None and self.labels.alert:
            lab = self.labels
            lines.append(
                f"label drift ({lab.sample} sample): violation rate {lab.recent_rate:.1%} "
                f"(n={lab.recent_n}) vs {lab.reference_rate:.1%} (n={lab.reference_n}) in the "
                f"training window; the {lab.confidence:.0%} Wilson intervals do not overlap"
            )
        return lines

    @property
    def warnings(self) -> list[str]:
        """Variables at or above the warning threshold that do not alert."""
        return [
            f"{row.variable}: PSI {row.psi:.3f}"
            + ("" if row.alerting else " (not alerting by configuration)")
            for row in self.psi.itertuples()
            if row.status == "warn" or (row.status == "alert" and not row.alerting)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (``portsift monitor --json``)."""
        return {
            "reference": {
                "from": self.reference.window_from,
                "to": self.reference.window_to,
                "rows": self.reference.score.rows,
                "source": self.reference_source,
            },
            "recent": {
                "from": self.recent_from,
                "to": self.recent_to,
                "rows": len(self.recent_scores),
            },
            "thresholds": {
                "psi_warn": self.thresholds.psi_warn,
                "psi_alert": self.thresholds.psi_alert,
                "no_alert_features": list(self.thresholds.no_alert_features),
            },
            "psi": [
                {
                    "variable": r.variable,
                    "psi": float(r.psi),
                    "status": r.status,
                    "alerting": bool(r.alerting),
                    "reference_missing": float(r.reference_missing),
                    "recent_missing": float(r.recent_missing),
                }
                for r in self.psi.itertuples()
            ],
            "weekly": [
                {
                    "week": str(w.date()),
                    **{k: finite_or_none(v) for k, v in row.items() if k != "week"},
                }
                for w, row in zip(self.weekly["week"], self.weekly.to_dict("records"), strict=True)
            ],
            "labels": None if self.labels is None else self.labels.to_dict(),
            "alerts": self.alerts,
            "warnings": self.warnings,
            "notes": self.notes,
        }


def status_of(value: float, thresholds: Thresholds) -> Status:
    """``alert`` at or above ``psi_alert``, ``warn`` at or above ``psi_warn``, else ``ok``."""
    if value >= thresholds.psi_alert:
        return "alert"
    if value >= thresholds.psi_warn:
        return "warn"
    return "ok"


def compare(
    reference: MonitoringReference,
    features: pd.DataFrame,
    scores: np.ndarray,
    *,
    thresholds: Thresholds,
    labels: LabelDrift | None = None,
    feature_labels: Mapping[str, str] | None = None,
    reference_source: str = "bundle",
    notes: Sequence[str] = (),
) -> MonitorResult:
    """Compare recent declarations with the reference.

    Args:
        reference: The training-window reference.
        features: Feature frame of the recent rows (with ``declared_at``).
        scores: Their risk scores.
        thresholds: Alerting rules.
        labels: Label drift, computed by the caller (it knows the random marker).
        feature_labels: Input field each feature comes from, for the tables.
        reference_source: Where the reference came from.
        notes: Notes to carry into the result.

    Returns:
        The result.

    Raises:
        ValueError: If there are no recent rows or a model feature is missing.
    """
    if len(features) == 0:
        raise ValueError("no recent declarations to compare")
    weeks, counts = week_bin_counts(reference, features, scores)
    day = pd.to_datetime(features["declared_at"]).dt.normalize().dropna()
    return compare_counts(
        reference,
        weeks,
        counts,
        np.asarray(scores, dtype="float64"),
        (day.min(), day.max()),
        thresholds=thresholds,
        labels=labels,
        feature_labels=feature_labels,
        reference_source=reference_source,
        notes=notes,
    )


def week_bin_counts(
    reference: MonitoringReference, features: pd.DataFrame, scores: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rows per week (Monday) and reference bin of every variable: what drift is made of.

    Counts of disjoint row sets add up, so the Dask engine computes them per partition.

    Args:
        reference: The training-window reference (its bins).
        features: Feature frame of the recent rows (with ``declared_at``).
        scores: Their risk scores.

    Returns:
        The weeks (sorted ``datetime64``) and, per variable (the features and the
        score), a ``weeks x bins`` matrix of counts.

    Raises:
        ValueError: If a model feature is missing.
    """
    names = list(reference.features)
    missing = [n for n in names if n not in features]
    if missing:
        raise ValueError(f"the recent features lack {missing}")
    columns: dict[str, np.ndarray] = {n: features[n].to_numpy() for n in names}
    columns[SCORE] = np.asarray(scores, dtype="float64")
    refs = {**reference.features, SCORE: reference.score}
    dates = pd.to_datetime(features["declared_at"]).dt.normalize()
    weeks = (dates - pd.to_timedelta(dates.dt.weekday, unit="D")).to_numpy()
    week_values, week_index = np.unique(weeks, return_inverse=True)
    counts: dict[str, np.ndarray] = {}
    for name, ref in refs.items():
        k = ref.bin_count
        flat = week_index * k + bin_index(ref, columns[name])
        counts[name] = np.bincount(flat, minlength=len(week_values) * k).reshape(-1, k)
    return week_values, counts


def compare_counts(
    reference: MonitoringReference,
    weeks: np.ndarray,
    counts: Mapping[str, np.ndarray],
    recent_scores: np.ndarray,
    day_range: tuple[pd.Timestamp, pd.Timestamp],
    *,
    thresholds: Thresholds,
    labels: LabelDrift | None = None,
    feature_labels: Mapping[str, str] | None = None,
    reference_source: str = "bundle",
    notes: Sequence[str] = (),
) -> MonitorResult:
    """The drift result of :func:`week_bin_counts` (of all recent rows, however summed).

    Args:
        reference: The training-window reference.
        weeks: The weeks of the counts' rows.
        counts: Per variable, a ``weeks x bins`` matrix of counts.
        recent_scores: The recent rows' risk scores (the dashboard's histogram).
        day_range: The first and last recent day.
        thresholds: Alerting rules.
        labels: Label drift, computed by the caller.
        feature_labels: Input field each feature comes from, for the tables.
        reference_source: Where the reference came from.
        notes: Notes to carry into the result.

    Returns:
        The result.
    """
    refs = {**reference.features, SCORE: reference.score}
    label_of = dict(feature_labels or {})
    label_of[SCORE] = "risk score"
    exempt = set(thresholds.no_alert_features)
    rows: list[dict[str, Any]] = []
    bin_tables: dict[str, pd.DataFrame] = {}
    weekly: dict[str, np.ndarray] = {}
    week_rows = np.zeros(len(weeks), dtype=np.int64)
    for name, ref in refs.items():
        by_week = counts[name]
        total = by_week.sum(axis=0)
        value = psi(np.asarray(ref.shares), total, floor=thresholds.share_floor)
        recent_shares = total / total.sum()
        bin_tables[name] = pd.DataFrame(
            {"bin": ref.labels(), "reference_share": ref.shares, "recent_share": recent_shares}
        )
        weekly[name], week_rows = psi_of_counts(ref, by_week, floor=thresholds.share_floor)
        rows.append(
            {
                "variable": name,
                "label": label_of.get(name, name),
                "kind": ref.kind,
                "psi": value,
                "status": status_of(value, thresholds),
                "alerting": name not in exempt,
                "reference_rows": ref.rows,
                "recent_rows": int(total.sum()),
                "reference_missing": ref.shares[-1],
                "recent_missing": float(recent_shares[-1]),
            }
        )
    table = pd.DataFrame(rows).sort_values("psi", ascending=False, kind="stable")
    weekly_frame = pd.DataFrame({"week": pd.to_datetime(weeks), "rows": week_rows, **weekly})
    weekly_frame = weekly_frame[weekly_frame["rows"] >= thresholds.weekly_min_rows]
    return MonitorResult(
        psi=table.reset_index(drop=True),
        bins=bin_tables,
        weekly=weekly_frame.reset_index(drop=True),
        labels=labels,
        reference=reference,
        reference_source=reference_source,
        recent_from=str(pd.Timestamp(day_range[0]).date()),
        recent_to=str(pd.Timestamp(day_range[1]).date()),
        recent_scores=np.asarray(recent_scores, dtype="float64"),
        thresholds=thresholds,
        notes=list(notes),
    )


def random_marker(raw: pd.DataFrame, source: str) -> tuple[str, np.ndarray] | None:
    """Find the column that marks random (exploration) inspections in a raw table.

    ``selection_reason`` (``portsift score`` output joined back: ``random`` marks the
    draw) is preferred over ``random_inspection`` (a 0/1 flag, as the synthetic data's
    hidden truth has it).

    Args:
        raw: The declarations file read as text (:func:`portsift.features.loading.read_table`).
        source: The file name, for messages.

    Returns:
        ``(column, mask)``, or None when the file has neither column.

    Raises:
        ValueError: A ``random_inspection`` value that is not a flag, with the rows.
    """
    if "selection_reason" in raw:
        values = raw["selection_reason"].astype("str").str.strip().str.lower()
        return "selection_reason", (values == "random").to_numpy()
    if "random_inspection" in raw:
        values = raw["random_inspection"].astype("str").str.strip().str.lower()
        truthy = values.isin(("1", "1.0", "true"))
        falsy = values.isin(("0", "0.0", "false", ""))
        bad = np.flatnonzero(~(truthy | falsy).to_numpy()) + 1
        if bad.size:
            shown = ", ".join(str(r) for r in bad[:5])
            raise ValueError(
                f"{source}: column random_inspection: not a 0/1 flag in rows {shown}"
                + (f" and {bad.size - 5} more" if bad.size > 5 else "")
                + f" (e.g. {raw['random_inspection'].iloc[bad[0] - 1]!r})"
            )
        return "random_inspection", truthy.to_numpy()
    return None


def monitor_declarations(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    bins: int,
    thresholds: Thresholds,
    label_confidence: float,
    label_min_rows: int,
    point_in_time: Sequence[str] = (),
    since: pd.Timestamp | None = None,
    random_mask: np.ndarray | None = None,
    marker_column: str | None = None,
) -> MonitorResult:
    """Monitor the declarations of a file lodged after a model's training window.

    Args:
        bundle: The model bundle.
        declarations: Canonical declarations (any span; the windows are cut here).
        registers: Registers of this run.
        bins: Quantile bins per numeric variable.
        thresholds: Alerting rules.
        label_confidence: Level of the Wilson intervals of the label drift.
        label_min_rows: Fewest labelled rows per window for a label-drift verdict.
        point_in_time: Features whose reference is their point-in-time value.
        since: First day of the recent window (default: the day after ``trained_to``).
        random_mask: Per declaration, whether it was inspected at random (None when
            the file does not say).
        marker_column: The column ``random_mask`` came from, for the notes.

    Returns:
        The monitoring result.

    Raises:
        ValueError: No recent declarations, or no reference (an old bundle and no
            training-window rows in the file).
    """
    trained_from = pd.Timestamp(bundle.metadata["trained_from"])
    trained_to = pd.Timestamp(bundle.metadata["trained_to"])
    day = pd.to_datetime(declarations["declared_at"]).dt.normalize()
    start = since if since is not None else trained_to + pd.Timedelta(days=1)
    notes: list[str] = []
    if since is not None and since <= trained_to:
        notes.append(
            f"the recent window starts on {since.date()}, inside the training window "
            f"(which ends {trained_to.date()}): overlapping rows dilute any drift"
        )
    is_recent = (day >= start).to_numpy()
    if not is_recent.any():
        raise ValueError(
            f"no declarations lodged on or after {start.date()} (the model's training "
            f"window ends {trained_to.date()}); nothing recent to monitor"
        )
    in_training = ((day >= trained_from) & (day <= trained_to)).to_numpy()
    stored = bundle.metadata.get("monitoring_reference")
    reference: MonitoringReference
    wanted = tuple(n for n in bundle.model.risk_features if n in set(point_in_time))
    matches = (
        stored is not None
        and int(stored.get("bins", -1)) == bins
        and tuple(stored.get("point_in_time", ())) == wanted
    )
    if matches:
        reference, source = MonitoringReference.from_dict(stored), "bundle"
    elif in_training.any():
        reference = reference_from_declarations(
            bundle, declarations.loc[in_training], registers, bins=bins, point_in_time=wanted
        )
        source = "recomputed"
        why = (
            "the bundle's stored reference was built with other settings"
            if stored is not None
            else "the bundle stores no reference (trained before monitoring existed)"
        )
        notes.append(
            f"{why}: reference recomputed from the {int(in_training.sum()):,} declarations "
            f"of the file in the training window {trained_from.date()} .. {trained_to.date()}"
        )
    elif stored is not None:
        reference, source = MonitoringReference.from_dict(stored), "bundle"
        notes.append(
            "the bundle's stored reference was built with other [monitoring] settings "
            "(bins or point_in_time_features) and the file has no training-window rows to "
            "rebuild it: the stored one is used"
        )
    else:
        raise ValueError(
            "the bundle stores no monitoring reference (it was trained before monitoring "
            "existed) and the file has no declarations of its training window "
            f"{trained_from.date()} .. {trained_to.date()} to rebuild it from; pass the "
            "training file too, or retrain"
        )
    recent = declarations.loc[is_recent]
    features, scores = features_and_scores(bundle, recent, registers)
    labels = label_drift(
        declarations,
        is_recent,
        in_training,
        reference.inspected,
        reference.violations,
        random_mask,
        marker_column,
        notes,
        confidence=label_confidence,
        min_rows=label_min_rows,
    )
    if labels is not None and labels.recent_n < label_min_rows:
        notes.append(
            f"only {labels.recent_n} labelled declarations in the {labels.sample} sample of "
            f"the recent window (fewer than {label_min_rows}): no label-drift verdict"
        )
    return compare(
        reference,
        features,
        scores,
        thresholds=thresholds,
        labels=labels,
        feature_labels=bundle.pipeline.feature_labels(),
        reference_source=source,
        notes=notes,
    )
