"""The historic selection: inspection rates by tier in force, and what labels reveal."""

from __future__ import annotations

import pandas as pd

from portsift.synthetic.generator import SyntheticData
from tests.synthetic.conftest import AEO, LOW_TIERS, tier_in_force


def test_inspection_rate_by_tier_in_force(data: SyntheticData, truth: pd.DataFrame) -> None:
    tiers = tier_in_force(data.declarations, data.enterprises)
    assert (tiers == truth["credit_tier"]).all()
    rates = data.declarations["inspected"].groupby(tiers).mean()
    assert 0.005 <= rates["advanced"] <= 0.035
    assert 0.03 <= rates["certified"] <= 0.075
    assert 0.09 <= rates["regular"] <= 0.15
    assert 0.38 <= rates["dishonest"] <= 0.62
    assert 0.6 <= rates["seriously_dishonest"] <= 0.95
    violation = truth["violation"].groupby(tiers).mean()
    assert violation[list(AEO)].max() < violation["regular"] / 3
    assert violation["dishonest"] > 2 * violation["regular"]


def test_tier_effect_in_labels_is_real_but_not_extreme(
    timed_100k: tuple[SyntheticData, float],
) -> None:
    generated, _ = timed_100k
    d = generated.declarations
    inspected = d[d["inspected"] == 1]
    tiers = tier_in_force(inspected, generated.enterprises)
    regular = inspected.loc[tiers == "regular", "illicit"].mean()
    aeo = inspected.loc[tiers.isin(AEO), "illicit"].mean()
    low = inspected.loc[tiers.isin(LOW_TIERS), "illicit"].mean()
    # Credit tiers are real policy and carry signal ...
    assert aeo < regular / 2
    assert low > 2 * regular
    # ... but an AEO firm does violate now and then, and most rows of a dishonest firm
    # are clean.
    assert aeo > regular / 8
    assert low < 3.6 * regular
    assert low < 0.35
