"""A week-by-week replay of the selection feedback loop (``portsift simulate``).

As in the WCO BACUDA simulation framework (Kim et al., DATE, KDD 2020), a fully
labelled history is replayed as if it were lived: a warm-up model learns from the
historic labels of the first weeks; then, week by week, the current model and a
selection strategy score that week's declarations and select under the budget, and
only the selected declarations reveal their outcome. Every ``retrain_every`` weeks the
feature state and the model are refitted on everything revealed so far (a deployed
bundle is exactly that pair, frozen between retrains). The ground truth of every
declaration is used for one thing only: measuring each week's precision, recall and
revenue share against all of that week's declarations.

Strategies share the warm-up model and the budget ``k = round(rate x N)`` of every
week, and differ in how the exploration part of it is spent:

* ``exploit``: the selection policy with no exploration (tier rules still apply);
* ``policy``: the policy as configured, its random share drawn uniformly;
* ``uncertainty``: the same share drawn with probability proportional to
  ``floor + 4 p (1 - p)`` (largest where the risk ``p`` is nearest 0.5), so that every
  declaration keeps a known, positive chance and the draw still estimates the rate;
* ``bandit``: Thompson sampling chooses the share each week among ``bandit_shares`` by
  the hits the weeks it was played realised (a Beta posterior per share, discounted);
* ``policy_ipw``: the policy, with its random draws weighted ``1 / p`` in training.

Exploration draws are probability samples: a row drawn with inclusion probability
``p`` carries the weight ``1 / p``, so the draw gives a Horvitz-Thompson (Hajek)
estimate of the week's violation rate, reported with a Wilson interval at the Kish
effective sample size (for equal ``p`` that is the plain Wilson interval).

Everything is vectorised per week; the cost of a run is the refits (one feature fit and
one small LightGBM model per strategy and retrain).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd

from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.models.policy import (
    POLICY_COLUMNS,
    SelectionPolicy,
    budget_count,
    exploration_count,
    priority,
)
from portsift.models.risk_model import RiskModel, TrainingData
from portsift.settings import Settings, SimulationSettings, StrategyName
from portsift.synthetic.generator import SyntheticData
from portsift.training.model_search import model_from_settings

#: Every strategy a run can compare.
STRATEGIES: tuple[str, ...] = get_args(StrategyName)

#: Columns of the weekly metrics table, in order.
WEEKLY_COLUMNS: tuple[str, ...] = (
    "strategy",
    "sim_week",
    "week",
    "week_start",
    "rows",
    "budget",
    "selected",
    "hits",
    "precision",
    "recall",
    "revenue_share",
    "exploration_share",
    "explored",
    "estimate",
    "estimate_low",
    "estimate_high",
    "estimate_n",
    "true_rate",
    "estimate_covers",
    "psi",
    "ring_rows",
    "ring_selected",
    "ring_share",
    "retrained",
    "model_rows",
)

#: Selection reasons of the exploration part (the rows that carry an inclusion probability).
EXPLORATION_REASONS: tuple[str, ...] = ("random", "uncertainty")

Stage = Callable[[str], None]


class SimulationError(ValueError):
    """A history or plan the simulation cannot run (bad input: the CLI exits 2)."""


# -- the labelled history ----------------------------------------------------------


@dataclass(frozen=True)
class LabelledHistory:
    """A fully labelled history, the ground truth kept apart from what a model may see.

    Attributes:
        declarations: Canonical declarations without label columns, in date order,
            with a fresh ``RangeIndex``.
        illicit: True outcome (0/1) of every declaration.
        revenue: Revenue an inspection of each declaration would raise, or None.
        historic: Whether the historic selection inspected the declaration: the
            warm-up learns from these rows' labels only.
        ring: Whether the declaration belongs to the late fraud ring, or None when
            the history carries no such marker.
    """

    declarations: pd.DataFrame
    illicit: np.ndarray
    revenue: np.ndarray | None
    historic: np.ndarray
    ring: np.ndarray | None


_LABEL_COLUMNS = ("inspected", "illicit", "revenue")

# The replay retrains often on small windows, so no blend weight is chosen on a
# validation slice: blend ranks by risk alone there (its choice without a revenue label).
_SIMULATION_WEIGHT = {"hits": 0.0, "revenue": 1.0, "blend": 0.0}


def history_from_frame(
    declarations: pd.DataFrame,
    *,
    historic: np.ndarray | None = None,
    ring: np.ndarray | None = None,
    source: str = "declarations",
) -> LabelledHistory:
    """Build a history from canonical declarations whose every row carries its outcome.

    Args:
        declarations: Canonical declarations with ``illicit`` on every row (and
            ``revenue``, optional, used for the revenue metrics and model).
        historic: Per row, whether the historic selection inspected it; None = every
            warm-up row is labelled (a warm-up that knows more than customs did).
        ring: Per row, fraud-ring membership, or None.
        source: Name of the input in messages.

    Returns:
        The history, sorted by ``declared_at`` (stable).

    Raises:
        SimulationError: If a row lacks its outcome or the markers do not fit.
    """
    n = len(declarations)
    if "illicit" not in declarations:
        raise SimulationError(
            f"{source}: no 'illicit' column; simulate needs the true outcome of every declaration"
        )
    illicit = declarations["illicit"].to_numpy(dtype="float64", na_value=np.nan)
    missing = np.flatnonzero(np.isnan(illicit))
    if len(missing):
        shown = ", ".join(str(int(r) + 1) for r in missing[:5])
        raise SimulationError(
            f"{source}: {len(missing)} rows have no 'illicit' value (rows {shown}"
            f"{' ...' if len(missing) > 5 else ''}); simulate needs the true outcome of "
            "every declaration. A row with inspected = 0 has its labels dropped: give the "
            "historic selection as 'historic_inspected' and leave 'inspected' out"
        )
    revenue = None
    if "revenue" in declarations and declarations["revenue"].notna().any():
        # Unknown revenue of a violation counts as none raised (noted by the caller).
        revenue = np.nan_to_num(declarations["revenue"].to_numpy(dtype="float64", na_value=0.0))
    for name, marker in (("historic", historic), ("ring", ring)):
        if marker is not None and len(marker) != n:
            raise SimulationError(f"{source}: {name} marker has {len(marker)} rows, not {n}")
    order = np.argsort(declarations["declared_at"].to_numpy(), kind="stable")
    frame = declarations.drop(columns=[c for c in _LABEL_COLUMNS if c in declarations])
    return LabelledHistory(
        declarations=frame.iloc[order].reset_index(drop=True),
        illicit=illicit[order],
        revenue=None if revenue is None else revenue[order],
        historic=(np.ones(n, dtype=bool) if historic is None else np.asarray(historic, bool))[
            order
        ],
        ring=None if ring is None else np.asarray(ring, dtype=bool)[order],
    )


def history_from_synthetic(data: SyntheticData, truth: pd.DataFrame) -> LabelledHistory:
    """The history of a generated world: its truth, its historic inspections, its ring.

    Args:
        data: Tables from :func:`portsift.synthetic.generator.generate_synthetic_with_truth`.
        truth: Its truth frame (``violation``, ``revenue``, ``drift_ring``).

    Returns:
        The labelled history.
    """
    full = data.declarations.assign(
        illicit=truth["violation"].to_numpy(dtype="float64"),
        revenue=truth["revenue"].to_numpy(dtype="float64"),
    )
    return history_from_frame(
        full,
        historic=data.declarations["inspected"].to_numpy() == 1,
        ring=truth["drift_ring"].to_numpy(dtype=bool),
        source="synthetic",
    )


def labelled_table(history: LabelledHistory) -> pd.DataFrame:
    """The history as one file-ready table: canonical columns plus the truth.

    Every row carries ``illicit`` and ``revenue``; the historic selection is
    ``historic_inspected`` and the ring marker ``drift_ring`` (no ``inspected`` column:
    the loader would drop the labels of uninspected rows). ``portsift simulate
    --declarations`` reads it back.

    Args:
        history: The history.

    Returns:
        The table.
    """
    out = history.declarations.copy()
    out["illicit"] = history.illicit.astype("int64")
    if history.revenue is not None:
        out["revenue"] = history.revenue
    out["historic_inspected"] = history.historic.astype("int64")
    if history.ring is not None:
        out["drift_ring"] = history.ring.astype("int64")
    return out


def week_numbers(declared_at: pd.Series) -> np.ndarray:
    """Week of each declaration: whole 7-day periods since the first day of the data."""
    days = pd.to_datetime(declared_at).dt.normalize()
    return ((days - days.min()).dt.days // 7).to_numpy(dtype="int64")


# -- the plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationPlan:
    """What one run replays; the defaults come from the settings.

    Attributes:
        rate: Share of each week's declarations to inspect.
        share: Exploration share of the ``policy`` strategies.
        weeks: Weeks replayed.
        warmup_weeks: Weeks the warm-up model learns from (historic labels).
        retrain_every: Weeks between refits.
        strategies: Strategies compared.
        seed: Seed of every random draw of the run.
        config: The ``[simulation]`` settings.
    """

    rate: float
    share: float
    weeks: int
    warmup_weeks: int
    retrain_every: int
    strategies: tuple[str, ...]
    seed: int
    config: SimulationSettings

    @classmethod
    def build(
        cls,
        settings: Settings,
        total_weeks: int,
        *,
        rate: float | None = None,
        weeks: int | None = None,
        warmup_weeks: int | None = None,
        retrain_every: int | None = None,
        strategies: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> SimulationPlan:
        """Resolve a plan against the settings and the number of weeks in the data.

        Without ``weeks`` the configured number is replayed (the latest weeks); without
        ``warmup_weeks`` (or with 0 configured) every week before the replay warms up.

        Raises:
            SimulationError: If a value is out of range or the weeks do not fit the data.
        """
        sim = settings.simulation
        rate = settings.selection.default_rate if rate is None else float(rate)
        if not 0 < rate <= 1:
            raise SimulationError(f"rate must be in (0, 1], got {rate}")
        chosen = tuple(sim.strategies if strategies is None else strategies)
        unknown = [s for s in chosen if s not in STRATEGIES]
        if unknown or not chosen or len(set(chosen)) != len(chosen):
            raise SimulationError(
                f"strategies must be distinct names among {', '.join(STRATEGIES)}; got "
                f"{', '.join(chosen) or 'none'}"
            )
        every = sim.retrain_every if retrain_every is None else int(retrain_every)
        if every < 1:
            raise SimulationError(f"retrain-every must be at least 1, got {every}")
        warm = warmup_weeks if warmup_weeks is not None else (sim.warmup_weeks or None)
        n_weeks = weeks if weeks is not None else sim.weeks
        if warm is None:
            if weeks is None:
                n_weeks = min(n_weeks, total_weeks - 1)
            warm = total_weeks - n_weeks
        if n_weeks < 1 or warm < 1 or warm + n_weeks > total_weeks:
            raise SimulationError(
                f"the data spans {total_weeks} weeks; a run needs at least one warm-up week "
                f"and one replayed week within them, got {warm} warm-up and {n_weeks} "
                "replayed weeks"
            )
        return cls(
            rate=rate,
            share=settings.selection.exploration.share,
            weeks=int(n_weeks),
            warmup_weeks=int(warm),
            retrain_every=every,
            strategies=chosen,
            seed=sim.random_state if seed is None else int(seed),
            config=sim,
        )


# -- estimators and draws -----------------------------------------------------------


def wilson_bounds(p: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` (possibly effective) trials."""
    if not n > 0 or not math.isfinite(p):
        return math.nan, math.nan
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


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


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10, floor: float = 1e-4) -> float:
    """Population stability index of ``current`` against ``reference`` (quantile bins).

    Args:
        reference: Reference values (their quantiles set the bins).
        current: Values to compare.
        bins: Number of bins.
        floor: Smallest bin share, so that an empty bin does not give infinity.

    Returns:
        ``sum((q - p) ln(q / p))``; NaN when either side is empty.
    """
    reference = np.asarray(reference, dtype="float64")
    current = np.asarray(current, dtype="float64")
    if len(reference) == 0 or len(current) == 0:
        return math.nan
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    q = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    p = np.maximum(p / p.sum(), floor)
    q = np.maximum(q / q.sum(), floor)
    return float(((q - p) * np.log(q / p)).sum())


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


