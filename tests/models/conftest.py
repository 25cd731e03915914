"""Fixtures shared by the selection-policy tests (policy, lanes, real time)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from portsift.features.pipeline import Registers
from portsift.models.bundle import load_bundle
from portsift.models.policy import POLICY_COLUMNS
from portsift.models.scoring import score_declarations
from portsift.settings import SelectionSettings, load_settings
from portsift.synthetic.generator import SyntheticData
from portsift.training.train import split_by_time


# Package scope: the hold-out is scored once for every policy test module.
@pytest.fixture(scope="package")
def config() -> SelectionSettings:
    return load_settings().selection


@pytest.fixture(scope="package")
def scored(trained_model_dir: Path, synthetic: SyntheticData, registers: Registers) -> pd.DataFrame:
    """The hold-out, scored once: policy inputs, labels, ``risk_score``, ``priority``."""
    ordered = synthetic.declarations.sort_values("declared_at", kind="stable")
    holdout = split_by_time(ordered, load_settings().training.holdout_fraction)[1]
    batch = score_declarations(
        load_bundle(trained_model_dir), holdout, registers, rate=0.05, explain_rows=False
    )
    features = batch.features.reset_index(drop=True)
    extra = ("inspected", "illicit", "revenue")
    columns = [c for c in (*POLICY_COLUMNS, *extra) if c in features]
    return features[columns].assign(
        risk_score=batch.decisions["risk_score"].to_numpy(),
        priority=batch.decisions["priority"].to_numpy(),
        raw_score=batch.decisions["raw_score"].to_numpy(),
    )
