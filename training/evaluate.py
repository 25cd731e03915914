"""Evaluation of scored declarations against baselines and the hindsight limit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.contract import CREDIT_TIERS
from training import metrics
from training.baselines import DateGBDT, hindsight_scores, random_scores

MODEL = "model"
MODEL_BY_RISK = "model_risk_only"
MODEL_BY_REVENUE = "model_expected_revenue"


@dataclass(frozen=True)
class Evaluation:
    """An evaluation table and its context.

    Attributes:
        table: One row per method (model, baselines, hindsight), metric columns.
        by_tier: Per credit tier: rows, labels, violation rate, model AUC and P@5%.
        facts: Rows, labelled rows, date range, whether revenue was labelled.
    """

    table: pd.DataFrame
    by_tier: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)

    def model_metrics(self, prefix: str = "holdout_") -> dict[str, float]:
        """The model row's metrics, prefixed, without NaNs (as logged to MLflow)."""
        row = self.table.loc[MODEL]
        return {f"{prefix}{k}": float(v) for k, v in row.items() if not _is_nan(v)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``portsift evaluate --json``)."""
        return {
            "facts": self.facts,
            "methods": {
                method: {k: (None if _is_nan(v) else float(v)) for k, v in row.items()}
                for method, row in self.table.iterrows()
            },
            "by_tier": [
                {k: (None if _is_nan(v) else v) for k, v in row.items()}
                for row in self.by_tier.reset_index().to_dict("records")
            ],
        }


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def evaluate(
    features: pd.DataFrame,
    risk_score: np.ndarray,
    expected_revenue: np.ndarray,
    priority: np.ndarray,
    *,
    baseline: DateGBDT | None,
    percents: tuple[float, ...],
    bins: int = 10,
    random_draws: int = 20,
    random_state: int = 0,
) -> Evaluation:
    """Evaluate a ranking on the labelled rows of a scored batch.

    Only inspected declarations with a known outcome are evaluated: the others have no
    label, and counting them as negatives would reward the historic selection.

    Args:
        features: Feature frame with context columns ``inspected``, ``illicit``,
            ``revenue`` (optional), ``declared_value``, ``credit_tier``.
        risk_score: Calibrated risk per row.
        expected_revenue: Expected revenue per row.
        priority: The policy's ranking score per row (the ``model`` row).
        baseline: The fitted DATE GBDT baseline, or None to leave it out.
        percents: Inspection rates to report.
        bins: Bins of the calibration error.
        random_draws: Draws averaged for the random baseline.
        random_state: Seed of the random baseline.

    Returns:
        The evaluation.

    Raises:
        ValueError: If no row is labelled.
    """
    if "illicit" not in features:
        raise ValueError("no inspection outcomes (illicit) to evaluate against")
    labelled = (features["inspected"] == 1).to_numpy() & features["illicit"].notna().to_numpy()
    if labelled.sum() == 0:
        raise ValueError("no inspected declaration with a known outcome to evaluate against")
    rows = features.loc[labelled]
    y = rows["illicit"].to_numpy(dtype="float64")
    has_revenue = "revenue" in rows and rows["revenue"].notna().any()
    revenue = rows["revenue"].fillna(0.0).to_numpy(dtype="float64") if has_revenue else None
    risk = np.asarray(risk_score, dtype="float64")[labelled]
    expected = np.asarray(expected_revenue, dtype="float64")[labelled]
    ranked = np.asarray(priority, dtype="float64")[labelled]

    def row(scores: np.ndarray, probabilities: np.ndarray | None = None) -> dict[str, float]:
        return metrics.metric_row(scores, y, revenue, percents, probabilities, bins)

    table: dict[str, dict[str, float]] = {
        MODEL: row(ranked, risk),
        MODEL_BY_RISK: row(risk, risk),
        MODEL_BY_REVENUE: row(expected),
    }
    draws = [row(random_scores(len(y), random_state + i)) for i in range(random_draws)]
    table["random"] = pd.DataFrame(draws).mean().to_dict()
    table["price"] = row(rows["declared_value"].to_numpy(dtype="float64"))
    table["importer_history"] = row(rows["importer_violation_rate"].to_numpy(dtype="float64"))
    if baseline is not None:
        table["date_gbdt"] = row(baseline.predict(rows))
    table["hindsight"] = row(hindsight_scores(y, revenue))
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.name = "method"
    by_tier = _by_tier(rows, y, risk, percents)
    dates = features["declared_at"]
    facts = {
        "rows": len(features),
        "labelled_rows": int(labelled.sum()),
        "violations": int(y.sum()),
        "from": str(dates.min().date()),
        "to": str(dates.max().date()),
        "revenue_labelled": bool(has_revenue),
    }
    return Evaluation(table=frame, by_tier=by_tier, facts=facts)


def _by_tier(
    rows: pd.DataFrame, y: np.ndarray, risk: np.ndarray, percents: tuple[float, ...]
) -> pd.DataFrame:
    tier = rows["credit_tier"].astype("str").to_numpy()
    percent = 5.0 if 5.0 in percents else percents[0]
    records = []
    for name in CREDIT_TIERS:
        mask = tier == name
        if not mask.any():
            continue
        records.append(
            {
                "credit_tier": name,
                "labelled_rows": int(mask.sum()),
                "violations": int(y[mask].sum()),
                "violation_rate": float(y[mask].mean()),
                "mean_risk_score": float(risk[mask].mean()),
                "auc": metrics.auc(risk[mask], y[mask]),
                f"precision_at_{percent:g}": metrics.at_percent(risk[mask], y[mask], None, percent)[
                    "precision"
                ],
            }
        )
    return pd.DataFrame.from_records(records).set_index("credit_tier")


def format_table(evaluation: Evaluation, percents: tuple[float, ...]) -> str:
    """Render the evaluation table as fixed-width text (percentages)."""
    columns = [f"{m}_at_{p:g}" for m in ("precision", "recall", "revenue") for p in percents]
    columns += ["auc", "calibration_error"]
    table = evaluation.table.reindex(columns=columns)
    headers = ["method"] + [_short(c) for c in columns]
    lines = []
    for method, row in table.iterrows():
        cells = [str(method)]
        for column, value in row.items():
            if _is_nan(value):
                cells.append("-")
            elif column in ("auc", "calibration_error"):
                cells.append(f"{value:.3f}")
            else:
                cells.append(f"{100 * value:.1f}")
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    render = [
        "  ".join(
            h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers)
        )
    ]
    for line in lines:
        render.append(
            "  ".join(
                c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(line)
            )
        )
    return "\n".join(render)


def _short(column: str) -> str:
    for long, short in (("precision_at_", "P@"), ("recall_at_", "R@"), ("revenue_at_", "Rev@")):
        if column.startswith(long):
            return f"{short}{column[len(long) :]}%"
    return {"calibration_error": "ECE"}.get(column, column.upper())