# -- one strategy's state -----------------------------------------------------------


@dataclass
class _Fitted:
    pipeline: FeaturePipeline
    model: RiskModel
    features: pd.DataFrame | None = None  # training features (warm-up only, for the PSI)


@dataclass
class _Arm:
    name: str
    revealed: np.ndarray  # bool per row: the outcome is known to this strategy
    weight: np.ndarray  # training weight per row (1, or 1 / p of an exploration draw)
    fitted: _Fitted
    bandit: ThompsonShares | None = None
    records: list[dict[str, object]] = field(default_factory=list)
    picks: list[pd.DataFrame] = field(default_factory=list)


@dataclass(frozen=True)
class _Selection:
    selected: np.ndarray  # bool per row of the week
    reason: np.ndarray  # selection reason per row ("" = not selected)
    inclusion: np.ndarray  # inclusion probability of exploration draws, NaN elsewhere
    share: float


@dataclass(frozen=True)
class SimulationResult:
    """What a run measured.

    Attributes:
        weekly: One row per strategy and replayed week (:data:`WEEKLY_COLUMNS`).
        summary: One row per strategy over the replayed weeks.
        selections: Every selection: ``strategy, sim_week, declaration_id, reason,
            inclusion_probability, risk_score``.
        plan: The plan that ran.
        seconds: Wall time of the run.
        notes: One-line remarks for the user.
    """

    weekly: pd.DataFrame
    summary: pd.DataFrame
    selections: pd.DataFrame
    plan: SimulationPlan
    seconds: float
    notes: list[str]


