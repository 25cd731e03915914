"""The reference distributions a bundle stores for drift monitoring.

The reference is the model's training window seen through the bundle's fitted feature
pipeline (``pipeline.transform``), the same mapping the recent declarations get when
they are scored (see :mod:`portsift.monitoring.drift`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models.bundle import Bundle
from portsift.models.risk_model import RiskModel
from portsift.models.scoring import registers_for
from portsift.monitoring.bins import BinReference, fit_bins
from portsift.monitoring.labels import label_counts

#: The name of the risk score among the monitored variables.
SCORE = "risk_score"
#: Equal-width bins of the score histogram drawn on the dashboard (not used for PSI).
SCORE_HISTOGRAM_BINS = 20
REFERENCE_FORMAT = 1


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
