"""Behavioural tests of the trained model: invariances, monotonicity, explanation additivity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.features.pipeline import Registers
from portsift.models.bundle import Bundle, load_bundle
from portsift.models.scoring import score_declarations
from portsift.settings import load_settings
from portsift.synthetic.generator import SyntheticData
from portsift.training.train import fit, split_by_time


@pytest.fixture(scope="module")
def bundle(trained_model_dir: Path) -> Bundle:
    return load_bundle(trained_model_dir)


@pytest.fixture(scope="module")
def holdout(synthetic: SyntheticData) -> pd.DataFrame:
    ordered = synthetic.declarations.sort_values("declared_at", kind="stable")
    return split_by_time(ordered, load_settings().training.holdout_fraction)[1]


def _risk(bundle: Bundle, rows: pd.DataFrame, registers: Registers) -> np.ndarray:
    scored = score_declarations(bundle, rows, registers, rate=0.05, explain_rows=False)
    return scored.decisions["risk_score"].to_numpy()


def test_larger_undervaluation_never_lowers_the_risk(
    bundle: Bundle, holdout: pd.DataFrame, registers: Registers
) -> None:
    base = _risk(bundle, holdout, registers)
    # Powers of two scale exactly in floating point, so ratios between the scaled fields
    # stay bit-identical and only the price against its references changes.
    for factor in (0.5, 0.25, 0.125):
        cheaper = holdout.copy()
        # A trader who undervalues declares a lower value and pays correspondingly less.
        for column in ("declared_value", "fob_value", "total_taxes"):
            cheaper[column] = holdout[column] * factor
        risk = _risk(bundle, cheaper, registers)
        assert (risk >= base - 1e-12).all(), factor
        base = risk
    assert (base > _risk(bundle, holdout, registers)).mean() > 0.05


def test_renaming_an_importer_does_not_change_any_score(
    synthetic: SyntheticData, registers: Registers, holdout: pd.DataFrame
) -> None:
    settings = load_settings()
    ordered = synthetic.declarations.sort_values("declared_at", kind="stable")
    history = split_by_time(ordered, settings.training.holdout_fraction)[0]
    mapping = {old: f"Z{index:06d}" for index, old in enumerate(ordered["importer_id"].unique())}

    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["importer_id"] = out["importer_id"].map(mapping).astype("str")
        return out

    enterprises = registers.enterprises.copy()
    enterprises["enterprise_id"] = (
        enterprises["enterprise_id"].map(lambda e: mapping.get(e, e)).astype("str")
    )
    renamed_registers = Registers(enterprises, registers.lab_results, registers.commodities)
    scores = []
    for rows, regs in ((history, registers), (renamed(history), renamed_registers)):
        fitted = fit(rows, regs, settings)
        pipeline, model = fitted.pipeline, fitted.model
        target = holdout if regs is registers else renamed(holdout)
        features = pipeline.transform(target, regs)
        x = features[model.risk_features].to_numpy(dtype="float64")
        scores.append(model.calibrate(model.raw_score(x)))
    np.testing.assert_array_equal(scores[0], scores[1])


def test_contributions_add_up_to_the_raw_score(
    bundle: Bundle, holdout: pd.DataFrame, registers: Registers
) -> None:
    scored = score_declarations(bundle, holdout, registers, rate=0.05)
    explanation = scored.explanation
    assert explanation is not None and explanation.values.shape[0] == len(holdout) > 1000
    np.testing.assert_allclose(
        explanation.base_value + explanation.values.sum(axis=1),
        scored.decisions["raw_score"].to_numpy(),
        atol=1e-6,
    )


def test_risk_is_ordered_by_credit_tier_on_average(
    bundle: Bundle, holdout: pd.DataFrame, registers: Registers
) -> None:
    risk = pd.Series(_risk(bundle, holdout, registers), index=holdout.index)
    scored = score_declarations(bundle, holdout, registers, rate=0.05, explain_rows=False)
    mean = risk.groupby(scored.features["credit_tier"].to_numpy()).mean()
    assert mean["advanced"] < mean["regular"] < mean["dishonest"]
