"""Inspection selection: turn scored declarations into decisions under the rules.

:class:`SelectionPolicy` takes scored declarations (the feature frame with
``risk_score``, ``priority`` and ``raw_score``) and decides, per declaration, whether it
is inspected, in which lane, why, under which deadlines, and says so in Chinese and
English. Its configuration is the ``[selection]`` section of ``portsift/settings.toml``
(every rule there names its source).

**Batch** (:meth:`SelectionPolicy.decide`): exactly ``k = round(rate x N)`` are selected.

1. *Rules*: every declaration an officer rule matches is selected (``rule``); they count
   in ``k`` (if they alone exceed it, all of them are still selected and the batch facts
   say so).
2. *Exploration*: ``round(share x k)`` declarations are drawn at random (``random``) from
   those no rule selected, before the risk part, so that the sample is one of the whole
   population and its outcomes estimate the true violation rate (a draw among what the
   model passed over would only estimate the rate there). The draw is an
   equal-probability systematic sample over a seeded hash order within tiers: every
   eligible declaration has the same chance ``r / M``, the per-tier counts are within one
   of proportional, and the same seed gives the same draw whatever the row order.
3. *Credit tiers and risk*: the rest of the budget goes by priority, subject to the
   per-tier rate rules relative to the reference tier's rate ``rho`` (``below c``:
   ``n_t / N_t < c rho``; ``at_least f``: ``n_t / N_t >= f rho``), counted over every
   selection, rules and random draws included. The solution is exact and terminates:
   for every candidate count ``m`` of reference-tier selections the bounds of each tier
   follow (caps, floors), each tier takes the rows whose priority beats the reference
   tier's marginal row, clipped to its bounds; that total is non-decreasing in ``m``,
   so the largest ``m`` whose total fits in ``k`` is found over all ``m`` at once, and the
   few rows left over (or too many) are filled (trimmed) by priority within the bounds.
   Rows a floor adds below the marginal priority are ``tier_floor``.

**Real time** (:meth:`SelectionPolicy.fit_thresholds`, :meth:`decide_online`,
:meth:`decide_one`): the batch solution on recent scored declarations gives a priority
threshold per tier and a per-tier exploration probability such that the expected counts
on that data equal the batch counts; these are saved as JSON with the model
(:class:`ThresholdState`). Online, a declaration is selected if a rule matches, else if
its priority reaches its tier's threshold, else with the exploration probability (a
seeded hash of its id, so a replay decides the same). :meth:`summarise` reports the
realised rate against the target, so that drift is visible.

**Lanes** (``[selection.lanes]``): a selection goes to

* ``red_sampling`` if its goods are in the acceptance (statutory inspection) catalogue
  and carry no accepted lab report: the risk is one of quality and safety, which a lab
  test settles;
* ``red`` (physical inspection) if the declared value is at least ``red_min_value``, or
  a physical signal is present: perishable goods (quarantine), or a declared weight per
  unit off its reference by more than ``physical_weight_ratio`` either way (a quantity
  only opening the container can check);
* ``yellow`` (document review) otherwise: the risk is documentary (valuation,
  classification, origin papers) at a modest value.

An officer rule sets its own lane. A catalogue good with an accepted report (采信: a
``pass`` from an accredited lab within the validity window of its HS prefix) is never
``red_sampling``: it gets ``red`` or ``yellow`` by the rule above (a ``red_sampling``
rule becomes ``red``) and the note says the report was accepted. Not selected = ``green``.

**Deadlines** (hours or days from when the goods are presented for inspection, NaN where
none applies): selected perishable goods are in the green channel (``priority_lane``):
``inspection_deadline_hours`` and ``release_deadline_hours`` (after a normal result);
``red_sampling`` carries ``sampling_deadline_days`` and, for the goods classes of
``[[selection.sampling.lab_test]]``, ``lab_test_deadline_days``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from portsift.settings import (
    CreditRuleSetSettings,
    CreditSettings,
    RuleSettings,
    SelectionSettings,
    TierRuleSettings,
    load_settings,
)

LANES = ("green", "yellow", "red", "red_sampling")
SELECTION_REASONS = ("risk", "random", "tier_floor", "rule", "")

#: Columns :meth:`SelectionPolicy.decide` returns, in order.
DECISION_COLUMNS: tuple[str, ...] = (
    "selected",
    "lane",
    "selection_reason",
    "lab_accepted",
    "green_channel",
    "priority_lane",
    "inspection_deadline_hours",
    "release_deadline_hours",
    "sampling_deadline_days",
    "lab_test_deadline_days",
    "policy_note_en",
    "policy_note_zh",
    "policy_version",
)

#: Columns of the scored frame the policy reads (besides ``priority`` and ``risk_score``).
POLICY_COLUMNS: tuple[str, ...] = (
    "declaration_id",
    "declared_at",
    "credit_tier",
    "hs_code",
    "origin_country",
    "importer_id",
    "declared_value",
    "acceptance_listed",
    "lab_report_present",
    "lab_accredited",
    "lab_result_pass",
    "lab_report_age_days",
    "lab_id",
    "issued_at",
    "perishable",
    "weight_per_unit_ratio",
)

_EPS = 1e-9  # slack of the rate comparisons against float round-off


# -- the budget and the ranking ----------------------------------------------------


def budget_count(n_rows: int, rate: float) -> int:
    """Return how many of ``n_rows`` declarations an inspection ``rate`` selects."""
    if not 0 < rate <= 1:
        raise ValueError(f"inspection rate must be in (0, 1], got {rate}")
    return min(n_rows, max(1, math.floor(n_rows * rate + 0.5))) if n_rows else 0


def exploration_count(k: int, share: float) -> int:
    """Return how many of a budget of ``k`` the exploration ``share`` draws at random."""
    return math.floor(k * share + 0.5)


def priority(risk_score: np.ndarray, amount: np.ndarray, revenue_weight: float) -> np.ndarray:
    """Rank score: risk times the revenue at stake raised to ``revenue_weight``.

    Args:
        risk_score: Calibrated P(illicit).
        amount: Revenue an inspection would raise if the declaration is illicit.
        revenue_weight: 0 ranks by risk alone, 1 by expected revenue.

    Returns:
        The priority per declaration (higher = inspect first).
    """
    stake = np.maximum(np.nan_to_num(np.asarray(amount, dtype="float64")), 1.0)
    return np.asarray(risk_score, dtype="float64") * stake**revenue_weight


def select_top(score: np.ndarray, rate: float) -> np.ndarray:
    """Mark the top ``rate`` share by ``score`` (ties by position) as selected.

    This is the unconstrained budget rule, the yardstick of the constrained policy.

    Args:
        score: Priority per declaration.
        rate: Share of declarations to inspect.

    Returns:
        A boolean array, exactly ``budget_count`` True.
    """
    score = np.asarray(score, dtype="float64")
    selected = np.zeros(len(score), dtype=bool)
    k = budget_count(len(score), rate)
    selected[np.argsort(-score, kind="stable")[:k]] = True
    return selected


# -- tier rules and the exact allocation -------------------------------------------


@dataclass(frozen=True)
class _TierSpec:
    """One tier of the allocation: caps and floors, relative or absolute."""

    name: str
    below: float | None = None
    at_least: float | None = None
    below_rate: float | None = None
    at_least_rate: float | None = None

    @property
    def has_floor(self) -> bool:
        return self.at_least is not None or self.at_least_rate is not None

    @property
    def has_cap(self) -> bool:
        return self.below is not None or self.below_rate is not None

    def absolute_only(self) -> _TierSpec:
        """The rule without its relative parts (no reference tier to refer to)."""
        return _TierSpec(self.name, below_rate=self.below_rate, at_least_rate=self.at_least_rate)


@dataclass(frozen=True)
class _Allocation:
    selected: np.ndarray  # bool per row
    floor: np.ndarray  # bool per row: added by a tier floor below the marginal priority
    reference_count: int
    feasible: bool


def _tier_codes(tiers: np.ndarray, specs: list[_TierSpec]) -> tuple[np.ndarray, list[_TierSpec]]:
    """Code each row's tier; tiers in the data but not in the rules become free tiers."""
    names = [s.name for s in specs]
    extra = sorted(set(pd.unique(tiers).astype(str)) - set(names))
    specs = [*specs, *(_TierSpec(name) for name in extra)]
    codes = pd.Index([s.name for s in specs]).get_indexer(tiers.astype(str))
    return codes.astype("int64"), specs


