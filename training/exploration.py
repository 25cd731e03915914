"""Exploration in the replay: probability draws, their rate estimate and the strategies.

Exploration draws are probability samples: a row drawn with inclusion probability
``p`` carries the weight ``1 / p``, so the draw gives a Horvitz-Thompson (Hajek)
estimate of the week's violation rate, reported with a Wilson interval at the Kish
effective sample size (for equal ``p`` that is the plain Wilson interval). The
strategies of :mod:`portsift.training.simulation` differ in how they spend the
exploration part of the week's budget (:func:`select_week`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from portsift.models.budget import budget_count, exploration_count
from portsift.models.policy import SelectionPolicy
from portsift.monitoring.statistics import wilson_bounds
from portsift.settings import Settings

if TYPE_CHECKING:  # the plan is built by the simulation, which calls this module
    from portsift.training.simulation import SimulationPlan


@dataclass(frozen=True)
class RateEstimate:
    """An inverse-probability estimate of a violation rate.

    Attributes:
        estimate: Hajek estimate ``sum(y / p) / sum(1 / p)``.
        low: Lower bound of the 95% Wilson interval at the effective sample size.
        high: Upper bound.
        n_effective: Kish effective sample size ``(sum w)^2 / sum w^2``.
        drawn: Rows in the sample.
    """

    estimate: float
    low: float
    high: float
    n_effective: float
    drawn: int


def ipw_rate(outcome: np.ndarray, inclusion: np.ndarray) -> RateEstimate:
    """Estimate a population's violation rate from a probability sample.

    Args:
        outcome: 0/1 outcome of each sampled row.
        inclusion: Probability with which each row was drawn (> 0).

    Returns:
        The estimate (NaN without a sample).
    """
    y = np.asarray(outcome, dtype="float64")
    p = np.asarray(inclusion, dtype="float64")
    if len(y) == 0:
        return RateEstimate(math.nan, math.nan, math.nan, 0.0, 0)
    w = 1.0 / p
    estimate = float((w * y).sum() / w.sum())
    n_eff = float(w.sum() ** 2 / (w * w).sum())
    low, high = wilson_bounds(estimate, n_eff)
    return RateEstimate(estimate, low, high, n_eff, len(y))


def inclusion_probabilities(sizes: np.ndarray, r: int) -> np.ndarray:
    """Inclusion probabilities of a size-``r`` sample proportional to ``sizes``.

    Rows whose share would exceed 1 are taken with certainty and the rest re-shared
    (the usual capping of probability-proportional-to-size designs).

    Args:
        sizes: Positive size per row.
        r: Rows to draw.

    Returns:
        ``p`` per row in (0, 1], summing to ``min(r, len(sizes))``.
    """
    s = np.asarray(sizes, dtype="float64")
    n = len(s)
    if r <= 0 or n == 0:
        return np.zeros(n)
    if r >= n:
        return np.ones(n)
    p = np.ones(n)
    free = np.ones(n, dtype=bool)
    while True:  # at most n rounds; each caps at least one more row
        rest = r - int((~free).sum())
        share = rest * s[free] / s[free].sum()
        over = share >= 1.0
        if not over.any():
            p[free] = share
            return p
        free[np.flatnonzero(free)[over]] = False


def systematic_sample(inclusion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw exactly ``round(sum(p))`` rows, each with its inclusion probability ``p``.

    Systematic sampling over a random order: every row owns an interval of length
    ``p <= 1`` on ``[0, r)`` and the points ``u, u + 1, ...`` hit it with probability
    ``p`` exactly, at most once.

    Args:
        inclusion: ``p`` per row, summing to an integer ``r``.
        rng: Random generator.

    Returns:
        A boolean mask of the drawn rows.
    """
    p = np.asarray(inclusion, dtype="float64")
    drawn = np.zeros(len(p), dtype=bool)
    r = round(p.sum())
    if r <= 0:
        return drawn
    order = rng.permutation(len(p))
    edges = np.cumsum(p[order])
    edges[-1] = r  # absorb round-off so that the last point always lands
    points = rng.random() + np.arange(r)
    drawn[order[np.searchsorted(edges, points, side="right")]] = True
    return drawn


