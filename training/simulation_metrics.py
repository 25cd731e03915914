"""What a replay measures: each week's metrics, the summary per strategy and the plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from portsift.models.budget import budget_count
from portsift.monitoring.statistics import quantile_psi
from portsift.training.exploration import Selection, ipw_rate

if TYPE_CHECKING:  # built by the simulation, which calls this module
    from portsift.training.simulation import LabelledHistory, SimulationPlan

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


def week_record(
    history: LabelledHistory,
    strategy: str,
    model_rows: int,
    scored: pd.DataFrame,
    choice: Selection,
    lo: int,
    hi: int,
    j: int,
    w: int,
    reference: np.ndarray,
    plan: SimulationPlan,
    retrained: bool,
) -> dict[str, object]:
    """The week's metrics against the ground truth of all its declarations.

    Args:
        history: The labelled history.
        strategy: The strategy's name.
        model_rows: Rows its current model was trained on.
        scored: The week's policy inputs and scores.
        choice: What the strategy selected.
        lo: First row of the week.
        hi: Row after the week's last.
        j: Position of the week in the replay (0-based).
        w: The week number.
        reference: The warm-up risk scores the week's PSI compares with.
        plan: The run's plan.
        retrained: Whether the model was refitted this week.

    Returns:
        One row of :data:`WEEKLY_COLUMNS`.
    """
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
        "strategy": strategy,
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
        "psi": quantile_psi(reference, scored["risk_score"].to_numpy(), plan.config.psi_bins),
        "ring_rows": ring_rows,
        "ring_selected": ring_selected,
        "ring_share": ring_share,
        "retrained": retrained,
        "model_rows": model_rows,
    }


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
    in_run: np.ndarray,
) -> pd.DataFrame:
    """One row per strategy over all replayed weeks.

    Precision, recall and revenue share are pooled over the weeks; the rate estimate
    pools every exploration draw with its weight ``1 / p`` (Hajek) against the true rate
    of all replayed declarations; ``coverage`` is the share of weeks whose interval
    held that week's true rate.

    Args:
        weekly: The weekly metrics of every strategy.
        selections: Every selection of the run.
        history: The labelled history.
        plan: The run's plan.
        in_run: Per row of the history, whether its week was replayed.

    Returns:
        The summary table.
    """
    ids = history.declarations["declaration_id"].to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
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
