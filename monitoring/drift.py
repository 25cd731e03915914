"""Drift monitoring: population stability of the model's inputs and score, and label drift.

The reference is the model's training window seen through the bundle's fitted feature
pipeline (``pipeline.transform``), the same mapping the recent declarations get when
they are scored. Comparing ``transform`` output with ``transform`` output isolates a
change in the declarations themselves; the point-in-time values the model was fitted
on (``fit_transform``) would differ from served values even without any drift, since
historic rates are built up from their priors there and frozen at serving.

Everything here is a pure function of DataFrames and arrays; reading files, writing the
dashboard and recording the MLflow run happen at the edges (``portsift monitor``).
Binning is vectorised: one ``searchsorted`` per feature, one ``bincount`` per feature
for the whole table and one for all weeks at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models.bundle import Bundle
from portsift.models.risk_model import RiskModel
from portsift.models.scoring import registers_for

Kind = Literal["numeric", "discrete", "categorical"]
Status = Literal["ok", "warn", "alert"]
SCORE = "risk_score"
#: Equal-width bins of the score histogram drawn on the dashboard (not used for PSI).
SCORE_HISTOGRAM_BINS = 20
#: Columns of a declarations file that mark a random (exploration) inspection.
MARKER_COLUMNS = ("selection_reason", "random_inspection")
REFERENCE_FORMAT = 1


# ----------------------------------------------------------------------------- bins


@dataclass(frozen=True)
class BinReference:
    """The reference distribution of one variable over fixed bins.

    Bins, in order: for ``numeric`` the value bins ``(-inf, e0], (e0, e1], ...,
    (e_last, inf)`` (right-closed, so that a point mass at the lowest value, such as
    zero counts, gets a bin of its own); for ``discrete`` and ``categorical`` one bin per
    reference value, then ``other`` (a value the reference never had); last always
    ``missing`` (NaN).

    Attributes:
        kind: ``numeric`` (quantile bins), ``discrete`` (a numeric variable with few
            distinct values, binned by value) or ``categorical`` (category codes).
        edges: Inner bin edges of a numeric variable (empty otherwise).
        values: Reference values of a discrete or categorical variable, sorted.
        shares: Share of the reference rows in each bin (sums to 1).
        rows: Number of reference rows.
    """

    kind: Kind
    edges: tuple[float, ...]
    values: tuple[float, ...]
    shares: tuple[float, ...]
    rows: int

    @property
    def bin_count(self) -> int:
        """Number of bins, ``other`` and ``missing`` included."""
        if self.kind == "numeric":
            return len(self.edges) + 2
        return len(self.values) + 2

    def labels(self) -> list[str]:
        """Human-readable bin labels, in bin order."""
        if self.kind == "numeric":
            edges = [_short(e) for e in self.edges]
            if not edges:
                inner = ["all values"]
            else:
                inner = [f"<= {edges[0]}"]
                inner += [f"({a}, {b}]" for a, b in itertools.pairwise(edges)]
                inner.append(f"> {edges[-1]}")
            return [*inner, "missing"]
        return [*(_short(v) for v in self.values), "other", "missing"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored in the bundle metadata)."""
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "values": list(self.values),
            "shares": list(self.shares),
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BinReference:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            kind=data["kind"],
            edges=tuple(float(v) for v in data["edges"]),
            values=tuple(float(v) for v in data["values"]),
            shares=tuple(float(v) for v in data["shares"]),
            rows=int(data["rows"]),
        )


def _short(value: float) -> str:
    return f"{value:.4g}"


def _as_float(values: np.ndarray | pd.Series) -> np.ndarray:
    return np.asarray(
        pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce"), dtype="float64"
    )


