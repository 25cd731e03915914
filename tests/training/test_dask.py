"""The Dask engine against the pandas engine, on a real two-process local cluster."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

from distributed import Client, LocalCluster

from portsift.features.dask_pipeline import fit_transform_dask, partition_column, with_row_index
from portsift.features.pipeline import STATS, FeaturePipeline, Registers
from portsift.models.bundle import load_bundle
from portsift.models.policy import SelectionPolicy
from portsift.models.scoring import score_declarations
from portsift.settings import load_settings
from portsift.synthetic.generator import generate_synthetic
from portsift.training.scale import (
    baseline_rows,
    fingerprint_dask,
    partitioned,
    score_dask,
    train_dask,
)
from portsift.training.train import fingerprint, train

#: Features built from sums of revenue (floats summed per group and day, in an order
#: that can differ between engines: importer, broker and the identity keys' revenue per
#: inspection): equal to 1e-9 relative, not bit for bit.
FLOAT_SUMS = "_revenue_per_inspection"


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def tables():
    return generate_synthetic(120_000, seed=11)


@pytest.fixture(scope="module")
def data(tables):
    registers = Registers(tables.enterprises, tables.lab_results, tables.commodities)
    return tables.declarations, registers


def test_every_statistic_has_a_partition_column():
    # The unkeyed ones are the global totals; every keyed one must keep its groups whole.
    stats = FeaturePipeline(extra_categorical=("seller_id", "courier_id")).statistics()
    assert set(STATS) <= set(stats)
    for stat in stats:
        column = partition_column(stat)
        if column is None:
            assert stat.keys == ()
        elif column == "hs2":
            assert {k[:2] for k in stat.keys} & {"hs"}
        else:
            assert column in stat.keys


def _assert_dask_equals_pandas(client, history, registers, **params):
    expected_pipeline = FeaturePipeline(**params)
    expected = expected_pipeline.fit_transform(history, registers)
    pipeline = FeaturePipeline(**params)
    frame = with_row_index(partitioned(history, 7_000, client))
    got = fit_transform_dask(pipeline, frame, registers).compute()
    got.index = history.index[got.index.to_numpy()]
    got = got.loc[expected.index]
    assert list(got.columns) == list(expected.columns)
    assert pipeline.feature_names_ == expected_pipeline.feature_names_
    assert pipeline.vocabulary_ == expected_pipeline.vocabulary_
    assert pipeline.history_end_ == expected_pipeline.history_end_
    for column in expected.columns:
        a, b = expected[column], got[column]
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            x, y = a.to_numpy(dtype="float64"), b.to_numpy(dtype="float64")
            if column.endswith(FLOAT_SUMS):
                np.testing.assert_allclose(y, x, rtol=1e-9, atol=0, err_msg=column)
            else:
                np.testing.assert_array_equal(y, x, err_msg=column)
        else:
            pd.testing.assert_series_equal(b.astype("str"), a.astype("str"), check_names=False)
    assert list(pipeline.state_) == list(expected_pipeline.state_)
    for name, table in expected_pipeline.state_.items():
        other = pipeline.state_[name]
        assert list(other.columns) == list(table.columns), name
        assert len(other) == len(table), name
        for column in table.columns:
            if pd.api.types.is_numeric_dtype(table[column]):
                np.testing.assert_allclose(
                    other[column].to_numpy(dtype="float64"),
                    table[column].to_numpy(dtype="float64"),
                    rtol=1e-9,
                    err_msg=f"{name}.{column}",
                )
            else:
                assert other[column].astype("str").tolist() == table[column].astype("str").tolist()
    return pipeline


def test_dask_features_equal_pandas_features(client, data):
    declarations, registers = data
    pipeline = _assert_dask_equals_pandas(client, declarations.iloc[:30_000], registers)
    for name in ("importer_declarant", "importer_hs6", "declarant_origin"):
        assert f"{name}_violation_rate" in pipeline.feature_names_


def test_dask_identity_features_of_schema_columns_equal_pandas(client):
    tables = generate_synthetic(30_000, seed=4, fraud="identity")
    registers = Registers(tables.enterprises, tables.lab_results, tables.commodities)
    extra = ("seller_id", "courier_id")
    stats = FeaturePipeline(extra_categorical=extra).statistics()
    # The seller x HS6 record is shuffled by chapter, a column's own record by the column.
    columns = {stat.name: partition_column(stat) for stat in stats}
    assert columns["seller_hs6"] == "hs2"
    assert columns["extra_courier_id"] == "extra_courier_id"
    assert columns["importer_declarant"] == "importer_id"
    assert columns["declarant_origin"] == "declarant_id"
    pipeline = _assert_dask_equals_pandas(
        client, tables.declarations, registers, extra_categorical=extra
    )
    for name in ("seller_hs6", "extra_seller_id", "extra_courier_id"):
        assert f"{name}_violation_rate" in pipeline.feature_names_


@pytest.fixture(scope="module")
def models(client, data, tmp_path_factory):
    declarations, registers = data
    # Ranked by risk, of [model]'s shape, on both engines: the Dask engine chooses neither a
    # blend weight nor a shape yet.
    default = load_settings()
    selection = default.selection.model_copy(update={"objective": "hits"})
    search = default.model_search.model_copy(update={"shapes": ()})
    settings = default.model_copy(update={"selection": selection, "model_search": search})
    root = tmp_path_factory.mktemp("models")
    pandas_result = train(declarations, registers, settings, root / "pandas", track=False)
    dask_result = train_dask(
        partitioned(declarations, 30_000, client), registers, settings, root / "dask", client
    )
    return settings, pandas_result, dask_result


def test_dask_model_matches_pandas_model(models):
    _, pandas_result, dask_result = models
    assert dask_result.holdout_start == pandas_result.holdout_start
    expected = pandas_result.evaluation.model_metrics()
    got = dask_result.evaluation.model_metrics()
    assert abs(got["holdout_auc"] - expected["holdout_auc"]) <= 0.01
    # DaskLGBMClassifier builds its histograms per worker, and which partitions land on
    # which worker varies from run to run, so the two boosters differ a little and the
    # Dask one is not the same twice: on identical input it scored 0.865 and 0.887
    # against the pandas 0.844. Within seven hits of the ~140 in the top 5% (one hit is
    # 0.007); the AUC above is held to 0.01.
    assert abs(got["holdout_precision_at_5"] - expected["holdout_precision_at_5"]) <= 0.05
    bundle = load_bundle(dask_result.model_dir)
    assert bundle.metadata["engine"] == "dask"
    assert (
        bundle.pipeline.feature_names_
        == load_bundle(pandas_result.model_dir).pipeline.feature_names_
    )


@pytest.fixture(scope="module")
def holdout(data, models):
    declarations, _ = data
    start = pd.Timestamp(models[1].holdout_start)
    return declarations[declarations["declared_at"] >= start].reset_index(drop=True)


def test_explain_modes(models, data, holdout):
    settings, _, dask_result = models
    _, registers = data
    bundle = load_bundle(dask_result.model_dir)
    batch = holdout.iloc[:4_000]

    def run(mode, ids=None):
        return score_declarations(
            bundle,
            batch,
            registers,
            rate=0.05,
            policy=SelectionPolicy(settings.selection),
            explain_rows=mode,
            explain_ids=ids,
        )

    every, none = run(True), run(False)
    chosen = every.decisions["selected"].to_numpy() == 1
    extra = batch["declaration_id"][~chosen].iloc[:5].tolist()
    selected = run("selected", extra)
    asked = chosen | batch["declaration_id"].isin(extra).to_numpy()
    decision_columns = [c for c in every.decisions.columns if c != "reasons"]
    for scored in (none, selected):
        pd.testing.assert_frame_equal(
            scored.decisions[decision_columns], every.decisions[decision_columns]
        )
    reasons = selected.decisions["reasons"]
    assert reasons[asked].tolist() == every.decisions["reasons"][asked].tolist()
    assert reasons[~asked].tolist() == none.decisions["reasons"][~asked].tolist()
    # The explained rows carry the model's factors, the policy's note alone is shorter.
    assert (reasons[asked].str.len() > none.decisions["reasons"][asked].str.len()).all()
    assert none.explanation is None
    assert np.isnan(selected.explanation.values[~asked]).all()
    np.testing.assert_allclose(
        selected.explanation.values[asked], every.explanation.values[asked], rtol=0, atol=1e-12
    )


def test_dask_scoring_equals_pandas_scoring(client, models, data, holdout):
    settings, _, dask_result = models
    _, registers = data
    bundle = load_bundle(dask_result.model_dir)
    policy = SelectionPolicy(settings.selection)
    expected = score_declarations(
        bundle, holdout, registers, rate=0.05, policy=policy, explain_rows="selected"
    ).decisions
    got = score_dask(
        bundle,
        partitioned(holdout, 6_000, client),
        registers,
        client,
        rate=0.05,
        policy=policy,
        explain_rows="selected",
    ).decisions
    pd.testing.assert_frame_equal(got, expected)


def test_dask_scoring_with_disclosures_and_rulings_equals_pandas(
    client, models, data, tables, holdout
):
    settings, _, dask_result = models
    _, registers = data
    measures = dataclasses.replace(
        registers, disclosures=tables.disclosures, rulings=tables.rulings
    )
    bundle = load_bundle(dask_result.model_dir)
    policy = SelectionPolicy(settings.selection)
    batch = holdout.iloc[:12_000]
    expected = score_declarations(
        bundle, batch, measures, rate=0.05, policy=policy, explain_rows="selected"
    ).decisions
    assert (expected["ruling_ids"] != "").any()
    got = score_dask(
        bundle,
        partitioned(batch, 3_000, client),
        measures,
        client,
        rate=0.05,
        policy=policy,
        explain_rows="selected",
    ).decisions
    pd.testing.assert_frame_equal(got, expected)


def test_fingerprint_streamed_over_parts_equals_pandas(client, data):
    declarations, _ = data
    frame = declarations.iloc[:20_000].reset_index(drop=True)
    # Ten parts, more than the window of parts the client hashes at a time.
    got = fingerprint_dask(partitioned(frame, 2_000, client))
    assert got == fingerprint(frame)


def test_baseline_rows_all_under_the_limit_a_bounded_stride_above(client, data):
    declarations, _ = data
    frame = with_row_index(partitioned(declarations.iloc[:20_000], 4_000, client))
    labelled = frame[frame["inspected"] == 1][["declared_value", "illicit"]]
    every = labelled.compute()
    pd.testing.assert_frame_equal(baseline_rows(labelled, len(every)), every)
    limit = len(every) // 4
    sample = baseline_rows(labelled, limit)
    step = -(-len(every) // limit)
    # The labelled rows whose position is a multiple of the stride, no other, in order.
    pd.testing.assert_frame_equal(sample, every[every.index.to_numpy() % step == 0])
    assert 0.5 * limit <= len(sample) <= 1.5 * limit


def test_kept_rows_have_the_features_of_every_row(client, data):
    declarations, registers = data
    history = declarations.iloc[:12_000]
    frame = with_row_index(partitioned(history, 3_000, client))
    whole_pipeline, kept_pipeline = FeaturePipeline(), FeaturePipeline()
    whole = fit_transform_dask(whole_pipeline, frame, registers).compute()
    kept = fit_transform_dask(
        kept_pipeline, frame, registers, keep=lambda part: part[part["inspected"] == 1]
    ).compute()
    assert 0 < len(kept) < len(whole)
    pd.testing.assert_frame_equal(kept, whole[whole["inspected"] == 1])
    assert kept_pipeline.feature_names_ == whole_pipeline.feature_names_
    assert list(kept_pipeline.state_) == list(whole_pipeline.state_)
