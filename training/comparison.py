"""How a retrain measures a challenger and a champion on the same rows, and shows it.

:func:`measure` scores one model's results on the shared hold-out (and on its random
inspections) with a fingerprint of the rows, so that the two models can be shown to have
been measured on identical rows; :func:`format_comparison` prints them side by side. The
retrain itself (the split, the registry, the MLflow run) is
:mod:`portsift.training.retrain`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from portsift.models.bundle import Bundle
from portsift.models.scoring import ScoredBatch
from portsift.training import metrics
from portsift.training.evaluate import MODEL, Evaluation

#: The metric that decides promotion (higher is better), as ``metrics.metric_row`` names it.
PRIMARY_METRIC = "precision_at_5"
#: The metrics compared and printed, in this order, with their short names.
COMPARED_METRICS: tuple[tuple[str, str], ...] = (
    ("precision_at_5", "P@5%"),
    ("revenue_at_5", "Rev@5%"),
    ("auc", "AUC"),
)
CHALLENGER_ROLE = "challenger"
CHAMPION_ROLE = "champion"


@dataclass(frozen=True)
class RowResult:
    """One model's metrics on one set of rows, with what identifies those rows.

    Attributes:
        rows: Declarations scored.
        labelled_rows: Inspected declarations with a known outcome (the evaluated ones).
        violations: Of those, how many were illicit.
        ids_sha256: SHA-256 of the sorted declaration ids of the evaluated rows, so that
            two models can be shown to have been measured on identical rows.
        first_day: First lodging day of the rows.
        last_day: Last lodging day of the rows.
        metrics: :data:`COMPARED_METRICS` by name (None where undefined, e.g. AUC of one
            class, revenue share without a revenue label).
    """

    rows: int
    labelled_rows: int
    violations: int
    ids_sha256: str
    first_day: str
    last_day: str
    metrics: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            "violations": self.violations,
            "ids_sha256": self.ids_sha256,
            "from": self.first_day,
            "to": self.last_day,
            "metrics": dict(self.metrics),
        }


@dataclass(frozen=True)
class ModelResult:
    """One model of the comparison.

    Attributes:
        role: ``"challenger"`` or ``"champion"``.
        model_version: The bundle's own version.
        registry_version: Its registry version (the challenger's is known once registered).
        trained_from: First day of its training window.
        trained_to: Last day of its training window.
        holdout: Its results on the shared hold-out.
        random_sample: Its results on the random inspections among those rows, or None
            when the file marks none.
    """

    role: str
    model_version: str
    registry_version: str | None
    trained_from: str
    trained_to: str
    holdout: RowResult
    random_sample: RowResult | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model_version": self.model_version,
            "registry_version": self.registry_version,
            "trained_from": self.trained_from,
            "trained_to": self.trained_to,
            "holdout": self.holdout.to_dict(),
            "random_sample": None if self.random_sample is None else self.random_sample.to_dict(),
        }


def labelled_mask(frame: pd.DataFrame) -> np.ndarray:
    """Inspected rows with a known outcome (the only ones with a label; see evaluate).

    Args:
        frame: Declarations with ``inspected`` and ``illicit`` columns (either may be absent).

    Returns:
        A boolean mask over the rows.
    """
    inspected = frame["inspected"] if "inspected" in frame else pd.Series(0, index=frame.index)
    illicit = frame["illicit"] if "illicit" in frame else pd.Series(np.nan, index=frame.index)
    return (inspected == 1).to_numpy() & illicit.notna().to_numpy()


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _ids_digest(ids: np.ndarray) -> str:
    text = "\n".join(sorted(str(i) for i in ids))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def measure(
    scored: ScoredBatch,
    evaluation: Evaluation,
    percents: tuple[float, ...],
    random_ids: Collection[str] | None = None,
) -> tuple[RowResult, RowResult | None]:
    """One model's results on the scored rows, and on their random inspections.

    Args:
        scored: The rows as the model scored them (:func:`portsift.training.train.evaluate_bundle`).
        evaluation: The evaluation computed from ``scored`` (its ``model`` row: the
            policy's ranking, as ``train`` reports and MLflow records it).
        percents: Inspection rates of the evaluation settings.
        random_ids: Declaration ids inspected at random (exploration), or None.

    Returns:
        ``(holdout, random_sample)``; ``random_sample`` is None without ``random_ids``.
    """
    features, decisions = scored.features, scored.decisions
    labelled = labelled_mask(features)
    ids = decisions["declaration_id"].astype(str).to_numpy()
    days = features["declared_at"]
    row = evaluation.table.loc[MODEL]
    holdout = RowResult(
        rows=len(features),
        labelled_rows=int(labelled.sum()),
        violations=int(features["illicit"].to_numpy(dtype="float64")[labelled].sum()),
        ids_sha256=_ids_digest(ids[labelled]),
        first_day=str(days.min().date()),
        last_day=str(days.max().date()),
        metrics={name: _finite(row.get(name, math.nan)) for name, _ in COMPARED_METRICS},
    )
    if random_ids is None:
        return holdout, None
    drawn = pd.Series(ids).isin(set(map(str, random_ids))).to_numpy()
    chosen = labelled & drawn
    sample_metrics: dict[str, float | None] = dict.fromkeys(
        (name for name, _ in COMPARED_METRICS), None
    )
    y = features["illicit"].to_numpy(dtype="float64")[chosen]
    if chosen.any():
        revenue = None
        if "revenue" in features and features["revenue"].notna().any():
            revenue = features["revenue"].fillna(0.0).to_numpy(dtype="float64")[chosen]
        # The same ranking as the model row: the policy's priority.
        values = metrics.metric_row(
            decisions["priority"].to_numpy(dtype="float64")[chosen], y, revenue, percents
        )
        sample_metrics = {name: _finite(values.get(name, math.nan)) for name in sample_metrics}
    sample_days = days[drawn] if drawn.any() else days.iloc[0:0]
    sample = RowResult(
        rows=int(drawn.sum()),
        labelled_rows=int(chosen.sum()),
        violations=int(y.sum()),
        ids_sha256=_ids_digest(ids[chosen]),
        first_day=str(sample_days.min().date()) if len(sample_days) else "",
        last_day=str(sample_days.max().date()) if len(sample_days) else "",
        metrics=sample_metrics,
    )
    return holdout, sample


def model_result(
    role: str,
    bundle: Bundle,
    registry_version: str | None,
    holdout: RowResult,
    random_sample: RowResult | None,
) -> ModelResult:
    """Put a model's identity (from its bundle metadata) with its results."""
    return ModelResult(
        role=role,
        model_version=bundle.model_version,
        registry_version=registry_version,
        trained_from=str(bundle.metadata.get("trained_from")),
        trained_to=str(bundle.metadata.get("trained_to")),
        holdout=holdout,
        random_sample=random_sample,
    )


def run_metrics(challenger: ModelResult, champion: ModelResult | None) -> dict[str, float]:
    """The comparison as flat MLflow metrics (``shared_<role>_<metric>``, row counts).

    Args:
        challenger: The challenger's results.
        champion: The champion's, or None.

    Returns:
        Metric name to finite value.
    """
    out: dict[str, float] = {
        "shared_rows": float(challenger.holdout.rows),
        "shared_labelled_rows": float(challenger.holdout.labelled_rows),
    }
    for result in (challenger, champion):
        if result is None:
            continue
        for prefix, rows in (("shared", result.holdout), ("random", result.random_sample)):
            if rows is None:
                continue
            for name, value in rows.metrics.items():
                if value is not None:
                    out[f"{prefix}_{result.role}_{name}"] = value
    if challenger.random_sample is not None:
        out["random_labelled_rows"] = float(challenger.random_sample.labelled_rows)
    return out


def _cell(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if name == "auc" else f"{100 * value:.1f}"


def format_comparison(challenger: ModelResult, champion: ModelResult | None) -> str:
    """Render the comparison as a fixed-width table (percentages; AUC as a fraction).

    Args:
        challenger: The challenger's results.
        champion: The champion's, or None.

    Returns:
        One block per row set (shared hold-out, then the random sample if marked).
    """

    def label(result: ModelResult) -> str:
        version = f" v{result.registry_version}" if result.registry_version else ""
        return f"{result.role}{version} (trained {result.trained_from} .. {result.trained_to})"

    models = [m for m in (champion, challenger) if m is not None]
    headers = ["model", *(short for _, short in COMPARED_METRICS), "labelled", "rows sha256"]
    blocks: list[str] = []
    for title, pick in (
        ("shared hold-out", lambda m: m.holdout),
        ("random inspections of the shared hold-out", lambda m: m.random_sample),
    ):
        rows = [(m, pick(m)) for m in models if pick(m) is not None]
        if not rows:
            continue
        first = rows[0][1]
        lines = [
            [
                label(m),
                *(_cell(name, r.metrics[name]) for name, _ in COMPARED_METRICS),
                f"{r.labelled_rows:,}",
                r.ids_sha256[:12],
            ]
            for m, r in rows
        ]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]

        def render(cells: list[str], widths: list[int] = widths) -> str:
            return "  ".join(
                c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)
            )

        blocks.append(
            "\n".join(
                [
                    f"{title}: {first.first_day} .. {first.last_day}, {first.rows:,} "
                    f"declarations, {first.labelled_rows:,} inspected, "
                    f"{first.violations:,} violations",
                    render(headers),
                    *(render(line) for line in lines),
                ]
            )
        )
    return "\n\n".join(blocks)


__all__ = [
    "CHALLENGER_ROLE",
    "CHAMPION_ROLE",
    "COMPARED_METRICS",
    "PRIMARY_METRIC",
    "ModelResult",
    "RowResult",
    "format_comparison",
    "labelled_mask",
    "measure",
    "model_result",
    "run_metrics",
]
