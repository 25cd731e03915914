"""Real-time selection state: per-tier priority thresholds fitted on recent declarations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
