"""The per-request helpers of ``portsift.models.table`` against the numpy they replace."""

from __future__ import annotations

import numpy as np
import pytest

from portsift.models.table import join_parts, one_of, select_first


@pytest.mark.parametrize("n", [0, 1, 7, 200])
def test_select_first_matches_np_select(n: int) -> None:
    rng = np.random.default_rng(n)
    conditions = [rng.random(n) < p for p in (0.2, 0.5, 0.5, 0.9)]
    choices = [
        "rule",
        np.array([f"risk {k}" for k in range(n)], dtype=object),
        np.array([f"draw {k}" for k in range(n)]),  # a numpy unicode array
        "floor",
    ]
    got = select_first(conditions, choices, "")
    want = np.select(conditions, choices, "").astype(object)
    assert got.dtype == object
    assert got.tolist() == want.tolist()
    # Python str, not numpy.str_: the JSON answer and the audit text write them alike.
    assert all(type(value) is str for value in got)


def test_select_first_takes_the_first_true_condition() -> None:
    both = np.array([True, True, False])
    second = np.array([False, True, True])
    got = select_first([both, second], ["a", "b"], "z")
    assert got.tolist() == ["a", "a", "b"]
    assert select_first([np.zeros(2, dtype=bool)], ["a"], "z").tolist() == ["z", "z"]


def test_join_parts_skips_empty_parts() -> None:
    a = np.array(["x", "", "y", ""], dtype=object)
    empty = np.full(4, "", dtype=object)
    b = np.array(["p", "q", "", ""], dtype=object)
    assert join_parts(a, empty, b).tolist() == ["x; p", "q", "y", ""]
    assert join_parts(empty, empty).tolist() == ["", "", "", ""]


def test_one_of_matches_isin() -> None:
    values = np.array(["A", "B", "C", "", "A"], dtype=object)
    assert one_of(values, ["A", "C"]).tolist() == np.isin(values, ["A", "C"]).tolist()
    assert not one_of(values, []).any()
