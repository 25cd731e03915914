"""The late fraud ring: when it appears and whether inspections reveal it."""

from __future__ import annotations

import pandas as pd

from portsift.synthetic.drift import DRIFT_HS4, DRIFT_ORIGIN, DRIFT_PERIOD_SHARE, DRIFT_TRADE_MODE
from portsift.synthetic.generator import SyntheticData


def test_drift_pattern_appears_only_late(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    pattern = (
        (d["hs_code"].str[:4] == DRIFT_HS4)
        & (d["origin_country"] == DRIFT_ORIGIN)
        & (d["trade_mode"] == DRIFT_TRADE_MODE)
    )
    assert (pattern == truth["drift_ring"]).all()
    start = d["declared_at"].min()
    drift_start = start + pd.Timedelta(days=round(730 * (1 - DRIFT_PERIOD_SHARE)))
    assert pattern.sum() >= 50
    assert (d.loc[pattern, "declared_at"] >= drift_start).all()
    late = d["declared_at"] >= drift_start
    assert 0.008 < pattern[late].mean() < 0.03  # visible, but no flood
    assert d.loc[pattern, "declarant_id"].nunique() == 1
    ring = d.loc[pattern, "importer_id"].unique()
    assert (d.loc[d["importer_id"].isin(ring), "declared_at"] >= drift_start).all()
    assert truth.loc[pattern, "violation"].mean() > 0.6
    assert truth.loc[pattern & truth["violation"], "fraud_kind"].eq("undervaluation").all()


def test_drift_ring_is_revealed_by_inspections(timed_100k: tuple[SyntheticData, float]) -> None:
    generated, _ = timed_100k
    d = generated.declarations
    pattern = (
        (d["hs_code"].str[:4] == DRIFT_HS4)
        & (d["origin_country"] == DRIFT_ORIGIN)
        & (d["trade_mode"] == DRIFT_TRADE_MODE)
    )
    revealed = d.loc[pattern & (d["inspected"] == 1), "illicit"]
    assert len(revealed) >= 20
    assert revealed.mean() > 0.5
