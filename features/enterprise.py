"""Enterprise credit signals: the point-in-time credit tier and the enterprise's history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.features.contract import CREDIT_TIERS, DEFAULT_TIER
from portsift.features.stats import ActivityStat, OutcomeStat, day_number, prior_rates, smoothed

TIER_RANK: dict[str, int] = {tier: rank for rank, tier in enumerate(CREDIT_TIERS)}

CREDIT_FEATURES: tuple[str, ...] = (
    "importer_tier_rank",
    "importer_days_in_tier",
    "importer_tier_changes",
    "importer_tier_worsened",
    "declarant_tier_rank",
)

OUTCOME_STATS: tuple[OutcomeStat, ...] = (
    OutcomeStat("importer", ("importer_id",)),
    OutcomeStat("declarant", ("declarant_id",)),
)
ACTIVITY_STATS: tuple[ActivityStat, ...] = (
    ActivityStat("importer", ("importer_id",)),
    ActivityStat("declarant", ("declarant_id",)),
    ActivityStat("importer_hs6", ("importer_id", "hs6")),
)


def tier_in_force(
    declarations: pd.DataFrame, enterprises: pd.DataFrame | None, id_col: str
) -> pd.DataFrame:
    """Return the credit tier in force for each declaration's enterprise on its date.

    Args:
        declarations: Canonical declarations with ``declared_at`` and ``id_col``.
        enterprises: The credit register (``enterprise_id, credit_tier, tier_since``),
            several rows per enterprise forming its history; ``None`` for none.
        id_col: ``importer_id`` or ``declarant_id``.

    Returns:
        Columns ``tier`` (canonical name; ``regular`` when not registered),
        ``days_in_tier`` (NaN when not registered), ``tier_changes`` (changes up to
        that date) and ``tier_worsened`` (1 if the latest change was a downgrade),
        aligned with ``declarations.index``.
    """
    out = pd.DataFrame(index=declarations.index)
    out["tier"] = DEFAULT_TIER
    out["days_in_tier"] = np.nan
    out["tier_changes"] = 0.0
    out["tier_worsened"] = 0.0
    if enterprises is None or len(enterprises) == 0 or id_col not in declarations:
        return out
    register = register_history(enterprises)
    # merge_asof on integer codes is much faster than on Arrow-backed strings.
    ids = declarations[id_col]
    codes = pd.Index(register["enterprise_id"].unique()).get_indexer(ids.astype("str"))
    register["_code"] = pd.Index(register["enterprise_id"].unique()).get_indexer(
        register["enterprise_id"]
    )
    left = pd.DataFrame(
        {
            "_code": codes,
            "declared_at": declarations["declared_at"].astype("datetime64[ns]").to_numpy(),
            "_row": np.arange(len(declarations)),
        }
    )
    left = left[(codes >= 0) & ids.notna().to_numpy()].sort_values("declared_at", kind="stable")
    merged = pd.merge_asof(
        left,
        register.drop(columns=["enterprise_id"]),
        left_on="declared_at",
        right_on="tier_since",
        by="_code",
        direction="backward",
    )
    known = merged["credit_tier"].notna().to_numpy()
    rows = merged["_row"].to_numpy()[known]
    hits = merged[known]
    positions = out.index[rows]
    out.loc[positions, "tier"] = hits["credit_tier"].to_numpy()
    out.loc[positions, "days_in_tier"] = (
        hits["declared_at"] - hits["tier_since"]
    ).dt.days.to_numpy(dtype="float64")
    out.loc[positions, "tier_changes"] = hits["tier_changes"].to_numpy(dtype="float64")
    out.loc[positions, "tier_worsened"] = hits["tier_worsened"].to_numpy(dtype="float64")
    return out


def register_history(enterprises: pd.DataFrame) -> pd.DataFrame:
    """The register as dated tier spells: ``enterprise_id, credit_tier, tier_since``, typed."""
    register = enterprises[["enterprise_id", "credit_tier", "tier_since"]].copy()
    register["enterprise_id"] = register["enterprise_id"].astype("str")
    register["tier_since"] = register["tier_since"].astype("datetime64[ns]")
    register = register.sort_values(["enterprise_id", "tier_since"], kind="stable")
    rank = register["credit_tier"].map(TIER_RANK)
    previous = rank.groupby(register["enterprise_id"]).shift(1)
    register["tier_changes"] = register.groupby("enterprise_id").cumcount().astype("float64")
    register["tier_worsened"] = (rank > previous).astype("float64")
    return register.sort_values("tier_since", kind="stable").reset_index(drop=True)


def credit_features(declarations: pd.DataFrame, enterprises: pd.DataFrame | None) -> pd.DataFrame:
    """Return the tier features of importer and declarant.

    Args:
        declarations: Canonical declarations.
        enterprises: The credit register, or ``None``.

    Returns:
        ``credit_tier`` (the importer's tier, as text, for the policy and reports) and
        the numeric features ``importer_tier_rank``, ``importer_days_in_tier``,
        ``importer_tier_changes``, ``importer_tier_worsened``, ``declarant_tier_rank``.
    """
    importer = tier_in_force(declarations, enterprises, "importer_id")
    out = pd.DataFrame(index=declarations.index)
    out["credit_tier"] = importer["tier"].astype("str")
    out["importer_tier_rank"] = _tier_rank(importer["tier"])
    out["importer_days_in_tier"] = importer["days_in_tier"]
    out["importer_tier_changes"] = importer["tier_changes"]
    out["importer_tier_worsened"] = importer["tier_worsened"]
    if "declarant_id" in declarations:
        declarant = tier_in_force(declarations, enterprises, "declarant_id")
        rank = pd.Series(_tier_rank(declarant["tier"]), index=declarations.index)
        out["declarant_tier_rank"] = rank.where(declarations["declarant_id"].notna())
    else:
        out["declarant_tier_rank"] = np.nan
    return out


def _tier_rank(tier: pd.Series) -> np.ndarray:
    """Ordinal of each canonical tier name (vectorised through categorical codes)."""
    codes = pd.Categorical(tier, categories=list(CREDIT_TIERS)).codes
    return np.where(codes >= 0, codes, np.nan).astype("float64")


def history_features(
    frame: pd.DataFrame, values: pd.DataFrame, smoothing: float, new_importer_days: int
) -> pd.DataFrame:
    """Derive the enterprise history features from point-in-time statistics.

    Args:
        frame: Prepared declarations (``declared_at`` and keys).
        values: Statistic values (``<stat>__<value>`` columns, see :mod:`portsift.features.stats`).
        smoothing: Pseudo-inspections of the prior in smoothed rates.
        new_importer_days: Days after the first declaration an importer counts as new.

    Returns:
        Importer and declarant history features aligned with ``frame.index``.
    """
    out = pd.DataFrame(index=frame.index)
    prior_rate, prior_revenue = prior_rates(values)
    for who in ("importer", "declarant"):
        inspected = values[f"{who}__inspected"]
        out[f"{who}_inspections"] = np.log1p(inspected.to_numpy())
        out[f"{who}_violation_rate"] = smoothed(
            values[f"{who}__illicit"], inspected, prior_rate, smoothing
        )
        out[f"{who}_revenue_per_inspection"] = np.log1p(
            smoothed(values[f"{who}__revenue"], inspected, prior_revenue, smoothing)
        )
        out[f"{who}_declarations"] = np.log1p(values[f"{who}__declarations"].to_numpy())
    if "declarant_id" in frame:
        missing = frame["declarant_id"].isna().to_numpy()
        declarant_cols = [c for c in out.columns if c.startswith("declarant_")]
        out.loc[missing, declarant_cols] = np.nan
    first = values["importer__first_day"].to_numpy()
    active = np.where(first > 0, day_number(frame["declared_at"]) - first, 0.0)
    out["importer_days_active"] = active
    out["importer_is_new"] = (active < new_importer_days).astype("float64")
    hs6_count = values["importer_hs6__declarations"].to_numpy()
    out["importer_hs6_declarations"] = np.log1p(hs6_count)
    out["importer_hs6_is_new"] = (hs6_count == 0).astype("float64")
    return out