# -- the run -------------------------------------------------------------------------


def simulate(
    history: LabelledHistory,
    registers: Registers,
    settings: Settings,
    plan: SimulationPlan,
    *,
    stage: Stage | None = None,
) -> SimulationResult:
    """Replay the selection loop week by week for every strategy of the plan.

    Args:
        history: The fully labelled history.
        registers: The registers.
        settings: Settings (features, model shape, selection policy).
        plan: What to replay.
        stage: Called with a short description as each week starts (progress).

    Returns:
        The weekly metrics, the summary and the selections.

    Raises:
        SimulationError: If the warm-up has too few labels to train on.
    """
    started = time.perf_counter()
    step = stage or (lambda _text: None)
    week = week_numbers(history.declarations["declared_at"])
    # Rows are in date order, so a week is a contiguous block [start[w], start[w + 1]).
    bounds = np.searchsorted(week, np.arange(week.max() + 2), side="left")
    first, last = plan.warmup_weeks, plan.warmup_weeks + plan.weeks
    warm_end = int(bounds[first])
    step("warm-up model")
    warm_revealed = history.historic & (np.arange(len(week)) < warm_end)
    ones = np.ones(len(week))
    try:
        warm = _fit(history, registers, settings, plan, warm_end, warm_revealed, None)
    except ValueError as exc:
        raise SimulationError(f"warm-up ({first} weeks): {exc}") from exc
    reference = _reference_scores(
        warm, int(bounds[max(first - plan.config.psi_reference_weeks, 0)])
    )
    arms = [
        _Arm(
            name=name,
            revealed=warm_revealed.copy(),
            weight=ones.copy(),
            fitted=warm,
            bandit=ThompsonShares(
                plan.config.bandit_shares,
                plan.config.bandit_discount,
                np.random.default_rng([plan.seed, 1]),
            )
            if name == "bandit"
            else None,
        )
        for name in plan.strategies
    ]
    for j, w in enumerate(range(first, last)):
        lo, hi = int(bounds[w]), int(bounds[w + 1])
        retrain = j > 0 and j % plan.retrain_every == 0
        scored_cache: dict[int, pd.DataFrame] = {}
        for arm in arms:
            step(f"week {j + 1}/{plan.weeks}: {arm.name}")
            if retrain:
                weights = arm.weight if arm.name == "policy_ipw" else None
                try:
                    arm.fitted = _fit(history, registers, settings, plan, lo, arm.revealed, weights)
                except ValueError as exc:
                    raise SimulationError(f"{arm.name}, week {j + 1}: {exc}") from exc
            key = id(arm.fitted)
            if key not in scored_cache:  # strategies that share a model score once
                scored_cache[key] = _score(arm.fitted, history, registers, lo, hi, settings)
            scored = scored_cache[key]
            choice = _select(arm, scored, settings, plan, w)
            rows = lo + np.flatnonzero(choice.selected)
            arm.revealed[rows] = True  # only what was selected reveals its outcome
            drawn = np.isfinite(choice.inclusion)
            arm.weight[lo + np.flatnonzero(drawn)] = np.minimum(
                1.0 / choice.inclusion[drawn], plan.config.ipw_max_weight
            )
            if arm.bandit is not None:
                arm.bandit.update(
                    plan.config.bandit_shares.index(choice.share),
                    int(history.illicit[rows].sum()),
                    len(rows),
                )
            arm.records.append(
                _week_record(history, arm, scored, choice, lo, hi, j, w, reference, plan, retrain)
            )
            arm.picks.append(
                pd.DataFrame(
                    {
                        "strategy": arm.name,
                        "sim_week": j + 1,
                        "declaration_id": history.declarations["declaration_id"].to_numpy()[rows],
                        "reason": choice.reason[choice.selected],
                        "inclusion_probability": choice.inclusion[choice.selected],
                        "risk_score": scored["risk_score"].to_numpy()[choice.selected],
                    }
                )
            )
    weekly = pd.DataFrame([r for arm in arms for r in arm.records], columns=list(WEEKLY_COLUMNS))
    selections = pd.concat([p for arm in arms for p in arm.picks], ignore_index=True)
    summary = summarise(weekly, selections, history, plan)
    notes = []
    if history.ring is None:
        notes.append("no fraud-ring marker (drift_ring) in the data: ring detection not reported")
    if history.revenue is None:
        notes.append("no revenue label: revenue shares are not reported")
    return SimulationResult(
        weekly=weekly,
        summary=summary,
        selections=selections,
        plan=plan,
        seconds=time.perf_counter() - started,
        notes=notes,
    )


