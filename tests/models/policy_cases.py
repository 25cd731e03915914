"""Hand-made inputs and independent checks shared by the selection-policy tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.settings import SelectionSettings

#: Inspection rates the policy tests are run at.
RATES = (0.02, 0.05, 0.10)


def held_to_rows(frame: pd.DataFrame, config: SelectionSettings) -> pd.DataFrame:
    """Rule set and tier each row is held to, worked out here row by row (independently)."""
    sets = config.credit.rule_sets
    names, tiers = [], []
    for day, tier in zip(frame["declared_at"], frame["credit_tier"], strict=True):
        in_force = [r for r in sets if pd.Timestamp(r.valid_from) <= day] or [sets[0]]
        rule_set = in_force[-1]
        names.append(rule_set.id)
        tiers.append(rule_set.fallback.get(tier, tier))
    return pd.DataFrame({"rule_set": names, "tier": tiers}, index=frame.index)


def scored_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A hand-made scored frame: regular-tier goods outside the catalogue by default."""
    defaults: dict[str, object] = {
        "declaration_id": "",
        "credit_tier": "regular",
        "hs_code": "8471300000",
        "origin_country": "CN",
        "importer_id": "I1",
        "declared_value": 10_000.0,
        "acceptance_listed": 0.0,
        "lab_report_present": 0.0,
        "lab_accredited": np.nan,
        "lab_result_pass": np.nan,
        "lab_report_age_days": np.nan,
        "lab_id": None,
        "issued_at": pd.NaT,
        "perishable": 0.0,
        "weight_per_unit_ratio": 1.0,
        "risk_score": 0.5,
        "priority": 0.5,
    }
    filled = [{**defaults, "declaration_id": f"X{i:03d}", **row} for i, row in enumerate(rows)]
    return pd.DataFrame(filled)


def lab_report(accredited: float, passed: float, age: float, hs: str = "6109100000") -> dict:
    """The columns of an accepted-list lab report (accreditation, result, age as given)."""
    return {
        "hs_code": hs,
        "acceptance_listed": 1.0,
        "lab_report_present": 1.0,
        "lab_accredited": accredited,
        "lab_result_pass": passed,
        "lab_report_age_days": age,
        "lab_id": "LAB01",
        "issued_at": pd.Timestamp("2026-01-01"),
    }
