"""The trade: declared values, weights and routes that hang together."""

from __future__ import annotations

import numpy as np

from portsift.synthetic.generator import SyntheticData


def test_declared_values_are_consistent(data: SyntheticData) -> None:
    d = data.declarations
    assert (d["declared_value"] >= d["fob_value"]).all()
    assert (d["net_weight"] <= d["gross_weight"]).all()
    expected_taxes = (d["declared_value"] * d["tax_rate"] / 100).round(2)
    np.testing.assert_allclose(d["total_taxes"], expected_taxes, atol=0.011)
    free = d["declared_value"] == 0
    assert 0 < free.sum() < 0.01 * len(d)
    transhipped = (d["origin_country"] != d["departure_country"]).mean()
    assert 0.01 < transhipped < 0.15