def _strictly_below(x: np.ndarray | float, n_t: int) -> np.ndarray:
    # n < x  <=>  n <= ceil(x) - 1 (the slack absorbs round-off so that an exact integer
    # x, computed as x + tiny, still excludes n = x).
    return np.clip(np.ceil(np.asarray(x) - _EPS) - 1, 0, n_t).astype("int64")


def _at_least(x: np.ndarray | float, n_t: int) -> np.ndarray:
    return np.minimum(np.ceil(np.asarray(x) - _EPS), n_t).astype("int64")


def _absolute_floor(spec: _TierSpec, n_t: int) -> int:
    """Selections an absolute floor needs in a tier of ``n_t`` rows (0 without one)."""
    if spec.at_least_rate is None:
        return 0
    return int(_at_least(spec.at_least_rate * n_t, n_t))


def _bounds(
    m: np.ndarray, spec: _TierSpec, n_t: int, n_ref: int, forced_t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper selection counts of a tier for reference counts ``m``."""
    relative = m * n_t / max(n_ref, 1)
    lo = np.full(len(m), forced_t, dtype="int64")
    hi = np.full(len(m), n_t, dtype="int64")
    if spec.below is not None:
        hi = np.minimum(hi, _strictly_below(spec.below * relative, n_t))
    if spec.below_rate is not None:
        hi = np.minimum(hi, _strictly_below(spec.below_rate * n_t, n_t))
    if spec.at_least is not None:
        lo = np.maximum(lo, _at_least(spec.at_least * relative, n_t))
    if spec.at_least_rate is not None:
        lo = np.maximum(lo, _absolute_floor(spec, n_t))
    return lo, hi


def _allocate(
    prio: np.ndarray,
    codes: np.ndarray,
    forced: np.ndarray,
    k: int,
    specs: list[_TierSpec],
    reference: int,
) -> _Allocation:
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
        lo[t], hi[t] = _bounds(m, specs[t], int(sizes[t]), n_ref, int(forced_counts[t]))
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
    return _Allocation(selected, floor & selected, int(m[best]), ok)


# -- random keys ---------------------------------------------------------------------


def _hash_uniform(ids: np.ndarray, salt: str) -> np.ndarray:
    """Uniform [0, 1) numbers from a keyed hash of the ids (row order does not matter)."""
    key = hashlib.sha256(salt.encode("utf-8")).hexdigest()[:16]
    # Object strings hashed directly: the same values as pandas' default (which factorizes
    # first), without its fixed cost of ~0.5 ms on the one-row arrays of the API.
    text = np.asarray(ids, dtype=object).astype(str).astype(object)
    hashed = pd.util.hash_array(text, hash_key=key, categorize=False)
    return (hashed >> np.uint64(11)).astype("float64") * 2.0**-53


def _systematic_draw(
    keys: np.ndarray, codes: np.ndarray, eligible: np.ndarray, r: int, seed: int
) -> np.ndarray:
    """Equal-probability systematic sample of ``r`` eligible rows, ordered by tier and key.

    Every eligible row is drawn with probability ``r / M`` exactly, and each tier gets
    within one of its proportional count, because the rows of a tier are contiguous in
    the order the sample steps through.
    """
    drawn = np.zeros(len(keys), dtype=bool)
    candidates = np.flatnonzero(eligible)
    if r <= 0 or len(candidates) == 0:
        return drawn
    r = min(r, len(candidates))
    ordered = candidates[np.lexsort((candidates, keys[candidates], codes[candidates]))]
    step = len(ordered) / r
    start = np.random.default_rng(seed).random() * step
    drawn[ordered[np.floor(start + step * np.arange(r)).astype("int64")]] = True
    return drawn


def _yield_to_floors(
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


@dataclass(frozen=True)
class FloorNeed:
    """What an absolute credit floor needs in a batch.

    Attributes:
        rule_set: Id of the credit rule set.
        source: The legal instrument (e.g. "GACC Order 282 (2026)").
        tier: The tier held to the floor.
        rows: Its declarations in the batch.
        rate: The floor, e.g. 0.8.
        needed: Selections the floor needs: ``ceil(rate x rows)``.
    """

    rule_set: str
    source: str
    tier: str
    rows: int
    rate: float
    needed: int

    def describe(self) -> str:
        """E.g. ``dishonest: 80% of 140 = 112 (GACC Order 282 (2026))``."""
        return f"{self.tier}: {self.rate:.0%} of {self.rows:,} = {self.needed:,} ({self.source})"


@dataclass(frozen=True)
class BatchFacts:
    """What happened in the last batch decision (``SelectionPolicy.batch_``).

    Attributes:
        rows: Declarations in the batch.
        budget: ``k``, the number the rate asks for.
        selected: Number selected (``budget`` unless rules or floors alone exceed it).
        rule_hits: Declarations selected by officer rules.
        random: Declarations drawn at random.
        exploration_moved: Random draws moved out of a capped tier that had no room.
        constraints_met: Whether the tier rules hold (False only if infeasible).
        reference_count: Selections in the reference tier.
        floor_excess: Selections beyond the budget (and the rule hits) that the
            mandatory absolute floors needed.
        floor_needs: What each absolute floor needed.
        exploration_dropped: Random draws given up so that the floors fit.
        rule_sets: Declarations per credit rule set (by id).
    """

    rows: int
    budget: int
    selected: int
    rule_hits: int
    random: int
    exploration_moved: int
    constraints_met: bool
    reference_count: int
    floor_excess: int = 0
    floor_needs: tuple[FloorNeed, ...] = ()
    exploration_dropped: int = 0
    rule_sets: dict[str, int] = field(default_factory=dict)

    def floor_message(self) -> str:
        """Why the selections exceed the budget because of the floors ("" when they do not)."""
        if self.floor_excess <= 0:
            return ""
        needs = "; ".join(need.describe() for need in self.floor_needs if need.needed > 0)
        return (
            f"mandatory credit floors need {self.floor_excess:,} selections beyond the budget "
            f"of {self.budget:,}: {self.selected:,} selected ({needs})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        out = asdict(self)
        out["floor_needs"] = [asdict(need) for need in self.floor_needs]
        return out


@dataclass(frozen=True)
class PolicySummary:
    """Realised rates of a set of decisions against the rules.

    Attributes:
        rows: Declarations decided.
        selected: Declarations selected.
        rate: Realised inspection rate.
        target_rate: The rate the policy aims at.
        by_reason: Selections per ``selection_reason``.
        by_lane: Declarations per lane.
        random_share: Share of the selections drawn at random.
        tiers: Per tier: rows, selected, rate, ratio to the reference tier's rate, the
            rule and whether it holds.
        constraints_met: Whether every tier rule holds.
    """

    rows: int
    selected: int
    rate: float
    target_rate: float
    by_reason: dict[str, int]
    by_lane: dict[str, int]
    random_share: float
    tiers: pd.DataFrame
    constraints_met: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        tiers = self.tiers.reset_index().astype(object)
        tiers = tiers.where(tiers.notna(), None)
        return {
            "rows": self.rows,
            "selected": self.selected,
            "rate": self.rate,
            "target_rate": self.target_rate,
            "by_reason": self.by_reason,
            "by_lane": self.by_lane,
            "random_share": self.random_share,
            "constraints_met": self.constraints_met,
            "tiers": tiers.to_dict("records"),
        }


# -- the policy ----------------------------------------------------------------------


#: What the policy reads declarations from: a pandas frame (batch scoring) or columns of
#: numpy arrays (the API's per-request path, text as object arrays with None missing).
Table = pd.DataFrame | Mapping[str, np.ndarray]


def _length(frame: Table) -> int:
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return len(next(iter(frame.values()))) if frame else 0


def _numbers(frame: Table, column: str) -> np.ndarray:
    """A numeric column as float64 (NaN where missing, all NaN when absent)."""
    if column not in frame:
        return np.full(_length(frame), np.nan)
    values = frame[column]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")


def _flag(frame: Table, column: str) -> np.ndarray:
    """A 0/1 feature as booleans (missing column or NaN = False)."""
    return _numbers(frame, column) == 1


def _text(frame: Table, column: str) -> np.ndarray:
    """A text column as an object array of strings, empty where missing."""
    if column not in frame:
        return np.full(_length(frame), "", dtype=object)
    values = frame[column]
    if isinstance(values, pd.Series):
        return values.astype(object).where(values.notna(), "").astype(str).to_numpy(dtype=object)
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def _date_text(frame: Table, column: str) -> np.ndarray:
    """A date column as ``YYYY-MM-DD`` text, empty where missing."""
    if column not in frame:
        return np.full(_length(frame), "", dtype=object)
    values = frame[column]
    if isinstance(values, pd.Series):
        values = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
    dates = np.asarray(values, dtype="datetime64[ns]")
    text = np.datetime_as_string(dates, unit="D").astype(object)
    return np.where(np.isnat(dates), "", text)


def _dates(frame: Table, column: str) -> np.ndarray:
    """A date column as ``datetime64[D]`` (NaT where missing, all NaT when absent)."""
    if column not in frame:
        return np.full(_length(frame), np.datetime64("NaT"), dtype="datetime64[D]")
    values = frame[column]
    if isinstance(values, pd.Series):
        values = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]")


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


def _held_to(register: np.ndarray, rule_set: CreditRuleSetSettings) -> np.ndarray:
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
        ok &= rate < rule.below * reference_rate - _EPS or (reference_rate == 0 and rate == 0)
    if rule.below_rate is not None:
        ok &= rate < rule.below_rate - _EPS
    if rule.at_least is not None and known:
        ok &= rate >= rule.at_least * reference_rate - _EPS
    if rule.at_least_rate is not None:
        ok &= rate >= rule.at_least_rate - _EPS
    return bool(ok)


def _tier_summary(
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


def _apportion(total: int, sizes: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``sizes`` by largest remainders (sums to ``total``)."""
    sizes = np.asarray(sizes, dtype="float64")
    quota = total * sizes / sizes.sum()
    counts = np.floor(quota).astype("int64")
    left = total - int(counts.sum())
    if left > 0:
        counts[np.argsort(-(quota - counts), kind="stable")[:left]] += 1
    return counts


def _startswith(texts: np.ndarray, prefix: str) -> np.ndarray:
    if len(texts) == 0:
        return np.zeros(0, dtype=bool)
    return np.char.startswith(texts.astype(str), prefix)


def _longest_prefix(codes: np.ndarray, table: Mapping[str, Any], default: Any) -> np.ndarray:
    """Value of the longest prefix of ``table`` each code starts with (else ``default``)."""
    out = np.full(len(codes), default, dtype=object)
    if len(codes) == 0 or not table:
        return out
    found = np.zeros(len(codes), dtype=bool)
    text = np.asarray(codes, dtype=object).astype(str)
    values = np.asarray(list(table.values()), dtype=object)
    keys = np.asarray(list(table), dtype=str)
    lengths = np.char.str_len(keys)
    # One binary search per prefix length (codes cut to that length), not one pass per
    # prefix: a code starts with a prefix of length L exactly when its first L
    # characters are the prefix.
    for length in sorted(set(lengths.tolist()), reverse=True):
        at = np.flatnonzero(lengths == length)
        order = np.argsort(keys[at])
        level, level_values = keys[at][order], values[at][order]
        cut = text.astype(f"<U{length}")
        position = np.minimum(np.searchsorted(level, cut), len(level) - 1)
        hit = ~found & (level[position] == cut)
        out[hit] = level_values[position[hit]]
        found |= hit
    return out


def _tier_values(tiers: np.ndarray, table: Mapping[str, float], default: float) -> np.ndarray:
    """Map tier names to numbers (``default`` for a tier not in ``table``)."""
    # One dict lookup per distinct tier, not per row.
    names, inverse = np.unique(np.asarray(tiers, dtype=object).astype(str), return_inverse=True)
    mapped = np.array([table.get(name, default) for name in names], dtype="float64")
    return mapped[inverse.reshape(-1)]


def _as_frame(parts: Mapping[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """The decision columns as a frame (text columns in pandas' ``str`` dtype)."""
    out = pd.DataFrame(dict(parts), index=index)
    for column in _TEXT_DECISION_COLUMNS:
        out[column] = out[column].astype("str")
    return out


_TEXT_DECISION_COLUMNS = (
    "lane",
    "selection_reason",
    "policy_note_en",
    "policy_note_zh",
    "policy_version",
)


def _join(*parts: np.ndarray) -> np.ndarray:
    """Join per-row text parts with "; " (the contract's reason separator), skipping empties."""
    joined = np.full(len(parts[0]), "", dtype=object)
    for part in parts:
        part = np.asarray(part, dtype=object)
        joined = np.where(part == "", joined, np.where(joined == "", part, joined + "; " + part))
    return joined


def _fmt(value: float) -> str:
    return f"{value:g}"


class SelectionPolicy:
    """Select declarations for inspection under the budget and the credit rules.

    Follows scikit-learn's conventions: ``__init__`` only stores the configuration;
    state learnt from data ends in ``_`` (``thresholds_`` from :meth:`fit_thresholds`,
    ``batch_`` facts of the last :meth:`decide`).

    Args:
        config: The ``[selection]`` settings; None = the packaged defaults (or
            ``PORTSIFT_CONFIG``).
        rate: Inspection rate, overriding ``config.default_rate``.
        exploration_share: Random share of the budget, overriding the configuration.
        random_state: Seed of the random draws, overriding the configuration.
    """

    def __init__(
        self,
        config: SelectionSettings | None = None,
        *,
        rate: float | None = None,
        exploration_share: float | None = None,
        random_state: int | None = None,
    ) -> None:
        self.config = config
        self.rate = rate
        self.exploration_share = exploration_share
        self.random_state = random_state

    # -- configuration ---------------------------------------------------------------

    @property
    def settings(self) -> SelectionSettings:
        """The configuration in force."""
        if self.config is not None:
            return self.config
        # Read once per policy: the packaged defaults do not change during a run.
        if getattr(self, "_defaults", None) is None:
            self._defaults = load_settings().selection
        return self._defaults

    @property
    def rate_(self) -> float:
        """The inspection rate in force."""
        rate = self.settings.default_rate if self.rate is None else self.rate
        if not 0 < rate <= 1:
            raise ValueError(f"inspection rate must be in (0, 1], got {rate}")
        return float(rate)

    @property
    def share_(self) -> float:
        """The exploration share in force."""
        share = self.exploration_share
        share = self.settings.exploration.share if share is None else share
        if not 0 <= share < 1:
            raise ValueError(f"exploration share must be in [0, 1), got {share}")
        return float(share)

    @property
    def seed_(self) -> int:
        """The seed in force."""
        seed = self.random_state
        return int(self.settings.exploration.random_state if seed is None else seed)

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (scikit-learn convention)."""
        return {
            "config": self.config,
            "rate": self.rate,
            "exploration_share": self.exploration_share,
            "random_state": self.random_state,
        }

    def with_params(self, **changes: Any) -> SelectionPolicy:
        """A new, unfitted policy with some constructor arguments changed."""
        return SelectionPolicy(**{**self.get_params(), **changes})

    @property
    def version(self) -> str:
        """Digest of everything that shapes a decision (reported with each one)."""
        # Settings and parameters are fixed once constructed: the digest is taken once.
        cached = self.__dict__.get("_version")
        if cached is not None:
            return cached
        payload = {
            "selection": self.settings.model_dump(mode="json"),
            "rate": self.rate_,
            "share": self.share_,
            "seed": self.seed_,
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8"))
        self.__dict__["_version"] = f"policy-{digest.hexdigest()[:12]}"
        return self.__dict__["_version"]

    @staticmethod
    def _specs(rule_set: CreditRuleSetSettings) -> list[_TierSpec]:
        return [
            _TierSpec(name, rule.below, rule.at_least, rule.below_rate, rule.at_least_rate)
            for name, rule in rule_set.tiers.items()
        ]

    def rule_sets_of(self, frame: Table) -> tuple[np.ndarray, np.ndarray]:
        """The credit rule set in force for each declaration, and the tier it is held to.

        Args:
            frame: Declarations with ``declared_at`` and ``credit_tier`` (a missing
                date takes the latest rule set; a missing tier is its reference tier).

        Returns:
            The index into ``[selection.credit] rule_sets`` per row, and the tier whose
            rule applies to the row under that set (its register tier, or the tier
            the set's ``fallback`` maps it to).
        """
        credit = self.settings.credit
        which = rule_set_index(_dates(frame, "declared_at"), credit)
        tiers = _text(frame, "credit_tier")
        effective = np.empty(len(tiers), dtype=object)
        for index in np.unique(which):
            here = which == index
            effective[here] = _held_to(tiers[here], credit.rule_sets[int(index)])
        return which, effective

    # -- the parts of a decision -----------------------------------------------------

    def rule_hits(self, frame: Table) -> tuple[np.ndarray, np.ndarray]:
        """Which officer rule (first in file order) each declaration matches.

        Args:
            frame: Declarations with ``hs_code``, ``origin_country``, ``importer_id``,
                ``credit_tier`` (missing columns never match).

        Returns:
            A boolean hit mask and the index of the rule hit (-1 where none).
        """
        n = _length(frame)
        which = np.full(n, -1, dtype="int64")
        for index, rule in enumerate(self.settings.rules):
            match = np.ones(n, dtype=bool)
            for column, wanted in (
                ("origin_country", rule.origin_country),
                ("importer_id", rule.importer_id),
                ("credit_tier", rule.credit_tier),
            ):
                if wanted is not None:
                    match &= _text(frame, column) == wanted
            if rule.hs_prefix is not None:
                match &= _startswith(_text(frame, "hs_code"), rule.hs_prefix)
            which = np.where((which < 0) & match, index, which)
        return which >= 0, which

    def lab_acceptance(self, frame: Table) -> pd.DataFrame:
        """Whether each declaration's lab report is accepted (采信), and why not.

        Args:
            frame: Features with ``acceptance_listed``, ``lab_report_present``,
                ``lab_accredited``, ``lab_result_pass``, ``lab_report_age_days`` and
                ``hs_code``.

        Returns:
            ``accepted`` (bool), ``status`` (``accepted``, ``not_accredited``,
            ``failed``, ``out_of_validity``, ``not_listed``, ``no_report``, or ``""`` for
            goods outside the catalogue without a report) and ``validity_days``.
        """
        index = frame.index if isinstance(frame, pd.DataFrame) else None
        return pd.DataFrame(self._lab_status(frame), index=index)

    def _lab_status(self, frame: Table) -> dict[str, np.ndarray]:
        acceptance = self.settings.acceptance
        listed = _flag(frame, "acceptance_listed")
        present = _flag(frame, "lab_report_present")
        accredited = _flag(frame, "lab_accredited")
        passed = _flag(frame, "lab_result_pass")
        validity = _longest_prefix(
            _text(frame, "hs_code"), acceptance.validity_days, acceptance.default_validity_days
        ).astype("float64")
        age = _numbers(frame, "lab_report_age_days")
        # A report dated after the declaration is no more valid than an expired one.
        fresh = (age >= 0) & (age <= validity)
        accepted = listed & present & accredited & passed & fresh
        status = np.select(
            [
                accepted,
                present & ~listed,
                present & ~accredited,
                present & ~passed,
                present & ~fresh,
                listed & ~present,
            ],
            ["accepted", "not_listed", "not_accredited", "failed", "out_of_validity", "no_report"],
            "",
        )
        return {"accepted": accepted, "status": status, "validity_days": validity}

    def _lab_test_days(self, frame: Table) -> tuple[np.ndarray, np.ndarray]:
        table: dict[str, int] = {}
        classes = self.settings.sampling.lab_test
        for index, goods_class in enumerate(classes):
            for prefix in goods_class.hs_prefixes:
                table[prefix] = index
        which = _longest_prefix(_text(frame, "hs_code"), table, -1).astype("int64")
        days = np.array([c.days for c in classes] + [np.nan], dtype="float64")[which]
        return days, which

    def _finish(
        self,
        frame: Table,
        selected: np.ndarray,
        reason: np.ndarray,
        rule_index: np.ndarray,
        rule_sets: tuple[np.ndarray, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Lanes, deadlines and notes of decided rows (:data:`DECISION_COLUMNS`).

        ``rule_sets`` is :meth:`rule_sets_of` of the rows: the credit rule set in force
        per row and the tier it holds the row to.
        """
        s = self.settings
        lab = self._lab_status(frame)
        accepted = lab["accepted"]
        listed = _flag(frame, "acceptance_listed")
        perishable = _flag(frame, "perishable")
        value = _numbers(frame, "declared_value")
        ratio = _numbers(frame, "weight_per_unit_ratio")
        with np.errstate(divide="ignore", invalid="ignore"):
            off_weight = np.abs(np.log(ratio)) > math.log(s.lanes.physical_weight_ratio)
        physical = perishable | off_weight | (value >= s.lanes.red_min_value)
        rule_lanes = np.array([r.lane for r in s.rules] + [""], dtype=object)[rule_index]
        lane = np.select(
            [~selected, rule_lanes != "", listed & ~accepted, physical],
            ["green", rule_lanes, "red_sampling", "red"],
            "yellow",
        ).astype(object)
        # 采信 outranks a rule's sampling lane: the accepted report settles quality.
        lane = np.where((lane == "red_sampling") & accepted, "red", lane)
        priority_lane = selected & perishable
        sampling = lane == "red_sampling"
        test_days, test_class = self._lab_test_days(frame)
        nan = np.nan
        out: dict[str, np.ndarray] = {}
        out["selected"] = selected.astype("int64")
        out["lane"] = lane
        out["selection_reason"] = np.asarray(reason, dtype=object)
        out["lab_accepted"] = accepted.astype("int64")
        out["green_channel"] = perishable.astype("int64")
        out["priority_lane"] = priority_lane.astype("int64")
        out["inspection_deadline_hours"] = np.where(
            priority_lane, s.green_channel.inspection_hours, nan
        )
        out["release_deadline_hours"] = np.where(priority_lane, s.green_channel.release_hours, nan)
        out["sampling_deadline_days"] = np.where(sampling, s.sampling.submission_days, nan)
        out["lab_test_deadline_days"] = np.where(sampling, test_days, nan)
        note_en, note_zh = self._notes(
            frame, selected, reason, rule_index, lane, lab, priority_lane, test_class, rule_sets
        )
        out["policy_note_en"] = note_en
        out["policy_note_zh"] = note_zh
        versions = [f"{self.version}/{r.id}" for r in s.credit.rule_sets]
        out["policy_version"] = np.array(versions, dtype=object)[rule_sets[0]]
        return out

    def _notes(
        self,
        frame: Table,
        selected: np.ndarray,
        reason: np.ndarray,
        rule_index: np.ndarray,
        lane: np.ndarray,
        lab: Mapping[str, np.ndarray],
        priority_lane: np.ndarray,
        test_class: np.ndarray,
        rule_sets: tuple[np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The policy's part of the reasons, per row, in English and Chinese."""
        s = self.settings
        n = _length(frame)
        empty = np.full(n, "", dtype=object)
        risk = _numbers(frame, "risk_score")
        risk_text = np.char.mod("%.2f", risk).astype(object)

        # Why selected.
        rule_en = np.array(
            [
                f"officer rule {r.name} ({self._rule_conditions(r, 'en')}) -> {r.lane}"
                for r in s.rules
            ]
            + [""],
            dtype=object,
        )[rule_index]
        rule_zh = np.array(
            [f"命中布控规则{r.name}（{self._rule_conditions(r, 'zh')}）" for r in s.rules] + [""],
            dtype=object,
        )[rule_index]
        share = f"{self.share_:.0%}"
        (floor_en, floor_zh), (cap_en, cap_zh) = self._tier_notes(frame, rule_sets)
        why_en = np.select(
            [reason == "rule", reason == "random", reason == "tier_floor", reason == "risk"],
            [
                rule_en,
                f"random exploration draw ({share} of the budget, seed {self.seed_})",
                floor_en,
                "selected by risk ranking (risk score " + risk_text + ")",
            ],
            "",
        ).astype(object)
        why_zh = np.select(
            [reason == "rule", reason == "random", reason == "tier_floor", reason == "risk"],
            [
                rule_zh,
                f"随机抽查抽中（占查验额度{share}，随机种子{self.seed_}）",
                floor_zh,
                "按风险排序布控（风险评分" + risk_text + "）",
            ],
            "",
        ).astype(object)
        cap_en = np.where(selected, cap_en, empty)
        cap_zh = np.where(selected, cap_zh, empty)

        # The lab report and the deadlines: most declarations have neither, and a real-time
        # request is one row on which every text operation has a fixed cost, so the texts
        # are only built when some row needs them.
        status = np.asarray(lab["status"], dtype=object)
        sampling = lane == "red_sampling"
        noted = (status != "") & ((status != "no_report") | sampling)
        lab_en, lab_zh = (
            self._lab_notes(frame, lab, status, lane) if noted.any() else (empty, empty)
        )
        if priority_lane.any() or sampling.any():
            deadline_en, deadline_zh = self._deadline_notes(priority_lane, sampling, test_class)
        else:
            deadline_en, deadline_zh = (empty, empty), (empty, empty)
        return (
            _join(why_en, cap_en, lab_en, *deadline_en),
            _join(why_zh, cap_zh, lab_zh, *deadline_zh),
        )

    def _tier_notes(
        self, frame: Table, rule_sets: tuple[np.ndarray, np.ndarray]
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The credit rule behind each row: ``(floor en, zh)`` and ``(cap en, zh)``."""
        credit = self.settings.credit
        which, effective = rule_sets
        n = len(which)
        register = _text(frame, "credit_tier")
        floor_en, floor_zh, cap_en, cap_zh = (np.full(n, "", dtype=object) for _ in range(4))
        for index in np.unique(which):
            rule_set = credit.rule_sets[int(index)]
            reference = rule_set.reference_tier
            ref_zh = credit.name_zh(reference)
            in_set = which == index
            for name, rule in rule_set.tiers.items():
                here = in_set & (effective == name)
                if rule.is_empty or not here.any():
                    continue
                zh = credit.name_zh(name)
                source = rule.source or rule_set.source
                source_zh = rule.source_zh or rule_set.source_zh
                if rule.at_least_rate is not None:
                    floor_en[here] = (
                        f"credit tier {name}: average inspection rate at least "
                        f"{rule.at_least_rate:.0%} ({source})"
                    )
                    floor_zh[here] = (
                        f"{zh}：平均查验率不低于{rule.at_least_rate:.0%}（{source_zh}）"
                    )
                elif rule.at_least is not None:
                    floor_en[here] = (
                        f"credit tier {name}: its inspection rate must be at least "
                        f"{rule.at_least:.0%} of {reference} enterprises' ({source})"
                    )
                    floor_zh[here] = (
                        f"{zh}：查验率不低于{ref_zh}的{rule.at_least:.0%}（{source_zh}）"
                    )
                if rule.below is not None:
                    cap_en[here] = (
                        f"credit tier {name}: inspection rate kept below {rule.below:.0%} of "
                        f"{reference} enterprises' ({source})"
                    )
                    cap_zh[here] = f"{zh}：查验率低于{ref_zh}的{rule.below:.0%}（{source_zh}）"
                elif rule.below_rate is not None:
                    cap_en[here] = (
                        f"credit tier {name}: inspection rate kept below "
                        f"{rule.below_rate:.0%} ({source})"
                    )
                    cap_zh[here] = f"{zh}：查验率低于{rule.below_rate:.0%}（{source_zh}）"
        # A register tier the rule set does not know is held to another tier's rule.
        moved = (register != effective) & (register != "")
        for en, zh in ((floor_en, floor_zh), (cap_en, cap_zh)):
            hit = moved & (en != "")
            if hit.any():
                tier = register[hit]
                tier_zh = pd.Series(tier).map(credit.name_zh).to_numpy(dtype=object)
                en[hit] = en[hit] + " (" + tier + " enterprises are held to this rule)"
                zh[hit] = zh[hit] + "（" + tier_zh + "适用此规则）"
        return (floor_en, floor_zh), (cap_en, cap_zh)

    def _lab_notes(
        self, frame: Table, lab: Mapping[str, np.ndarray], status: np.ndarray, lane: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """What the policy did with each lab report, in English and Chinese."""
        lab_id = _text(frame, "lab_id")
        issued = _date_text(frame, "issued_at")
        age = np.char.mod("%.0f", _numbers(frame, "lab_report_age_days")).astype(object)
        validity = np.char.mod("%g", np.asarray(lab["validity_days"], dtype="float64")).astype(
            object
        )
        conditions = [
            status == "accepted",
            status == "not_accredited",
            status == "failed",
            status == "out_of_validity",
            (status == "no_report") & (lane == "red_sampling"),
        ]
        lab_en = np.select(
            conditions,
            [
                "lab report " + lab_id + " (pass, " + issued + ") accepted (采信): no sampling",
                "lab report "
                + lab_id
                + " not accepted: the lab is not in the acceptance directory",
                "lab report " + lab_id + ": result fail",
                "lab report " + lab_id + " not accepted: " + age + " days old, beyond the "
                "validity of " + validity + " days",
                "goods in the acceptance catalogue without an accepted lab report",
            ],
            "",
        ).astype(object)
        lab_zh = np.select(
            conditions,
            [
                "采信第三方检验报告" + lab_id + "（合格，" + issued + "），免于取样送检",
                "检验报告" + lab_id + "不予采信：检验机构不在采信名录",
                "检验报告" + lab_id + "结果不合格",
                "检验报告" + lab_id + "不予采信：已出具" + age + "天，超过" + validity + "天有效期",
                "采信目录商品未附可采信的检验报告",
            ],
            "",
        ).astype(object)
        return lab_en, lab_zh

    def _deadline_notes(
        self, priority_lane: np.ndarray, sampling: np.ndarray, test_class: np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The sampling and green-channel deadlines: ``(sample, green)`` in en, then zh."""
        s = self.settings
        g = s.green_channel
        green_en = np.where(
            priority_lane,
            f"green channel (perishable): inspect within {_fmt(g.inspection_hours)} h, "
            f"release within {_fmt(g.release_hours)} h of a normal result",
            "",
        )
        green_zh = np.where(
            priority_lane,
            f"绿色通道（鲜活易腐）：{_fmt(g.inspection_hours)}小时内查验，"
            f"结果正常后{_fmt(g.release_hours)}小时内放行",
            "",
        )
        classes = s.sampling.lab_test
        submit = _fmt(s.sampling.submission_days)
        test_en = np.array(
            [f", lab test within {_fmt(c.days)} days ({c.name})" for c in classes] + [""],
            dtype=object,
        )[test_class]
        test_zh = np.array(
            [f"，{_fmt(c.days)}天内完成检测（{c.name_zh}）" for c in classes] + [""],
            dtype=object,
        )[test_class]
        sample_en = np.where(
            sampling, f"sampling: submit samples within {submit} days" + test_en, ""
        )
        sample_zh = np.where(sampling, f"取样送检：{submit}天内送样" + test_zh, "")
        return (sample_en, green_en), (sample_zh, green_zh)

    @staticmethod
    def _rule_conditions(rule: RuleSettings, lang: str) -> str:
        """The conditions of an officer rule, e.g. "HS 0303, origin XX" / "税号0303、原产地XX"."""
        names = {
            "hs_prefix": ("HS ", "税号"),
            "origin_country": ("origin ", "原产地"),
            "importer_id": ("importer ", "进口企业"),
            "credit_tier": ("tier ", "信用等级"),
        }
        zh = lang == "zh"
        parts = [
            f"{label[zh]}{value}"
            for key, label in names.items()
            if (value := getattr(rule, key)) is not None
        ]
        return ("、" if zh else ", ").join(parts)

    # -- batch -----------------------------------------------------------------------

    def decide(self, scored: pd.DataFrame) -> pd.DataFrame:
        """Decide a batch: ``round(rate x N)`` selections under every rule.

        Mandatory credit floors beat the budget: when the absolute floors (with the
        officer rules) need more selections, all of them are selected and
        ``self.batch_`` says by how many and why.

        Args:
            scored: The feature frame with ``priority`` (and ``risk_score``) per row; the
                lab, catalogue, ``credit_tier``, ``declared_at``, ``hs_code`` and
                ``declared_value`` columns of the pipeline.

        Returns:
            :data:`DECISION_COLUMNS`, aligned with ``scored.index``. The batch facts
            are in ``self.batch_``.
        """
        n = len(scored)
        prio = scored["priority"].to_numpy(dtype="float64", na_value=np.nan)
        rule_sets = self.rule_sets_of(scored)
        rule_hit, rule_index = self.rule_hits(scored)
        ids = (
            scored["declaration_id"].to_numpy(dtype=object)
            if "declaration_id" in scored
            else np.arange(n)
        )
        selected, random, floor, facts = self._batch(prio, rule_sets, rule_hit, ids, self.rate_)
        reason = np.select(
            [rule_hit, random, floor, selected], ["rule", "random", "tier_floor", "risk"], ""
        )
        self.batch_ = facts
        decided = self._finish(scored, selected, reason, rule_index, rule_sets)
        return _as_frame(decided, scored.index)

    def _batch(
        self,
        prio: np.ndarray,
        rule_sets: tuple[np.ndarray, np.ndarray],
        rule_hit: np.ndarray,
        ids: np.ndarray,
        rate: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, BatchFacts]:
        """The selection of a batch: selected, random and tier-floor masks and facts.

        Rows under different credit rule sets (a batch spanning a change of the law)
        are decided apart, each with its share of the budget (largest remainders), so
        that each set's rules hold on its own rows.
        """
        n = len(prio)
        which, tiers = rule_sets
        budget = budget_count(n, rate)
        groups = np.unique(which)
        sizes = np.array([(which == g).sum() for g in groups])
        budgets = _apportion(budget, sizes) if len(groups) > 1 else np.full(len(groups), budget)
        selected = np.zeros(n, dtype=bool)
        random = np.zeros(n, dtype=bool)
        floor = np.zeros(n, dtype=bool)
        parts: list[BatchFacts] = []
        for group, k in zip(groups, budgets, strict=True):
            rows = np.flatnonzero(which == group) if len(groups) > 1 else slice(None)
            rule_set = self.settings.credit.rule_sets[int(group)]
            part = self._batch_group(
                prio[rows], tiers[rows], rule_hit[rows], ids[rows], int(k), rule_set
            )
            selected[rows], random[rows], floor[rows] = part[:3]
            parts.append(part[3])
        facts = BatchFacts(
            rows=n,
            budget=budget,
            selected=int(selected.sum()),
            rule_hits=int(rule_hit.sum()),
            random=int(random.sum()),
            exploration_moved=sum(p.exploration_moved for p in parts),
            constraints_met=all(p.constraints_met for p in parts),
            reference_count=sum(p.reference_count for p in parts),
            floor_excess=sum(p.floor_excess for p in parts),
            floor_needs=tuple(need for p in parts for need in p.floor_needs),
            exploration_dropped=sum(p.exploration_dropped for p in parts),
            rule_sets={k: v for p in parts for k, v in p.rule_sets.items()},
        )
        return selected, random, floor, facts

    def _batch_group(
        self,
        prio: np.ndarray,
        tiers: np.ndarray,
        rule_hit: np.ndarray,
        ids: np.ndarray,
        budget: int,
        rule_set: CreditRuleSetSettings,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, BatchFacts]:
        """:meth:`_batch` for the rows of one credit rule set and their share of the budget."""
        n = len(prio)
        codes, specs = _tier_codes(tiers, self._specs(rule_set))
        reference = [s.name for s in specs].index(rule_set.reference_tier)
        if not (codes == reference).any():
            # No reference tier in the batch: the relative rules have nothing to refer to.
            specs = [spec.absolute_only() for spec in specs]
        sizes = np.bincount(codes, minlength=len(specs))
        rule_counts = np.bincount(codes, weights=rule_hit, minlength=len(specs)).astype("int64")
        floor_need = np.array(
            [_absolute_floor(spec, int(size)) for spec, size in zip(specs, sizes, strict=True)]
        )
        # Floors first: mandatory, so they raise the count above the budget if they must.
        k = max(budget, int(rule_hit.sum()), int(np.maximum(rule_counts, floor_need).sum()))
        floor_excess = k - max(budget, int(rule_hit.sum()))
        r = min(exploration_count(budget, self.share_), k - int(rule_hit.sum()))
        keys = _hash_uniform(ids, f"batch:{self.seed_}")
        random = _systematic_draw(keys, codes, ~rule_hit, r, self.seed_)
        random, dropped = _yield_to_floors(random, keys, codes, rule_counts, floor_need, k)
        moved = 0
        allocation = _allocate(prio, codes, rule_hit | random, k, specs, reference)
        # A capped tier may hold more random draws than its cap allows at the solution:
        # move the surplus (latest in key order) to tiers with room, at most twice over.
        for _ in range(2):
            if allocation.feasible:
                break
            surplus = self._random_surplus(codes, specs, reference, rule_hit, random, k)
            if not surplus.any():
                break
            random &= ~surplus
            room = ~rule_hit & ~random & ~np.isin(codes, self._capped(specs))
            extra = np.flatnonzero(room)
            extra = extra[np.lexsort((extra, keys[extra]))[: int(surplus.sum())]]
            random[extra] = True
            moved += int(surplus.sum())
            allocation = _allocate(prio, codes, rule_hit | random, k, specs, reference)
        selected = allocation.selected
        needs = tuple(
            FloorNeed(
                rule_set=rule_set.id,
                source=rule_set.source,
                tier=spec.name,
                rows=int(sizes[t]),
                rate=float(spec.at_least_rate),
                needed=int(floor_need[t]),
            )
            for t, spec in enumerate(specs)
            if spec.at_least_rate is not None and sizes[t] > 0
        )
        facts = BatchFacts(
            rows=n,
            budget=budget,
            selected=int(selected.sum()),
            rule_hits=int(rule_hit.sum()),
            random=int((random & selected).sum()),
            exploration_moved=moved,
            constraints_met=allocation.feasible,
            reference_count=allocation.reference_count,
            floor_excess=floor_excess,
            floor_needs=needs,
            exploration_dropped=dropped,
            rule_sets={rule_set.id: n},
        )
        return selected, random & selected, allocation.floor & ~random & ~rule_hit, facts

    @staticmethod
    def _capped(specs: list[_TierSpec]) -> list[int]:
        return [t for t, spec in enumerate(specs) if spec.has_cap]

    def _random_surplus(
        self,
        codes: np.ndarray,
        specs: list[_TierSpec],
        reference: int,
        rule_hit: np.ndarray,
        random: np.ndarray,
        k: int,
    ) -> np.ndarray:
        """Random draws of capped tiers beyond their cap at the largest possible reference count.

        The reference tier can take at most what the other tiers' rule hits, absolute
        floors and (outside capped tiers) random draws leave of ``k``.
        """
        n_tiers = len(specs)
        sizes = np.bincount(codes, minlength=n_tiers)
        rules = np.bincount(codes, weights=rule_hit, minlength=n_tiers).astype("int64")
        drawn_counts = np.bincount(codes, weights=random, minlength=n_tiers).astype("int64")
        floors = np.array(
            [_absolute_floor(spec, int(size)) for spec, size in zip(specs, sizes, strict=True)]
        )
        capped = np.zeros(n_tiers, dtype=bool)
        capped[self._capped(specs)] = True
        taken = np.where(capped, rules, np.maximum(rules + drawn_counts, floors))
        taken[reference] = 0
        m_max = min(int(sizes[reference]), k - int(taken.sum()))
        surplus = np.zeros(len(codes), dtype=bool)
        for t in self._capped(specs):
            _, hi = _bounds(
                np.array([max(m_max, 0)]), specs[t], int(sizes[t]), int(sizes[reference]), 0
            )
            room = max(int(hi[0]) - int(rules[t]), 0)
            drawn = np.flatnonzero(random & (codes == t))
            surplus[drawn[room:]] = True
        return surplus

    # -- real time -------------------------------------------------------------------

    def fit_thresholds(
        self,
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
            recent_priority: Priorities of the recent declarations.
            rate: Target rate (default: the policy's rate).
            credit_tier: Their tiers (None = one tier, no credit rules).
            rule_hit: Which of them officer rules select (None = none).
            declared_at: Their dates, recorded with the state.

        Returns:
            The state, also kept as ``self.thresholds_``.
        """
        prio = np.asarray(recent_priority, dtype="float64")
        n = len(prio)
        if n == 0:
            raise ValueError("fit_thresholds needs at least one recent scored declaration")
        rate = self.rate_ if rate is None else float(rate)
        credit = self.settings.credit
        register = (
            np.full(n, "", dtype=object)
            if credit_tier is None
            else _text(
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
            tiers = _held_to(register, rule_set)
            selected, random, _, _ = self._batch_group(
                prio, tiers, hits, np.arange(n), budget_count(n, rate), rule_set
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
            policy_version=self.version,
            fitted_from=None if dates is None else str(dates.min().date()),
            fitted_to=None if dates is None else str(dates.max().date()),
            rule_sets=by_set,
        )
        self.thresholds_ = state
        return state

    def decide_online(self, scored: pd.DataFrame) -> pd.DataFrame:
        """Decide declarations one by one against the fitted thresholds (vectorised).

        Each row is decided on its own (no batch budget): rule, else priority at or
        above its tier's threshold, else a seeded draw on its id with the tier's
        exploration probability. A tier the state has not seen uses the reference
        tier's values.

        Args:
            scored: Scored declarations as for :meth:`decide`, with ``declaration_id``.

        Returns:
            :data:`DECISION_COLUMNS`, aligned with ``scored.index``.

        Raises:
            RuntimeError: If :meth:`fit_thresholds` has not been called (or
                ``thresholds_`` set from a saved state).
        """
        return _as_frame(self.decide_online_columns(scored), scored.index)

    def decide_online_columns(self, scored: Table) -> dict[str, np.ndarray]:
        """:meth:`decide_online` on columns of numpy arrays, without building a frame.

        The API's per-request path: the same decisions as :meth:`decide_online`, as
        one array per decision column.

        Args:
            scored: The columns :meth:`decide_online` reads (a frame or a mapping).

        Returns:
            :data:`DECISION_COLUMNS` as arrays.

        Raises:
            RuntimeError: If no thresholds are fitted.
        """
        state: ThresholdState | None = getattr(self, "thresholds_", None)
        if state is None:
            raise RuntimeError("decide_online needs thresholds: call fit_thresholds first")
        prio = _numbers(scored, "priority")
        prio = np.where(np.isnan(prio), -np.inf, prio)
        rule_sets = self.rule_sets_of(scored)
        which, tiers = rule_sets
        credit = self.settings.credit
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
            for key, missing, out in (
                ("threshold", np.inf, threshold),
                ("explore_probability", 0.0, explore),
            ):
                values = {
                    name: missing if entry[key] is None else float(entry[key])  # type: ignore[arg-type]
                    for name, entry in table.items()
                }
                default = fallback.get(key)
                default = missing if default is None else float(default)  # type: ignore[arg-type]
                out[here] = _tier_values(tiers[here], values, default)
            ref_value = fallback.get("threshold")
            ref_threshold[here] = np.inf if ref_value is None else float(ref_value)  # type: ignore[arg-type]
            floors = [name for name, rule in rule_set.tiers.items() if rule.has_floor]
            floored[here] = np.isin(tiers[here].astype(str), floors)
        rule_hit, rule_index = self.rule_hits(scored)
        by_risk = ~rule_hit & (prio >= threshold)
        ids = np.asarray(scored["declaration_id"], dtype=object)
        u = _hash_uniform(ids, f"online:{self.seed_}")
        random = ~rule_hit & ~by_risk & (u < explore)
        floor = by_risk & floored & (prio < ref_threshold)
        selected = rule_hit | by_risk | random
        reason = np.select(
            [rule_hit, random, floor, by_risk], ["rule", "random", "tier_floor", "risk"], ""
        )
        return self._finish(scored, selected, reason, rule_index, rule_sets)

    def decide_one(self, row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
        """Decide one scored declaration in real time (see :meth:`decide_online`).

        Args:
            row: One scored declaration (feature values, ``priority``, ids).

        Returns:
            Its decision columns as a dict.
        """
        frame = pd.DataFrame([dict(row)])
        return self.decide_online(frame).iloc[0].to_dict()

    # -- reporting -------------------------------------------------------------------

    def summarise(
        self,
        decisions: pd.DataFrame,
        credit_tier: np.ndarray | pd.Series,
        declared_at: np.ndarray | pd.Series | None = None,
    ) -> PolicySummary:
        """Realised rates of decisions per credit rule set and tier against its rules.

        Args:
            decisions: Output of :meth:`decide` or :meth:`decide_online`.
            credit_tier: The register tier of each decision.
            declared_at: The date of each decision (None: the rule set is read from
                each decision's ``policy_version``, else the latest set applies).

        Returns:
            The summary (rates, ratios to the reference tier, whether each rule holds),
            one row per rule set and tier the rows are held to.
        """
        credit = self.settings.credit
        ids = [r.id for r in credit.rule_sets]
        register = _text(
            pd.DataFrame({"credit_tier": np.asarray(credit_tier, dtype=object)}), "credit_tier"
        )
        if declared_at is not None:
            which = rule_set_index(np.asarray(pd.to_datetime(pd.Series(declared_at))), credit)
        elif "policy_version" in decisions:
            named = decisions["policy_version"].astype(str).str.rsplit("/", n=1).str[-1]
            which = pd.Index(ids).get_indexer(named.to_numpy())
            which = np.where(which < 0, len(ids) - 1, which)
        else:
            which = np.full(len(decisions), len(ids) - 1)
        selected = decisions["selected"].to_numpy(dtype="int64")
        parts = []
        met_all = True
        for index in np.unique(which):
            rule_set = credit.rule_sets[int(index)]
            here = which == index
            part, met = _tier_summary(selected[here], _held_to(register[here], rule_set), rule_set)
            parts.append(part)
            met_all &= met
        columns = ["rule_set", "rows", "selected", "rate", "ratio_to_reference", "rule", "met"]
        tiers = pd.concat(parts) if parts else pd.DataFrame(columns=columns)
        tiers.index.name = "credit_tier"
        reasons = decisions["selection_reason"].astype(str)
        by_reason = {
            r: int((reasons == r).sum()) for r in SELECTION_REASONS if r and (reasons == r).any()
        }
        lanes = decisions["lane"].astype(str)
        by_lane = {lane: int((lanes == lane).sum()) for lane in LANES if (lanes == lane).any()}
        total = int(selected.sum())
        state = getattr(self, "thresholds_", None)
        return PolicySummary(
            rows=len(decisions),
            selected=total,
            rate=total / len(decisions) if len(decisions) else math.nan,
            target_rate=self.rate_ if state is None else state.rate,
            by_reason=by_reason,
            by_lane=by_lane,
            random_share=by_reason.get("random", 0) / total if total else 0.0,
            tiers=tiers,
            constraints_met=bool(met_all),
        )

    def __repr__(self) -> str:
        return (
            f"SelectionPolicy(rate={self.rate!r}, exploration_share={self.exploration_share!r}, "
            f"random_state={self.random_state!r})"
        )


class RealTimePolicy(SelectionPolicy):
    """A selection policy whose ``decide`` is the real-time :meth:`decide_online`.

    :func:`portsift.models.scoring.score_declarations` calls ``policy.with_params(rate=...)`` and
    then ``decide``; this subclass keeps the saved thresholds across ``with_params`` and
    decides each declaration on its own, so the API shares the scoring path with
    ``portsift score`` and differs from it only in the selection rule.

    Args:
        *args: As for :class:`SelectionPolicy`.
        thresholds: The real-time thresholds fitted at training.
        **kwargs: As for :class:`SelectionPolicy`.
    """

    def __init__(self, *args: Any, thresholds: ThresholdState, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.thresholds_ = thresholds
        self.batch_ = None

    def with_params(self, **changes: Any) -> RealTimePolicy:
        """A copy with some parameters changed and the same thresholds."""
        return RealTimePolicy(**{**self.get_params(), **changes}, thresholds=self.thresholds_)

    def decide(self, scored: pd.DataFrame) -> pd.DataFrame:
        """Decide each declaration on its own (:meth:`SelectionPolicy.decide_online`)."""
        return self.decide_online(scored)


__all__ = [
    "DECISION_COLUMNS",
    "LANES",
    "POLICY_COLUMNS",
    "SELECTION_REASONS",
    "BatchFacts",
    "FloorNeed",
    "PolicySummary",
    "RealTimePolicy",
    "SelectionPolicy",
    "ThresholdState",
    "budget_count",
    "exploration_count",
    "priority",
    "rule_holds",
    "rule_set_index",
    "rule_text",
    "select_top",
]
