"""What a batch selection reports about itself: floor needs, batch facts, the summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd


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
        disclosed: Declarations a voluntary disclosure covers (measure 22): sent to
            document review outside the budget, not counted in ``selected``.
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
    disclosed: int = 0

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
