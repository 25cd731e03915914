"""Which alias a new model version gets: ``champion`` only when it strictly beats the champion.

The rule alone, without MLflow: :mod:`portsift.store.tracking` reads the champion's metric
from the registry, asks :func:`decide_alias` (or :func:`decide_shared` when a retrain
measured both models on the same rows) and records the alias with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The alias of the version that serves.
CHAMPION = "champion"
#: The alias of a registered version that did not beat the champion.
CHALLENGER = "challenger"


@dataclass(frozen=True)
class SharedComparison:
    """A new version and the champion measured on the same rows (``portsift retrain``).

    Given to :func:`portsift.store.tracking.record_training_run`, it decides the alias
    instead of each model's own hold-out metric: the same rule (strictly higher wins), on
    the shared rows.

    Attributes:
        metric: Name of the compared metric, as shown in the reason.
        challenger: The new version's value on the shared rows.
        champion_version: The champion version that was compared, None if there was none.
        champion: Its value on the same rows, None if there was no champion.
    """

    metric: str
    challenger: float
    champion_version: str | None
    champion: float | None


def _format_pair(new: float, old: float) -> tuple[str, str]:
    """Format two metric values with 3 decimals, or as many more as it takes to tell them apart."""
    for digits in range(3, 18):
        a, b = f"{new:.{digits}f}", f"{old:.{digits}f}"
        if a != b or new == old:
            return a, b
    return repr(new), repr(old)


def decide_alias(
    metric: str, new: float, champion_version: str | None, champion_value: float | None
) -> tuple[str, str]:
    """Return the alias for a new version and the reason for it.

    Strictly higher wins: a tie keeps the champion where it is.

    Args:
        metric: Name of the primary metric, as shown in the reason.
        new: The new version's value.
        champion_version: The current champion version, None if there is none.
        champion_value: Its finite value of the metric, None if it has none.

    Returns:
        ``(alias, reason)``.
    """
    if champion_version is None:
        return CHAMPION, f"no champion yet; {metric} {new:.3f} becomes champion"
    if champion_value is None:
        return CHAMPION, (
            f"champion v{champion_version} has no {metric} to compare; "
            f"{metric} {new:.3f} becomes champion"
        )
    a, b = _format_pair(new, champion_value)
    if new > champion_value:
        return CHAMPION, f"{metric} {a} beats champion v{champion_version} ({b})"
    return CHALLENGER, f"{metric} {a} does not beat champion v{champion_version} ({b})"


def decide_shared(comparison: SharedComparison, champion_version: str | None) -> tuple[str, str]:
    """Return the alias and reason from a comparison on shared rows.

    The comparison only holds for the champion it was made against: if the alias moved
    meanwhile (another training registered a champion), the new version was not
    measured against the current champion and so does not take its place.

    Args:
        comparison: The two models on the same rows.
        champion_version: The champion version now, None if there is none.

    Returns:
        ``(alias, reason)``.
    """
    if comparison.champion_version != champion_version:
        compared = (
            f"v{comparison.champion_version}" if comparison.champion_version else "no champion"
        )
        now = f"v{champion_version}" if champion_version else "none"
        return CHALLENGER, (
            f"the champion changed while comparing (compared with {compared}, now {now}); "
            "not compared on the same rows, so not promoted"
        )
    return decide_alias(
        comparison.metric, comparison.challenger, champion_version, comparison.champion
    )


__all__ = ["CHALLENGER", "CHAMPION", "SharedComparison", "decide_alias", "decide_shared"]