class ThompsonShares:
    """Thompson sampling over exploration shares, rewarded by the hits of each week.

    Each share has a Beta posterior of the hit rate of the weeks it was played; all
    counts decay by ``discount`` every week, because the world drifts and an old week
    says less about the next one. The reward is myopic (this week's hits): the value
    exploration adds to later models only shows through the hits of later weeks.

    Args:
        shares: The candidate shares.
        discount: Weekly decay of the counts (1 = none).
        rng: Random generator.
    """

    def __init__(self, shares: Sequence[float], discount: float, rng: np.random.Generator) -> None:
        self.shares = tuple(float(s) for s in shares)
        self.discount = discount
        self.rng = rng
        self.hits_ = np.zeros(len(self.shares))
        self.misses_ = np.zeros(len(self.shares))

    def choose(self) -> int:
        """Index of the share to play this week."""
        draws = self.rng.beta(1.0 + self.hits_, 1.0 + self.misses_)
        return int(np.argmax(draws))

    def update(self, arm: int, hits: int, selected: int) -> None:
        """Record the outcome of the week the share ``arm`` was played."""
        self.hits_ *= self.discount
        self.misses_ *= self.discount
        self.hits_[arm] += hits
        self.misses_[arm] += selected - hits


@dataclass(frozen=True)
class Selection:
    """How one strategy spent one week's budget.

    Attributes:
        selected: Per row of the week, whether it is selected.
        reason: Selection reason per row (``""`` = not selected).
        inclusion: Inclusion probability of the exploration draws, NaN elsewhere.
        share: The exploration share played.
    """

    selected: np.ndarray
    reason: np.ndarray
    inclusion: np.ndarray
    share: float


def select_week(
    strategy: str,
    bandit: ThompsonShares | None,
    scored: pd.DataFrame,
    settings: Settings,
    plan: SimulationPlan,
    week: int,
) -> Selection:
    """Spend the week's budget the way the strategy does.

    Args:
        strategy: The strategy's name.
        bandit: Its share sampler (the ``bandit`` strategy), else None.
        scored: The week's policy inputs and scores.
        settings: Settings (the selection policy).
        plan: The run's plan (rate, share, seed).
        week: The week number (seeds the week's draw).

    Returns:
        The selection.
    """
    seed = plan.seed + week  # a fresh draw every week, the same for every strategy
    if strategy == "uncertainty":
        return _select_uncertainty(scored, settings, plan, seed)
    if strategy == "exploit":
        share = 0.0
    elif bandit is not None:
        share = plan.config.bandit_shares[bandit.choose()]
    else:
        share = plan.share
    policy = SelectionPolicy(
        settings.selection, rate=plan.rate, exploration_share=share, random_state=seed
    )
    decided = policy.decide(scored)
    selected = decided["selected"].to_numpy() == 1
    reason = decided["selection_reason"].to_numpy(dtype=object)
    facts = policy.batch_
    # The policy draws its random part before the risk part, uniformly over the rows
    # no officer rule took: each of them had the same chance r / M.
    eligible = max(facts.rows - facts.rule_hits, 1)
    inclusion = np.where(reason == "random", facts.random / eligible, np.nan)
    return Selection(selected, reason, inclusion, share)


def _select_uncertainty(
    scored: pd.DataFrame, settings: Settings, plan: SimulationPlan, seed: int
) -> Selection:
    """The policy's share drawn where the model is least sure, then the policy's risk part."""
    n = len(scored)
    policy = SelectionPolicy(settings.selection, rate=plan.rate, exploration_share=0.0)
    rule_hit, _ = policy.rule_hits(scored)
    k = budget_count(n, plan.rate)
    r = max(min(exploration_count(k, plan.share), k - int(rule_hit.sum())), 0)
    risk = scored["risk_score"].to_numpy(dtype="float64")
    # 4 p (1 - p) is the Bernoulli variance scaled to 1 at p = 0.5; the floor keeps every
    # declaration drawable, which the rate estimate needs.
    sizes = np.where(rule_hit, 0.0, plan.config.uncertainty_floor + 4.0 * risk * (1.0 - risk))
    inclusion = np.zeros(n)
    eligible = np.flatnonzero(~rule_hit)
    inclusion[eligible] = inclusion_probabilities(sizes[eligible], r)
    drawn = systematic_sample(inclusion, np.random.default_rng([seed, 2]))
    selected = drawn.copy()
    reason = np.where(drawn, "uncertainty", "").astype(object)
    rest = np.flatnonzero(~drawn)
    if k - r > 0 and len(rest):
        # The rest of the budget exactly: budget_count(n - r, (k - r) / (n - r)) = k - r.
        exploit = policy.with_params(rate=(k - r) / len(rest))
        decided = exploit.decide(scored.iloc[rest])
        chosen = decided["selected"].to_numpy() == 1
        selected[rest[chosen]] = True
        reason[rest[chosen]] = decided["selection_reason"].to_numpy(dtype=object)[chosen]
    return Selection(selected, reason, np.where(drawn, inclusion, np.nan), plan.share)
