"""Training and scoring on a Dask cluster (``portsift train|score --engine dask``).

Design
------
* **Features** come from :mod:`portsift.features.dask_pipeline`: the pandas pipeline's own
  functions applied per partition after a hash shuffle per group key (training), or
  ``FeaturePipeline.transform`` mapped over partitions (scoring).
* **Training** uses ``lightgbm.dask.DaskLGBMClassifier`` / ``DaskLGBMRegressor`` with
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
  (``monitor_sample`` rows at most); the hold-out (the latest 20%) is gathered on the
  client and evaluated by :func:`portsift.training.train.evaluate_bundle`, as in pandas. The
  Dask engine does not record an MLflow run.
* **Scoring** is two passes over the partitions. Pass 1 maps ``transform`` and the
  boosters (risk, calibration, revenue, priority) over partitions and brings back the
  few columns the selection policy reads: the batch policy selects exactly
  ``round(rate x N)`` over the *whole* batch, so it runs once on the client, with the
  same code and inputs as :func:`portsift.models.scoring.score_declarations` (the decisions are
  identical). Pass 2 computes SHAP contributions and reasons on the workers, only for
  the rows to explain (``--explain``). Features and SHAP values never leave the workers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd

from portsift.features.dask_pipeline import ROW, fit_transform_dask, transform_dask, with_row_index
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models import explain
from portsift.models import policy as policy_module
from portsift.models.bundle import Bundle, save_bundle
from portsift.models.policy import POLICY_COLUMNS, SelectionPolicy
from portsift.models.risk_model import RiskModel, _value_base, feature_matrix
from portsift.models.scoring import (
    ScoredBatch,
    _join_reasons,
    explain_mask,
    ranking_weight,
    registers_for,
)
from portsift.monitoring.drift import build_reference
from portsift.settings import Settings
from portsift.training.baselines import PROFILE_RATES, RAW_NUMERIC, DateGBDT
from portsift.training.model_search import model_from_settings, unsearched
from portsift.training.objective import RankingChoice
from portsift.training.train import evaluate_draft, model_notes

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


def _in_training_slice(labelled: dd.DataFrame, fraction: float) -> dd.Series:
    """Flag the labelled rows before the latest ``fraction`` (the validation slice).

    The rows are ranked as ``RiskModel.fit`` ranks them, by lodging time and then by
    position in the file (its stable sort), and the cut falls at the same row count.
    """
    per_day = labelled["declared_at"].dt.normalize().value_counts().compute().sort_index()
    cut = round(int(per_day.sum()) * (1 - fraction))
    cumulative = np.cumsum(per_day.to_numpy())
    day = int(np.searchsorted(cumulative, cut, side="right"))
    if day >= len(per_day):
        return labelled["declared_at"].notna()
    # Only the cut day's labelled rows come to the client, to find the exact cut row.
    on_day = labelled[labelled["declared_at"].dt.normalize() == per_day.index[day]]
    times = on_day["declared_at"].compute()
    ranked = pd.DataFrame({"t": times.to_numpy(), "row": times.index.to_numpy()})
    ranked = ranked.sort_values(["t", "row"], kind="stable")
    first = ranked.iloc[cut - (int(cumulative[day - 1]) if day else 0)]
    t, row = pd.Timestamp(first["t"]), int(first["row"])
    return labelled.map_partitions(
        lambda part: pd.Series(
            (part["declared_at"] < t).to_numpy()
            | ((part["declared_at"] == t).to_numpy() & (part.index.to_numpy() < row)),
            index=part.index,
        ),
        meta=("in_train", "bool"),
    )


def _params(model: RiskModel, kind: Literal["classifier", "regressor"]) -> dict[str, Any]:
    """RiskModel's LightGBM parameters for the Dask estimators (one thread per worker)."""
    if kind == "classifier":
        monotone = [-1 if name in model.monotone_decreasing else 0 for name in model.risk_features]
        base = {
            "objective": "binary",
            "monotone_constraints": monotone,
            "monotone_constraints_method": "advanced",
            "cat_smooth": 20.0,
            **(model.classifier_params or {}),
        }
        rounds = model.n_estimators
    else:
        base = {"objective": "gamma", **(model.regressor_params or {})}
        rounds = model.revenue_n_estimators
    return {
        **base,
        "n_estimators": rounds,
        "max_cat_to_onehot": 8,
        "max_cat_threshold": 16,
        "verbosity": -1,
        "random_state": model.random_state,
        "deterministic": True,
        "force_col_wise": True,
        # No thread count: LightGBM's Dask interface uses each worker's thread count
        # (one per worker on the local cluster) and warns about any other.
    }