def fit_bins(
    values: np.ndarray | pd.Series, *, bins: int, categorical: bool = False
) -> BinReference:
    """Fit the reference bins of one variable on the training window.

    Numeric variables get quantile bins (``bins`` of them at most; tied quantiles
    merge). A numeric variable with at most ``bins`` distinct values (flags, tier ranks,
    weekdays) is binned by value instead, since quantile edges cannot separate a 0/1
    flag whose ones are rarer than one bin.

    Args:
        values: The variable over the reference rows (NaN = missing).
        bins: Number of quantile bins of a numeric variable.
        categorical: Whether the values are category codes.

    Returns:
        The bins and the reference shares in them.

    Raises:
        ValueError: If ``bins`` < 2 or there are no values.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    x = _as_float(values)
    if x.size == 0:
        raise ValueError("no reference rows to fit bins on")
    finite = x[~np.isnan(x)]
    distinct = np.unique(finite)
    if categorical or distinct.size <= bins:
        kind: Kind = "categorical" if categorical else "discrete"
        reference = BinReference(kind, (), tuple(distinct.tolist()), (), x.size)
    else:
        quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
        edges = np.unique(quantiles)
        # The top edge equal to the maximum would leave the last value bin empty.
        edges = edges[edges < distinct[-1]]
        reference = BinReference("numeric", tuple(edges.tolist()), (), (), x.size)
    counts = bin_counts(reference, x)
    return BinReference(
        reference.kind,
        reference.edges,
        reference.values,
        tuple((counts / x.size).tolist()),
        x.size,
    )


def bin_index(reference: BinReference, values: np.ndarray | pd.Series) -> np.ndarray:
    """Return the bin of every value (vectorised; NaN goes to the last, ``missing`` bin).

    Args:
        reference: The fitted bins.
        values: Values of the variable.

    Returns:
        Integer bin indices, ``0 .. reference.bin_count - 1``.
    """
    x = _as_float(values)
    missing = np.isnan(x)
    if reference.kind == "numeric":
        index = np.searchsorted(np.asarray(reference.edges, dtype="float64"), x, side="left")
        return np.where(missing, reference.bin_count - 1, index)
    known = np.asarray(reference.values, dtype="float64")
    position = np.searchsorted(known, x)
    if known.size == 0:
        found = np.zeros(x.size, dtype=bool)
    else:
        found = (position < known.size) & (known[np.minimum(position, known.size - 1)] == x)
    other = known.size
    return np.where(missing, other + 1, np.where(found, position, other))


def bin_counts(reference: BinReference, values: np.ndarray | pd.Series) -> np.ndarray:
    """Count the values in each bin of ``reference``.

    Args:
        reference: The fitted bins.
        values: Values of the variable.

    Returns:
        Counts per bin (``float64``), length ``reference.bin_count``.
    """
    index = bin_index(reference, values)
    return np.bincount(index, minlength=reference.bin_count).astype("float64")


def psi(expected: np.ndarray, actual: np.ndarray, *, floor: float = 1e-4) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over matching bins.

    Both arguments are normalised to shares first, and shares are floored at ``floor``
    so that a bin empty on one side gives a large but finite term instead of infinity.

    Args:
        expected: Reference counts or shares per bin.
        actual: Recent counts or shares per bin.
        floor: Smallest share used in the logarithm.

    Returns:
        The PSI (0 for identical distributions).

    Raises:
        ValueError: If the lengths differ or a side has no mass.
    """
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    if e.shape != a.shape:
        raise ValueError(f"bins differ: {e.shape} vs {a.shape}")
    if e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("a distribution without any mass has no PSI")
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_by_group(
    reference: BinReference,
    values: np.ndarray | pd.Series,
    groups: np.ndarray,
    group_count: int,
    *,
    floor: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """PSI of every group (e.g. week) against the reference, in one ``bincount``.

    Args:
        reference: The fitted bins.
        values: Values of the variable.
        groups: Group index of every value, ``0 .. group_count - 1``.
        group_count: Number of groups.
        floor: Smallest share used in the logarithm.

    Returns:
        ``(psi, rows)`` per group; the PSI of an empty group is NaN.
    """
    k = reference.bin_count
    index = bin_index(reference, values)
    counts = np.bincount(groups * k + index, minlength=group_count * k).reshape(group_count, k)
    rows = counts.sum(axis=1)
    shares = counts / np.maximum(rows, 1)[:, None]
    a = np.maximum(shares, floor)
    e = np.maximum(np.asarray(reference.shares, dtype="float64"), floor)[None, :]
    values_psi = np.sum((a - e) * np.log(a / e), axis=1)
    return np.where(rows > 0, values_psi, np.nan), rows


# ------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class MonitoringReference:
    """The reference distributions of a model: every model feature and the risk score.

    Attributes:
        features: Bins and shares of each model feature.
        score: Bins and shares of the risk score (quantile bins).
        score_histogram: Share of reference rows in each of
            :data:`SCORE_HISTOGRAM_BINS` equal-width score bins (for the chart).
        window_from: First day of the reference window.
        window_to: Last day of the reference window.
        bins: Number of quantile bins the reference was fitted with.
        inspected: Inspected rows of the reference window.
        violations: Violations among them.
        point_in_time: Features whose reference is the point-in-time value the model
            was trained on rather than the served (``transform``) value.
    """

    features: dict[str, BinReference]
    score: BinReference
    score_histogram: tuple[float, ...]
    window_from: str
    window_to: str
    bins: int
    inspected: int
    violations: int
    point_in_time: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``metadata.json: monitoring_reference``)."""
        return {
            "format": REFERENCE_FORMAT,
            "features": {name: ref.to_dict() for name, ref in self.features.items()},
            "score": self.score.to_dict(),
            "score_histogram": list(self.score_histogram),
            "window_from": self.window_from,
            "window_to": self.window_to,
            "bins": self.bins,
            "inspected": self.inspected,
            "violations": self.violations,
            "point_in_time": list(self.point_in_time),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitoringReference:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            features={k: BinReference.from_dict(v) for k, v in data["features"].items()},
            score=BinReference.from_dict(data["score"]),
            score_histogram=tuple(float(v) for v in data["score_histogram"]),
            window_from=str(data["window_from"]),
            window_to=str(data["window_to"]),
            bins=int(data["bins"]),
            inspected=int(data["inspected"]),
            violations=int(data["violations"]),
            point_in_time=tuple(data.get("point_in_time", ())),
        )


def score_histogram(scores: np.ndarray) -> np.ndarray:
    """Shares of scores in :data:`SCORE_HISTOGRAM_BINS` equal-width bins over [0, 1]."""
    s = np.clip(np.asarray(scores, dtype="float64"), 0.0, 1.0)
    counts, _ = np.histogram(s, bins=np.linspace(0.0, 1.0, SCORE_HISTOGRAM_BINS + 1))
    return counts / max(counts.sum(), 1)


def build_reference(
    features: pd.DataFrame,
    scores: np.ndarray,
    *,
    feature_names: Sequence[str],
    categorical: Sequence[str],
    bins: int,
    labels: pd.DataFrame | None = None,
    as_of: pd.DataFrame | None = None,
    point_in_time: Sequence[str] = (),
) -> MonitoringReference:
    """Fit the reference distributions on the training window.

    Args:
        features: Feature frame of the training-window rows (``pipeline.transform``),
            with the ``declared_at`` context column.
        scores: Risk score of each of those rows.
        feature_names: The model's features.
        categorical: Those of them that are category codes.
        bins: Quantile bins per numeric variable.
        labels: ``inspected`` and ``illicit`` of the same rows, if known.
        as_of: Point-in-time features of the same rows (``fit_transform``), needed
            when ``point_in_time`` names any model feature.
        point_in_time: Features to take from ``as_of``: the served value of a
            training row counts the row itself (an importer x HS6 pair is never new,
            its reference price includes its own price), so only the point-in-time
            value shows how often recent values such as "new pair" occurred in training.

    Returns:
        The reference.
    """
    cats = set(categorical)
    chosen = tuple(n for n in feature_names if n in set(point_in_time))
    if chosen and as_of is None:
        raise ValueError(f"point-in-time features {list(chosen)} need the as-of features")

    def source(name: str) -> np.ndarray:
        frame = as_of if name in chosen and as_of is not None else features
        return frame[name].to_numpy()

    refs = {
        name: fit_bins(source(name), bins=bins, categorical=name in cats) for name in feature_names
    }
    inspected, violations = label_counts(labels) if labels is not None else (0, 0)
    dates = pd.to_datetime(features["declared_at"])
    return MonitoringReference(
        features=refs,
        score=fit_bins(scores, bins=bins),
        score_histogram=tuple(score_histogram(scores).tolist()),
        window_from=str(dates.min().date()),
        window_to=str(dates.max().date()),
        bins=bins,
        inspected=inspected,
        violations=violations,
        point_in_time=chosen,
    )


def features_and_scores(
    bundle: Bundle, declarations: pd.DataFrame, registers: Registers
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and calibrated risk scores of declarations, as ``portsift score`` has them.

    Args:
        bundle: The model bundle.
        declarations: Canonical declarations.
        registers: Registers of this run (the bundle's snapshot fills the gaps).

    Returns:
        ``(features, risk_score)`` aligned with ``declarations``.
    """
    return _features_and_scores(
        bundle.pipeline, bundle.model, declarations, registers_for(bundle, registers)
    )