def _labelled_view(history: LabelledHistory, end: int, revealed: np.ndarray) -> pd.DataFrame:
    """Rows before ``end`` as a model may see them: labels only where revealed.

    This is the one place outcomes enter model inputs, and it reads them only under the
    ``revealed`` mask, so an unrevealed label cannot reach a feature or a model.
    """
    known = revealed[:end]
    view = history.declarations.iloc[:end].copy()
    view["inspected"] = known.astype("int64")
    view["illicit"] = np.where(known, history.illicit[:end], np.nan)
    if history.revenue is not None:
        view["revenue"] = np.where(known, history.revenue[:end], np.nan)
    return view


def _fit(
    history: LabelledHistory,
    registers: Registers,
    settings: Settings,
    plan: SimulationPlan,
    end: int,
    revealed: np.ndarray,
    weight: np.ndarray | None,
) -> _Fitted:
    """Fit the feature state and a small model on the rows before ``end``."""
    view = _labelled_view(history, end, revealed)
    f, sim = settings.features, plan.config
    pipeline = FeaturePipeline(
        smoothing=f.smoothing,
        label_delay_days=f.label_delay_days,
        reference_period=f.reference_period,
        new_importer_days=f.new_importer_days,
        min_category_count=f.min_category_count,
    )
    features = pipeline.fit_transform(view, registers)
    # The production model's shape, with fewer and faster trees (a run refits often) and
    # one thread, steady on a shared machine (see [model] n_jobs).
    model = model_from_settings(
        settings,
        pipeline,
        learning_rate=sim.learning_rate,
        n_estimators=sim.n_estimators,
        revenue_n_estimators=sim.revenue_n_estimators,
        early_stopping_rounds=sim.early_stopping_rounds,
        n_jobs=1,
    )
    model.fit(
        TrainingData(
            features=features,
            declared_at=view["declared_at"],
            inspected=view["inspected"],
            illicit=view["illicit"],
            revenue=view.get("revenue"),
        ),
        sample_weight=None if weight is None else weight[:end],
    )
    return _Fitted(pipeline, model, features)


