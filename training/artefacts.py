"""Files a training run records beside its metrics: importance, SHAP beeswarm, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle
from portsift.models.scoring import ScoredBatch, score_declarations
from portsift.training.evaluate import Evaluation

#: Rows explained for the beeswarm plot: enough for a stable picture, cheap to explain.
BEESWARM_ROWS = 2000


def feature_importance(bundle: Bundle) -> pd.DataFrame:
    """Gain and split importance of the risk model's features, largest gain first."""
    booster = bundle.model.classifier_
    frame = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance("gain"),
            "splits": booster.feature_importance("split"),
        }
    )
    frame["gain_share"] = frame["gain"] / max(frame["gain"].sum(), 1e-12)
    return frame.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)


def explain_sample(
    bundle: Bundle, declarations: pd.DataFrame, registers: Registers, seed: int = 0
) -> ScoredBatch:
    """Score and explain a sample of the latest declarations (for global summaries)."""
    sample = declarations.tail(BEESWARM_ROWS * 5)
    if len(sample) > BEESWARM_ROWS:
        sample = sample.sample(BEESWARM_ROWS, random_state=seed)
    return score_declarations(bundle, sample, registers, rate=0.05, explain_rows=True)


def beeswarm_plot(bundle: Bundle, scored: ScoredBatch, path: Path, seed: int = 0) -> Path:
    """Draw the SHAP beeswarm of explained declarations to ``path`` (PNG).

    Args:
        bundle: The trained bundle.
        scored: Declarations scored with explanations (see :func:`explain_sample`).
        path: Output PNG.
        seed: Seed of the plot's jitter.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    assert scored.explanation is not None
    x = scored.features[bundle.model.risk_features].to_numpy(dtype="float64")
    shap.summary_plot(
        scored.explanation.values,
        x,
        feature_names=bundle.model.risk_features,
        show=False,
        max_display=20,
        rng=np.random.default_rng(seed),
    )
    plt.title("SHAP values of the risk model (log-odds)")
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
    return path


def shap_by_tier(scored: ScoredBatch) -> pd.DataFrame:
    """Mean absolute SHAP value of every feature per credit tier (and overall).

    Args:
        scored: Declarations scored with explanations.

    Returns:
        One row per feature, one column per tier present plus ``all``, largest first.
    """
    assert scored.explanation is not None
    values = pd.DataFrame(np.abs(scored.explanation.values), columns=scored.explanation.features)
    tiers = scored.decisions["credit_tier"].to_numpy()
    table = values.groupby(tiers).mean().T
    table["all"] = values.mean()
    return table.sort_values("all", ascending=False).rename_axis("feature").reset_index()


def write_run_artefacts(
    directory: Path,
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    evaluation: Evaluation | None,
) -> dict[str, Path]:
    """Write the run's artefacts into ``directory`` and return them by name."""
    files: dict[str, Path] = {}
    importance = directory / "feature_importance.csv"
    feature_importance(bundle).to_csv(importance, index=False)
    files["feature_importance.csv"] = importance
    scored = explain_sample(bundle, declarations, registers)
    files["shap_beeswarm.png"] = beeswarm_plot(bundle, scored, directory / "shap_beeswarm.png")
    by_tier = directory / "shap_by_tier.csv"
    shap_by_tier(scored).to_csv(by_tier, index=False)
    files["shap_by_tier.csv"] = by_tier
    if evaluation is not None:
        path = directory / "evaluation.json"
        path.write_text(json.dumps(evaluation.to_dict(), indent=2, default=str), "utf-8")
        files["evaluation.json"] = path
    return files
