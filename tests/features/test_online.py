"""The compiled per-request features equal the pandas pipeline's, column by column."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from portsift.features import identity, lab
from portsift.features.online import NotCompilableError, columns_from_frame, compile_online
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.synthetic.generator import SyntheticData
from tests.measure_registers import measure_registers


@pytest.fixture(scope="module")
def fitted(synthetic: SyntheticData, registers: Registers) -> tuple[FeaturePipeline, pd.DataFrame]:
    """A pipeline fitted on the first 80% and the later declarations, lab reports inline."""
    declarations = synthetic.declarations
    cut = declarations["declared_at"].quantile(0.8)
    history = declarations[declarations["declared_at"] < cut]
    later = declarations[declarations["declared_at"] >= cut].drop(
        columns=["inspected", "illicit", "revenue"]
    )
    pipeline = FeaturePipeline().fit(history, registers)
    reports = synthetic.lab_results.drop_duplicates("declaration_id", keep="last")
    later = later.merge(reports, on="declaration_id", how="left").reset_index(drop=True)
    return pipeline, later


def _assert_same_columns(expected: pd.DataFrame, online: dict[str, np.ndarray]) -> None:
    for name in expected.columns:
        assert name in online, name
        column = expected[name]
        got = online[name]
        assert len(got) == len(column), name
        if pd.api.types.is_datetime64_any_dtype(column):
            np.testing.assert_array_equal(column.to_numpy(dtype="datetime64[ns]"), got, name)
        elif pd.api.types.is_numeric_dtype(column):
            np.testing.assert_array_equal(column.to_numpy(dtype="float64"), got, err_msg=name)
        else:
            want = column.astype(object).where(column.notna(), None).tolist()
            assert list(got) == want, name


def _both(
    pipeline: FeaturePipeline, declarations: pd.DataFrame, registers: Registers
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    serving = dataclasses.replace(registers, lab_results=None)
    expected = pipeline.transform(declarations, serving)
    online = compile_online(pipeline, serving).transform(columns_from_frame(declarations))
    return expected, online


def test_every_column_equals_the_pandas_pipeline(
    fitted: tuple[FeaturePipeline, pd.DataFrame], registers: Registers
) -> None:
    pipeline, later = fitted
    expected, online = _both(pipeline, later, registers)
    assert later["lab_id"].notna().sum() > 50  # inline reports are exercised
    _assert_same_columns(expected, online)


def test_unknown_keys_missing_fields_and_no_registers(
    fitted: tuple[FeaturePipeline, pd.DataFrame], registers: Registers
) -> None:
    pipeline, later = fitted
    changed = later.head(400).copy()
    # Importers, brokers, HS codes, offices and labs never seen in training.
    changed.loc[::3, "importer_id"] = "NEW-IMPORTER"
    changed.loc[1::3, "declarant_id"] = pd.NA
    changed.loc[::4, "hs_code"] = "999999"
    changed.loc[::5, "customs_office"] = "NEW-OFFICE"
    changed.loc[::6, "origin_country"] = pd.NA
    changed.loc[::7, ["quantity", "gross_weight"]] = np.nan
    changed.loc[::2, "lab_id"] = "NEW-LAB"
    changed.loc[::9, "issued_at"] = pd.NaT
    changed = changed.drop(columns=["fob_value", "departure_country"])
    expected, online = _both(pipeline, changed, registers)
    _assert_same_columns(expected, online)
    bare = Registers()
    _assert_same_columns(*_both(pipeline, changed, bare))


def test_a_lab_result_without_a_lab_id_is_ignored_as_by_pandas(
    fitted: tuple[FeaturePipeline, pd.DataFrame], registers: Registers
) -> None:
    pipeline, later = fitted
    changed = later.head(50).copy()
    changed["lab_id"] = pd.Series(pd.NA, index=changed.index, dtype="str")
    changed["lab_result"] = "fail"
    expected, online = _both(pipeline, changed, registers)
    _assert_same_columns(expected, online)
    assert np.isnan(online["lab_result_pass"]).all()


def test_extra_features_and_lab_registers_are_left_to_pandas(
    fitted: tuple[FeaturePipeline, pd.DataFrame], registers: Registers
) -> None:
    pipeline, _ = fitted
    with pytest.raises(NotCompilableError):
        compile_online(pipeline, registers)  # a lab results register
    extra = FeaturePipeline(extra_numeric=("freight",))
    extra.__dict__.update({k: v for k, v in pipeline.__dict__.items() if k.endswith("_")})
    with pytest.raises(NotCompilableError):
        compile_online(extra, Registers())
    assert set(lab.LAB_COLUMNS) <= set(columns_from_frame(fitted[1]))


def test_pair_statistics_over_built_in_columns_are_compiled(
    fitted: tuple[FeaturePipeline, pd.DataFrame], registers: Registers
) -> None:
    pipeline, later = fitted
    serving = Registers(registers.enterprises, None, registers.commodities)
    compiled = compile_online(pipeline, serving)
    expected, online = _both(pipeline, later, registers)
    for stat in identity.BUILT_IN_STATS:
        assert f"outcome:{stat.name}" in compiled.totals
        for name in identity.feature_names([stat]):
            assert name in pipeline.feature_names_, name
            np.testing.assert_array_equal(online[name], expected[name].to_numpy(), err_msg=name)
    # Known pairs are looked up, not filled: most later rows have a pair history.
    assert (online["importer_declarant_inspections"] > 0).mean() > 0.3
    assert (online["declarant_origin_violations"] > 0).any()
    # A weight of its own for the identity rates is compiled too.
    light = FeaturePipeline(identity_smoothing=2.0)
    light.__dict__.update({k: v for k, v in pipeline.__dict__.items() if k.endswith("_")})
    expected, online = _both(light, later.head(500), registers)
    _assert_same_columns(expected, online)
    changed = expected["importer_declarant_violation_rate"]
    assert not np.allclose(changed, pipeline.transform(later.head(500), serving)[changed.name])


def test_schema_categorical_columns_are_left_to_pandas(
    fitted: tuple[FeaturePipeline, pd.DataFrame],
) -> None:
    pipeline, _ = fitted
    extra = FeaturePipeline(extra_categorical=("seller_id",))
    extra.__dict__.update({k: v for k, v in pipeline.__dict__.items() if k.endswith("_")})
    with pytest.raises(NotCompilableError):
        compile_online(extra, Registers())


def test_the_registers_of_measures_22_and_12_are_compiled(
    fitted: tuple[FeaturePipeline, pd.DataFrame], registers: Registers, synthetic: SyntheticData
) -> None:
    pipeline, later = fitted
    sample = later.head(700)
    disclosures, rulings = measure_registers(synthetic, sample)
    given = dataclasses.replace(registers, disclosures=disclosures, rulings=rulings)
    expected, online = _both(pipeline, sample, given)
    _assert_same_columns(expected, online)
    # The measures meet the sample: named disclosures, rulings of every kind.
    assert (online["named_disclosure_id"] != None).sum() >= 90  # noqa: E711
    for kind in ("classification", "valuation", "origin"):
        assert (online[f"ruling_{kind}_id"] != None).sum() > 10, kind  # noqa: E711
    # One register alone, as a server may be given.
    for alone in (Registers(disclosures=disclosures), Registers(rulings=rulings)):
        _assert_same_columns(*_both(pipeline, sample, alone))


def test_ties_and_scopes_of_the_measure_registers_are_compiled_as_by_pandas(
    fitted: tuple[FeaturePipeline, pd.DataFrame], synthetic: SyntheticData
) -> None:
    pipeline, later = fitted
    sample = later.head(400).reset_index(drop=True)
    disclosures, rulings = measure_registers(synthetic, sample, every=5)
    day = sample["declared_at"].dt.normalize()
    some = sample.iloc[::9]
    extra = pd.DataFrame(
        {
            # Two more naming the same declarations: one the same day (the smaller id
            # wins the tie), one later.
            "disclosure_id": [f"TA{i:04d}" for i in range(len(some))]
            + [f"TZ{i:04d}" for i in range(len(some))]
            # The importer's disclosures naming no declaration, before, on and after.
            + [f"TG{i:04d}" for i in range(3 * len(some))],
            "enterprise_id": np.concatenate([some["importer_id"].to_numpy()] * 5),
            "declaration_id": [*some["declaration_id"], *some["declaration_id"]]
            + [None] * (3 * len(some)),
            "disclosed_at": np.concatenate(
                [
                    day.iloc[::9].to_numpy(),
                    (day.iloc[::9] + pd.Timedelta(days=2)).to_numpy(),
                    (day.iloc[::9] - pd.Timedelta(days=30)).to_numpy(),
                    day.iloc[::9].to_numpy(),
                    (day.iloc[::9] + pd.Timedelta(days=5)).to_numpy(),
                ]
            ),
            "kind": "valuation",
            "minor": np.resize([0.0, 1.0, 1.0], 5 * len(some)),
        }
    ).astype({"disclosure_id": "str", "enterprise_id": "str", "declaration_id": "str"})
    # Rulings of one kind ending on the same day (the larger id wins), and at six digits.
    ruled = sample.iloc[2::11]
    end = (ruled["declared_at"].dt.normalize() + pd.Timedelta(days=60)).to_numpy()
    ties = pd.DataFrame(
        {
            "ruling_id": [f"TQ{i:04d}" for i in range(2 * len(ruled))],
            "enterprise_id": np.concatenate([ruled["importer_id"].to_numpy()] * 2),
            "hs_code": np.concatenate(
                [ruled["hs_code"].to_numpy(), ruled["hs_code"].str[:6].to_numpy()]
            ),
            "kind": "origin",
            "valid_from": np.concatenate([end - np.timedelta64(300, "D")] * 2),
            "valid_to": np.concatenate([end] * 2),
        }
    ).astype({"ruling_id": "str", "enterprise_id": "str", "hs_code": "str", "kind": "str"})
    given = Registers(
        disclosures=pd.concat([disclosures, extra], ignore_index=True),
        rulings=pd.concat([rulings, ties], ignore_index=True),
    )
    expected, online = _both(pipeline, sample, given)
    _assert_same_columns(expected, online)
    assert (online["importer_disclosures"] > 0).sum() >= len(some)
    assert (online["enterprise_disclosure_id"] != None).sum() >= len(some)  # noqa: E711
    assert {v for v in online["named_disclosure_id"] if v is not None} & set(extra["disclosure_id"])
    assert {v for v in online["ruling_origin_id"] if v is not None} & set(ties["ruling_id"])
    # Registers that meet none of the declarations, and empty ones.
    none = Registers(disclosures=extra.iloc[0:0], rulings=ties.iloc[0:0])
    _assert_same_columns(*_both(pipeline, sample, none))
