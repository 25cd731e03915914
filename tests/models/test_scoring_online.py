"""The API's per-request path gives the decisions of the pandas scoring path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.features.online import columns_from_frame, compile_online
from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle, load_bundle
from portsift.models.policy import MEASURE_COLUMNS, RealTimePolicy
from portsift.models.realtime import ThresholdState
from portsift.models.scoring import (
    POLICY_OUTPUT_COLUMNS,
    SCORE_COLUMNS,
    registers_for,
    score_declarations,
    score_online,
)
from portsift.settings import load_settings
from portsift.synthetic.generator import SyntheticData
from tests.measure_registers import measure_registers


@pytest.fixture(scope="module")
def bundle(trained_model_dir: Path) -> Bundle:
    """The session's trained bundle."""
    return load_bundle(trained_model_dir)


@pytest.fixture(scope="module")
def policy(bundle: Bundle) -> RealTimePolicy:
    """The real-time policy with the thresholds saved at training."""
    state = ThresholdState.from_dict(bundle.metadata["policy_thresholds"])
    return RealTimePolicy(load_settings().selection, rate=state.rate, thresholds=state)


@pytest.fixture(scope="module")
def declarations(synthetic: SyntheticData) -> pd.DataFrame:
    """The last 1,500 declarations without labels, lab reports inline as the API takes them."""
    later = synthetic.declarations.tail(1500).drop(columns=["inspected", "illicit", "revenue"])
    reports = synthetic.lab_results.drop_duplicates("declaration_id", keep="last")
    return later.merge(reports, on="declaration_id", how="left").reset_index(drop=True)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_online_decisions_equal_the_pandas_path(
    bundle: Bundle, policy: RealTimePolicy, declarations: pd.DataFrame, lang: str
) -> None:
    registers = registers_for(bundle, Registers())
    expected = score_declarations(
        bundle, declarations, Registers(), rate=policy.rate_, policy=policy, lang=lang
    )
    online = compile_online(bundle.pipeline, registers)
    got = score_online(bundle, online, columns_from_frame(declarations), policy=policy, lang=lang)
    frame = expected.decisions
    assert frame["selected"].sum() > 0 and (frame["selected"] == 0).sum() > 0
    assert (frame["lane"] == "red_sampling").any() and (frame["lab_accepted"] == 1).any()
    for column in (*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS, "raw_score", "revenue_estimated"):
        want = frame[column]
        have = got.decisions[column]
        if pd.api.types.is_numeric_dtype(want):
            np.testing.assert_array_equal(want.to_numpy(dtype="float64"), have, err_msg=column)
        else:
            assert list(have) == want.astype(object).tolist(), column
    np.testing.assert_array_equal(expected.explanation.values, got.explanation.values)
    np.testing.assert_array_equal(expected.explanation.base_value, got.explanation.base_value)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_measures_22_and_12_on_the_online_path_equal_the_pandas_path(
    bundle: Bundle,
    policy: RealTimePolicy,
    declarations: pd.DataFrame,
    synthetic: SyntheticData,
    lang: str,
) -> None:
    sample = declarations.head(700)
    disclosures, rulings = measure_registers(synthetic, sample)
    given = Registers(disclosures=disclosures, rulings=rulings)
    expected = score_declarations(
        bundle, sample, given, rate=policy.rate_, policy=policy, lang=lang
    )
    online = compile_online(bundle.pipeline, registers_for(bundle, given))
    got = score_online(bundle, online, columns_from_frame(sample), policy=policy, lang=lang)
    frame = expected.decisions
    columns = (*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS, *MEASURE_COLUMNS, "priority", "raw_score")
    for column in columns:
        want = frame[column]
        have = got.decisions[column]
        if pd.api.types.is_numeric_dtype(want):
            np.testing.assert_array_equal(want.to_numpy(dtype="float64"), have, err_msg=column)
        else:
            assert list(have) == want.astype(object).tolist(), column
    # The measures are in play: disclosed rows to document review, rulings covering
    # risk (their reasons marked), rulings near their end flagged.
    disclosed = frame["selection_reason"] == "disclosure"
    assert disclosed.sum() >= 50 and (frame.loc[disclosed, "lane"] == "yellow").all()
    assert (frame["ruling_ids"] != "").sum() > 30 and frame["ruling_expiring"].sum() > 5
    assert (frame["ruling_risk_score"] < frame["risk_score"]).any()
    mark = "已由预裁定TR" if lang == "zh" else "(covered by advance ruling TR"
    assert frame["reasons"].str.contains(mark, regex=False).any()
