"""The supervisor view: today's selections against the credit rules, hits, the random sample.

Read from the audit store: the latest decision of each declaration decided today (the
office's day, ``[console] timezone``) and the latest outcome of each declaration. Per
credit tier, the realised inspection rate against the rule in force today
(:func:`portsift.models.credit.tier_summary`, the same check the policy's tests
apply); the share of the selections drawn at random; the hits and the revenue of the
outcomes recorded so far; and the violation rate of the random selections with an
outcome, with its Wilson interval (:func:`portsift.monitoring.statistics.wilson_interval`):
the random draw is the one sample that estimates the rate of the whole flow without the
model's bias. The drift status is the latest ``portsift monitor --json`` summary, when
one is configured.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from portsift.models.credit import held_to, rule_set_index, rule_text, tier_summary
from portsift.monitoring.statistics import wilson_interval
from portsift.reports import i18n, page
from portsift.serving.console.days import day_bounds, local_date
from portsift.settings import CreditRuleSetSettings, CreditSettings
from portsift.store.audit import AuditStore

#: Columns of :func:`todays_decisions`.
DECIDED_COLUMNS: Final[tuple[str, ...]] = (
    "declaration_id",
    "selected",
    "credit_tier",
    "selection_reason",
    "inspected",
    "illicit",
    "revenue",
)
#: Environment variable naming the latest ``portsift monitor --json`` summary.
MONITOR_JSON_ENV: Final[str] = "PORTSIFT_MONITOR_JSON"


def todays_decisions(audit: AuditStore, now: datetime, office_zone: ZoneInfo) -> pd.DataFrame:
    """The latest decision of each declaration decided today, with its outcome.

    "Today" is the office's day (``[console] timezone``), read as the UTC instants that
    bound it.

    Args:
        audit: The audit store.
        now: The time (time zone aware).
        office_zone: The office's time zone.

    Returns:
        One row per declaration (:data:`DECIDED_COLUMNS`; the outcome's columns NaN
        without one), read in SQL.
    """
    start, end = day_bounds(local_date(now, office_zone), office_zone)
    frame = pd.DataFrame(audit.decided_since(start, end), columns=list(DECIDED_COLUMNS))
    frame["selected"] = frame["selected"].astype("int64")
    for name in ("inspected", "illicit", "revenue"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def rule_set_today(
    credit: CreditSettings, now: datetime, office_zone: ZoneInfo
) -> CreditRuleSetSettings:
    """The credit rule set in force on the office's date today.

    Args:
        credit: ``[selection.credit]``.
        now: The time (time zone aware).
        office_zone: The office's time zone.

    Returns:
        The rule set.
    """
    today = np.array([np.datetime64(local_date(now, office_zone), "D")])
    return credit.rule_sets[int(rule_set_index(today, credit)[0])]


def tier_rates(
    decided: pd.DataFrame, rule_set: CreditRuleSetSettings, lang: i18n.Lang
) -> tuple[list[dict[str, Any]], bool]:
    """Realised inspection rate per credit tier against a rule set's rules.

    Args:
        decided: :func:`todays_decisions`.
        rule_set: The rule set in force (:func:`rule_set_today`).
        lang: ``zh`` or ``en``.

    Returns:
        One row per tier (``tier, rows, selected, rate, rule, met``) and whether every
        rule is met.
    """
    if decided.empty:
        return [], True
    tiers = held_to(decided["credit_tier"].to_numpy(dtype=object), rule_set)
    summary, all_met = tier_summary(decided["selected"].to_numpy(), tiers, rule_set)
    reference = i18n.tier_name(rule_set.reference_tier, lang)
    rows = [
        {
            "tier": i18n.tier_name(str(tier), lang),
            "rows": int(row["rows"]),
            "selected": int(row["selected"]),
            "rate": page.fmt_percent(float(row["rate"])),
            "rule": rule_text(rule_set.tiers.get(str(tier)), reference, plain=False) or "-",
            "met": bool(row["met"]),
        }
        for tier, row in summary.iterrows()  # one row per credit tier (a handful)
    ]
    return rows, all_met


def outcome_figures(decided: pd.DataFrame) -> dict[str, Any]:
    """Random share, hits, revenue and the random sample's violation rate with its interval.

    Args:
        decided: :func:`todays_decisions`.

    Returns:
        ``declarations, selected, random, random_share, with_outcome, hits, revenue,
        random_with_outcome, random_hits, violation_rate, low, high`` (rates as
        fractions, NaN without a sample).
    """
    selected = decided["selected"].to_numpy() == 1 if len(decided) else np.zeros(0, bool)
    random = selected & (decided["selection_reason"].to_numpy() == "random")
    inspected = decided["inspected"].fillna(0).to_numpy(dtype=float) == 1
    illicit = decided["illicit"].fillna(0).to_numpy(dtype=float) == 1
    revenue = decided["revenue"].fillna(0).to_numpy(dtype=float)
    random_known = random & inspected
    random_hits = int((random_known & illicit).sum())
    n_random = int(random_known.sum())
    low, high = wilson_interval(random_hits, n_random)
    return {
        "declarations": len(decided),
        "selected": int(selected.sum()),
        "random": int(random.sum()),
        "random_share": float(random.sum() / selected.sum()) if selected.any() else math.nan,
        "with_outcome": int((selected & inspected).sum()),
        "hits": int((selected & illicit).sum()),
        "revenue": float(revenue[selected].sum()),
        "random_with_outcome": n_random,
        "random_hits": random_hits,
        "violation_rate": random_hits / n_random if n_random else math.nan,
        "low": low,
        "high": high,
    }


def drift_status(configured: str) -> dict[str, Any] | None:
    """The latest ``portsift monitor --json`` summary's status, if one is configured.

    Args:
        configured: ``[console] monitor_json`` (``PORTSIFT_MONITOR_JSON`` overrides it).

    Returns:
        ``status`` (``ok``, ``warn`` or ``alert``), ``recent`` window, ``model_version``,
        ``variables`` (those at warn or alert) and ``file``; ``None`` without a file.
    """
    path = os.environ.get(MONITOR_JSON_ENV) or configured
    if not path or not Path(path).is_file():
        return None
    try:
        summary = json.loads(Path(path).read_text("utf-8"))
        psi = summary.get("psi") or []
    except (OSError, ValueError, AttributeError):
        return {"status": "unreadable", "file": path, "variables": [], "recent": {}}
    alerting = [p["variable"] for p in psi if p.get("status") == "alert" and p.get("alerting")]
    warned = [p["variable"] for p in psi if p.get("status") in ("warn", "alert")]
    return {
        "status": "alert" if alerting else ("warn" if warned else "ok"),
        "variables": warned,
        "recent": summary.get("recent") or {},
        "model_version": summary.get("model_version", "-"),
        "file": path,
    }


__all__ = [
    "MONITOR_JSON_ENV",
    "drift_status",
    "outcome_figures",
    "rule_set_today",
    "tier_rates",
    "todays_decisions",
]