def _placed(frame: dd.DataFrame, client: Any) -> tuple[dd.DataFrame, list[Any]]:
    """Put the rows in one partition per worker, the i-th on the i-th worker by address.

    LightGBM's Dask interface trains each worker on the partitions it holds; where the
    scheduler happened to put them changed the bins and bagging of every worker and so
    the model from run to run. A fixed placement makes the training repeatable. The
    futures are returned too: the caller holds them until training ends, else the
    scheduler may release the data.
    """
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    parts = frame.repartition(npartitions=len(workers)).to_delayed()
    futures = [
        client.compute(part, workers=[worker], allow_other_workers=False)
        for part, worker in zip(parts, workers, strict=True)
    ]
    return dd.from_delayed(futures, meta=frame._meta, verify_meta=False), futures


def _stopped(booster: lgb.Booster, x: np.ndarray, loss: Callable, patience: int) -> lgb.Booster:
    """Cut a booster where early stopping on ``(x, loss)`` would have stopped."""
    rounds = booster.num_trees()
    per_tree = np.column_stack(
        [
            booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1)
            for i in range(rounds)
        ]
    )
    # Tree 0 carries the boost-from-average init score, so the cumulative sum is the
    # raw score after each round.
    losses = np.array([loss(raw) for raw in np.cumsum(per_tree, axis=1).T])
    best, since = 0, 0
    for i in range(1, len(losses)):
        if losses[i] < losses[best]:
            best, since = i, 0
        else:
            since += 1
            if since >= patience:
                break
    cut = lgb.Booster(model_str=booster.model_to_string(num_iteration=best + 1))
    cut.best_iteration = best + 1
    return cut


def _logloss(y: np.ndarray) -> Callable[[np.ndarray], float]:
    def loss(raw: np.ndarray) -> float:
        return float(np.mean(np.logaddexp(0.0, raw) - y * raw))

    return loss


def _gamma_deviance(y: np.ndarray) -> Callable[[np.ndarray], float]:
    def loss(raw: np.ndarray) -> float:
        # Gamma negative log-likelihood up to constants, with the log link.
        return float(np.mean(y * np.exp(-raw) + raw))

    return loss


def fit_model_dask(
    model: RiskModel,
    features: dd.DataFrame,
    client: Any,
    *,
    validation_fraction: float,
    has_revenue: bool,
) -> RiskModel:
    """Fit ``model``'s boosters with LightGBM's Dask estimators (see module notes).

    Args:
        model: An unfitted :class:`RiskModel` (its parameters are used).
        features: Training features with ``declared_at``, ``inspected``, ``illicit``,
            ``revenue`` and ``declared_value`` context columns.
        client: The Dask client.
        validation_fraction: Latest share of labelled rows for stopping and calibration.
        has_revenue: Whether the data has a revenue label.

    Returns:
        The fitted model.

    Raises:
        ValueError: Too few labelled rows or a single class.
    """
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

    labelled = features[(features["inspected"] == 1) & ~features["illicit"].isna()].persist()
    counts = dask.compute(labelled["illicit"].count(), labelled["illicit"].sum())
    n_rows, positives = int(counts[0]), int(counts[1])
    if n_rows < 50 or positives in (0, n_rows):
        raise ValueError(
            f"need at least 50 inspected declarations with both outcomes to train, "
            f"got {n_rows} labelled rows with {positives} violations"
        )
    in_train = _in_training_slice(labelled, validation_fraction)
    train, valid = labelled[in_train], labelled[~in_train]
    categorical = [
        model.risk_features.index(c) for c in model.categorical_features if c in model.risk_features
    ]
    placed, held = _placed(train[[*model.risk_features, "illicit"]].astype("float64"), client)
    classifier = DaskLGBMClassifier(client=client, **_params(model, "classifier"))
    classifier.fit(
        placed[model.risk_features],
        placed["illicit"].astype("int64"),
        categorical_feature=categorical,
    )
    del held
    context = ["illicit", "declared_value", *(["revenue"] if has_revenue else [])]
    valid_local = valid[[*model.risk_features, *model.revenue_features, *context]].compute()
    valid_local = valid_local.loc[:, ~valid_local.columns.duplicated()]
    x_valid = valid_local[model.risk_features].to_numpy(dtype="float64")
    y_valid = valid_local["illicit"].to_numpy(dtype="float64")
    model.classifier_ = _stopped(
        classifier.booster_, x_valid, _logloss(y_valid), model.early_stopping_rounds
    )
    model._fit_calibration(model.classifier_.predict(x_valid, raw_score=True), y_valid)
    model.revenue_labelled_ = has_revenue
    model.regressor_ = None
    if has_revenue:
        model.regressor_ = _fit_regressor(model, train, valid_local, client, DaskLGBMRegressor)
    model.training_rows_ = n_rows
    model.training_positive_rate_ = positives / n_rows
    return model


