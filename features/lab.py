"""Third-party lab acceptance (采信) signals: catalogue, report, lab and its track record."""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.features.stats import OutcomeStat, smoothed

LAB_COLUMNS = ("lab_id", "lab_accredited", "lab_result", "issued_at")

#: A lab's record is its customs-found violation rate among declarations it passed.
OUTCOME_STATS: tuple[OutcomeStat, ...] = (
    OutcomeStat("lab_pass", ("lab_id",), where="lab_pass_report"),
    OutcomeStat("all_lab_pass", (), where="lab_pass_report"),
)


def attach_lab_reports(
    declarations: pd.DataFrame, lab_results: pd.DataFrame | None
) -> pd.DataFrame:
    """Return the lab report columns of each declaration.

    A report given inline on the declaration (as the API accepts) wins; otherwise the
    latest report of the lab results table for that declaration is used.

    Args:
        declarations: Canonical declarations, possibly with inline lab fields.
        lab_results: The lab results register, or ``None``.

    Returns:
        ``lab_id, lab_accredited, lab_result, issued_at`` aligned with
        ``declarations.index`` (missing where there is no report).
    """
    out = pd.DataFrame(index=declarations.index)
    out["lab_id"] = pd.Series(np.nan, index=declarations.index, dtype="str")
    out["lab_accredited"] = np.nan
    out["lab_result"] = pd.Series(np.nan, index=declarations.index, dtype="str")
    out["issued_at"] = pd.Series(pd.NaT, index=declarations.index, dtype="datetime64[ns]")
    if lab_results is not None and len(lab_results):
        latest = (
            lab_results.sort_values("issued_at", kind="stable")
            .drop_duplicates("declaration_id", keep="last")
            .set_index("declaration_id")
        )
        position = latest.index.get_indexer(declarations["declaration_id"])
        found = position >= 0
        for column in LAB_COLUMNS:
            values = latest[column].to_numpy()[position[found]]
            out.loc[found, column] = values
    inline = [c for c in LAB_COLUMNS if c in declarations]
    if "lab_id" in inline:
        given = declarations["lab_id"].notna().to_numpy()
        for column in inline:
            out.loc[given, column] = declarations.loc[given, column].to_numpy()
    out["issued_at"] = pd.to_datetime(out["issued_at"])
    out["lab_accredited"] = out["lab_accredited"].astype("float64")
    return out


def pass_report(frame: pd.DataFrame) -> pd.Series:
    """Return whether each declaration carries a ``pass`` lab report."""
    return frame["lab_result"] == "pass"


def lab_features(frame: pd.DataFrame, values: pd.DataFrame, smoothing: float) -> pd.DataFrame:
    """Derive the lab acceptance features.

    Args:
        frame: Prepared declarations with catalogue flags and lab report columns.
        values: Statistic values (see :mod:`portsift.features.stats`).
        smoothing: Pseudo-inspections of the prior in the lab's disagreement rate.

    Returns:
        ``acceptance_listed``, ``lab_report_present``, ``lab_accredited``,
        ``lab_result_pass``, ``lab_report_age_days``, ``lab_disagreement_rate``.
    """
    out = pd.DataFrame(index=frame.index)
    present = frame["lab_id"].notna().to_numpy()
    out["acceptance_listed"] = frame["acceptance_listed"].to_numpy(dtype="float64")
    out["lab_report_present"] = present.astype("float64")
    out["lab_accredited"] = np.where(present, frame["lab_accredited"].fillna(0.0), np.nan)
    out["lab_result_pass"] = np.where(
        present, (frame["lab_result"] == "pass").to_numpy(dtype="float64"), np.nan
    )
    age = (frame["declared_at"] - frame["issued_at"]).dt.days.to_numpy(dtype="float64")
    out["lab_report_age_days"] = np.where(present, age, np.nan)
    inspected = values["all_lab_pass__inspected"].to_numpy()
    prior = np.where(
        inspected > 0, values["all_lab_pass__illicit"].to_numpy() / np.maximum(inspected, 1), 0.0
    )
    rate = smoothed(values["lab_pass__illicit"], values["lab_pass__inspected"], prior, smoothing)
    out["lab_disagreement_rate"] = np.where(present, rate, np.nan)
    return out
