"""Real-time selection: per-tier priority thresholds fitted on recent declarations.

The state (:class:`ThresholdState`, saved with the model bundle), how it is fitted
from the batch solution on recent declarations, and how a declaration is decided on
its own against it. :class:`~portsift.models.policy.SelectionPolicy` exposes both as
``fit_thresholds`` and ``decide_online``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from portsift.models.budget import budget_count, hash_uniform
from portsift.models.credit import held_to
from portsift.models.disclosures import DISCLOSURE_REASON, disclosure_cover
from portsift.models.rule_set_batch import select_group
from portsift.models.table import Table, number_column, one_of, select_first, text_column

if TYPE_CHECKING:
    # Only for annotations: the policy imports this module, not the other way round.
    from portsift.models.policy import SelectionPolicy

# -- online state --------------------------------------------------------------------


#: Per tier of a rule set: ``threshold`` (priority at or above which a declaration is
#: selected by risk; None = never), ``explore_probability``, ``rows``, ``expected_rate``.
TierThresholds = dict[str, dict[str, float | int | None]]


@dataclass(frozen=True)
class ThresholdState:
    """Real-time selection state derived from recent scored declarations.

    Attributes:
        rate: Target inspection rate.
        expected_rate: Rate the thresholds of the latest rule set give on the data
            they were fitted on.
        rows: Declarations they were fitted on.
        reference_tier: The latest rule set's reference tier.
        tiers: The thresholds of the latest credit rule set, per tier.
        policy_version: Version of the policy that fitted them.
        fitted_from: Earliest declaration date of the fitting data (or None).
        fitted_to: Latest declaration date of the fitting data (or None).
        rule_sets: Per credit rule set id: its tier thresholds, fitted on the same
            recent declarations as if that set were in force, so that a declaration is
            decided by the set in force on its own date (empty in states saved before
            rule sets existed: ``tiers`` then applies to every date).
    """

    rate: float
    expected_rate: float
    rows: int
    reference_tier: str
    tiers: TierThresholds
    policy_version: str
    fitted_from: str | None = None
    fitted_to: str | None = None
    rule_sets: dict[str, TierThresholds] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (saved with the model bundle)."""
        return {
            "rate": self.rate,
            "expected_rate": self.expected_rate,
            "rows": self.rows,
            "reference_tier": self.reference_tier,
            "tiers": self.tiers,
            "policy_version": self.policy_version,
            "fitted_from": self.fitted_from,
            "fitted_to": self.fitted_to,
            "rule_sets": self.rule_sets,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdState:
        """Rebuild the state written by :meth:`to_dict`."""
        return cls(
            rate=float(data["rate"]),
            expected_rate=float(data["expected_rate"]),
            rows=int(data["rows"]),
            reference_tier=str(data["reference_tier"]),
            tiers={str(k): dict(v) for k, v in data["tiers"].items()},
            policy_version=str(data["policy_version"]),
            fitted_from=data.get("fitted_from"),
            fitted_to=data.get("fitted_to"),
            rule_sets={
                str(name): {str(k): dict(v) for k, v in table.items()}
                for name, table in (data.get("rule_sets") or {}).items()
            },
        )

    def thresholds_for(self, rule_set_id: str) -> TierThresholds:
        """The tier thresholds fitted for a rule set (the latest set's if it has none)."""
        return self.rule_sets.get(rule_set_id, self.tiers)


# -- fitting and deciding ------------------------------------------------------------


def fit_state(
    policy: SelectionPolicy,
    recent_priority: np.ndarray | pd.Series,
    rate: float | None = None,
    *,
    credit_tier: np.ndarray | pd.Series | None = None,
    rule_hit: np.ndarray | None = None,
    declared_at: pd.Series | None = None,
) -> ThresholdState:
    """Derive real-time thresholds from the priorities of recent scored declarations.

    The batch solution on the recent declarations fixes, per tier, how many are
    selected by risk and how many at random; the threshold of a tier is the
    priority of its last risk selection, and its exploration probability is its
    random count over the declarations left below the threshold. On the recent data
    the expected counts are then exactly the batch counts, which meet the rules.

    Args:
        policy: The policy whose rules and seeds the thresholds follow.
        recent_priority: Priorities of the recent declarations.
        rate: Target rate (default: the policy's rate).
        credit_tier: Their tiers (None = one tier, no credit rules).
        rule_hit: Which of them officer rules select (None = none).
        declared_at: Their dates, recorded with the state.

    Returns:
        The state (the policy keeps it as ``thresholds_``).

    Raises:
        ValueError: If there are no recent declarations.
    """
    prio = np.asarray(recent_priority, dtype="float64")
    n = len(prio)
    if n == 0:
        raise ValueError("fit_thresholds needs at least one recent scored declaration")
    rate = policy.rate_ if rate is None else float(rate)
    credit = policy.settings.credit
    register = (
        np.full(n, "", dtype=object)
        if credit_tier is None
        else text_column(
            pd.DataFrame({"credit_tier": np.asarray(credit_tier, dtype=object)}), "credit_tier"
        )
    )
    hits = np.zeros(n, dtype=bool) if rule_hit is None else np.asarray(rule_hit, dtype=bool)
    p = np.where(np.isnan(prio), -np.inf, prio)
    # Every rule set is fitted on the same recent declarations, as if it were in
    # force: a declaration is then decided by the set in force on its own date.
    by_set: dict[str, TierThresholds] = {}
    expected = math.nan
    for rule_set in credit.rule_sets:
        tiers = held_to(register, rule_set)
        selected, random, _, _ = select_group(
            prio,
            tiers,
            hits,
            np.arange(n),
            budget_count(n, rate),
            rule_set,
            share=policy.share_,
            seed=policy.seed_,
        )
        risk_part = selected & ~random & ~hits
        table: TierThresholds = {}
        for name in pd.unique(tiers.astype(str)):
            here = tiers == name
            free = np.sort(p[here & ~hits])[::-1]
            n_risk = int((risk_part & here).sum())
            threshold = float(free[n_risk - 1]) if n_risk > 0 else None
            left = len(free) - n_risk
            n_random = int((random & here).sum())
            table[str(name)] = {
                "threshold": threshold if threshold is None or np.isfinite(threshold) else None,
                "explore_probability": n_random / left if left > 0 else 0.0,
                "rows": int(here.sum()),
                "expected_rate": float((selected & here).sum() / here.sum()),
            }
        by_set[rule_set.id] = table
        expected = float(selected.sum() / n)
    dates = None if declared_at is None else pd.to_datetime(pd.Series(declared_at))
    state = ThresholdState(
        rate=rate,
        expected_rate=expected,
        rows=n,
        reference_tier=credit.latest.reference_tier,
        tiers=by_set[credit.latest.id],
        policy_version=policy.version,
        fitted_from=None if dates is None else str(dates.min().date()),
        fitted_to=None if dates is None else str(dates.max().date()),
        rule_sets=by_set,
    )
    return state


def decide_online_columns(policy: SelectionPolicy, scored: Table) -> dict[str, np.ndarray]:
    """The real-time decisions of ``policy`` (its ``thresholds_``) as numpy arrays.

    Each row is decided on its own (no batch budget): rule, else a covering voluntary
    disclosure (document review, measure 22), else priority at or above its tier's
    threshold, else a seeded draw on its id with the tier's exploration probability.
    A tier the state has not seen uses the reference tier's values.

    Args:
        policy: The policy, with ``thresholds_`` fitted or set from a saved state.
        scored: The columns the policy reads (a frame or a mapping), with
            ``priority`` and ``declaration_id``.

    Returns:
        :data:`DECISION_COLUMNS` as arrays.

    Raises:
        RuntimeError: If no thresholds are fitted.
    """
    state: ThresholdState | None = getattr(policy, "thresholds_", None)
    if state is None:
        raise RuntimeError("decide_online needs thresholds: call fit_thresholds first")
    prio = number_column(scored, "priority")
    prio = np.where(np.isnan(prio), -np.inf, prio)
    rule_sets = policy.rule_sets_of(scored)
    which, tiers = rule_sets
    credit = policy.settings.credit
    threshold = np.full(len(prio), np.inf)
    explore = np.zeros(len(prio))
    ref_threshold = np.full(len(prio), np.inf)
    floored = np.zeros(len(prio), dtype=bool)
    for index in np.unique(which):
        rule_set = credit.rule_sets[int(index)]
        here = which == index
        table = state.thresholds_for(rule_set.id)
        # A tier the state has not seen is decided as the reference tier.
        fallback = table.get(rule_set.reference_tier) or table.get(state.reference_tier) or {}
        # One lookup of the distinct tiers serves both values (threshold, exploration).
        names, inverse = np.unique(tiers[here].astype(str), return_inverse=True)
        inverse = inverse.reshape(-1)
        for key, missing, out in (
            ("threshold", np.inf, threshold),
            ("explore_probability", 0.0, explore),
        ):
            default = fallback.get(key)
            default = missing if default is None else float(default)  # type: ignore[arg-type]
            mapped = [
                default
                if name not in table
                else missing
                if table[name][key] is None
                else float(table[name][key])  # type: ignore[arg-type]
                for name in names.tolist()
            ]
            out[here] = np.array(mapped, dtype="float64")[inverse]
        ref_value = fallback.get("threshold")
        ref_threshold[here] = np.inf if ref_value is None else float(ref_value)  # type: ignore[arg-type]
        floors = [name for name, rule in rule_set.tiers.items() if rule.has_floor]
        floored[here] = one_of(tiers[here].astype(str), floors)
    rule_hit, rule_index = policy.rule_hits(scored)
    # Measure 22: a declaration a voluntary disclosure covers is no detection target.
    disclosed = disclosure_cover(policy.settings.disclosure, scored).covered & ~rule_hit
    by_risk = ~rule_hit & ~disclosed & (prio >= threshold)
    ids = np.asarray(scored["declaration_id"], dtype=object)
    u = hash_uniform(ids, f"online:{policy.seed_}")
    random = ~rule_hit & ~disclosed & ~by_risk & (u < explore)
    floor = by_risk & floored & (prio < ref_threshold)
    selected = rule_hit | disclosed | by_risk | random
    reason = select_first(
        [rule_hit, disclosed, random, floor, by_risk],
        ["rule", DISCLOSURE_REASON, "random", "tier_floor", "risk"],
        "",
    )
    return policy.decision_columns(scored, selected, reason, rule_index, rule_sets)