def _fit_regressor(
    model: RiskModel, train: dd.DataFrame, valid: pd.DataFrame, client: Any, estimator: type
) -> lgb.Booster | None:
    positive = train[(train["illicit"] == 1) & (train["revenue"] > 0)]
    valid = valid[(valid["illicit"] == 1) & (valid["revenue"] > 0)]
    n_train = int(positive["illicit"].count().compute())
    if n_train < 20 or len(valid) < 5:
        return None
    positive = positive.assign(
        _share=positive["revenue"] / positive["declared_value"].clip(lower=1.0)
    )
    placed, held = _placed(positive[[*model.revenue_features, "_share"]].astype("float64"), client)
    categorical = [
        model.revenue_features.index(c)
        for c in model.categorical_features
        if c in model.revenue_features
    ]
    regressor = estimator(client=client, **_params(model, "regressor"))
    regressor.fit(placed[model.revenue_features], placed["_share"], categorical_feature=categorical)
    del held
    x_valid = valid[model.revenue_features].to_numpy(dtype="float64")
    y_valid = valid["revenue"].to_numpy(dtype="float64") / _value_base(valid)
    return _stopped(
        regressor.booster_, x_valid, _gamma_deviance(y_valid), model.early_stopping_rounds
    )


def new_pipeline(
    settings: Settings, extra_categorical: tuple[str, ...] = (), extra_numeric: tuple[str, ...] = ()
) -> FeaturePipeline:
    """The unfitted pipeline of ``settings`` (as :func:`portsift.training.train.fit` builds it)."""
    f = settings.features
    return FeaturePipeline(
        smoothing=f.smoothing,
        label_delay_days=f.label_delay_days,
        reference_period=f.reference_period,
        new_importer_days=f.new_importer_days,
        min_category_count=f.min_category_count,
        extra_categorical=extra_categorical,
        extra_numeric=extra_numeric,
    )


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