def _reference_scores(fitted: _Fitted, start: int) -> np.ndarray:
    """Warm-up model's risk scores of the last warm-up weeks (point-in-time features)."""
    assert fitted.features is not None
    features = fitted.features.iloc[start:]
    x = features[fitted.model.risk_features].to_numpy(dtype="float64")
    reference = fitted.model.calibrate(fitted.model.raw_score(x, num_threads=1))
    fitted.features = None  # only the reference was needed; free the frame
    return reference


def _score(
    fitted: _Fitted,
    history: LabelledHistory,
    registers: Registers,
    lo: int,
    hi: int,
    settings: Settings,
) -> pd.DataFrame:
    """Score the week ``[lo, hi)`` with a fitted pair: the policy's inputs and the scores."""
    # The week's outcomes are unknown when it is scored.
    week = history.declarations.iloc[lo:hi].assign(inspected=0, illicit=np.nan)
    features = fitted.pipeline.transform(week, registers)
    model = fitted.model
    raw = model.raw_score(features[model.risk_features].to_numpy(dtype="float64"), num_threads=1)
    risk = model.calibrate(raw)
    amount, _ = model.revenue_if_illicit(features, num_threads=1)
    inputs = features[[c for c in POLICY_COLUMNS if c in features]].reset_index(drop=True)
    return inputs.assign(
        risk_score=risk,
        priority=priority(risk, amount, _SIMULATION_WEIGHT[settings.selection.objective]),
        raw_score=raw,
    )


