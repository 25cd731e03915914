"""Reference bins of one variable and the PSI of recent values in them.

Binning is vectorised: one ``searchsorted`` per variable, one ``bincount`` per variable
for the whole table and one for all groups (weeks) at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "discrete", "categorical"]


@dataclass(frozen=True)
class BinReference:
    """The reference distribution of one variable over fixed bins.

    Bins, in order: for ``numeric`` the value bins ``(-inf, e0], (e0, e1], ...,
    (e_last, inf)`` (right-closed, so that a point mass at the lowest value, such as
    zero counts, gets a bin of its own); for ``discrete`` and ``categorical`` one bin per
    reference value, then ``other`` (a value the reference never had); last always
    ``missing`` (NaN).

    Attributes:
        kind: ``numeric`` (quantile bins), ``discrete`` (a numeric variable with few
            distinct values, binned by value) or ``categorical`` (category codes).
        edges: Inner bin edges of a numeric variable (empty otherwise).
        values: Reference values of a discrete or categorical variable, sorted.
        shares: Share of the reference rows in each bin (sums to 1).
        rows: Number of reference rows.
    """

    kind: Kind
    edges: tuple[float, ...]
    values: tuple[float, ...]
    shares: tuple[float, ...]
    rows: int

    @property
    def bin_count(self) -> int:
        """Number of bins, ``other`` and ``missing`` included."""
        if self.kind == "numeric":
            return len(self.edges) + 2
        return len(self.values) + 2

    def labels(self) -> list[str]:
        """Human-readable bin labels, in bin order."""
        if self.kind == "numeric":
            edges = [_short(e) for e in self.edges]
            if not edges:
                inner = ["all values"]
            else:
                inner = [f"<= {edges[0]}"]
                inner += [f"({a}, {b}]" for a, b in itertools.pairwise(edges)]
                inner.append(f"> {edges[-1]}")
            return [*inner, "missing"]
        return [*(_short(v) for v in self.values), "other", "missing"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (stored in the bundle metadata)."""
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "values": list(self.values),
            "shares": list(self.shares),
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BinReference:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            kind=data["kind"],
            edges=tuple(float(v) for v in data["edges"]),
            values=tuple(float(v) for v in data["values"]),
            shares=tuple(float(v) for v in data["shares"]),
            rows=int(data["rows"]),
        )


def _short(value: float) -> str:
    return f"{value:.4g}"


def _as_float(values: np.ndarray | pd.Series) -> np.ndarray:
    return np.asarray(
        pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce"), dtype="float64"
    )


def fit_bins(
    values: np.ndarray | pd.Series, *, bins: int, categorical: bool = False
) -> BinReference:
    """Fit the reference bins of one variable on the training window.

    Numeric variables get quantile bins (``bins`` of them at most; tied quantiles
    merge). A numeric variable with at most ``bins`` distinct values (flags, tier ranks,
    weekdays) is binned by value instead, since quantile edges cannot separate a 0/1
    flag whose ones are rarer than one bin.

    Args:
        values: The variable over the reference rows (NaN = missing).
        bins: Number of quantile bins of a numeric variable.
        categorical: Whether the values are category codes.

    Returns:
        The bins and the reference shares in them.

    Raises:
        ValueError: If ``bins`` < 2 or there are no values.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    x = _as_float(values)
    if x.size == 0:
        raise ValueError("no reference rows to fit bins on")
    finite = x[~np.isnan(x)]
    distinct = np.unique(finite)
    if categorical or distinct.size <= bins:
        kind: Kind = "categorical" if categorical else "discrete"
        reference = BinReference(kind, (), tuple(distinct.tolist()), (), x.size)
    else:
        quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
        edges = np.unique(quantiles)
        # The top edge equal to the maximum would leave the last value bin empty.
        edges = edges[edges < distinct[-1]]
        reference = BinReference("numeric", tuple(edges.tolist()), (), (), x.size)
    counts = bin_counts(reference, x)
    return BinReference(
        reference.kind,
        reference.edges,
        reference.values,
        tuple((counts / x.size).tolist()),
        x.size,
    )


def bin_index(reference: BinReference, values: np.ndarray | pd.Series) -> np.ndarray:
    """Return the bin of every value (vectorised; NaN goes to the last, ``missing`` bin).

    Args:
        reference: The fitted bins.
        values: Values of the variable.

    Returns:
        Integer bin indices, ``0 .. reference.bin_count - 1``.
    """
    x = _as_float(values)
    missing = np.isnan(x)
    if reference.kind == "numeric":
        index = np.searchsorted(np.asarray(reference.edges, dtype="float64"), x, side="left")
        return np.where(missing, reference.bin_count - 1, index)
    known = np.asarray(reference.values, dtype="float64")
    position = np.searchsorted(known, x)
    if known.size == 0:
        found = np.zeros(x.size, dtype=bool)
    else:
        found = (position < known.size) & (known[np.minimum(position, known.size - 1)] == x)
    other = known.size
    return np.where(missing, other + 1, np.where(found, position, other))


def bin_counts(reference: BinReference, values: np.ndarray | pd.Series) -> np.ndarray:
    """Count the values in each bin of ``reference``.

    Args:
        reference: The fitted bins.
        values: Values of the variable.

    Returns:
        Counts per bin (``float64``), length ``reference.bin_count``.
    """
    index = bin_index(reference, values)
    return np.bincount(index, minlength=reference.bin_count).astype("float64")


def psi_by_group(
    reference: BinReference,
    values: np.ndarray | pd.Series,
    groups: np.ndarray,
    group_count: int,
    *,
    floor: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """PSI of every group (e.g. week) against the reference, in one ``bincount``.

    Args:
        reference: The fitted bins.
        values: Values of the variable.
        groups: Group index of every value, ``0 .. group_count - 1``.
        group_count: Number of groups.
        floor: Smallest share used in the logarithm.

    Returns:
        ``(psi, rows)`` per group; the PSI of an empty group is NaN.
    """
    k = reference.bin_count
    index = bin_index(reference, values)
    counts = np.bincount(groups * k + index, minlength=group_count * k).reshape(group_count, k)
    return psi_of_counts(reference, counts, floor=floor)


def psi_of_counts(
    reference: BinReference, counts: np.ndarray, *, floor: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """PSI of every row of a ``groups x bins`` count matrix against the reference.

    Args:
        reference: The fitted bins.
        counts: Counts per group (row) and bin (column).
        floor: Smallest share used in the logarithm.

    Returns:
        ``(psi, rows)`` per group; the PSI of an empty group is NaN.
    """
    rows = counts.sum(axis=1)
    shares = counts / np.maximum(rows, 1)[:, None]
    a = np.maximum(shares, floor)
    e = np.maximum(np.asarray(reference.shares, dtype="float64"), floor)[None, :]
    values_psi = np.sum((a - e) * np.log(a / e), axis=1)
    return np.where(rows > 0, values_psi, np.nan), rows
