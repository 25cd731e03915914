"""Feature pipeline: point-in-time correctness, state round trip, invariances."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from portsift.features import identity
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.features.stats import OutcomeStat
from portsift.synthetic.generator import SyntheticData, generate_synthetic


def _features(
    declarations: pd.DataFrame, registers: Registers
) -> tuple[FeaturePipeline, pd.DataFrame]:
    pipeline = FeaturePipeline()
    return pipeline, pipeline.fit_transform(declarations, registers)


def _cutoff(declarations: pd.DataFrame) -> pd.Timestamp:
    return declarations["declared_at"].quantile(0.6).normalize()


def _assert_early_rows_equal(
    base: pd.DataFrame, other: pd.DataFrame, early: np.ndarray, columns: list[str]
) -> None:
    left = base.loc[early, columns].to_numpy(dtype="float64")
    right = other.loc[early, columns].to_numpy(dtype="float64")
    np.testing.assert_array_equal(left, right)


def test_deleting_future_labels_changes_no_earlier_feature(
    synthetic: SyntheticData, registers: Registers
) -> None:
    declarations = synthetic.declarations
    pipeline, base = _features(declarations, registers)
    cutoff = _cutoff(declarations)
    future = (declarations["declared_at"] >= cutoff).to_numpy()
    blinded = declarations.copy()
    blinded.loc[future, ["illicit", "revenue"]] = np.nan
    blinded.loc[future, "inspected"] = 0.0
    _, other = _features(blinded, registers)
    _assert_early_rows_equal(base, other, ~future, pipeline.feature_names_)
    # The blinding must matter for later rows, or this test would prove nothing.
    later = base.loc[future, "importer_violation_rate"].to_numpy()
    assert not np.allclose(later, other.loc[future, "importer_violation_rate"].to_numpy())


def test_shuffling_future_labels_changes_no_earlier_feature(
    synthetic: SyntheticData, registers: Registers
) -> None:
    declarations = synthetic.declarations
    pipeline, base = _features(declarations, registers)
    future = (declarations["declared_at"] >= _cutoff(declarations)).to_numpy()
    shuffled = declarations.copy()
    rng = np.random.default_rng(3)
    rows = np.flatnonzero(future)
    permuted = rng.permutation(rows)
    for column in ("inspected", "illicit", "revenue"):
        shuffled.loc[shuffled.index[rows], column] = declarations[column].to_numpy()[permuted]
    _, other = _features(shuffled, registers)
    _assert_early_rows_equal(base, other, ~future, pipeline.feature_names_)


def test_row_order_within_the_history_does_not_matter(
    synthetic: SyntheticData, registers: Registers
) -> None:
    declarations = synthetic.declarations
    pipeline, base = _features(declarations, registers)
    shuffled = declarations.sample(frac=1.0, random_state=5)
    _, other = _features(shuffled, registers)
    other = other.loc[base.index]
    names = pipeline.feature_names_
    np.testing.assert_allclose(
        base[names].to_numpy(dtype="float64"),
        other[names].to_numpy(dtype="float64"),
        rtol=1e-12,
        atol=1e-12,
    )


def test_a_declaration_never_sees_its_own_outcome(registers: Registers) -> None:
    day = pd.Timestamp("2025-03-01")
    declarations = pd.DataFrame(
        {
            "declaration_id": pd.Series(["A", "B", "C"], dtype="str"),
            "declared_at": pd.to_datetime([day, day, day + pd.Timedelta(days=1)]),
            "importer_id": pd.Series(["I1", "I1", "I1"], dtype="str"),
            "hs_code": pd.Series(["6109100000"] * 3, dtype="str"),
            "declared_value": [100.0, 100.0, 100.0],
            "inspected": [1.0, 1.0, 1.0],
            "illicit": [1.0, 1.0, 0.0],
            "revenue": [50.0, 70.0, 0.0],
        }
    )
    features = FeaturePipeline(smoothing=1.0).fit_transform(declarations, Registers())
    inspections = np.expm1(features["importer_inspections"].to_numpy())
    # A and B were lodged the same day: neither sees the other; C sees both.
    np.testing.assert_allclose(inspections, [0.0, 0.0, 2.0])
    # C: 2 violations in 2 inspections, shrunk towards the overall rate (1.0) with weight 1.
    assert features["importer_violation_rate"].iloc[2] == pytest.approx((2 + 1 * 1.0) / (2 + 1))


def test_label_delay_hides_recent_outcomes() -> None:
    declarations = pd.DataFrame(
        {
            "declaration_id": pd.Series(["A", "B", "C"], dtype="str"),
            "declared_at": pd.to_datetime(["2025-03-01", "2025-03-03", "2025-03-10"]),
            "importer_id": pd.Series(["I1"] * 3, dtype="str"),
            "hs_code": pd.Series(["6109100000"] * 3, dtype="str"),
            "declared_value": [100.0] * 3,
            "inspected": [1.0] * 3,
            "illicit": [1.0, 0.0, 0.0],
        }
    )
    features = FeaturePipeline(label_delay_days=5).fit_transform(declarations, Registers())
    np.testing.assert_allclose(np.expm1(features["importer_inspections"]), [0.0, 0.0, 2.0])


def test_reference_price_uses_only_earlier_periods() -> None:
    declarations = pd.DataFrame(
        {
            "declaration_id": pd.Series([f"D{i}" for i in range(4)], dtype="str"),
            "declared_at": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-02-03", "2025-03-01"]),
            "importer_id": pd.Series(["I1", "I2", "I3", "I4"], dtype="str"),
            "hs_code": pd.Series(["6109100000"] * 4, dtype="str"),
            "declared_value": [100.0, 400.0, 50.0, 200.0],
            "quantity": [10.0, 10.0, 10.0, 10.0],
        }
    )
    features = FeaturePipeline().fit_transform(declarations, Registers())
    reference = features["ref_unit_value"].to_numpy()
    assert np.isnan(reference[0]) and np.isnan(reference[1])
    # February sees January's median of log unit values: exp(mean(log 10, log 40)) = 20.
    assert reference[2] == pytest.approx(20.0)
    # March pools January (2 rows, median 20) and February (1 row, 5): weighted in logs.
    expected = np.exp((2 * np.log(20.0) + np.log(5.0)) / 3)
    assert reference[3] == pytest.approx(expected)
    assert features["unit_value_ratio"].iloc[2] == pytest.approx(5.0 / 20.0)


def test_state_round_trip_through_json_gives_identical_features(
    synthetic: SyntheticData, registers: Registers
) -> None:
    declarations = synthetic.declarations
    cut = declarations["declared_at"].quantile(0.8)
    history = declarations[declarations["declared_at"] < cut]
    later = declarations[declarations["declared_at"] >= cut]
    pipeline = FeaturePipeline().fit(history, registers)
    restored = FeaturePipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    pd.testing.assert_frame_equal(
        pipeline.transform(later, registers), restored.transform(later, registers)
    )


def test_scoring_uses_totals_of_the_fitted_history(
    synthetic: SyntheticData, registers: Registers
) -> None:
    declarations = synthetic.declarations
    cut = declarations["declared_at"].quantile(0.8)
    history = declarations[declarations["declared_at"] < cut]
    later = declarations[declarations["declared_at"] >= cut]
    pipeline = FeaturePipeline().fit(history, registers)
    features = pipeline.transform(later, registers)
    importer = later["importer_id"].iloc[0]
    labelled = history[(history["importer_id"] == importer) & (history["inspected"] == 1)]
    expected = len(labelled[labelled["illicit"].notna()])
    observed = np.expm1(features["importer_inspections"].iloc[0])
    assert observed == pytest.approx(expected)


def test_renaming_importers_changes_no_feature(
    synthetic: SyntheticData, registers: Registers
) -> None:
    declarations = synthetic.declarations
    pipeline, base = _features(declarations, registers)
    renamed = declarations.copy()
    mapping = {old: f"X-{old[::-1]}" for old in declarations["importer_id"].unique()}
    renamed["importer_id"] = renamed["importer_id"].map(mapping).astype("str")
    enterprises = registers.enterprises.copy()
    enterprises["enterprise_id"] = (
        enterprises["enterprise_id"].map(lambda e: mapping.get(e, e)).astype("str")
    )
    _, other = _features(
        renamed, Registers(enterprises, registers.lab_results, registers.commodities)
    )
    names = pipeline.feature_names_
    np.testing.assert_allclose(
        base[names].to_numpy(dtype="float64"), other[names].to_numpy(dtype="float64"), rtol=1e-12
    )


def test_missing_optional_fields_are_left_out(synthetic: SyntheticData) -> None:
    declarations = synthetic.declarations.drop(columns=["quantity", "net_weight", "fob_value"])
    pipeline = FeaturePipeline()
    pipeline.fit_transform(declarations, Registers())
    for name in ("unit_value_ratio", "weight_per_unit_ratio", "net_gross_ratio", "cif_fob_ratio"):
        assert name in pipeline.dropped_features_
        assert name not in pipeline.feature_names_
    assert "value_per_kg_ratio" in pipeline.feature_names_


def test_transform_before_fit_is_refused(synthetic: SyntheticData) -> None:
    from portsift.features.pipeline import NotFittedError

    with pytest.raises(NotFittedError):
        FeaturePipeline().transform(synthetic.declarations.head(5), Registers())


# -- identity statistics: parties, their pairs and schema-file columns ---------------------

IDENTITY_EXTRAS = ("seller_id", "courier_id")
IDENTITY_KEYS = (
    "importer_declarant",
    "importer_hs6",
    "declarant_origin",
    "seller_hs6",
    "extra_seller_id",
    "extra_courier_id",
)


@pytest.fixture(scope="module")
def identity_world() -> SyntheticData:
    """A world whose fraud follows identities, with seller and courier columns."""
    return generate_synthetic(20_000, seed=5, fraud="identity")


@pytest.fixture(scope="module")
def identity_registers(identity_world: SyntheticData) -> Registers:
    return Registers(
        identity_world.enterprises, identity_world.lab_results, identity_world.commodities
    )


def _identity_features(
    declarations: pd.DataFrame, registers: Registers
) -> tuple[FeaturePipeline, pd.DataFrame]:
    pipeline = FeaturePipeline(extra_categorical=IDENTITY_EXTRAS)
    return pipeline, pipeline.fit_transform(declarations, registers)


def _identity_columns(pipeline: FeaturePipeline) -> list[str]:
    stats = [
        s for s in pipeline.statistics() if isinstance(s, OutcomeStat) and s.name in IDENTITY_KEYS
    ]
    return [n for n in identity.feature_names(stats) if n in pipeline.feature_names_]


def test_pair_statistics_count_only_outcomes_available_before_the_row() -> None:
    day = pd.Timestamp("2025-03-03")
    dates = [day, day, day + pd.Timedelta(days=1), day + pd.Timedelta(days=2), day]
    declarations = pd.DataFrame(
        {
            "declaration_id": pd.Series([f"D{i}" for i in range(5)], dtype="str"),
            "declared_at": pd.to_datetime(dates),
            "importer_id": pd.Series(["I1", "I1", "I1", "I1", "I2"], dtype="str"),
            "declarant_id": pd.Series(["B1", "B1", "B2", "B1", "B1"], dtype="str"),
            "origin_country": pd.Series(["VN", "VN", "VN", "VN", "TH"], dtype="str"),
            "hs_code": pd.Series(["6109100000"] * 5, dtype="str"),
            "declared_value": [100.0] * 5,
            "inspected": [1.0, 1.0, 1.0, 1.0, 1.0],
            "illicit": [1.0, 0.0, 1.0, 0.0, 1.0],
            "revenue": [40.0, 0.0, 10.0, 0.0, 5.0],
        }
    )
    features = FeaturePipeline(smoothing=2.0).fit_transform(declarations, Registers())
    inspections = np.expm1(features["importer_declarant_inspections"].to_numpy())
    violations = np.expm1(features["importer_declarant_violations"].to_numpy())
    # D0 and D1 (same day) see nothing; D2 is another pair; D3 sees D0 and D1 only.
    np.testing.assert_allclose(inspections, [0, 0, 0, 2, 0], atol=1e-12)
    np.testing.assert_allclose(violations, [0, 0, 0, 1, 0], atol=1e-12)
    # The rate is shrunk towards the overall rate known on D3's day (4 of 5 inspections).
    prior = 3.0 / 4.0
    expected = (1 + 2.0 * prior) / (2 + 2.0)
    assert features["importer_declarant_violation_rate"].iloc[3] == pytest.approx(expected)
    # Broker x origin pools importers: D3 sees D0, D1 (VN through B1), not D4 (TH).
    np.testing.assert_allclose(
        np.expm1(features["declarant_origin_inspections"].to_numpy()), [0, 0, 0, 2, 0]
    )
    delayed = FeaturePipeline(label_delay_days=2).fit_transform(declarations, Registers())
    assert np.expm1(delayed["importer_declarant_inspections"].iloc[3]) == pytest.approx(0.0)


def test_identity_smoothing_weighs_the_pair_prior_and_is_saved() -> None:
    declarations = pd.DataFrame(
        {
            "declaration_id": pd.Series(["A", "B", "C"], dtype="str"),
            "declared_at": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"]),
            "importer_id": pd.Series(["I1", "I2", "I1"], dtype="str"),
            "declarant_id": pd.Series(["B1", "B1", "B1"], dtype="str"),
            "hs_code": pd.Series(["6109100000"] * 3, dtype="str"),
            "declared_value": [100.0] * 3,
            "inspected": [1.0, 1.0, 1.0],
            "illicit": [1.0, 0.0, 0.0],
        }
    )
    pipeline = FeaturePipeline(smoothing=20.0, identity_smoothing=1.0)
    features = pipeline.fit_transform(declarations, Registers())
    # C: its pair saw A (1 of 1); the overall rate then is 1 of 2.
    assert features["importer_declarant_violation_rate"].iloc[2] == pytest.approx(1.5 / 2)
    assert features["importer_violation_rate"].iloc[2] == pytest.approx(11.0 / 21)
    restored = FeaturePipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    assert restored.identity_smoothing == 1.0 and restored.identity_weight == 1.0
    assert FeaturePipeline(smoothing=7.0).identity_weight == 7.0


def test_pair_features_are_missing_where_a_part_of_the_key_is() -> None:
    declarations = pd.DataFrame(
        {
            "declaration_id": pd.Series(["A", "B"], dtype="str"),
            "declared_at": pd.to_datetime(["2025-01-01", "2025-01-02"]),
            "importer_id": pd.Series(["I1", "I1"], dtype="str"),
            "declarant_id": pd.Series(["B1", pd.NA], dtype="str"),
            "hs_code": pd.Series(["6109100000"] * 2, dtype="str"),
            "declared_value": [100.0, 100.0],
        }
    )
    features = FeaturePipeline().fit_transform(declarations, Registers())
    for key in ("importer_declarant", "declarant_origin"):
        assert features[f"{key}_violation_rate"].isna().iloc[1]
    assert not features["importer_hs6_violation_rate"].isna().any()


def test_identity_keys_follow_the_schema_columns() -> None:
    plain = {s.name: s.keys for s in FeaturePipeline().statistics()}
    assert plain["importer_declarant"] == ("importer_id", "declarant_id")
    assert plain["importer_hs6"] == ("importer_id", "hs6")
    assert plain["declarant_origin"] == ("declarant_id", "origin_country")
    assert "seller_hs6" not in plain
    seller = {
        s.name: s.keys for s in FeaturePipeline(extra_categorical=("Seller ID",)).statistics()
    }
    assert seller["seller_hs6"] == ("extra_seller_id", "hs6")
    assert seller["extra_seller_id"] == ("extra_seller_id",)
    courier = {s.name: s.keys for s in FeaturePipeline(extra_categorical=("courier",)).statistics()}
    assert "seller_hs6" not in courier and courier["extra_courier"] == ("extra_courier",)
    stats = FeaturePipeline(extra_categorical=("seller",)).statistics()
    names = identity.feature_names([s for s in stats if isinstance(s, OutcomeStat)])
    for suffix in ("_inspections", "_violations", "_violation_rate", "_revenue_per_inspection"):
        assert f"seller_hs6{suffix}" in names and f"extra_seller{suffix}" in names


def test_deleting_future_labels_changes_no_earlier_identity_feature(
    identity_world: SyntheticData, identity_registers: Registers
) -> None:
    declarations = identity_world.declarations
    pipeline, base = _identity_features(declarations, identity_registers)
    columns = _identity_columns(pipeline)
    assert {f"{key}_violation_rate" for key in IDENTITY_KEYS} <= set(columns)
    future = (declarations["declared_at"] >= _cutoff(declarations)).to_numpy()
    blinded = declarations.copy()
    blinded.loc[future, ["illicit", "revenue"]] = np.nan
    blinded.loc[future, "inspected"] = 0.0
    _, other = _identity_features(blinded, identity_registers)
    _assert_early_rows_equal(base, other, ~future, pipeline.feature_names_)
    for key in ("importer_declarant", "seller_hs6", "extra_courier_id"):
        later = base.loc[future, f"{key}_violation_rate"].to_numpy()
        assert not np.allclose(later, other.loc[future, f"{key}_violation_rate"].to_numpy()), key


def test_shuffling_future_labels_changes_no_earlier_identity_feature(
    identity_world: SyntheticData, identity_registers: Registers
) -> None:
    declarations = identity_world.declarations
    pipeline, base = _identity_features(declarations, identity_registers)
    future = (declarations["declared_at"] >= _cutoff(declarations)).to_numpy()
    shuffled = declarations.copy()
    rows = np.flatnonzero(future)
    permuted = np.random.default_rng(8).permutation(rows)
    for column in ("inspected", "illicit", "revenue"):
        shuffled.loc[shuffled.index[rows], column] = declarations[column].to_numpy()[permuted]
    _, other = _identity_features(shuffled, identity_registers)
    _assert_early_rows_equal(base, other, ~future, _identity_columns(pipeline))
    _assert_early_rows_equal(base, other, ~future, pipeline.feature_names_)


def test_renaming_importers_and_sellers_changes_no_identity_feature(
    identity_world: SyntheticData, identity_registers: Registers
) -> None:
    declarations = identity_world.declarations
    pipeline, base = _identity_features(declarations, identity_registers)
    renamed = declarations.copy()
    importers = {old: f"X-{old[::-1]}" for old in declarations["importer_id"].unique()}
    renamed["importer_id"] = renamed["importer_id"].map(importers).astype("str")
    renamed["seller_id"] = ("S-" + renamed["seller_id"].str[::-1]).astype("str")
    enterprises = identity_registers.enterprises.copy()
    enterprises["enterprise_id"] = (
        enterprises["enterprise_id"].map(lambda e: importers.get(e, e)).astype("str")
    )
    registers = Registers(
        enterprises, identity_registers.lab_results, identity_registers.commodities
    )
    _, other = _identity_features(renamed, registers)
    columns = _identity_columns(pipeline)
    np.testing.assert_array_equal(
        base[columns].to_numpy(dtype="float64"), other[columns].to_numpy(dtype="float64")
    )


def test_scoring_uses_pair_totals_of_the_fitted_history(
    identity_world: SyntheticData, identity_registers: Registers
) -> None:
    declarations = identity_world.declarations
    cut = declarations["declared_at"].quantile(0.8)
    history = declarations[declarations["declared_at"] < cut]
    later = declarations[declarations["declared_at"] >= cut]
    pipeline = FeaturePipeline(extra_categorical=IDENTITY_EXTRAS).fit(history, identity_registers)
    features = pipeline.transform(later, identity_registers)
    labelled = history[history["inspected"] == 1]
    pairs = labelled.groupby(["importer_id", "declarant_id"]).agg(
        n=("illicit", "size"), v=("illicit", "sum")
    )
    keys = pd.MultiIndex.from_frame(later[["importer_id", "declarant_id"]])
    expected = pairs.reindex(keys).fillna(0.0)
    np.testing.assert_allclose(
        np.expm1(features["importer_declarant_inspections"].to_numpy()), expected["n"], atol=1e-9
    )
    np.testing.assert_allclose(
        np.expm1(features["importer_declarant_violations"].to_numpy()), expected["v"], atol=1e-9
    )
    sellers = labelled.assign(hs6=labelled["hs_code"].str[:6]).groupby(["seller_id", "hs6"]).size()
    seller_keys = pd.MultiIndex.from_arrays([later["seller_id"], later["hs_code"].str[:6]])
    np.testing.assert_allclose(
        np.expm1(features["seller_hs6_inspections"].to_numpy()),
        sellers.reindex(seller_keys).fillna(0.0).to_numpy(),
        atol=1e-9,
    )
    restored = FeaturePipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    pd.testing.assert_frame_equal(features, restored.transform(later, identity_registers))


def test_a_state_without_the_identity_statistics_is_refused(
    synthetic: SyntheticData, registers: Registers
) -> None:
    from portsift.features.pipeline import NotFittedError

    pipeline = FeaturePipeline().fit(synthetic.declarations.head(2_000), registers)
    del pipeline.state_["outcome:importer_declarant"]
    with pytest.raises(NotFittedError, match="retrain"):
        pipeline.transform(synthetic.declarations.tail(10), registers)
