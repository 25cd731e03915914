"""The fraud mechanisms: the traces each fraud kind leaves, and the revenue at stake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portsift.synthetic.catalogue import FAMILIES
from portsift.synthetic.generator import SyntheticData

VALUATION_KINDS = ("undervaluation", "misclassification", "quantity")
TRACELESS_KINDS = ("origin", "compliance")
BULK_HEADINGS = tuple(f.hs4 for f in FAMILIES if f.bulk)


def test_undervaluation_is_visible_in_unit_values(data: SyntheticData) -> None:
    d = data.declarations[data.declarations["declared_value"] > 0]
    unit_value = d["declared_value"] / d["quantity"]
    ratio = unit_value / unit_value.groupby(d["hs_code"]).transform("median")
    inspected = d["inspected"] == 1
    illicit = ratio[inspected & (d["illicit"] == 1)].median()
    licit = ratio[inspected & (d["illicit"] == 0)].median()
    assert illicit < 0.8 * licit
    # ... but honest prices vary too, so low unit values are no proof.
    assert (ratio[inspected & (d["illicit"] == 0)] < 0.5).mean() > 0.01


def test_each_fraud_kind_leaves_its_trace(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    kinds = truth["fraud_kind"]
    assert set(kinds) == {"", *VALUATION_KINDS, *TRACELESS_KINDS}
    assert (kinds[~truth["violation"]] == "").all()
    assert (kinds[truth["violation"]] != "").all()
    per_unit = d["gross_weight"] / d["quantity"]
    weight_ratio = per_unit / per_unit.groupby(d["hs_code"]).transform("median")
    assert weight_ratio[kinds == "quantity"].median() > 1.4
    # The most careful quantity fraudsters scale the gross weight too: no weight trace.
    scaled = d["gross_weight"] < truth["true_gross_weight"]
    assert 0.05 < scaled[kinds == "quantity"].mean() < 0.3
    assert (
        d.loc[kinds == "quantity", "quantity"] < truth.loc[kinds == "quantity", "true_quantity"]
    ).all()
    assert (
        d.loc[kinds == "undervaluation", "declared_value"]
        < truth.loc[kinds == "undervaluation", "true_value"]
    ).all()
    assert weight_ratio[kinds == ""].median() == pytest.approx(1.0, abs=0.05)
    swapped = kinds == "misclassification"
    assert (truth.loc[swapped, "true_hs_code"] != d.loc[swapped, "hs_code"]).all()
    assert (truth.loc[~swapped, "true_hs_code"] == d.loc[~swapped, "hs_code"]).all()
    assert (truth.loc[swapped, "true_hs_code"].str[:2] == d.loc[swapped, "hs_code"].str[:2]).all()


def test_traceless_kinds_leave_the_declared_fields_as_the_goods_are(
    data: SyntheticData, truth: pd.DataFrame
) -> None:
    d = data.declarations
    kinds = truth["fraud_kind"]
    violation = truth["violation"]
    traceless = kinds.isin(TRACELESS_KINDS)
    assert 0.22 <= traceless[violation].mean() <= 0.36
    assert {"origin", "compliance"} <= set(kinds[traceless])
    # Every declared field is that of the true goods ...
    rows = d[traceless]
    pd.testing.assert_series_equal(
        rows["hs_code"], truth.loc[traceless, "true_hs_code"], check_names=False
    )
    for field in ("value", "quantity", "net_weight", "gross_weight"):
        column = "declared_value" if field == "value" else field
        np.testing.assert_array_equal(rows[column], truth.loc[traceless, f"true_{field}"])
    # ... as for honest rows, and unlike every valuation fraud.
    honest = (~violation & (d["declared_value"] > 0)).to_numpy()
    np.testing.assert_array_equal(d.loc[honest, "declared_value"], truth.loc[honest, "true_value"])
    valuation = kinds.isin(VALUATION_KINDS)
    changed = (
        (d["hs_code"] != truth["true_hs_code"])
        | (d["declared_value"] < truth["true_value"])
        | (d["quantity"] < truth["true_quantity"])
    )
    assert changed[valuation].all()
    # So unit values and weights per unit of traceless rows look honest.
    priced = d["declared_value"] > 0
    unit_value = d["declared_value"] / d["quantity"]
    value_ratio = unit_value / unit_value[priced].groupby(d["hs_code"]).transform("median")
    per_unit = d["gross_weight"] / d["quantity"]
    weight_ratio = per_unit / per_unit.groupby(d["hs_code"]).transform("median")
    clean = priced & ~violation
    assert abs(value_ratio[traceless].median() - value_ratio[clean].median()) < 0.1
    assert abs(weight_ratio[traceless].median() - weight_ratio[clean].median()) < 0.05


def test_traceless_revenue_is_modest(data: SyntheticData, truth: pd.DataFrame) -> None:
    d = data.declarations
    caught = (d["inspected"] == 1) & truth["violation"]
    kinds = truth.loc[caught, "fraud_kind"]
    revenue = d.loc[caught, "revenue"]
    ratio = revenue / d.loc[caught, "declared_value"]
    traceless = kinds.isin(TRACELESS_KINDS)
    assert traceless.sum() > 20
    assert (revenue[traceless] > 0).all()
    # A few per cent of the value, so that revenue concentrates in the valuation frauds.
    assert ratio[traceless].median() < 0.06
    assert ratio[traceless].median() < 0.3 * ratio[kinds == "undervaluation"].median()
    assert revenue[traceless].sum() < 0.2 * revenue.sum()


def test_bulk_fraud_is_tempered_and_revenue_not_concentrated(
    data: SyntheticData, truth: pd.DataFrame, timed_100k: tuple[SyntheticData, float]
) -> None:
    generated, _ = timed_100k
    labelled = generated.declarations
    caught = labelled.loc[(labelled["inspected"] == 1) & (labelled["illicit"] == 1), "revenue"]
    top = caught.sort_values(ascending=False).iloc[: round(0.01 * len(caught))]
    assert 0.1 < top.sum() / caught.sum() < 0.4  # no handful of tankers holds the revenue
    d = data.declarations
    bulk = d["hs_code"].str[:4].isin(BULK_HEADINGS)
    undervalued = truth["fraud_kind"] == "undervaluation"
    factor = d["declared_value"] / truth["true_value"]
    assert (bulk & undervalued).sum() > 10
    assert (factor[bulk & undervalued] >= 0.849).all()
    assert truth.loc[bulk & truth["violation"], "fraud_kind"].isin(VALUATION_KINDS).all()
    # Away from bulk cargo some undervaluation is mild, lost in the honest spread.
    others = undervalued & ~bulk & ~truth["drift_ring"]
    assert 0.05 < (factor[others] > 0.7).mean() < 0.3
    assert (factor[others] < 0.5).mean() > 0.3
