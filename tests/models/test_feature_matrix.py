"""The risk-feature matrix of the per-request path is the batch path's, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from portsift.models.risk_model import feature_matrix


def _columns(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    values = rng.normal(size=rows) * 1e6
    values[::3] = np.nan
    return {
        "value": values,
        "count": rng.integers(0, 50, size=rows),
        "flag": rng.random(rows) < 0.5,
        "code": np.arange(rows, dtype="int8"),
        "unused": np.full(rows, "text", dtype=object),
    }


@pytest.mark.parametrize("rows", [1, 7])
def test_feature_matrix_of_columns_equals_frame_and_column_stack(rows: int) -> None:
    columns = _columns(rows)
    names = ["count", "value", "flag", "code"]
    matrix = feature_matrix(columns, names)
    stacked = np.column_stack([np.asarray(columns[n], dtype="float64") for n in names])
    framed = feature_matrix(pd.DataFrame(columns), names)
    assert matrix.dtype == np.float64 and matrix.shape == (rows, len(names))
    assert matrix.flags.c_contiguous  # as LightGBM takes it without a copy
    np.testing.assert_array_equal(matrix, stacked)
    np.testing.assert_array_equal(matrix, framed)
    assert matrix.tobytes() == stacked.tobytes()


def test_feature_matrix_without_names_is_refused() -> None:
    with pytest.raises(ValueError, match="no feature names"):
        feature_matrix(_columns(2), [])
