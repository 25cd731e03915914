"""Training and scoring on a Dask cluster (``portsift train|score --engine dask``).

Design
------
* **Features** come from :mod:`portsift.features.dask_pipeline`: the pandas pipeline's own
  functions applied per partition after a hash shuffle per group key (training), or
  ``FeaturePipeline.transform`` mapped over partitions (scoring).
* **Training** (:mod:`portsift.training.dask_boosting`) uses
  ``lightgbm.dask.DaskLGBMClassifier`` / ``DaskLGBMRegressor`` with
  the parameters of :class:`portsift.models.risk_model.RiskModel` and one LightGBM thread per
  worker. The labelled rows, the time-ordered validation slice (the latest
  ``validation_fraction`` of labelled rows) and Platt scaling are those of
  ``RiskModel.fit`` (the same rows in the same slices), with two differences: the
  workers each build bin boundaries and bag from their own rows, so the trees are not
  bit-identical to single-machine LightGBM; and early stopping is applied after
  training (LightGBM's distributed training cannot stop
  early on one shared validation set): the boosters train all ``n_estimators`` rounds,
  then the client computes the validation loss after every round and cuts the booster
  where the same rule (no improvement for ``early_stopping_rounds`` rounds) would have
  stopped. The result is an ordinary :class:`RiskModel`, saved by the unchanged
  :func:`portsift.models.bundle.save_bundle` (LightGBM text + JSON, no pickles), so ``portsift
  score``, ``evaluate`` and ``serve`` read it as any other bundle.
* The DATE baseline is fitted on the labelled rows (a few columns, gathered on the
  client); the monitoring reference on a deterministic sample of the history
  (``monitor_sample`` rows at most); the hold-out (the latest 20%) is scored on the
  workers and only the evaluation's columns come back to the client, which evaluates
  them with the pandas code; feedback labels and the MLflow run are those of
  :func:`portsift.training.train.train` (:mod:`portsift.training.dask_runs`).
* **Scoring** (:mod:`portsift.training.dask_scoring`, re-exported here) is two passes over
  the partitions: the policy's inputs come back and the batch policy runs once on the
  client (decisions identical to pandas'); SHAP and reasons are computed on the workers
  for the rows to explain only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from portsift.features.dask_pipeline import fit_transform_dask, with_row_index
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models.bundle import save_bundle
from portsift.models.risk_model import RiskModel, feature_matrix
from portsift.monitoring.reference import build_reference
from portsift.settings import Settings
from portsift.training.baselines import PROFILE_RATES, RAW_NUMERIC, DateGBDT
from portsift.training.dask_boosting import fit_model_dask
from portsift.training.dask_runs import evaluate_holdout_dask, latest_rows, merge_feedback_dask
from portsift.training.dask_scoring import score_dask, write_scores
from portsift.training.model_search import model_from_settings, pipeline_from_settings, unsearched
from portsift.training.objective import RankingChoice
from portsift.training.train import model_notes, record_run

Stage = Callable[[str], None]


@dataclass(frozen=True)
class ClusterConfig:
    """Where Dask runs: an existing scheduler, or a local cluster started for the run.

    Attributes:
        scheduler: Address of a running scheduler (``tcp://host:8786``), or None.
        n_workers: Workers of the local cluster (one process each).
        threads_per_worker: Threads of each local worker.
        memory_limit: Memory limit of each local worker (Dask's syntax, e.g. ``"4GiB"``).
    """

    scheduler: str | None = None
    n_workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "auto"


@contextlib.contextmanager
def dask_client(config: ClusterConfig) -> Iterator[Any]:
    """Connect to ``config.scheduler``, or start a local cluster for the block.

    Args:
        config: The cluster to use.

    Yields:
        A ``distributed.Client``.
    """
    from distributed import Client, LocalCluster

    # The p2p shuffle logs every shuffle at WARNING; that is progress, not a problem.
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    if config.scheduler:
        with Client(config.scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=config.n_workers,
            threads_per_worker=config.threads_per_worker,
            processes=True,
            memory_limit=config.memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def partitioned(
    frame: pd.DataFrame, rows_per_partition: int = 250_000, client: Any = None
) -> dd.DataFrame:
    """Split an in-memory frame into Dask partitions (in row order).

    Args:
        frame: The rows.
        rows_per_partition: Rows of each partition.
        client: When given, the parts are sent to the workers once and kept there
            (persisted), so that later graphs refer to them instead of carrying them.

    Returns:
        The partitioned frame.
    """
    import warnings

    n = max(1, -(-len(frame) // rows_per_partition))
    parts = dd.from_pandas(frame.reset_index(drop=True), npartitions=n, sort=False)
    if client is None:
        return parts
    with warnings.catch_warnings():
        # The one large graph is the point of this call: the data goes over once.
        warnings.filterwarnings("ignore", message="Sending large graph")
        return client.persist(parts)


def _peak_rss() -> int:
    """Peak resident memory of this process, in bytes (Linux reports KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass(frozen=True)
class PeakMemory:
    """Peak resident memory of the client process and of each worker process.

    Attributes:
        client_bytes: The peak of this (the client's) process since it started.
        worker_bytes: Worker address -> the peak of its process since it started (a
            long-running worker's peak may come from an earlier job).
    """

    client_bytes: int
    worker_bytes: dict[str, int]

    def lines(self) -> list[str]:
        """What a command says about it: one line, in GiB."""
        gib = 1024**3
        workers = ", ".join(f"{b / gib:.2f}" for b in self.worker_bytes.values())
        total = sum(self.worker_bytes.values()) / gib
        return [
            f"peak memory: client {self.client_bytes / gib:.2f} GiB; "
            f"{len(self.worker_bytes)} workers {workers} GiB (sum {total:.2f} GiB)"
        ]


def peak_memory(client: Any) -> PeakMemory:
    """Measure the peak resident memory of the client and of every worker of ``client``.

    Args:
        client: A ``distributed.Client``.

    Returns:
        The peaks, measured by each process itself (``getrusage``).
    """
    workers = client.run(_peak_rss)
    return PeakMemory(client_bytes=_peak_rss(), worker_bytes=dict(sorted(workers.items())))


# -- training --------------------------------------------------------------------------


def holdout_start(declarations: dd.DataFrame, holdout_fraction: float) -> pd.Timestamp | None:
    """The first hold-out day, as :func:`portsift.training.train.split_by_time` chooses it."""
    if holdout_fraction <= 0:
        return None
    per_day = declarations["declared_at"].dt.normalize().value_counts().compute().sort_index()
    position = int(per_day.sum() * (1 - holdout_fraction))
    cumulative = np.cumsum(per_day.to_numpy())
    # The day of the row at ``position`` in day order (np.sort(days)[position]).
    return pd.Timestamp(per_day.index[np.searchsorted(cumulative, position, side="right")])


def new_model(pipeline: FeaturePipeline, settings: Settings) -> RiskModel:
    """The unfitted risk model of ``settings``, as :func:`portsift.training.train.fit` builds it."""
    return model_from_settings(settings, pipeline, n_jobs=1)


@dataclass(frozen=True)
class DaskTrainResult:
    """What a Dask training run produced."""

    model_dir: Path
    model_version: str
    evaluation: Any | None
    holdout_start: str | None
    notes: list[str]
    timings: dict[str, float]
    registration: Any | None = None
    feedback: Any | None = None


def _every_kth(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    return frame[frame.index.to_numpy() % k == 0]


def _labelled(frame: pd.DataFrame) -> np.ndarray:
    return ((frame["inspected"] == 1) & ~frame["illicit"].isna()).to_numpy(dtype=bool)


def _labelled_or_every_kth(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    return frame[_labelled(frame) | (frame.index.to_numpy() % k == 0)]


def baseline_rows(labelled: dd.DataFrame, limit: int) -> pd.DataFrame:
    """The labelled rows the DATE baseline is fitted on: all of them, or a bounded sample.

    Up to ``limit`` rows every labelled row comes to the client (the rows of the
    pandas run). Above it, the rows whose position ``_row`` is a multiple of
    ``ceil(n / limit)`` come, chosen on the workers: deterministic, spread over the
    whole history, and about ``limit`` rows whatever the size of the history.

    Args:
        labelled: The labelled rows' baseline columns, indexed by ``_row``.
        limit: Rows at most (about) on the client.

    Returns:
        The rows, in row order.
    """
    n = int(labelled.shape[0].compute())
    if n <= limit:
        return labelled.compute()
    # A stride over the positions of all history rows thins every stretch of the
    # history alike; labelling does not depend on a row's position modulo the stride.
    return labelled.map_partitions(_every_kth, -(-n // limit)).compute()


def train_dask(
    declarations: dd.DataFrame,
    registers: Registers,
    settings: Settings,
    model_dir: str | Path,
    client: Any,
    *,
    extra_categorical: tuple[str, ...] = (),
    extra_numeric: tuple[str, ...] = (),
    stage: Stage | None = None,
    monitor_sample: int = 200_000,
    baseline_sample: int = 400_000,
    track: bool = False,
    feedback: pd.DataFrame | None = None,
    feedback_source: str | None = None,
    holdout_from: pd.Timestamp | None = None,
    window_from: pd.Timestamp | None = None,
) -> DaskTrainResult:
    """Train on a Dask frame, evaluate on the time hold-out, write the bundle, record the run.

    Args:
        declarations: Canonical labelled declarations (any partitioning).
        registers: The registers (snapshots of enterprises and commodities are saved).
        settings: Run settings.
        model_dir: Where the bundle is written.
        client: A ``distributed.Client``.
        extra_categorical: Schema-file categorical inputs.
        extra_numeric: Schema-file numeric inputs.
        stage: Called with the name of each stage as it starts.
        monitor_sample: Rows of the history at most for the monitoring reference.
        baseline_sample: Labelled rows (about) at most for the DATE baseline
            (:func:`baseline_rows`); the pandas run fits it on every labelled row.
        track: Whether to record the run in MLflow (:func:`portsift.training.train.record_run`).
        feedback: Inspection outcomes that override the labels of the declarations they
            name, as :func:`portsift.training.train.train` takes them.
        feedback_source: Where the feedback came from (recorded; no password in it).
        holdout_from: Hold out the declarations lodged on or after this day instead of
            the latest ``[training] holdout_fraction`` (``portsift retrain``).
        window_from: With ``holdout_from``: train only on declarations lodged on or
            after this day; None for the whole history.

    Returns:
        The result (the bundle's version, the hold-out evaluation, stage timings, the
        MLflow registration and the feedback counts).

    Raises:
        ValueError: If the declarations carry no outcomes or too few to train, or the
            feedback is malformed.
    """
    import time

    step = stage or (lambda _name: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    counts = None
    if feedback is not None:
        declarations, counts = merge_feedback_dask(declarations, feedback, client)
    if "illicit" not in declarations.columns:
        raise ValueError("the declarations carry no inspection outcomes (illicit) to learn from")
    step("features and models")
    if holdout_from is None:
        start = holdout_start(declarations, settings.training.holdout_fraction)
    else:
        start = pd.Timestamp(holdout_from).normalize()
    days = declarations["declared_at"].dt.normalize()
    # Numbered after the split, so that no partition of the history is empty.
    in_history = None if start is None else days < start
    if window_from is not None and in_history is not None:
        in_history = in_history & (days >= pd.Timestamp(window_from).normalize())
    history = with_row_index(declarations if in_history is None else declarations[in_history])
    shipped = client.scatter(registers, broadcast=True)
    pipeline = pipeline_from_settings(settings, extra_categorical, extra_numeric)
    n_history = int(history["declared_at"].count().compute())
    k = max(1, -(-n_history // monitor_sample))
    # Only the rows read later stay on the workers: the labelled ones (training, the
    # baseline) and the monitoring sample's (every k-th row).
    features = fit_transform_dask(
        pipeline,
        history,
        registers,
        registers_on_cluster=shipped,
        keep=functools.partial(_labelled_or_every_kth, k=k),
    )
    lap("features")
    has_revenue = "revenue" in declarations.columns and bool(
        (~declarations["revenue"].isna()).any().compute()
    )
    model = new_model(pipeline, settings)
    _, validation = fit_model_dask(
        model,
        features,
        client,
        validation_fraction=settings.training.validation_fraction,
        has_revenue=has_revenue,
    )
    lap("models")
    labelled = features[(features["inspected"] == 1) & ~features["illicit"].isna()]
    base_columns = [c for c in (*PROFILE_RATES, *RAW_NUMERIC, "illicit") if c in features.columns]
    base_rows = baseline_rows(labelled[base_columns], baseline_sample)
    baseline = DateGBDT(random_state=settings.model.random_state).fit(
        base_rows, base_rows["illicit"].to_numpy(dtype="float64")
    )
    sample = history.map_partitions(_every_kth, k).compute()
    sample_as_of = features.map_partitions(_every_kth, k).compute()
    sample_features = pipeline.transform(sample, registers)
    scores = model.calibrate(model.raw_score(feature_matrix(sample_features, model.risk_features)))
    reference = build_reference(
        sample_features,
        scores,
        feature_names=model.risk_features,
        categorical=pipeline.categorical_features_,
        bins=settings.monitoring.bins,
        labels=sample,
        as_of=sample_as_of,
        point_in_time=settings.monitoring.point_in_time_features,
    ).to_dict()
    lap("baseline and monitoring reference")
    notes = model_notes(pipeline, model)
    first, last = dask.compute(history["declared_at"].min(), history["declared_at"].max())
    metadata: dict[str, Any] = {
        "trained_from": str(pd.Timestamp(first).date()),
        "trained_to": str(pd.Timestamp(last).date()),
        "holdout_start": None if start is None else str(start.date()),
        "fingerprint": fingerprint_dask(declarations),
        "settings": settings.model_dump(mode="json"),
        "feature_labels": pipeline.feature_labels(),
        "baseline": baseline.to_dict(),
        "revenue_estimated": model.regressor_ is None,
        # The validation slice stays on the workers: no blend weight is chosen here yet.
        "ranking": RankingChoice(
            settings.selection.objective,
            0.0,
            model.regressor_ is not None,
            "the Dask engine does not choose a blend weight yet: blend ranks by risk alone",
        ).to_dict(),
        "model_shape": unsearched(
            model,
            settings.model.shape,
            feature_matrix(sample_features, model.risk_features),
            settings.model_search,
            "the Dask engine trains [model]'s shape: no search",
            validation=validation,
        ).to_dict(),
        "monitoring_reference": reference,
        "engine": "dask",
        "monitoring_reference_rows": len(sample),
    }
    if counts is not None:
        # Kept with the model: which labels it learnt from is part of its provenance.
        metadata["feedback"] = {"source": feedback_source, **counts.to_dict()}
    target = Path(model_dir)
    evaluation = None
    holdout = None if start is None else declarations[days >= start]
    if holdout is not None and bool((~holdout["illicit"].isna()).any().compute()):
        step("hold-out evaluation")
        # Scored on the workers; only the evaluation's few columns come back.
        evaluation = evaluate_holdout_dask(
            target, pipeline, model, registers, metadata, holdout, settings, client
        )
    lap("hold-out evaluation")
    step("bundle")
    version = save_bundle(
        target,
        pipeline=pipeline,
        model=model,
        enterprises=registers.enterprises,
        commodities=registers.commodities,
        disclosures=registers.disclosures,
        rulings=registers.rulings,
        metadata=metadata,
    )
    lap("bundle")
    registration = None
    if track:
        step("MLflow run")
        registration = record_run(
            target,
            settings,
            latest_rows(declarations),
            registers,
            evaluation,
            model,
            metadata.get("feedback"),
        )
        lap("MLflow run")
    return DaskTrainResult(
        model_dir=target,
        model_version=version,
        evaluation=evaluation,
        holdout_start=metadata["holdout_start"],
        notes=notes,
        timings=timings,
        registration=registration,
        feedback=counts,
    )


def fingerprint_dask(declarations: dd.DataFrame) -> dict[str, Any]:
    """:func:`portsift.training.train.fingerprint` computed partition by partition."""
    frame = declarations
    inspected = frame["inspected"] if "inspected" in frame.columns else None
    labelled = (inspected == 1).sum() if inspected is not None else 0
    illicit_mean = frame["illicit"].mean() if "illicit" in frame.columns else None
    rows, first, last, n_labelled, rate = dask.compute(
        frame["declared_at"].count(),
        frame["declared_at"].min(),
        frame["declared_at"].max(),
        labelled,
        illicit_mean,
    )
    return {
        "rows": int(rows),
        "from": str(pd.Timestamp(first).date()),
        "to": str(pd.Timestamp(last).date()),
        "labelled_rows": int(n_labelled),
        "label_rate": float(n_labelled) / int(rows) if rows else 0.0,
        "violation_rate": None if rate is None or pd.isna(rate) else float(rate),
        "sha256": _streamed_sha256(frame),
    }


def _row_hashes(part: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(part, index=False).to_numpy()


def _streamed_sha256(frame: dd.DataFrame, window: int = 4) -> str:
    """SHA-256 of the rows' hashes in row order, fed to the client a few parts at a time.

    The same digest as hashing the whole hash array at once (SHA-256 is a stream), but
    the client holds at most ``window`` partitions' hashes (8 bytes a row) instead of
    all of them.
    """
    import hashlib

    from distributed import get_client

    client = get_client()
    digest = hashlib.sha256()
    parts = frame.to_delayed()
    for begin in range(0, len(parts), window):
        futures = client.compute(
            [dask.delayed(_row_hashes)(p) for p in parts[begin : begin + window]]
        )
        for future in futures:
            digest.update(future.result().tobytes())
            future.release()
    return digest.hexdigest()


__all__ = [
    "ClusterConfig",
    "DaskTrainResult",
    "PeakMemory",
    "dask_client",
    "partitioned",
    "peak_memory",
    "score_dask",
    "train_dask",
    "write_scores",
]
