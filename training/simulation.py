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

Exploration draws are probability samples whose inclusion probabilities give a
Hajek estimate of each week's violation rate (:mod:`portsift.training.exploration`);
the weekly metrics and the summary are :mod:`portsift.training.simulation_metrics`, and
what each strategy's model may see, its refits and its scores
:mod:`portsift.training.simulation_models`.

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

from portsift.features.pipeline import Registers
from portsift.settings import Settings, SimulationSettings, StrategyName
from portsift.synthetic.generator import SyntheticData
from portsift.training.exploration import ThompsonShares, select_week
from portsift.training.simulation_metrics import (
    WEEKLY_COLUMNS,
    plot_weekly,
    summarise,
    week_record,
)
from portsift.training.simulation_models import Fitted, fit_pair, reference_scores, score_week

#: Every strategy a run can compare.
STRATEGIES: tuple[str, ...] = get_args(StrategyName)

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


# -- one strategy's state -----------------------------------------------------------


@dataclass
class _Arm:
    name: str
    revealed: np.ndarray  # bool per row: the outcome is known to this strategy
    weight: np.ndarray  # training weight per row (1, or 1 / p of an exploration draw)
    fitted: Fitted
    bandit: ThompsonShares | None = None
    records: list[dict[str, object]] = field(default_factory=list)
    picks: list[pd.DataFrame] = field(default_factory=list)


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
        warm = fit_pair(history, registers, settings, plan, warm_end, warm_revealed, None)
    except ValueError as exc:
        raise SimulationError(f"warm-up ({first} weeks): {exc}") from exc
    reference = reference_scores(warm, int(bounds[max(first - plan.config.psi_reference_weeks, 0)]))
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
                    arm.fitted = fit_pair(
                        history, registers, settings, plan, lo, arm.revealed, weights
                    )
                except ValueError as exc:
                    raise SimulationError(f"{arm.name}, week {j + 1}: {exc}") from exc
            key = id(arm.fitted)
            if key not in scored_cache:  # strategies that share a model score once
                scored_cache[key] = score_week(arm.fitted, history, registers, lo, hi, settings)
            scored = scored_cache[key]
            choice = select_week(arm.name, arm.bandit, scored, settings, plan, w)
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
                week_record(
                    history,
                    arm.name,
                    arm.fitted.model.training_rows_,
                    scored,
                    choice,
                    lo,
                    hi,
                    j,
                    w,
                    reference,
                    plan,
                    retrain,
                )
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
    summary = summarise(weekly, selections, history, plan, (week >= first) & (week < last))
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


# -- summary and report ---------------------------------------------------------------


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
