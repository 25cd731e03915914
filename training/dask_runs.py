"""What a Dask training run adds to its model: feedback labels, the hold-out, the MLflow run.

The same records as :func:`portsift.training.train.train`, computed where the rows are:

* **Feedback** (``--feedback-from``): the audit store's outcomes (one row per decided
  declaration, small) are sent to every worker and merged into each partition by the
  pandas function :func:`portsift.training.feedback.merge_feedback`; the counts are summed
  from per-partition counts (the matched feedback ids come back to count the unmatched).
* **Hold-out evaluation**: the hold-out is scored on the workers
  (:func:`portsift.training.scale.score_dask`), and only the policy's inputs, the
  scores and the few columns the evaluation reads
  (:data:`portsift.training.evaluate.EVALUATION_COLUMNS`) come back; the client then
  runs the pandas evaluation and fits the real-time policy state on them.
* **MLflow**: :func:`portsift.training.train.record_run` unchanged; its artefacts explain
  a sample of the latest rows, and only those rows (the latest
  ``BEESWARM_ROWS x 5``, as the pandas run takes them) are gathered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from portsift.features.contract import LABEL_FIELDS
from portsift.features.dask_pipeline import ROW, with_row_index
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models.bundle import Bundle
from portsift.models.policy import SelectionPolicy
from portsift.models.risk_model import RiskModel
from portsift.models.scoring import ScoredBatch, ranking_weight
from portsift.settings import Settings
from portsift.training.artefacts import BEESWARM_ROWS
from portsift.training.dask_scoring import score_dask
from portsift.training.evaluate import EVALUATION_COLUMNS, Evaluation
from portsift.training.feedback import FeedbackCounts, count_feedback, merge_feedback
from portsift.training.train import draft_bundle, evaluate_scored, recent_state

# -- feedback --------------------------------------------------------------------------


def _count_part(part: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """One partition's feedback counts and the feedback ids it holds (few rows)."""
    counts = count_feedback(part, feedback)
    ids = feedback["declaration_id"].astype(str)
    held = ids[ids.isin(part["declaration_id"].astype(str))].to_numpy(dtype=object)
    merged = merge_feedback(part, feedback)
    added = [name for name in LABEL_FIELDS if name in merged and name not in part]
    return pd.DataFrame(
        {
            "labels": [counts.labels_from_feedback],
            "changed": [counts.changed],
            "held": [held],
            "added": [tuple(added)],
        }
    )


def _merge_part(part: pd.DataFrame, feedback: pd.DataFrame, added: tuple[str, ...]) -> pd.DataFrame:
    """:func:`merge_feedback` of one partition, with the label columns of every partition."""
    merged = merge_feedback(part, feedback)
    for name in added:
        if name not in merged:
            # What merge_feedback gives the rows no outcome matched: not inspected, unknown.
            merged[name] = 0.0 if name == "inspected" else np.nan
    return merged[[*part.columns, *added]]


def merge_feedback_dask(
    declarations: dd.DataFrame, feedback: pd.DataFrame, client: Any
) -> tuple[dd.DataFrame, FeedbackCounts]:
    """Merge the feedback's labels into the partitions and count how it met them.

    Args:
        declarations: The training declarations.
        feedback: The audit store's outcomes (:func:`portsift.training.feedback.read_feedback`).
        client: A ``distributed.Client``.

    Returns:
        The declarations with the feedback's labels, and the counts
        :func:`portsift.training.feedback.count_feedback` gives for the whole table.

    Raises:
        ValueError: If the feedback is malformed.
    """
    count_feedback(declarations._meta, feedback)  # a malformed table fails here, once
    shipped = client.scatter(feedback, broadcast=True)
    meta = pd.DataFrame(
        {
            "labels": pd.Series(dtype="int64"),
            "changed": pd.Series(dtype="int64"),
            "held": pd.Series(dtype=object),
            "added": pd.Series(dtype=object),
        }
    )
    per_part = declarations.map_partitions(_count_part, shipped, meta=meta).compute()
    added_anywhere = {name for names in per_part["added"] for name in names}
    added = tuple(name for name in LABEL_FIELDS if name in added_anywhere)
    held = np.concatenate([np.asarray(h, dtype=object) for h in per_part["held"]] or [[]])
    ids = feedback["declaration_id"].astype(str)
    counts = FeedbackCounts(
        feedback_rows=len(feedback),
        labels_from_feedback=int(per_part["labels"].sum()),
        changed=int(per_part["changed"].sum()),
        unmatched=int((~ids.isin(held)).sum()),
    )
    merged_meta = _merge_part(declarations._meta, feedback.iloc[:0], added)
    merged = declarations.map_partitions(_merge_part, shipped, added, meta=merged_meta)
    return merged, counts