def _every_kth(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    return frame[frame.index.to_numpy() % k == 0]


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
) -> DaskTrainResult:
    """Train on a Dask frame, evaluate on the time hold-out and write the bundle.

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

    Returns:
        The result (the bundle's version, the hold-out evaluation, stage timings).

    Raises:
        ValueError: If the declarations carry no outcomes or too few to train.
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

    if "illicit" not in declarations.columns:
        raise ValueError("the declarations carry no inspection outcomes (illicit) to learn from")
    step("features and models")
    start = holdout_start(declarations, settings.training.holdout_fraction)
    days = declarations["declared_at"].dt.normalize()
    # Numbered after the split, so that no partition of the history is empty.
    history = with_row_index(declarations if start is None else declarations[days < start])
    shipped = client.scatter(registers, broadcast=True)
    pipeline = new_pipeline(settings, extra_categorical, extra_numeric)
    features = fit_transform_dask(pipeline, history, registers, registers_on_cluster=shipped)
    lap("features")
    has_revenue = "revenue" in declarations.columns and bool(
        (~declarations["revenue"].isna()).any().compute()
    )
    model = new_model(pipeline, settings)
    fit_model_dask(
        model,
        features,
        client,
        validation_fraction=settings.training.validation_fraction,
        has_revenue=has_revenue,
    )
    lap("models")
    labelled = features[(features["inspected"] == 1) & ~features["illicit"].isna()]
    base_columns = [c for c in (*PROFILE_RATES, *RAW_NUMERIC, "illicit") if c in features.columns]
    base_rows = labelled[base_columns].compute()
    baseline = DateGBDT(random_state=settings.model.random_state).fit(
        base_rows, base_rows["illicit"].to_numpy(dtype="float64")
    )
    n_history = int(history["declared_at"].count().compute())
    k = max(1, -(-n_history // monitor_sample))
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
    notes = ["the Dask engine records no MLflow run", *model_notes(pipeline, model)]
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
        ).to_dict(),
        "monitoring_reference": reference,
        "engine": "dask",
        "monitoring_reference_rows": len(sample),
    }
    target = Path(model_dir)
    evaluation = None
    holdout_local = pd.DataFrame() if start is None else declarations[days >= start].compute()
    if len(holdout_local) and holdout_local["illicit"].notna().any():
        step("hold-out evaluation")
        # In time order, as training.train hands the hold-out over.
        holdout_local = holdout_local.sort_values("declared_at", kind="stable")
        holdout_local = holdout_local.reset_index(drop=True)
        evaluation = evaluate_draft(
            target, pipeline, model, registers, metadata, holdout_local, settings
        )
    lap("hold-out evaluation")
    step("bundle")
    version = save_bundle(
        target,
        pipeline=pipeline,
        model=model,
        enterprises=registers.enterprises,
        commodities=registers.commodities,
        metadata=metadata,
    )
    lap("bundle")
    return DaskTrainResult(
        model_dir=target,
        model_version=version,
        evaluation=evaluation,
        holdout_start=metadata["holdout_start"],
        notes=notes,
        timings=timings,
    )


def fingerprint_dask(declarations: dd.DataFrame) -> dict[str, Any]:
    """:func:`portsift.training.train.fingerprint` computed partition by partition."""
    import hashlib

    frame = declarations
    inspected = frame["inspected"] if "inspected" in frame.columns else None
    labelled = (inspected == 1).sum() if inspected is not None else 0
    illicit_mean = frame["illicit"].mean() if "illicit" in frame.columns else None
    hashes = frame.map_partitions(
        lambda part: pd.util.hash_pandas_object(part, index=False), meta=("hash", "uint64")
    )
    rows, first, last, n_labelled, rate, digests = dask.compute(
        frame["declared_at"].count(),
        frame["declared_at"].min(),
        frame["declared_at"].max(),
        labelled,
        illicit_mean,
        hashes,
    )
    return {
        "rows": int(rows),
        "from": str(pd.Timestamp(first).date()),
        "to": str(pd.Timestamp(last).date()),
        "labelled_rows": int(n_labelled),
        "label_rate": float(n_labelled) / int(rows) if rows else 0.0,
        "violation_rate": None if rate is None or pd.isna(rate) else float(rate),
        "sha256": hashlib.sha256(digests.to_numpy().tobytes()).hexdigest(),
    }


# -- scoring ---------------------------------------------------------------------------


def _score_part(
    frame: pd.DataFrame, bundle: Bundle, registers: Registers, revenue_weight: float
) -> pd.DataFrame:
    """Pass 1 of one partition: scores and the policy's inputs (as score_declarations)."""
    model = bundle.model
    features = bundle.pipeline.transform(frame, registers)
    x = feature_matrix(features, model.risk_features)
    raw = model.raw_score(x, num_threads=1)
    risk = model.calibrate(raw)
    amount, estimated = model.revenue_if_illicit(features, num_threads=1)
    out = features[[c for c in POLICY_COLUMNS if c in features]].copy()
    out["declaration_id"] = frame["declaration_id"].to_numpy()
    out["risk_score"] = risk
    out["expected_revenue"] = np.maximum(risk * np.nan_to_num(amount), 0.0)
    out["priority"] = policy_module.priority(risk, amount, revenue_weight)
    out["raw_score"] = raw
    out["revenue_estimated"] = int(estimated)
    return out


