"""Credit-management rules: rule sets by date, the tiers they hold, caps and floors.

The exact allocation of a batch under the per-tier rate rules (caps relative to the
reference tier, absolute floors), the rule set in force on each date, which rule each
registered tier is held to, and the rules in words and against realised rates. The
algorithm is described in :mod:`portsift.models.policy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from portsift.models.budget import RATE_SLACK
from portsift.settings import (
    CreditRuleSetSettings,
    CreditSettings,
    TierRuleSettings,
)

# -- tier rules and the exact allocation -------------------------------------------


@dataclass(frozen=True)
class TierSpec:
    """One tier of the allocation: caps and floors, relative or absolute."""

    name: str
    below: float | None = None
    at_least: float | None = None
    below_rate: float | None = None
    at_least_rate: float | None = None

    @property
    def has_floor(self) -> bool:
        """Whether the rule sets a floor (relative or absolute)."""
        return self.at_least is not None or self.at_least_rate is not None

    @property
    def has_cap(self) -> bool:
        """Whether the rule sets a cap (relative or absolute)."""
        return self.below is not None or self.below_rate is not None

    def absolute_only(self) -> TierSpec:
        """The rule without its relative parts (no reference tier to refer to)."""
        return TierSpec(self.name, below_rate=self.below_rate, at_least_rate=self.at_least_rate)


@dataclass(frozen=True)
class Allocation:
    """A batch allocation under the tier rules, and whether it could meet them."""

    selected: np.ndarray  # bool per row
    floor: np.ndarray  # bool per row: added by a tier floor below the marginal priority
    reference_count: int
    feasible: bool


def tier_codes(tiers: np.ndarray, specs: list[TierSpec]) -> tuple[np.ndarray, list[TierSpec]]:
    """Code each row's tier; tiers in the data but not in the rules become free tiers."""
    names = [s.name for s in specs]
    extra = sorted(set(pd.unique(tiers).astype(str)) - set(names))
    specs = [*specs, *(TierSpec(name) for name in extra)]
    codes = pd.Index([s.name for s in specs]).get_indexer(tiers.astype(str))
    return codes.astype("int64"), specs


def strictly_below(x: np.ndarray | float, n_t: int) -> np.ndarray:
    """The largest count ``n <= n_t`` with ``n < x``."""
    # n < x  <=>  n <= ceil(x) - 1 (the slack absorbs round-off so that an exact integer
    # x, computed as x + tiny, still excludes n = x).
    return np.clip(np.ceil(np.asarray(x) - RATE_SLACK) - 1, 0, n_t).astype("int64")


def at_least_count(x: np.ndarray | float, n_t: int) -> np.ndarray:
    """The smallest count ``n`` with ``n >= x``, at most ``n_t``."""
    return np.minimum(np.ceil(np.asarray(x) - RATE_SLACK), n_t).astype("int64")


def absolute_floor(spec: TierSpec, n_t: int) -> int:
    """Selections an absolute floor needs in a tier of ``n_t`` rows (0 without one)."""
    if spec.at_least_rate is None:
        return 0
    return int(at_least_count(spec.at_least_rate * n_t, n_t))