def _select(
    arm: _Arm, scored: pd.DataFrame, settings: Settings, plan: SimulationPlan, week: int
) -> _Selection:
    """Spend the week's budget the way the arm's strategy does."""
    seed = plan.seed + week  # a fresh draw every week, the same for every strategy
    if arm.name == "uncertainty":
        return _select_uncertainty(scored, settings, plan, seed)
    if arm.name == "exploit":
        share = 0.0
    elif arm.bandit is not None:
        share = plan.config.bandit_shares[arm.bandit.choose()]
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
    return _Selection(selected, reason, inclusion, share)


def _select_uncertainty(
    scored: pd.DataFrame, settings: Settings, plan: SimulationPlan, seed: int
) -> _Selection:
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
    return _Selection(selected, reason, np.where(drawn, inclusion, np.nan), plan.share)


def _week_record(
    history: LabelledHistory,
    arm: _Arm,
    scored: pd.DataFrame,
    choice: _Selection,
    lo: int,
    hi: int,
    j: int,
    w: int,
    reference: np.ndarray,
    plan: SimulationPlan,
    retrained: bool,
) -> dict[str, object]:
    """The week's metrics against the ground truth of all its declarations."""
    truth = history.illicit[lo:hi]
    sel = choice.selected
    hits = int(truth[sel].sum())
    total = truth.sum()
    revenue_share = math.nan
    if history.revenue is not None:
        revenue = history.revenue[lo:hi]
        if revenue.sum() > 0:
            revenue_share = float(revenue[sel].sum() / revenue.sum())
    drawn = np.isfinite(choice.inclusion)
    est = ipw_rate(truth[drawn], choice.inclusion[drawn])
    true_rate = float(truth.mean())
    ring_rows = ring_selected = 0
    ring_share = math.nan
    if history.ring is not None:
        ring = history.ring[lo:hi]
        ring_rows, ring_selected = int(ring.sum()), int((ring & sel).sum())
        ring_share = ring_selected / ring_rows if ring_rows else math.nan
    covers = bool(est.low <= true_rate <= est.high) if math.isfinite(est.estimate) else math.nan
    return {
        "strategy": arm.name,
        "sim_week": j + 1,
        "week": w,
        "week_start": history.declarations["declared_at"].iloc[lo].normalize().date(),
        "rows": hi - lo,
        "budget": budget_count(hi - lo, plan.rate),
        "selected": int(sel.sum()),
        "hits": hits,
        "precision": hits / max(int(sel.sum()), 1),
        "recall": hits / total if total > 0 else math.nan,
        "revenue_share": revenue_share,
        "exploration_share": choice.share,
        "explored": int(drawn.sum()),
        "estimate": est.estimate,
        "estimate_low": est.low,
        "estimate_high": est.high,
        "estimate_n": est.n_effective,
        "true_rate": true_rate,
        "estimate_covers": covers,
        "psi": psi(reference, scored["risk_score"].to_numpy(), plan.config.psi_bins),
        "ring_rows": ring_rows,
        "ring_selected": ring_selected,
        "ring_share": ring_share,
        "retrained": retrained,
        "model_rows": arm.fitted.model.training_rows_,
    }


