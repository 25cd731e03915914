"""The selection of the rows of one credit rule set, in the order the rules apply.

Rule hits count first, the exploration draw comes next (over everything no rule
selected, so that it samples the whole population), then the credit allocation
by priority fills the rest of the budget within each tier's caps and floors. A batch
that spans a change of the law is cut into such groups by
:meth:`portsift.models.policy.SelectionPolicy.decide`.
"""

from __future__ import annotations

import numpy as np

from portsift.models.budget import exploration_count, hash_uniform, systematic_draw
from portsift.models.credit import (
    absolute_floor,
    allocate,
    capped_tiers,
    random_surplus,
    tier_codes,
    tier_specs,
    yield_to_floors,
)
from portsift.models.selection_facts import BatchFacts, FloorNeed
from portsift.settings import CreditRuleSetSettings


def select_group(
    prio: np.ndarray,
    tiers: np.ndarray,
    rule_hit: np.ndarray,
    ids: np.ndarray,
    budget: int,
    rule_set: CreditRuleSetSettings,
    *,
    share: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, BatchFacts]:
    """The selection of the rows of one credit rule set, given their share of the budget.

    Officer rules first, then the seeded exploration draw, then the exact credit
    allocation by priority (see :mod:`portsift.models.policy` for the order and why).

    Args:
        prio: Priorities of the rows.
        tiers: The tier each row is held to under ``rule_set``.
        rule_hit: Which rows officer rules select.
        ids: Declaration ids (the draw is keyed on them, not on row order).
        budget: The rows' share of the batch budget.
        rule_set: The credit rule set in force for these rows.
        share: Exploration share of the budget.
        seed: Seed of the draws.

    Returns:
        The selected, random and tier-floor masks and the facts of the group.
    """
    n = len(prio)
    codes, specs = tier_codes(tiers, tier_specs(rule_set))
    reference = [s.name for s in specs].index(rule_set.reference_tier)
    if not (codes == reference).any():
        # No reference tier in the batch: the relative rules have nothing to refer to.
        specs = [spec.absolute_only() for spec in specs]
    sizes = np.bincount(codes, minlength=len(specs))
    rule_counts = np.bincount(codes, weights=rule_hit, minlength=len(specs)).astype("int64")
    floor_need = np.array(
        [absolute_floor(spec, int(size)) for spec, size in zip(specs, sizes, strict=True)]
    )
    # Floors first: mandatory, so they raise the count above the budget if they must.
    k = max(budget, int(rule_hit.sum()), int(np.maximum(rule_counts, floor_need).sum()))
    floor_excess = k - max(budget, int(rule_hit.sum()))
    r = min(exploration_count(budget, share), k - int(rule_hit.sum()))
    keys = hash_uniform(ids, f"batch:{seed}")
    random = systematic_draw(keys, codes, ~rule_hit, r, seed)
    random, dropped = yield_to_floors(random, keys, codes, rule_counts, floor_need, k)
    moved = 0
    allocation = allocate(prio, codes, rule_hit | random, k, specs, reference)
    # A capped tier may hold more random draws than its cap allows at the solution:
    # move the surplus (latest in key order) to tiers with room, at most twice over.
    for _ in range(2):
        if allocation.feasible:
            break
        surplus = random_surplus(codes, specs, reference, rule_hit, random, k)
        if not surplus.any():
            break
        random &= ~surplus
        room = ~rule_hit & ~random & ~np.isin(codes, capped_tiers(specs))
        extra = np.flatnonzero(room)
        extra = extra[np.lexsort((extra, keys[extra]))[: int(surplus.sum())]]
        random[extra] = True
        moved += int(surplus.sum())
        allocation = allocate(prio, codes, rule_hit | random, k, specs, reference)
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