def _features_and_scores(
    pipeline: FeaturePipeline, model: RiskModel, declarations: pd.DataFrame, registers: Registers
) -> tuple[pd.DataFrame, np.ndarray]:
    features = pipeline.transform(declarations, registers)
    x = features[model.risk_features].to_numpy(dtype="float64")
    return features, model.calibrate(model.raw_score(x))


def training_reference(
    pipeline: FeaturePipeline,
    model: RiskModel,
    history: pd.DataFrame,
    registers: Registers,
    *,
    bins: int,
    as_of: pd.DataFrame,
    point_in_time: Sequence[str],
) -> dict[str, Any]:
    """The reference to store in a new bundle's metadata (``monitoring_reference``).

    Args:
        pipeline: The fitted feature pipeline.
        model: The fitted risk model.
        history: The training-window declarations.
        registers: The training registers.
        bins: Quantile bins per numeric variable.
        as_of: The training features ``fit`` returned (point in time).
        point_in_time: Features whose reference comes from ``as_of``.

    Returns:
        :meth:`MonitoringReference.to_dict` of the training window.
    """
    features, scores = _features_and_scores(pipeline, model, history, registers)
    return build_reference(
        features,
        scores,
        feature_names=model.risk_features,
        categorical=pipeline.categorical_features_,
        bins=bins,
        labels=history,
        as_of=as_of,
        point_in_time=point_in_time,
    ).to_dict()


