"""LightGBM's Dask estimators fitted as :class:`RiskModel` fits its boosters.

The labelled rows, the time-ordered validation slice (the latest ``validation_fraction``
of labelled rows) and Platt scaling are those of ``RiskModel.fit`` (the same rows in the
same slices), with two differences: the workers each build bin boundaries and bag from
their own rows, so the trees are not bit-identical to single-machine LightGBM; and
early stopping is applied after training (LightGBM's distributed training cannot stop
early on one shared validation set): the boosters train all ``n_estimators`` rounds,
then the client computes the validation loss after every round and cuts the booster
where the same rule (no improvement for ``early_stopping_rounds`` rounds) would have
stopped. The result is an ordinary :class:`RiskModel`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd

from portsift.models.risk_model import RiskModel, value_base


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
    # Tree 0 carries the boost-from-average init score, so the running sum of the trees'
    # outputs is the raw score after each round. It is added up one tree at a time (the
    # order of np.cumsum along the rounds, so the same floats) to hold one vector of the
    # validation rows instead of a rows x rounds matrix.
    raw = np.zeros(len(x), dtype="float64")
    losses = np.empty(rounds, dtype="float64")
    for i in range(rounds):
        raw += booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1)
        losses[i] = loss(raw)
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
) -> tuple[RiskModel, tuple[np.ndarray, np.ndarray]]:
    """Fit ``model``'s boosters with LightGBM's Dask estimators (see module notes).

    Args:
        model: An unfitted :class:`RiskModel` (its parameters are used).
        features: Training features with ``declared_at``, ``inspected``, ``illicit``,
            ``revenue`` and ``declared_value`` context columns.
        client: The Dask client.
        validation_fraction: Latest share of labelled rows for stopping and calibration.
        has_revenue: Whether the data has a revenue label.

    Returns:
        The fitted model, and the calibrated risk and the outcomes of the validation slice
        (what the shape record measures its precision on).

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
    return model, (model.calibrate(model.raw_score(x_valid)), y_valid)


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
    y_valid = valid["revenue"].to_numpy(dtype="float64") / value_base(valid)
    return _stopped(
        regressor.booster_, x_valid, _gamma_deviance(y_valid), model.early_stopping_rounds
    )