# -- hold-out --------------------------------------------------------------------------


def evaluate_holdout_dask(
    target: Path,
    pipeline: FeaturePipeline,
    model: RiskModel,
    registers: Registers,
    metadata: dict[str, Any],
    holdout: dd.DataFrame,
    settings: Settings,
    client: Any,
) -> Evaluation:
    """:func:`portsift.training.train.evaluate_draft` with the hold-out scored on the workers.

    Args:
        target: Where the bundle will be saved.
        pipeline: The fitted feature pipeline.
        model: The fitted risk model.
        registers: The registers of the training run.
        metadata: The bundle's metadata so far (the real-time policy state is added).
        holdout: The hold-out declarations (any partitioning; ordered by time here).
        settings: The settings.
        client: A ``distributed.Client``.

    Returns:
        The hold-out evaluation.
    """
    draft = draft_bundle(target, pipeline, model, registers, metadata)
    evaluation, scored = evaluate_bundle_dask(draft, holdout, registers, settings, client, True)
    metadata.update(recent_state(scored, settings))
    return evaluation


def evaluate_bundle_dask(
    bundle: Bundle,
    declarations: dd.DataFrame,
    registers: Registers,
    settings: Settings,
    client: Any,
    time_order: bool = False,
) -> tuple[Evaluation, ScoredBatch]:
    """:func:`portsift.training.train.evaluate_bundle` with the rows scored on the workers.

    Args:
        bundle: The model bundle (loaded, or not yet saved).
        declarations: Labelled declarations lodged after the bundle's history.
        registers: Registers for this run (the bundle's snapshot fills the gaps).
        settings: Run settings (evaluation and selection sections).
        client: A ``distributed.Client``.
        time_order: Decide the rows in time order (a training hold-out) rather than in
            input order (``portsift evaluate``).

    Returns:
        The evaluation, and the scored batch whose ``features`` hold only
        :data:`portsift.training.evaluate.EVALUATION_COLUMNS`.
    """
    scored = score_dask(
        bundle,
        declarations,
        registers,
        client,
        rate=settings.selection.default_rate,
        revenue_weight=ranking_weight(bundle.metadata, settings.selection.objective),
        policy=SelectionPolicy(settings.selection),
        explain_rows=False,
        keep=EVALUATION_COLUMNS,
        time_order=time_order,
    )
    return evaluate_scored(bundle, scored, settings), scored


# -- MLflow ----------------------------------------------------------------------------


def latest_rows(declarations: dd.DataFrame, n: int = BEESWARM_ROWS * 5) -> pd.DataFrame:
    """The ``n`` latest declarations in time order (ties in input order), gathered.

    What ``ordered.tail(n)`` is in the pandas run: only the days that hold them are
    brought to the client.

    Args:
        declarations: The training declarations, partitions in input order.
        n: Rows.

    Returns:
        At most ``n`` rows.
    """
    days = declarations["declared_at"].dt.normalize()
    per_day = days.value_counts().compute().sort_index()
    if per_day.empty:
        return declarations._meta
    from_end = np.cumsum(per_day.to_numpy()[::-1])
    first = per_day.index[::-1][min(int(np.searchsorted(from_end, n)), len(per_day) - 1)]
    indexed = with_row_index(declarations)
    recent = indexed[indexed["declared_at"].dt.normalize() >= first].compute()
    recent = recent.sort_values(["declared_at", ROW], kind="stable")
    return recent.tail(n).reset_index(drop=True)