# -- summary and report ---------------------------------------------------------------


def ring_found_week(weekly: pd.DataFrame, share: float, min_rows: int) -> int | None:
    """First replayed week in which at least ``share`` of ``min_rows``+ ring rows were selected.

    Args:
        weekly: One strategy's weekly rows.
        share: Share of the week's ring declarations that must be selected.
        min_rows: Fewest ring declarations in the week for it to count.

    Returns:
        The ``sim_week`` (1-based), or None if the ring was never found.
    """
    found = (weekly["ring_rows"] >= min_rows) & (weekly["ring_share"] >= share)
    return int(weekly.loc[found, "sim_week"].iloc[0]) if found.any() else None


def summarise(
    weekly: pd.DataFrame,
    selections: pd.DataFrame,
    history: LabelledHistory,
    plan: SimulationPlan,
) -> pd.DataFrame:
    """One row per strategy over all replayed weeks.

    Precision, recall and revenue share are pooled over the weeks; the rate estimate
    pools every exploration draw with its weight ``1 / p`` (Hajek) against the true rate
    of all replayed declarations; ``coverage`` is the share of weeks whose interval
    held that week's true rate.
    """
    ids = history.declarations["declaration_id"].to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
    week = week_numbers(history.declarations["declared_at"])
    in_run = (week >= plan.warmup_weeks) & (week < plan.warmup_weeks + plan.weeks)
    true_rate = float(history.illicit[in_run].mean())
    total_hits = history.illicit[in_run].sum()
    rows = []
    for name in plan.strategies:
        w = weekly[weekly["strategy"] == name]
        s = selections[selections["strategy"] == name]
        where = position.loc[s["declaration_id"].to_numpy()].to_numpy()
        hits = int(history.illicit[where].sum())
        explored = s["reason"].isin(EXPLORATION_REASONS).to_numpy()
        est = ipw_rate(
            history.illicit[where[explored]], s["inclusion_probability"].to_numpy()[explored]
        )
        revenue_share = math.nan
        if history.revenue is not None and history.revenue[in_run].sum() > 0:
            revenue_share = float(history.revenue[where].sum() / history.revenue[in_run].sum())
        found = None
        ring_recall = math.nan
        if history.ring is not None:
            found = ring_found_week(w, plan.config.ring_found_share, plan.config.ring_min_rows)
            ring_total = int(w["ring_rows"].sum())
            ring_recall = w["ring_selected"].sum() / ring_total if ring_total else math.nan
        covers = w["estimate_covers"].dropna()
        rows.append(
            {
                "strategy": name,
                "selected": int(w["selected"].sum()),
                "hits": hits,
                "precision": hits / max(int(w["selected"].sum()), 1),
                "recall": hits / total_hits if total_hits > 0 else math.nan,
                "revenue_share": revenue_share,
                "explored": int(explored.sum()),
                "estimate": est.estimate,
                "estimate_low": est.low,
                "estimate_high": est.high,
                "true_rate": true_rate,
                "coverage": float(covers.astype(float).mean()) if len(covers) else math.nan,
                "psi_mean": float(w["psi"].mean()),
                "psi_max": float(w["psi"].max()),
                "ring_found_week": found,
                "ring_found_on": (
                    w.loc[w["sim_week"] == found, "week_start"].iloc[0] if found else None
                ),
                "ring_recall": ring_recall,
            }
        )
    return pd.DataFrame(rows)


