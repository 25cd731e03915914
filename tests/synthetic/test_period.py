"""The calendar of the period: how declarations spread over it."""

from __future__ import annotations

import pandas as pd

from portsift.synthetic.generator import SyntheticData


def test_declarations_spread_over_the_period(data: SyntheticData) -> None:
    dates = data.declarations["declared_at"]
    assert dates.min() >= pd.Timestamp("2024-01-01")
    assert dates.max() <= pd.Timestamp("2024-01-01") + pd.Timedelta(days=729)
    assert (dates.max() - dates.min()).days > 700
    weekday = dates.dt.day_of_week
    assert (weekday >= 5).mean() < 0.15  # weekends are quiet
    year = dates.dt.year
    assert (year == 2025).sum() > 1.1 * (year == 2024).sum()  # trade grows
