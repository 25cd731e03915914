"""Scoring on a Dask cluster: two passes over the partitions (``portsift score --engine dask``).

Pass 1 maps ``transform`` and the boosters (risk, calibration, revenue, priority) over
the partitions and brings back the few columns the selection policy reads (and, for an
evaluation, the columns it reads): the batch policy selects exactly ``round(rate x N)``
over the *whole* batch, so it runs once on the client with the code and inputs of
:func:`portsift.models.scoring.score_declarations` (:func:`portsift.models.scoring.decide_batch`).
Pass 2 computes SHAP contributions and reasons on the workers, only for the rows to
explain. Features and SHAP values never leave the workers.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import dask.dataframe as dd
import numpy as np
import pandas as pd

from portsift.features.dask_pipeline import ROW, with_row_index
from portsift.features.pipeline import Registers
from portsift.models import explain, rulings
from portsift.models.bundle import Bundle
from portsift.models.policy import SelectionPolicy
from portsift.models.risk_model import feature_matrix
from portsift.models.scoring import (
    ScoredBatch,
    decide_batch,
    explain_scored,
    model_scores,
    policy_inputs,
    ranking_weight,
    registers_for,
    with_rulings,
)
from portsift.settings import RulingSettings


def _score_part(
    frame: pd.DataFrame,
    bundle: Bundle,
    registers: Registers,
    revenue_weight: float,
    measures: RulingSettings,
    keep: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Pass 1 of one partition: the policy's inputs and the scores (as score_declarations).

    ``keep`` names further feature columns to bring back, prefixed ``keep:`` (the
    evaluation's, :data:`portsift.training.evaluate.EVALUATION_COLUMNS`).
    """
    features = bundle.pipeline.transform(frame, registers)
    scores = model_scores(bundle.model, features, revenue_weight=revenue_weight, num_threads=1)
    inputs = with_rulings(
        policy_inputs(features, scores),
        bundle.model,
        scores,
        features,
        measures,
        revenue_weight=revenue_weight,
        num_threads=1,
    )
    kept = {f"{KEEP}{c}": features[c].to_numpy() for c in keep if c in features.columns}
    return inputs.assign(
        declaration_id=frame["declaration_id"].to_numpy(),
        expected_revenue=scores.expected_revenue,
        revenue_estimated=int(scores.revenue_estimated),
        **kept,
    )


#: Prefix of the feature columns pass 1 brings back beside the policy's inputs.
KEEP = "keep:"


def _explain_part(
    frame: pd.DataFrame,
    rows: np.ndarray,
    bundle: Bundle,
    registers: Registers,
    lang: explain.Language,
    count: int,
    measures: RulingSettings,
) -> pd.Series:
    """Pass 2 of one partition: the model's reasons of the rows to explain."""
    part = frame[np.isin(frame.index.to_numpy(), rows)]
    if len(part) == 0:
        return pd.Series([], index=part.index, dtype="str", name="reasons")
    features = bundle.pipeline.transform(part, registers)
    x = feature_matrix(features, bundle.model.risk_features)
    _, texts = explain_scored(
        bundle.model,
        x,
        features,
        lang=lang,
        reason_count=count,
        num_threads=1,
        covered=rulings.covered_marks(measures, features, lang),
    )
    return pd.Series(texts, index=part.index, name="reasons").astype("str")