def _explain_part(
    frame: pd.DataFrame,
    rows: np.ndarray,
    bundle: Bundle,
    registers: Registers,
    lang: explain.Language,
    count: int,
) -> pd.Series:
    """Pass 2 of one partition: the model's reasons of the rows to explain."""
    part = frame[np.isin(frame.index.to_numpy(), rows)]
    if len(part) == 0:
        return pd.Series([], index=part.index, dtype="str", name="reasons")
    model = bundle.model
    features = bundle.pipeline.transform(part, registers)
    x = feature_matrix(features, model.risk_features)
    contrib = model.contributions(x, num_threads=1)
    explanation = explain.explanation_from_contrib(contrib, model.risk_features)
    texts = explain.reasons(features, explanation, count=count, lang=lang)
    return pd.Series(texts.to_numpy(dtype=object), index=part.index, name="reasons").astype("str")


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

    Returns:
        The decisions of :func:`portsift.models.scoring.score_declarations`, in input order.
        ``features`` is empty and ``explanation`` None: both stay on the workers.
    """
    if revenue_weight is None:
        revenue_weight = ranking_weight(bundle.metadata, None)
    used = registers_for(bundle, registers)
    indexed = with_row_index(declarations)
    shipped_bundle = client.scatter(bundle, broadcast=True)
    shipped = client.scatter(used, broadcast=True)
    sample = indexed.get_partition(0).head(50)
    meta = _score_part(sample, bundle, used, revenue_weight).iloc[:0]
    pass1 = indexed.map_partitions(
        _score_part, shipped_bundle, shipped, revenue_weight, meta=meta, align_dataframes=False
    )
    scored = pass1.compute()
    # The same steps and inputs as score_declarations, so that decisions are identical.
    decisions = pd.DataFrame(index=scored.index)
    for column in ("declaration_id", "risk_score", "expected_revenue", "priority"):
        decisions[column] = scored[column].to_numpy()
    chosen = (policy if policy is not None else SelectionPolicy()).with_params(rate=rate)
    inputs = scored[[c for c in POLICY_COLUMNS if c in scored]].assign(
        risk_score=scored["risk_score"].to_numpy(),
        priority=scored["priority"].to_numpy(),
        raw_score=scored["raw_score"].to_numpy(),
    )
    decided = chosen.decide(inputs)
    decisions = pd.concat([decisions, decided], axis=1)
    decisions["credit_tier"] = scored["credit_tier"].to_numpy()
    note = decided["policy_note_zh" if lang == "zh" else "policy_note_en"].to_numpy(dtype=object)
    mask = explain_mask(explain_rows, decided["selected"].to_numpy(), decisions, explain_ids)
    model_text = np.full(len(decisions), "", dtype=object)
    if mask.any():
        rows = scored.index.to_numpy()[mask]
        shipped_rows = client.scatter(rows, broadcast=True)
        texts = indexed.map_partitions(
            _explain_part,
            shipped_rows,
            shipped_bundle,
            shipped,
            lang,
            reason_count,
            meta=pd.Series([], dtype="str", name="reasons"),
            align_dataframes=False,
        ).compute()
        position = scored.index.get_indexer(texts.index)
        model_text[position] = texts.to_numpy(dtype=object)
    decisions["reasons"] = _join_reasons(note, model_text)
    decisions["reasons"] = decisions["reasons"].astype("str")
    decisions["raw_score"] = scored["raw_score"].to_numpy()
    decisions["revenue_estimated"] = scored["revenue_estimated"].to_numpy()
    return ScoredBatch(
        decisions=decisions.reset_index(drop=True),
        features=pd.DataFrame(),
        explanation=None,
        policy_facts=chosen.batch_,
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
    import shutil
    import tempfile

    from portsift.features.writing import write_table_atomic

    target = Path(out)
    if target.suffix.lower() in (".csv", ".parquet"):
        write_table_atomic(output, target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for number, begin in enumerate(range(0, max(len(output), 1), rows_per_part)):
            part = output.iloc[begin : begin + rows_per_part]
            part.to_parquet(staging / f"part-{number:05d}.parquet", index=False)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


__all__ = [
    "ROW",
    "ClusterConfig",
    "DaskTrainResult",
    "dask_client",
    "fit_model_dask",
    "partitioned",
    "score_dask",
    "train_dask",
    "transform_dask",
    "write_scores",
]