def format_summary(result: SimulationResult) -> str:
    """The summary as a printable table, with the ring verdict of each strategy."""
    s = result.summary
    plan = result.plan
    table = pd.DataFrame(
        {
            "strategy": s["strategy"],
            "selected": s["selected"],
            "hits": s["hits"],
            "precision": s["precision"].map(_pct),
            "recall": s["recall"].map(_pct),
            "revenue": s["revenue_share"].map(_pct),
            "rate est. [95% CI]": [
                "-" if not math.isfinite(e) else f"{e:.2%} [{lo:.2%}, {hi:.2%}]"
                for e, lo, hi in zip(
                    s["estimate"], s["estimate_low"], s["estimate_high"], strict=True
                )
            ],
            "CI covers": s["coverage"].map(_pct),
            "PSI mean": s["psi_mean"].map(lambda v: f"{v:.3f}"),
            "ring found": [
                "-" if found is None or pd.isna(found) else f"week {int(found)} ({on})"
                for found, on in zip(s["ring_found_week"], s["ring_found_on"], strict=True)
            ],
            "ring recall": s["ring_recall"].map(_pct),
        }
    )
    first = result.weekly["week_start"].iloc[0]
    lines = [
        f"{plan.weeks} weeks replayed from {first} after {plan.warmup_weeks} warm-up weeks; "
        f"budget {plan.rate:.1%} a week, policy random share {plan.share:.0%}, retrain every "
        f"{plan.retrain_every} week(s); true violation rate over the replay "
        f"{s['true_rate'].iloc[0]:.2%}",
        table.to_string(index=False),
    ]
    if "ring_rows" in result.weekly and result.weekly["ring_rows"].sum() > 0:
        c = plan.config
        lines.append(
            f"ring found = first week with >= {c.ring_min_rows} ring declarations of which "
            f">= {c.ring_found_share:.0%} were selected; ring recall = share of all ring "
            "declarations of the replay selected"
        )
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"


def plot_weekly(weekly: pd.DataFrame, path: str | Path) -> Path:
    """Draw the weekly curves of every strategy into a PNG (matplotlib's Agg canvas).

    Panels: precision, recall, revenue share, the exploration estimate of the
    violation rate (with its interval) against the true rate, the share of the ring's
    declarations selected, and the PSI of the risk scores.

    Args:
        weekly: The weekly metrics.
        path: The PNG to write (atomically).

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from portsift.features.writing import atomic_path

    figure = Figure(figsize=(15, 8.5), layout="constrained")
    FigureCanvasAgg(figure)  # Agg, whatever backend the process chose
    axes = figure.subplots(2, 3, sharex=True)
    panels = (
        ("precision", "precision (hits / selected)"),
        ("recall", "recall (of all the week's violations)"),
        ("revenue_share", "revenue captured (share of the week's)"),
        ("estimate", "violation rate: exploration estimate vs true"),
        ("ring_share", "fraud ring: share of its declarations selected"),
        ("psi", "PSI of risk scores vs warm-up"),
    )
    for axis, (column, title) in zip(axes.flat, panels, strict=True):
        for name, rows in weekly.groupby("strategy", sort=False):
            x = rows["sim_week"].to_numpy()
            (line,) = axis.plot(x, rows[column].to_numpy(dtype="float64"), marker=".", label=name)
            if column == "estimate" and rows["estimate"].notna().any():
                axis.fill_between(
                    x,
                    rows["estimate_low"].to_numpy(dtype="float64"),
                    rows["estimate_high"].to_numpy(dtype="float64"),
                    color=line.get_color(),
                    alpha=0.12,
                )
        if column == "estimate":
            truth = weekly.drop_duplicates("sim_week")
            axis.plot(truth["sim_week"], truth["true_rate"], color="black", lw=2, label="true")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
    for axis in axes[1]:
        axis.set_xlabel("replayed week")
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110)
    return Path(path)


def write_report(result: SimulationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the run's tables, its printed summary and its plot into ``out_dir``.

    ``weekly.csv``, ``summary.csv``, ``selections.csv``, ``summary.txt`` and
    ``simulation.png``, each atomically.

    Args:
        result: The run.
        out_dir: Output directory (created if missing).

    Returns:
        Name to path written.
    """
    from portsift.features.writing import write_table_atomic, write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "weekly": write_table_atomic(result.weekly, out / "weekly.csv"),
        "summary": write_table_atomic(result.summary, out / "summary.csv"),
        "selections": write_table_atomic(result.selections, out / "selections.csv"),
        "table": write_text_atomic(format_summary(result) + "\n", out / "summary.txt"),
        "plot": plot_weekly(result.weekly, out / "simulation.png"),
    }
