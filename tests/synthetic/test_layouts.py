"""The WCO BACUDA layout of the declarations."""

from __future__ import annotations

import pandas as pd
import pytest

from portsift.features.contract import (
    BACUDA_COLUMNS,
    BACUDA_DATE_FORMAT,
)
from portsift.synthetic.generator import SyntheticData
from portsift.synthetic.layouts import to_bacuda


def test_to_bacuda_round_trips_values_and_dates(data: SyntheticData) -> None:
    declarations = data.declarations
    bacuda = to_bacuda(declarations)
    assert list(bacuda.columns) == list(BACUDA_COLUMNS)
    assert bacuda["sgd.date"].str.fullmatch(r"\d{2}-\d{2}-\d{2}").all()
    dates = pd.to_datetime(bacuda["sgd.date"], format=BACUDA_DATE_FORMAT)
    assert (dates.to_numpy() == declarations["declared_at"].to_numpy()).all()
    back = bacuda.drop(columns="sgd.date").rename(columns=BACUDA_COLUMNS)
    expected = declarations[back.columns]
    pd.testing.assert_frame_equal(back, expected.reset_index(drop=True))
    assert "net_weight" not in back.columns and "trade_mode" not in back.columns
    assert "declared_at" in declarations.columns  # the input is left as it was


def test_to_bacuda_rejects_missing_columns(data: SyntheticData) -> None:
    with pytest.raises(ValueError, match="hs_code"):
        to_bacuda(data.declarations.drop(columns="hs_code"))