def tier_bounds(
    m: np.ndarray, spec: TierSpec, n_t: int, n_ref: int, forced_t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper selection counts of a tier for reference counts ``m``."""
    relative = m * n_t / max(n_ref, 1)
    lo = np.full(len(m), forced_t, dtype="int64")
    hi = np.full(len(m), n_t, dtype="int64")
    if spec.below is not None:
        hi = np.minimum(hi, strictly_below(spec.below * relative, n_t))
    if spec.below_rate is not None:
        hi = np.minimum(hi, strictly_below(spec.below_rate * n_t, n_t))
    if spec.at_least is not None:
        lo = np.maximum(lo, at_least_count(spec.at_least * relative, n_t))
    if spec.at_least_rate is not None:
        lo = np.maximum(lo, absolute_floor(spec, n_t))
    return lo, hi


def allocate(
    prio: np.ndarray,
    codes: np.ndarray,
    forced: np.ndarray,
    k: int,
    specs: list[TierSpec],
    reference: int,
) -> Allocation:
    """Select exactly ``k`` rows (``forced`` included) by priority under the tier rules.

    Args:
        prio: Priority per row (NaN ranks last).
        codes: Tier code per row (index into ``specs``).
        forced: Rows that must be selected (rules, random draws).
        k: Total to select (at least ``forced.sum()``).
        specs: Tier rules; ``specs[reference]`` is the reference tier (no rule).
        reference: Index of the reference tier.

    Returns:
        The allocation.
    """
    n = len(prio)
    p = np.where(np.isnan(prio), -np.inf, prio)
    position = np.arange(n)
    # Within each tier: forced rows first, then by priority, ties by position.
    order = np.lexsort((position, -p, ~forced, codes))
    n_tiers = len(specs)
    sizes = np.bincount(codes, minlength=n_tiers)
    forced_counts = np.bincount(codes, weights=forced, minlength=n_tiers).astype("int64")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(n, dtype="int64")
    rank[order] = position - starts[codes[order]]
    sorted_p = p[order]

    def free_priorities(t: int) -> np.ndarray:
        """Descending priorities of tier ``t``'s rows that are not forced."""
        return sorted_p[starts[t] + forced_counts[t] : starts[t] + sizes[t]]

    n_ref, f_ref = int(sizes[reference]), int(forced_counts[reference])
    m = np.arange(f_ref, n_ref + 1, dtype="int64")
    ref_p = free_priorities(reference)
    tau = np.full(len(m), np.inf)
    tau[1:] = ref_p[: len(m) - 1]
    others = [t for t in range(n_tiers) if t != reference and sizes[t] > 0]
    demand: dict[int, np.ndarray] = {}
    lo: dict[int, np.ndarray] = {}
    hi: dict[int, np.ndarray] = {}
    total = m.copy()
    low_total, high_total = m.copy(), m.copy()
    consistent = np.ones(len(m), dtype=bool)
    for t in others:
        # Rows of tier t that beat the reference tier's marginal row (searchsorted on
        # the negated descending priorities counts those strictly above tau).
        demand[t] = forced_counts[t] + np.searchsorted(-free_priorities(t), -tau, side="left")
        lo[t], hi[t] = tier_bounds(m, specs[t], int(sizes[t]), n_ref, int(forced_counts[t]))
        consistent &= lo[t] <= hi[t]
        total += np.maximum(np.minimum(demand[t], hi[t]), lo[t])
        low_total += lo[t]
        high_total += np.maximum(hi[t], lo[t])
    feasible = consistent & (low_total <= k) & (k <= high_total)
    # The demand-driven total is non-decreasing in m: the largest m that fits is the
    # priority-consistent split; if it breaks a bound, the nearest feasible m is taken.
    fits = np.flatnonzero(total <= k)
    best = int(fits[-1]) if len(fits) else 0
    if not feasible[best] and feasible.any():
        candidates = np.flatnonzero(feasible)
        best = int(candidates[np.argmin(np.abs(candidates - best))])
    ok = bool(feasible[best])
    counts = np.zeros(n_tiers, dtype="int64")
    lows = np.zeros(n_tiers, dtype="int64")
    highs = np.zeros(n_tiers, dtype="int64")
    counts[reference] = lows[reference] = highs[reference] = m[best]
    floors = np.zeros(n_tiers, dtype="int64")
    for t in others:
        lows[t], highs[t] = lo[t][best], max(hi[t][best], lo[t][best])
        counts[t] = max(min(demand[t][best], hi[t][best]), lo[t][best])
        if specs[t].has_floor:
            floors[t] = demand[t][best]
    selected = rank < counts[codes]
    # Floor rows: those a floor adds beyond the tier's demand (not later fill-ups).
    has_floor = np.array([s.has_floor for s in specs])
    floor = has_floor[codes] & selected & (rank >= floors[codes]) & (rank < lows[codes])
    gap = k - int(selected.sum())
    non_ref = codes != reference
    if gap > 0:
        room = non_ref & ~selected & (rank < highs[codes])
        if room.sum() < gap:  # infeasible: fill from anywhere rather than miss k
            room, ok = ~selected, False
        pick = np.flatnonzero(room)
        pick = pick[np.lexsort((pick, -p[pick]))[:gap]]
        selected[pick] = True
    elif gap < 0:
        spare = non_ref & selected & ~forced & (rank >= lows[codes])
        if spare.sum() < -gap:
            spare, ok = selected & ~forced, False
        drop = np.flatnonzero(spare)
        drop = drop[np.lexsort((-drop, p[drop]))[:-gap]]
        selected[drop] = False
        floor[drop] = False
    return Allocation(selected, floor & selected, int(m[best]), ok)


def yield_to_floors(
    random: np.ndarray,
    keys: np.ndarray,
    codes: np.ndarray,
    rule_counts: np.ndarray,
    floor_need: np.ndarray,
    k: int,
) -> tuple[np.ndarray, int]:
    """Drop random draws that would crowd a mandatory floor out of ``k`` selections.

    A draw in a tier counts towards that tier's floor; a draw beyond what its tier's
    floor needs takes a place the floors may need. When the floors, rule hits and
    draws together need more than ``k``, such draws go (tiers without a floor first,
    then the latest in key order), so that the floors never depend on the draw.

    Returns:
        The draws kept and how many were dropped.
    """
    forced = np.bincount(codes, weights=random, minlength=len(floor_need)).astype("int64")
    forced += rule_counts
    excess = int(np.maximum(forced, floor_need).sum()) - k
    if excess <= 0:
        return random, 0
    drawn = np.flatnonzero(random)
    # Rank each tier's draws by key, latest first: those past the tier's floor may go.
    order = drawn[np.lexsort((-keys[drawn], codes[drawn]))]
    tier_of = codes[order]
    starts = np.searchsorted(tier_of, np.arange(len(floor_need)))
    rank = np.arange(len(order)) - starts[tier_of]
    room = forced - np.maximum(floor_need, rule_counts)  # draws beyond what the floor needs
    spare = order[rank < room[tier_of]]
    has_floor = floor_need[codes[spare]] > 0
    spare = spare[np.lexsort((-keys[spare], has_floor))][:excess]
    kept = random.copy()
    kept[spare] = False
    return kept, len(spare)


def tier_specs(rule_set: CreditRuleSetSettings) -> list[TierSpec]:
    """The caps and floors of a rule set's tiers, in file order.

    Args:
        rule_set: A credit rule set.

    Returns:
        One :class:`TierSpec` per tier.
    """
    return [
        TierSpec(name, rule.below, rule.at_least, rule.below_rate, rule.at_least_rate)
        for name, rule in rule_set.tiers.items()
    ]


def capped_tiers(specs: list[TierSpec]) -> list[int]:
    """Codes of the tiers with a cap.

    Args:
        specs: The tiers' caps and floors.

    Returns:
        Their positions in ``specs``.
    """
    return [t for t, spec in enumerate(specs) if spec.has_cap]


def random_surplus(
    codes: np.ndarray,
    specs: list[TierSpec],
    reference: int,
    rule_hit: np.ndarray,
    random: np.ndarray,
    k: int,
) -> np.ndarray:
    """Random draws of capped tiers beyond their cap at the largest possible reference count.

    The reference tier can take at most what the other tiers' rule hits, absolute
    floors and (outside capped tiers) random draws leave of ``k``.

    Args:
        codes: Tier code of each row.
        specs: The tiers' caps and floors.
        reference: Code of the reference tier.
        rule_hit: Which rows officer rules select.
        random: Which rows the exploration draw took.
        k: Selections in the group.

    Returns:
        A mask of the draws to move to tiers with room.
    """
    n_tiers = len(specs)
    sizes = np.bincount(codes, minlength=n_tiers)
    rules = np.bincount(codes, weights=rule_hit, minlength=n_tiers).astype("int64")
    drawn_counts = np.bincount(codes, weights=random, minlength=n_tiers).astype("int64")
    floors = np.array(
        [absolute_floor(spec, int(size)) for spec, size in zip(specs, sizes, strict=True)]
    )
    capped = np.zeros(n_tiers, dtype=bool)
    capped[capped_tiers(specs)] = True
    taken = np.where(capped, rules, np.maximum(rules + drawn_counts, floors))
    taken[reference] = 0
    m_max = min(int(sizes[reference]), k - int(taken.sum()))
    surplus = np.zeros(len(codes), dtype=bool)
    for t in capped_tiers(specs):
        _, hi = tier_bounds(
            np.array([max(m_max, 0)]), specs[t], int(sizes[t]), int(sizes[reference]), 0
        )
        room = max(int(hi[0]) - int(rules[t]), 0)
        drawn = np.flatnonzero(random & (codes == t))
        surplus[drawn[room:]] = True
    return surplus


def rule_set_index(declared_at: np.ndarray, credit: CreditSettings) -> np.ndarray:
    """Which credit rule set is in force on each date (index into ``credit.rule_sets``).

    A date before the first set's ``valid_from`` takes the first set; a missing date
    the latest.

    Args:
        declared_at: Declaration dates (``datetime64``).
        credit: The ``[selection.credit]`` settings.

    Returns:
        An int64 index per date.
    """
    days = np.asarray(declared_at, dtype="datetime64[D]")
    starts = np.array([np.datetime64(r.valid_from, "D") for r in credit.rule_sets])
    which = np.searchsorted(starts, days, side="right") - 1
    which = np.clip(which, 0, len(starts) - 1)
    return np.where(np.isnat(days), len(starts) - 1, which).astype("int64")


def held_to(register: np.ndarray, rule_set: CreditRuleSetSettings) -> np.ndarray:
    """The tier whose rule each register tier is held to under one rule set."""
    held = np.where(register == "", rule_set.reference_tier, register).astype(object)
    for register_tier, target in rule_set.fallback.items():
        held[held == register_tier] = target
    return held


def rule_text(rule: TierRuleSettings | None, reference: str = "ref", *, plain: bool = True) -> str:
    """A tier rule in short: ``< 20% x ref``, ``>= 80%`` ("" without a rule).

    Args:
        rule: The rule.
        reference: How to name the reference tier in a relative rule.
        plain: ASCII signs (``x``, ``>=``) for terminals; False for ``×`` and ``≥``.
    """
    if rule is None:
        return ""
    times, at_least = ("x", ">=") if plain else ("×", "≥")
    parts = []
    if rule.below is not None:
        parts.append(f"< {rule.below:.0%} {times} {reference}")
    if rule.below_rate is not None:
        parts.append(f"< {rule.below_rate:.0%}")
    if rule.at_least is not None:
        parts.append(f"{at_least} {rule.at_least:.0%} {times} {reference}")
    if rule.at_least_rate is not None:
        parts.append(f"{at_least} {rule.at_least_rate:.0%}")
    return ", ".join(parts)


def rule_holds(rule: TierRuleSettings | None, rate: float, reference_rate: float) -> bool:
    """Whether a tier's realised rate meets its rule (relative rules need a reference rate).

    A relative rule with no reference rate to compare with (no reference-tier rows) is
    vacuously met; a cap is met by a zero rate when the reference rate is zero too.
    """
    if rule is None:
        return True
    ok = True
    known = not math.isnan(reference_rate)
    if rule.below is not None and known:
        ok &= rate < rule.below * reference_rate - RATE_SLACK or (reference_rate == 0 and rate == 0)
    if rule.below_rate is not None:
        ok &= rate < rule.below_rate - RATE_SLACK
    if rule.at_least is not None and known:
        ok &= rate >= rule.at_least * reference_rate - RATE_SLACK
    if rule.at_least_rate is not None:
        ok &= rate >= rule.at_least_rate - RATE_SLACK
    return bool(ok)


def tier_summary(
    selected: np.ndarray, tiers: np.ndarray, rule_set: CreditRuleSetSettings
) -> tuple[pd.DataFrame, bool]:
    """Realised rate per tier of one rule set's rows, against that set's rules."""
    frame = pd.DataFrame({"tier": tiers.astype(str), "selected": selected})
    grouped = frame.groupby("tier", sort=False)["selected"].agg(["size", "sum"])
    grouped.columns = ["rows", "selected"]
    order = [t for t in rule_set.tiers if t in grouped.index]
    grouped = grouped.loc[order + [t for t in grouped.index if t not in order]]
    grouped["rate"] = grouped["selected"] / grouped["rows"]
    reference = rule_set.reference_tier
    reference_rate = (
        float(grouped.loc[reference, "rate"]) if reference in grouped.index else math.nan
    )
    grouped["ratio_to_reference"] = (
        grouped["rate"] / reference_rate if reference_rate > 0 else np.nan
    )
    rules = [rule_set.tiers.get(str(name)) for name in grouped.index]
    grouped["rule"] = [rule_text(rule) for rule in rules]
    grouped["met"] = [
        rule_holds(rule, float(rate), reference_rate)
        for rule, rate in zip(rules, grouped["rate"], strict=True)
    ]
    grouped.insert(0, "rule_set", rule_set.id)
    return grouped, bool(grouped["met"].all())