def score_dask(
    bundle: Bundle,
    declarations: dd.DataFrame,
    registers: Registers,
    client: Any,
    *,
    rate: float,
    revenue_weight: float | None = None,
    policy: SelectionPolicy | None = None,
    explain_rows: bool | Literal["selected"] = "selected",
    explain_ids: Collection[str] | None = None,
    lang: explain.Language = "en",
    reason_count: int = 3,
    keep: tuple[str, ...] = (),
    time_order: bool = False,
) -> ScoredBatch:
    """Score a Dask frame of declarations and select under the budget (see module notes).

    Args:
        bundle: The loaded model bundle.
        declarations: Canonical declarations.
        registers: Registers given for this run (missing ones come from the bundle).
        client: A ``distributed.Client``.
        rate: Share of the batch to inspect.
        revenue_weight: Weight of the revenue at stake in the priority (None = the
            weight of the objective the bundle was trained for).
        policy: The selection policy (None = the packaged configuration).
        explain_rows: True (all rows), False (none) or ``"selected"``.
        explain_ids: Further declaration ids to explain with ``"selected"``.
        lang: Language of the reasons.
        reason_count: Reasons per declaration at most.
        keep: Feature columns to bring back as ``features`` (those the features have).
        time_order: Decide the rows in time order (``declared_at``, then input order), as
            training hands a hold-out to the evaluation, instead of input order.

    Returns:
        The decisions of :func:`portsift.models.scoring.score_declarations`, in input order
        (or time order). ``features`` holds only the ``keep`` columns and ``explanation``
        is None: the features and SHAP values stay on the workers.
    """
    if revenue_weight is None:
        revenue_weight = ranking_weight(bundle.metadata, None)
    used = registers_for(bundle, registers)
    indexed = with_row_index(declarations)
    shipped_bundle = client.scatter(bundle, broadcast=True)
    shipped = client.scatter(used, broadcast=True)
    measures = (policy if policy is not None else SelectionPolicy()).settings.rulings
    sample = indexed.get_partition(0).head(50)
    meta = _score_part(sample, bundle, used, revenue_weight, measures, keep).iloc[:0]
    pass1 = indexed.map_partitions(
        _score_part,
        shipped_bundle,
        shipped,
        revenue_weight,
        measures,
        keep,
        meta=meta,
        align_dataframes=False,
    )
    scored = pass1.compute()
    if time_order:
        scored = scored.rename_axis(ROW).sort_values(["declared_at", ROW], kind="stable")
    kept = [c for c in scored.columns if c.startswith(KEEP)]
    features = scored[kept].rename(columns=lambda c: c[len(KEEP) :]).reset_index(drop=True)
    declaration_id = scored["declaration_id"].to_numpy()
    expected_revenue = scored["expected_revenue"].to_numpy()
    revenue_estimated = scored["revenue_estimated"].to_numpy()
    # One copy of the rows' columns on the client at a time: the policy's inputs only.
    scored = scored.drop(columns=[*kept, "expected_revenue", "revenue_estimated"])

    def explain_on_workers(mask: np.ndarray) -> tuple[None, np.ndarray]:
        # Pass 2: features and SHAP values stay on the workers; only the texts come back.
        model_text = np.full(len(scored), "", dtype=object)
        if not mask.any():
            return None, model_text
        shipped_rows = client.scatter(scored.index.to_numpy()[mask], broadcast=True)
        texts = indexed.map_partitions(
            _explain_part,
            shipped_rows,
            shipped_bundle,
            shipped,
            lang,
            reason_count,
            measures,
            meta=pd.Series([], dtype="str", name="reasons"),
            align_dataframes=False,
        ).compute()
        model_text[scored.index.get_indexer(texts.index)] = texts.to_numpy(dtype=object)
        return None, model_text

    # The same policy and inputs as score_declarations, so that decisions are identical.
    return decide_batch(
        scored,
        declaration_id=declaration_id,
        expected_revenue=expected_revenue,
        revenue_estimated=revenue_estimated,
        rate=rate,
        policy=policy,
        explain_rows=explain_rows,
        explain_ids=explain_ids,
        lang=lang,
        explainer=explain_on_workers,
        features=features,
    )


def write_scores(output: pd.DataFrame, out: str | Path, rows_per_part: int = 1_000_000) -> None:
    """Write ``portsift score --engine dask`` output: CSV/Parquet file, else Parquet parts.

    ``F.csv`` and ``F.parquet`` are written as one file, atomically, as the pandas engine
    writes them. Any other ``--out`` is a directory of Parquet parts
    (``part-00000.parquet``, ... in row order), staged beside it and renamed into place.

    Args:
        output: The decisions, in input order.
        out: Target path.
        rows_per_part: Rows per Parquet part.
    """
    from portsift.features.writing import atomic_directory, write_table_atomic

    target = Path(out)
    if target.suffix.lower() in (".csv", ".parquet"):
        write_table_atomic(output, target)
        return
    with atomic_directory(target) as staging:
        for number, begin in enumerate(range(0, max(len(output), 1), rows_per_part)):
            part = output.iloc[begin : begin + rows_per_part]
            part.to_parquet(staging / f"part-{number:05d}.parquet", index=False)
