"""The compiled TreeSHAP tables against LightGBM's own ``pred_contrib``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from portsift.models.risk_model import RiskModel, TrainingData
from portsift.models.tree_shap import TreeShap

TOLERANCE = 1e-9


def _data(rows: int, seed: int, categories: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Numerical columns with NaNs and exact zeros, two category columns, a label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    x[:, 5] = np.where(rng.random(rows) < 0.4, 0.0, x[:, 5])  # sparse-ish: many zeros
    x[:, 6] = rng.integers(0, categories, rows)
    x[:, 7] = rng.integers(0, 6, rows)
    x[rng.random((rows, 8)) < 0.08] = np.nan
    signal = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
    signal += np.isin(x[:, 6], np.arange(0, categories, 3)) - np.isnan(x[:, 3]).astype(float)
    y = (signal + rng.normal(scale=0.7, size=rows) > 0.3).astype(float)
    return x, y


def _booster(params: dict[str, Any], rounds: int, seed: int = 0, rows: int = 3000) -> lgb.Booster:
    x, y = _data(rows, seed, categories=params.pop("_categories", 40))
    base = {"objective": "binary", "verbosity": -1, "seed": seed, "num_threads": 1}
    train = lgb.Dataset(x, label=y, categorical_feature=[6, 7], free_raw_data=True)
    return lgb.train({**base, **params}, train, num_boost_round=rounds)


def _rows(seed: int, rows: int = 400) -> np.ndarray:
    """Rows to explain, with NaNs, unseen, negative and fractional categories, tiny values."""
    x, _ = _data(rows, seed + 100)
    x[:20, 6] = [-1, -0.5, 0.7, 2.5, 39.9, 40, 57, 1e6, 1e12, np.nan] * 2
    x[20:30, 5] = [0.0, -0.0, 1e-40, -1e-36, 1e-34, np.nan, np.inf, -np.inf, 1e-300, 5.0]
    x[30:40, 0] = np.nan
    return x


def _check(booster: lgb.Booster, x: np.ndarray) -> TreeShap:
    explainer = TreeShap(booster)
    assert explainer.compiled
    ours = explainer.contributions(x)
    theirs = booster.predict(x, pred_contrib=True, num_threads=1)
    assert ours.shape == theirs.shape == (len(x), booster.num_feature() + 1)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE)
    raw = booster.predict(x, raw_score=True, num_threads=1)
    np.testing.assert_allclose(ours.sum(axis=1), raw, rtol=0, atol=TOLERANCE)
    return explainer


def test_demo_shaped_risk_model_uses_the_tables_and_equals_pred_contrib() -> None:
    x, y = _data(4000, seed=1)
    names = [f"f{i}" for i in range(8)]
    frame = pd.DataFrame(x, columns=names)
    data = TrainingData(
        features=frame,
        illicit=pd.Series(y),
        inspected=pd.Series(np.ones(len(y), dtype=bool)),
        declared_at=pd.Series(pd.date_range("2025-01-01", periods=len(y), freq="h")),
        revenue=None,
    )
    model = RiskModel(
        risk_features=names,
        revenue_features=names[:2],
        categorical_features=["f6", "f7"],
        monotone_decreasing=("f1",),
        classifier_params={"num_leaves": 15, "max_depth": 4, "learning_rate": 0.1},
        n_estimators=60,
        n_jobs=1,
    ).fit(data)
    rows = _rows(1)
    got = model.contributions(rows)
    assert model.tree_shap_.compiled and model.tree_shap_.booster is model.classifier_
    theirs = model.classifier_.predict(rows, pred_contrib=True, num_threads=1)
    np.testing.assert_allclose(got, theirs, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(got.sum(axis=1), model.raw_score(rows), rtol=0, atol=TOLERANCE)
    # A replaced classifier (as the Dask engine assigns one) is compiled again.
    model.classifier_ = _booster({"num_leaves": 7}, rounds=5)
    np.testing.assert_allclose(
        model.contributions(rows),
        model.classifier_.predict(rows, pred_contrib=True),
        rtol=0,
        atol=TOLERANCE,
    )
    assert model.tree_shap_.booster is model.classifier_


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 31, "max_depth": -1, "min_data_in_leaf": 5},
        {"num_leaves": 63, "max_depth": -1, "min_data_in_leaf": 3, "learning_rate": 0.2},
        {"num_leaves": 31, "max_depth": -1, "zero_as_missing": True},  # missing type Zero
        {"num_leaves": 31, "use_missing": False},  # missing type None
        {
            "num_leaves": 31,
            "_categories": 120,
            "max_cat_to_onehot": 4,
            "max_cat_threshold": 64,
            "min_data_per_group": 5,
            "cat_smooth": 1.0,
        },
        {"num_leaves": 15, "_categories": 5, "max_cat_to_onehot": 8},  # one-vs-rest
    ],
    ids=["31-leaves", "63-leaves", "zero-missing", "no-missing", "many-categories", "onehot"],
)
def test_random_boosters_equal_pred_contrib(params: dict[str, Any]) -> None:
    booster = _booster(dict(params), rounds=25, seed=len(str(params)))
    dumped = booster.dump_model()["tree_info"]
    kinds = {n["missing_type"] for n in _internal_nodes(dumped) if n["decision_type"] == "<="}
    if params.get("zero_as_missing"):
        assert "Zero" in kinds
    if params.get("use_missing") is False:
        assert kinds == {"None"}
    assert any(n["decision_type"] == "==" for n in _internal_nodes(dumped))
    _check(booster, _rows(3))


def test_one_row_and_empty_batch() -> None:
    booster = _booster({"num_leaves": 31}, rounds=10)
    explainer = _check(booster, _rows(5)[:1])
    assert explainer.contributions(np.empty((0, 8))).shape == (0, 9)


def test_single_leaf_trees_are_base_value_only() -> None:
    # Too few rows to split: every tree is one leaf, whose value is all base value.
    booster = _booster({"min_data_in_leaf": 10_000}, rounds=3, rows=200)
    _check(booster, _rows(7))


def test_beyond_the_cap_falls_back_to_pred_contrib() -> None:
    booster = _booster({"num_leaves": 63, "max_depth": -1, "min_data_in_leaf": 3}, rounds=5)
    x = _rows(9)
    for explainer in (
        TreeShap(booster, max_unique_features=2),
        TreeShap(booster, max_table_entries=100),
    ):
        assert not explainer.compiled
        np.testing.assert_array_equal(
            explainer.contributions(x), booster.predict(x, pred_contrib=True)
        )
    assert TreeShap(booster).compiled


def test_threads_compile_once_and_agree() -> None:
    x, _ = _data(3000, seed=2)
    booster = _booster({"num_leaves": 15}, rounds=20)
    model = RiskModel(
        risk_features=[f"f{i}" for i in range(8)], revenue_features=[], categorical_features=[]
    )
    model.classifier_ = booster
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: (model.contributions(x[:50]), model.tree_shap_), range(8))
        )
    assert len({id(explainer) for _, explainer in results}) == 1
    for got, _ in results:
        np.testing.assert_allclose(
            got, booster.predict(x[:50], pred_contrib=True), rtol=0, atol=TOLERANCE
        )


def test_prepare_explainer_compiles_before_the_first_explanation() -> None:
    booster = _booster({"num_leaves": 7}, rounds=5)
    model = RiskModel(
        risk_features=[f"f{i}" for i in range(8)], revenue_features=[], categorical_features=[]
    )
    model.classifier_ = booster
    assert getattr(model, "tree_shap_", None) is None
    model.prepare_explainer()
    compiled = model.tree_shap_
    assert compiled is not None and compiled.booster is booster
    model.contributions(_rows(seed=4)[:3])
    assert model.tree_shap_ is compiled


def _internal_nodes(trees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out, stack = [], [t["tree_structure"] for t in trees]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            out.append(node)
            stack += [node["left_child"], node["right_child"]]
    return out
