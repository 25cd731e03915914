"""Feature pipeline: point-in-time correctness, state round trip, invariances."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.pipeline import FeaturePipeline, Registers
from features.synthetic import SyntheticData


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
    from features.pipeline import NotFittedError

    with pytest.raises(NotFittedError):
        FeaturePipeline().transform(synthetic.declarations.head(5), Registers())
