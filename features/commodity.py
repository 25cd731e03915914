"""Commodity risk signals: HS-level violation rates, prices, weights, duty rates, origin."""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.features.stats import OutcomeStat, ReferenceStat, reference_level, smoothed

#: Violation rates from coarse to fine; each level is shrunk towards the one before it,
#: so that a rarely inspected code borrows strength from its heading and chapter.
RATE_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hs2", ("hs2",)),
    ("hs4", ("hs4",)),
    ("hs6", ("hs6",)),
    ("hs6_origin", ("hs6", "origin_country")),
)
OUTCOME_STATS: tuple[OutcomeStat, ...] = tuple(
    OutcomeStat(name, keys) for name, keys in RATE_LEVELS
)
REFERENCE_STATS: tuple[ReferenceStat, ...] = (
    ReferenceStat("uv_hs6", ("hs6",), "log_unit_value"),
    ReferenceStat("uv_hs6_origin", ("hs6", "origin_country"), "log_unit_value"),
    ReferenceStat("uv_importer_hs6", ("importer_id", "hs6"), "log_unit_value"),
    ReferenceStat("vpk_hs6", ("hs6",), "log_value_per_kg"),
    ReferenceStat("wpu_hs6", ("hs6",), "log_weight_per_unit"),
    ReferenceStat("rate_hs4", ("hs4",), "tax_rate"),
)


def catalogue_flags(hs_code: pd.Series, commodities: pd.DataFrame | None) -> pd.DataFrame:
    """Return ``acceptance_listed`` and ``perishable`` by the longest matching HS prefix.

    Args:
        hs_code: Declared tariff codes (digits, as text).
        commodities: The catalogue (``hs_prefix, acceptance_listed, perishable``) or None.

    Returns:
        Both flags as 0/1 floats, 0 where no prefix matches.
    """
    out = pd.DataFrame(0.0, index=hs_code.index, columns=["acceptance_listed", "perishable"])
    if commodities is None or len(commodities) == 0:
        return out
    catalogue = commodities.assign(_length=commodities["hs_prefix"].str.len())
    matched = np.zeros(len(hs_code), dtype=bool)
    codes = hs_code.astype("str")
    for length in sorted(catalogue["_length"].unique(), reverse=True):
        level = catalogue[catalogue["_length"] == length].set_index("hs_prefix")
        position = level.index.get_indexer(codes.str[: int(length)])
        hit = (position >= 0) & ~matched
        for flag in ("acceptance_listed", "perishable"):
            column = level[flag].to_numpy(dtype="float64")
            out.loc[hit, flag] = column[position[hit]]
        matched |= hit
    return out


def measures(declarations: pd.DataFrame) -> pd.DataFrame:
    """Return the HS levels and the log price, weight and duty measures of each row.

    Args:
        declarations: Canonical declarations; optional fields may be absent.

    Returns:
        ``hs2, hs4, hs6`` and ``unit_value, log_unit_value, log_value_per_kg,
        log_weight_per_unit, effective_tax_rate, tax_rate`` (NaN where undefined).
    """
    out = pd.DataFrame(index=declarations.index)
    code = declarations["hs_code"].astype("str")
    out["hs2"], out["hs4"], out["hs6"] = code.str[:2], code.str[:4], code.str[:6]
    value = declarations["declared_value"].to_numpy(dtype="float64")
    quantity = _optional(declarations, "quantity")
    weight = _optional(declarations, "gross_weight")
    out["unit_value"] = ratio(value, quantity)
    out["value_per_kg"] = ratio(value, weight)
    out["weight_per_unit"] = ratio(weight, quantity)
    for name in ("unit_value", "value_per_kg", "weight_per_unit"):
        out[f"log_{name}"] = safe_log(out[name].to_numpy())
    out["effective_tax_rate"] = 100.0 * ratio(_optional(declarations, "total_taxes"), value)
    out["tax_rate"] = _optional(declarations, "tax_rate")
    return out


def commodity_features(frame: pd.DataFrame, values: pd.DataFrame, smoothing: float) -> pd.DataFrame:
    """Derive the commodity risk features.

    Args:
        frame: Prepared declarations with :func:`measures` and catalogue flags.
        values: Statistic values (see :mod:`portsift.features.stats`).
        smoothing: Pseudo-inspections of each level's prior.

    Returns:
        Feature columns, plus ``ref_*`` context columns (the references compared
        with, in natural units) that explanations quote.
    """
    out = pd.DataFrame(index=frame.index)
    inspected = values["all__inspected"].to_numpy()
    prior = np.where(inspected > 0, values["all__illicit"].to_numpy() / np.maximum(inspected, 1), 0)
    for name, _ in RATE_LEVELS:
        rate = smoothed(values[f"{name}__illicit"], values[f"{name}__inspected"], prior, smoothing)
        out[f"{name}_violation_rate"] = rate
        prior = rate
    pairs = (
        ("unit_value_ratio", "log_unit_value", "uv_hs6", "ref_unit_value"),
        ("unit_value_ratio_origin", "log_unit_value", "uv_hs6_origin", "ref_unit_value_origin"),
        (
            "unit_value_ratio_importer",
            "log_unit_value",
            "uv_importer_hs6",
            "ref_unit_value_importer",
        ),
        ("value_per_kg_ratio", "log_value_per_kg", "vpk_hs6", "ref_value_per_kg"),
        ("weight_per_unit_ratio", "log_weight_per_unit", "wpu_hs6", "ref_weight_per_unit"),
    )
    for feature, measure, stat, context in pairs:
        reference = reference_level(values, stat)
        out[feature] = np.exp(frame[measure].to_numpy(dtype="float64") - reference)
        out[context] = np.exp(reference)
    out["ref_tax_rate"] = reference_level(values, "rate_hs4")
    out["tax_rate_gap"] = frame["tax_rate"].to_numpy(dtype="float64") - out["ref_tax_rate"]
    out["tax_assessment_gap"] = frame["effective_tax_rate"].to_numpy(dtype="float64") - frame[
        "tax_rate"
    ].to_numpy(dtype="float64")
    out["perishable"] = frame["perishable"].to_numpy(dtype="float64")
    return out


def _optional(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return frame[column].to_numpy(dtype="float64")


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` where the denominator is positive, else NaN (no warnings)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def safe_log(values: np.ndarray) -> np.ndarray:
    """Natural log of positive values, NaN elsewhere (no warnings)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(values > 0, np.log(np.where(values > 0, values, 1)), np.nan)
