"""Transaction signals: office, origin and routing, trade and transport mode, calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Text fields used as LightGBM categorical features (by their code in a fitted vocabulary).
CATEGORICAL_FIELDS: tuple[str, ...] = (
    "customs_office",
    "origin_country",
    "trade_mode",
    "transport_mode",
    "hs2",
)
CODE_SUFFIX = "_code"


def code_name(column: str) -> str:
    """Return the feature name holding the category code of ``column``."""
    return f"{column}{CODE_SUFFIX}"


def fit_vocabulary(
    frame: pd.DataFrame, columns: tuple[str, ...], min_count: int
) -> dict[str, list[str]]:
    """Learn, per categorical column, the categories frequent enough to keep.

    Args:
        frame: Training rows.
        columns: Categorical columns present in ``frame``.
        min_count: Categories seen fewer times are folded into one "other" code.

    Returns:
        Column -> sorted list of kept categories (code = position in the list).
    """
    vocabulary: dict[str, list[str]] = {}
    for column in columns:
        counts = frame[column].dropna().astype("str").value_counts()
        vocabulary[column] = sorted(counts.index[counts >= min_count].tolist())
    return vocabulary


def encode(frame: pd.DataFrame, vocabulary: dict[str, list[str]]) -> pd.DataFrame:
    """Replace categories by their vocabulary codes.

    Unknown categories get the code ``len(vocabulary)`` ("other"), missing ones NaN,
    which LightGBM treats as missing.

    Args:
        frame: Rows with the vocabulary's columns (absent columns become all-missing).
        vocabulary: Output of :func:`fit_vocabulary`.

    Returns:
        One float column of codes per vocabulary entry, named by :func:`code_name`.
    """
    out = pd.DataFrame(index=frame.index)
    for column, categories in vocabulary.items():
        if column not in frame:
            out[code_name(column)] = np.nan
            continue
        values = frame[column]
        codes = pd.Index(categories, dtype="str").get_indexer(values.astype("str"))
        codes = np.where(codes < 0, len(categories), codes).astype("float64")
        out[code_name(column)] = np.where(values.isna().to_numpy(), np.nan, codes)
    return out


def transaction_features(declarations: pd.DataFrame) -> pd.DataFrame:
    """Return the non-categorical transaction features.

    Args:
        declarations: Canonical declarations; optional fields may be absent.

    Returns:
        ``origin_departure_mismatch``, ``day_of_week``, ``month``, ``net_gross_ratio``,
        ``cif_fob_ratio``, ``log_declared_value``.
    """
    out = pd.DataFrame(index=declarations.index)
    if {"origin_country", "departure_country"} <= set(declarations.columns):
        origin, departure = declarations["origin_country"], declarations["departure_country"]
        known = origin.notna() & departure.notna()
        out["origin_departure_mismatch"] = np.where(
            known, (origin != departure).to_numpy(dtype="float64"), np.nan
        )
    else:
        out["origin_departure_mismatch"] = np.nan
    out["day_of_week"] = declarations["declared_at"].dt.dayofweek.astype("float64")
    out["month"] = declarations["declared_at"].dt.month.astype("float64")
    out["net_gross_ratio"] = _ratio(declarations, "net_weight", "gross_weight")
    out["cif_fob_ratio"] = _ratio(declarations, "declared_value", "fob_value")
    value = declarations["declared_value"].to_numpy(dtype="float64")
    out["log_declared_value"] = np.log1p(value)
    return out


def _ratio(frame: pd.DataFrame, numerator: str, denominator: str) -> np.ndarray:
    if numerator not in frame or denominator not in frame:
        return np.full(len(frame), np.nan)
    top = frame[numerator].to_numpy(dtype="float64")
    bottom = frame[denominator].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)