def reference_from_declarations(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    bins: int,
    point_in_time: Sequence[str] = (),
) -> MonitoringReference:
    """Rebuild a bundle's reference from its training-window declarations.

    Args:
        bundle: The model bundle.
        declarations: The training-window declarations (canonical).
        registers: Registers of this run.
        bins: Quantile bins per numeric variable.
        point_in_time: Features whose reference is their point-in-time value, rebuilt
            by refitting a pipeline of the bundle's parameters on these rows.

    Returns:
        The reference, as training would have stored it from the same rows.
    """
    features, scores = features_and_scores(bundle, declarations, registers)
    as_of = None
    if any(name in bundle.model.risk_features for name in point_in_time):
        params = bundle.pipeline.to_dict()["params"]
        params["extra_categorical"] = tuple(params["extra_categorical"])
        params["extra_numeric"] = tuple(params["extra_numeric"])
        as_of = FeaturePipeline(**params).fit_transform(
            declarations, registers_for(bundle, registers)
        )
    return build_reference(
        features,
        scores,
        feature_names=bundle.model.risk_features,
        categorical=bundle.pipeline.categorical_features_,
        bins=bins,
        labels=declarations,
        as_of=as_of,
        point_in_time=point_in_time,
    )


# ---------------------------------------------------------------------------- labels


