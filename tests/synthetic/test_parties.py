"""The parties: AEO firms, the credit register and its histories, new importers."""

from __future__ import annotations

import pandas as pd

from portsift.synthetic.generator import SyntheticData
from tests.synthetic.conftest import AEO, tier_in_force


def test_aeo_firms_are_few_but_lodge_a_large_share(data: SyntheticData) -> None:
    d = data.declarations
    importers = d["importer_id"].unique()
    latest = data.enterprises.drop_duplicates("enterprise_id", keep="last")
    tier = latest.set_index("enterprise_id")["credit_tier"].reindex(importers).fillna("regular")
    assert 0.005 <= tier.isin(AEO).mean() <= 0.02
    share = tier_in_force(d, data.enterprises).isin(AEO).mean()
    assert 0.25 <= share <= 0.35
    assert 500 <= len(importers) <= 3000  # sub-linear in the rows


def test_register_tiers_and_histories(data: SyntheticData) -> None:
    d = data.declarations
    register = data.enterprises
    importers = pd.Series(d["importer_id"].unique())
    first_tier = register.drop_duplicates("enterprise_id", keep="first").set_index("enterprise_id")
    shares = (
        first_tier["credit_tier"].reindex(importers).fillna("regular").value_counts(normalize=True)
    )
    assert 0.01 <= shares.get("dishonest", 0) <= 0.04
    assert 0.001 <= shares.get("seriously_dishonest", 0) <= 0.01
    # Some firms change tier during the period: downgrades and upgrades.
    changes = register[register.duplicated("enterprise_id", keep="first")]
    assert len(changes) > 0
    assert changes["tier_since"].between(d["declared_at"].min(), d["declared_at"].max()).all()
    assert {"dishonest", "certified"} <= set(changes["credit_tier"])
    # The first tier holds from before the firm's first declaration.
    first_declared = d.groupby("importer_id")["declared_at"].min()
    registered = first_declared.index.intersection(first_tier.index)
    assert (first_tier.loc[registered, "tier_since"] <= first_declared[registered]).all()
    # Some importers are absent from the register, and brokers are in it.
    assert 0.02 <= 1 - importers.isin(register["enterprise_id"]).mean() <= 0.25
    assert d["declarant_id"].isin(register["enterprise_id"]).all()
    assert 50 <= d["declarant_id"].nunique() <= 400


def test_new_importers_appear_throughout_and_are_riskier(
    data: SyntheticData, truth: pd.DataFrame
) -> None:
    d = data.declarations
    first = d.groupby("importer_id")["declared_at"].transform("min")
    midpoint = d["declared_at"].min() + pd.Timedelta(days=365)
    late_entrants = d.loc[first > midpoint, "importer_id"].nunique()
    assert late_entrants > 0.1 * d["importer_id"].nunique()
    age = (d["declared_at"] - first).dt.days
    entered_late = first > d["declared_at"].min() + pd.Timedelta(days=60)
    young = truth["violation"][entered_late & (age < 90) & ~truth["drift_ring"]]
    old = truth["violation"][age > 365]
    assert young.mean() > 1.5 * old.mean()