def label_counts(frame: pd.DataFrame, mask: np.ndarray | None = None) -> tuple[int, int]:
    """Inspected rows with a known outcome and the violations among them.

    Args:
        frame: Declarations with ``inspected`` and ``illicit`` (either may be absent).
        mask: Optional row subset (e.g. the random sample).

    Returns:
        ``(n, violations)``.
    """
    if "illicit" not in frame:
        return 0, 0
    illicit = pd.to_numeric(frame["illicit"], errors="coerce").to_numpy(dtype="float64")
    inspected = (
        pd.to_numeric(frame["inspected"], errors="coerce").to_numpy(dtype="float64") == 1
        if "inspected" in frame
        else ~np.isnan(illicit)
    )
    known = inspected & ~np.isnan(illicit)
    if mask is not None:
        known &= np.asarray(mask, dtype=bool)
    return int(known.sum()), int((illicit[known] == 1).sum())


def wilson(violations: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion.

    Args:
        violations: Successes.
        n: Trials.
        confidence: Two-sided confidence level.

    Returns:
        ``(low, high)``; ``(nan, nan)`` without trials.
    """
    if n <= 0:
        return math.nan, math.nan
    z = float(norm.ppf(0.5 + confidence / 2))
    p = violations / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class LabelDrift:
    """Violation rate of the reference window against the recent one.

    Attributes:
        sample: ``"random"`` (the random inspection sample) or ``"inspected"`` (every
            inspected row: biased by targeting, used when the file marks no random draw).
        reference_n: Labelled rows of the sample in the reference window.
        reference_violations: Violations among them.
        recent_n: Labelled rows of the sample in the recent window.
        recent_violations: Violations among them.
        confidence: Level of the Wilson intervals.
        min_rows: Fewest labelled rows per window for a verdict.
    """

    sample: str
    reference_n: int
    reference_violations: int
    recent_n: int
    recent_violations: int
    confidence: float
    min_rows: int

    @property
    def reference_rate(self) -> float:
        """Violation rate of the reference window."""
        return self.reference_violations / self.reference_n if self.reference_n else math.nan

    @property
    def recent_rate(self) -> float:
        """Violation rate of the recent window."""
        return self.recent_violations / self.recent_n if self.recent_n else math.nan

    @property
    def reference_interval(self) -> tuple[float, float]:
        """Wilson interval of the reference rate."""
        return wilson(self.reference_violations, self.reference_n, self.confidence)

    @property
    def recent_interval(self) -> tuple[float, float]:
        """Wilson interval of the recent rate."""
        return wilson(self.recent_violations, self.recent_n, self.confidence)

    @property
    def enough(self) -> bool:
        """Whether both windows have enough labelled rows for a verdict."""
        return self.reference_n >= self.min_rows and self.recent_n >= self.min_rows

    @property
    def alert(self) -> bool:
        """The two Wilson intervals do not overlap (and both samples are big enough)."""
        if not self.enough:
            return False
        low_a, high_a = self.reference_interval
        low_b, high_b = self.recent_interval
        return high_b < low_a or high_a < low_b

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary."""
        return {
            "sample": self.sample,
            "reference": {
                "n": self.reference_n,
                "violations": self.reference_violations,
                "rate": _finite(self.reference_rate),
                "interval": [_finite(v) for v in self.reference_interval],
            },
            "recent": {
                "n": self.recent_n,
                "violations": self.recent_violations,
                "rate": _finite(self.recent_rate),
                "interval": [_finite(v) for v in self.recent_interval],
            },
            "confidence": self.confidence,
            "min_rows": self.min_rows,
            "enough": self.enough,
            "alert": self.alert,
        }


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


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
                {"week": str(w.date()), **{k: _finite(v) for k, v in row.items() if k != "week"}}
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
    names = list(reference.features)
    missing = [n for n in names if n not in features]
    if missing:
        raise ValueError(f"the recent features lack {missing}")
    columns: dict[str, np.ndarray] = {n: features[n].to_numpy() for n in names}
    columns[SCORE] = np.asarray(scores, dtype="float64")
    refs = {**reference.features, SCORE: reference.score}
    label_of = dict(feature_labels or {})
    label_of[SCORE] = "risk score"
    exempt = set(thresholds.no_alert_features)

    dates = pd.to_datetime(features["declared_at"]).dt.normalize()
    weeks = (dates - pd.to_timedelta(dates.dt.weekday, unit="D")).to_numpy()
    week_values, week_index = np.unique(weeks, return_inverse=True)

    rows: list[dict[str, Any]] = []
    bin_tables: dict[str, pd.DataFrame] = {}
    weekly: dict[str, np.ndarray] = {}
    week_rows = np.zeros(len(week_values), dtype=np.int64)
    for name, ref in refs.items():
        counts = bin_counts(ref, columns[name])
        value = psi(np.asarray(ref.shares), counts, floor=thresholds.share_floor)
        recent_shares = counts / counts.sum()
        bin_tables[name] = pd.DataFrame(
            {"bin": ref.labels(), "reference_share": ref.shares, "recent_share": recent_shares}
        )
        weekly[name], week_rows = psi_by_group(
            ref, columns[name], week_index, len(week_values), floor=thresholds.share_floor
        )
        rows.append(
            {
                "variable": name,
                "label": label_of.get(name, name),
                "kind": ref.kind,
                "psi": value,
                "status": status_of(value, thresholds),
                "alerting": name not in exempt,
                "reference_rows": ref.rows,
                "recent_rows": int(counts.sum()),
                "reference_missing": ref.shares[-1],
                "recent_missing": float(recent_shares[-1]),
            }
        )
    table = pd.DataFrame(rows).sort_values("psi", ascending=False, kind="stable")
    weekly_frame = pd.DataFrame({"week": pd.to_datetime(week_values), "rows": week_rows, **weekly})
    weekly_frame = weekly_frame[weekly_frame["rows"] >= thresholds.weekly_min_rows]
    day = dates.dropna()
    return MonitorResult(
        psi=table.reset_index(drop=True),
        bins=bin_tables,
        weekly=weekly_frame.reset_index(drop=True),
        labels=labels,
        reference=reference,
        reference_source=reference_source,
        recent_from=str(day.min().date()),
        recent_to=str(day.max().date()),
        recent_scores=columns[SCORE],
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
    labels = _label_drift(
        declarations,
        is_recent,
        in_training,
        reference,
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


def _label_drift(
    declarations: pd.DataFrame,
    is_recent: np.ndarray,
    in_training: np.ndarray,
    reference: MonitoringReference,
    random_mask: np.ndarray | None,
    marker_column: str | None,
    notes: list[str],
    *,
    confidence: float,
    min_rows: int,
) -> LabelDrift | None:
    """Violation rates of the training and the recent window (None without any label)."""
    if "illicit" not in declarations:
        notes.append("the file has no inspection outcomes (illicit): label drift not computed")
        return None
    if random_mask is not None:
        mask = np.asarray(random_mask, dtype=bool)
        sample = "random"
        ref_n, ref_k = label_counts(declarations.loc[in_training], mask[in_training])
        rec_n, rec_k = label_counts(declarations.loc[is_recent], mask[is_recent])
        if not in_training.any():
            notes.append(
                "the file has no training-window rows: the random sample's violation rate of "
                "the training window is unknown"
            )
        notes.append(f"random inspections are marked by the column {marker_column}")
    else:
        sample = "inspected"
        notes.append(
            "the file marks no random inspection (no selection_reason or random_inspection "
            "column): label drift compares all inspected declarations, whose violation rate "
            "the targeting biases"
        )
        if in_training.any():
            ref_n, ref_k = label_counts(declarations.loc[in_training])
        else:
            ref_n, ref_k = reference.inspected, reference.violations
        rec_n, rec_k = label_counts(declarations.loc[is_recent])
    return LabelDrift(
        sample=sample,
        reference_n=ref_n,
        reference_violations=ref_k,
        recent_n=rec_n,
        recent_violations=rec_k,
        confidence=confidence,
        min_rows=min_rows,
    )
