"""Evaluation of scored declarations against baselines and the hindsight limit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from portsift.features.contract import CREDIT_TIERS
from portsift.models.budget import select_top
from portsift.models.disclosures import DISCLOSURE_REASON, disclosure_cover
from portsift.models.disclosures import in_play as disclosure_in_play
from portsift.models.policy import POLICY_COLUMNS, SelectionPolicy
from portsift.monitoring.statistics import wilson_interval
from portsift.training import metrics
from portsift.training.baselines import (
    PROFILE_RATES,
    RAW_NUMERIC,
    DateGBDT,
    hindsight_scores,
    random_scores,
)

#: The feature and context columns :func:`evaluate` reads (besides the scores): the
#: policy's inputs, the labels, and the baselines' inputs. The Dask engine brings only
#: these back from the workers to evaluate a hold-out.
EVALUATION_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (*POLICY_COLUMNS, "inspected", "illicit", "revenue", *PROFILE_RATES, *RAW_NUMERIC)
    )
)

MODEL = "model"
MODEL_BY_RISK = "model_risk_only"
MODEL_BY_REVENUE = "model_expected_revenue"


@dataclass(frozen=True)
class Evaluation:
    """An evaluation table and its context.

    Attributes:
        table: One row per method (model, baselines, hindsight), metric columns.
        by_tier: Per credit tier: rows, labels, violation rate, model AUC and P@5%.
        facts: Rows, labelled rows, date range, whether revenue was labelled.
        policy: The selection policy section (see :func:`policy_section`), or None.
    """

    table: pd.DataFrame
    by_tier: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] | None = None

    def model_metrics(self, prefix: str = "holdout_") -> dict[str, float]:
        """The model row's metrics, prefixed, without NaNs (as logged to MLflow)."""
        row = self.table.loc[MODEL]
        return {f"{prefix}{k}": float(v) for k, v in row.items() if not _is_nan(v)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``portsift evaluate --json``)."""
        return {
            "facts": self.facts,
            "methods": {
                method: {k: (None if _is_nan(v) else float(v)) for k, v in row.items()}
                for method, row in self.table.iterrows()
            },
            "by_tier": [
                {k: (None if _is_nan(v) else v) for k, v in row.items()}
                for row in self.by_tier.reset_index().to_dict("records")
            ],
            "policy": self.policy,
        }


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def evaluate(
    features: pd.DataFrame,
    risk_score: np.ndarray,
    expected_revenue: np.ndarray,
    priority: np.ndarray,
    *,
    baseline: DateGBDT | None,
    percents: tuple[float, ...],
    bins: int = 10,
    random_draws: int = 20,
    random_state: int = 0,
    policy: SelectionPolicy | None = None,
    ranking: dict[str, Any] | None = None,
) -> Evaluation:
    """Evaluate a ranking on the labelled rows of a scored batch.

    Only inspected declarations with a known outcome are evaluated: the others have no
    label, and counting them as negatives would reward the historic selection. A
    declaration covered by a voluntary disclosure (measure 22; with a disclosures
    register) is no detection target: it is left out of every ranking and its
    violation is counted as disclosed (``facts["disclosed_violations"]``), never as a hit.

    Args:
        features: Feature frame with context columns ``inspected``, ``illicit``,
            ``revenue`` (optional), ``declared_value``, ``credit_tier``.
        risk_score: Calibrated risk per row.
        expected_revenue: Expected revenue per row.
        priority: The policy's ranking score per row (the ``model`` row).
        baseline: The fitted DATE GBDT baseline, or None to leave it out.
        percents: Inspection rates to report.
        bins: Bins of the calibration error.
        random_draws: Draws averaged for the random baseline.
        random_state: Seed of the random baseline.
        policy: The selection policy whose section is reported (None = the packaged
            configuration).
        ranking: The objective and revenue weight ``priority`` was computed with
            (``objective``, ``revenue_weight``, ``reason``), shown in the policy section.

    Returns:
        The evaluation.

    Raises:
        ValueError: If no row is labelled.
    """
    if "illicit" not in features:
        raise ValueError("no inspection outcomes (illicit) to evaluate against")
    policy = policy if policy is not None else SelectionPolicy()
    known = (features["inspected"] == 1).to_numpy() & features["illicit"].notna().to_numpy()
    disclosed = disclosure_cover(policy.settings.disclosure, features).covered
    labelled = known & ~disclosed
    if labelled.sum() == 0:
        raise ValueError("no inspected declaration with a known outcome to evaluate against")
    rows = features.loc[labelled]
    y = rows["illicit"].to_numpy(dtype="float64")
    has_revenue = "revenue" in rows and rows["revenue"].notna().any()
    revenue = rows["revenue"].fillna(0.0).to_numpy(dtype="float64") if has_revenue else None
    risk = np.asarray(risk_score, dtype="float64")[labelled]
    expected = np.asarray(expected_revenue, dtype="float64")[labelled]
    ranked = np.asarray(priority, dtype="float64")[labelled]

    def row(scores: np.ndarray, probabilities: np.ndarray | None = None) -> dict[str, float]:
        return metrics.metric_row(scores, y, revenue, percents, probabilities, bins)

    table: dict[str, dict[str, float]] = {
        MODEL: row(ranked, risk),
        MODEL_BY_RISK: row(risk, risk),
        MODEL_BY_REVENUE: row(expected),
    }
    draws = [row(random_scores(len(y), random_state + i)) for i in range(random_draws)]
    table["random"] = pd.DataFrame(draws).mean().to_dict()
    table["price"] = row(rows["declared_value"].to_numpy(dtype="float64"))
    table["importer_history"] = row(rows["importer_violation_rate"].to_numpy(dtype="float64"))
    if baseline is not None:
        table["date_gbdt"] = row(baseline.predict(rows))
    table["hindsight"] = row(hindsight_scores(y, revenue))
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index.name = "method"
    by_tier = _by_tier(rows, y, risk, percents)
    dates = features["declared_at"]
    facts = {
        "rows": len(features),
        "labelled_rows": int(labelled.sum()),
        "violations": int(y.sum()),
        "from": str(dates.min().date()),
        "to": str(dates.max().date()),
        "revenue_labelled": bool(has_revenue),
    }
    if disclosure_in_play(features):
        facts.update(_disclosed_facts(features, known, disclosed))
    section = policy_section(
        features,
        risk_score,
        priority,
        policy,
        labelled=labelled,
        expected_revenue=expected_revenue,
        ranking=ranking,
    )
    if disclosure_in_play(features):
        section["disclosed"] = _disclosed_facts(features, known, disclosed)
    return Evaluation(table=frame, by_tier=by_tier, facts=facts, policy=section)


def _disclosed_facts(
    features: pd.DataFrame, known: np.ndarray, disclosed: np.ndarray
) -> dict[str, int]:
    """What voluntary disclosures covered: declarations, those with an outcome, violations."""
    illicit = features["illicit"].to_numpy(dtype="float64")
    return {
        "disclosed_rows": int(disclosed.sum()),
        "disclosed_labelled_rows": int((known & disclosed).sum()),
        "disclosed_violations": int((known & disclosed & (illicit == 1)).sum()),
    }


def _count(n: int, noun: str) -> str:
    """``1 declaration``, ``8 declarations``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _clean(value: Any) -> Any:
    """JSON-safe scalars: numpy to Python, NaN to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def policy_section(
    features: pd.DataFrame,
    risk_score: np.ndarray,
    priority: np.ndarray,
    policy: SelectionPolicy,
    *,
    labelled: np.ndarray,
    expected_revenue: np.ndarray | None = None,
    ranking: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The selection policy's section of an evaluation.

    Two views. **Batch**: the policy decides every declaration of the evaluated file;
    realised rate per credit tier against the rules, random share, lanes. **Labelled**:
    the policy replayed on the inspected declarations alone (the only ones whose
    outcome is known, as for Precision@n%): hits and revenue of the risk-selected part
    and of the random part, the violation rate estimated from the random part alone
    with its Wilson 95% interval, and the precision of the tier-constrained policy
    (without exploration) against the unconstrained top-k. The random part is an
    equal-probability sample of the rows it is drawn from, so its hit rate is unbiased
    for them; on a hold-out those are the historically inspected rows, themselves a
    targeted sample, which is why the labelled violation rate is reported beside it.
    The **comparison** puts what the policy selected (floors, rules and random share
    included), its risk-selected part, and the risk-only and revenue-only rankings at
    the same budget side by side: hits, precision and revenue share.

    Args:
        features: Feature frame with ``inspected``, ``illicit`` and ``revenue``
            (optional) context columns.
        risk_score: Calibrated risk per row.
        priority: Priority per row.
        policy: The policy (its rate is the budget of both views).
        labelled: Which rows have a known outcome.
        expected_revenue: Expected revenue per row, for the revenue-only ranking of the
            comparison (None: ranked by priority instead).
        ranking: The objective and revenue weight behind ``priority``.

    Returns:
        A JSON-serialisable dict.
    """
    columns = [c for c in POLICY_COLUMNS if c in features]
    scored = features[columns].assign(
        risk_score=np.asarray(risk_score, dtype="float64"),
        priority=np.asarray(priority, dtype="float64"),
    )
    decisions = policy.decide(scored)
    summary = policy.summarise(decisions, scored["credit_tier"])
    facts = policy.batch_
    rows = scored.loc[labelled]
    y = features.loc[labelled, "illicit"].to_numpy(dtype="float64")
    revenue = (
        features.loc[labelled, "revenue"].fillna(0.0).to_numpy(dtype="float64")
        if "revenue" in features
        else np.zeros(len(rows))
    )
    replay = policy.decide(rows)
    replay_facts = policy.batch_
    reason = replay["selection_reason"].to_numpy(dtype=object)
    chosen = replay["selected"].to_numpy(dtype="int64") == 1
    parts: dict[str, dict[str, Any]] = {}
    for part, mask in (
        ("risk", np.isin(reason, ["risk", "tier_floor"])),
        ("random", reason == "random"),
        ("rule", reason == "rule"),
        ("all", chosen),
    ):
        n = int(mask.sum())
        parts[part] = {
            "selected": n,
            "hits": int(y[mask].sum()),
            "precision": float(y[mask].mean()) if n else math.nan,
            "revenue": float(revenue[mask].sum()),
            "revenue_share": float(revenue[mask].sum() / revenue.sum())
            if revenue.sum() > 0
            else math.nan,
        }
    random_n, random_hits = parts["random"]["selected"], parts["random"]["hits"]
    low, high = wilson_interval(random_hits, random_n)
    rate = policy.rate_
    top = select_top(rows["priority"].to_numpy(), rate)
    unconstrained = float(y[top].mean()) if top.any() else math.nan
    tier_only = policy.with_params(exploration_share=0.0).decide(rows)
    tier_only_precision = float(y[tier_only["selected"].to_numpy() == 1].mean())
    kept = tier_only_precision / unconstrained if unconstrained > 0 else math.nan
    k = int(top.sum())
    risk_only = select_top(rows["risk_score"].to_numpy(), rate)
    stake = priority if expected_revenue is None else expected_revenue
    revenue_only = select_top(np.asarray(stake, dtype="float64")[labelled], rate)
    comparison = [
        _selection_row("policy", chosen, y, revenue),
        _selection_row("policy_risk_part", reason == "risk", y, revenue),
        _selection_row("risk_only", risk_only, y, revenue),
        _selection_row("revenue_only", revenue_only, y, revenue),
    ]
    return {
        "policy_version": policy.version,
        "rate": rate,
        "exploration_share": policy.share_,
        "ranking": dict(ranking or {}),
        "batch": {
            **summary.to_dict(),
            "budget": facts.budget,
            "exploration_moved": facts.exploration_moved,
            "exploration_dropped": facts.exploration_dropped,
            "floor_excess": facts.floor_excess,
            "floor_message": facts.floor_message(),
            "floor_needs": facts.to_dict()["floor_needs"],
            "feasible": facts.constraints_met,
        },
        "comparison": {"budget": k, "selections": comparison},
        "labelled": {
            "rows": len(rows),
            "floor_message": replay_facts.floor_message(),
            "parts": {k: {kk: _clean(vv) for kk, vv in v.items()} for k, v in parts.items()},
            "random_violation_rate": _clean(random_hits / random_n if random_n else math.nan),
            "random_violation_rate_ci95": [_clean(low), _clean(high)],
            "labelled_violation_rate": _clean(float(y.mean()) if len(y) else math.nan),
            "precision_unconstrained": _clean(unconstrained),
            "precision_tier_constrained": _clean(tier_only_precision),
            "precision_policy": _clean(parts["all"]["precision"]),
            "precision_kept": _clean(kept),
        },
    }


def _selection_row(
    name: str, mask: np.ndarray, y: np.ndarray, revenue: np.ndarray
) -> dict[str, Any]:
    """Hits, precision and revenue share of one set of selected labelled rows."""
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    total = float(revenue.sum())
    return {
        "selection": name,
        "selected": n,
        "hits": int(y[mask].sum()),
        "precision": _clean(float(y[mask].mean()) if n else math.nan),
        "revenue_share": _clean(float(revenue[mask].sum()) / total if total > 0 else math.nan),
    }


def format_policy(section: dict[str, Any]) -> str:
    """Render the policy section as text (``portsift evaluate``)."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    batch, labelled = section["batch"], section["labelled"]
    # Disclosures' document reviews are outside the budget: said on a line of their own.
    reasons = ", ".join(
        f"{k} {v:,}" for k, v in batch["by_reason"].items() if k != DISCLOSURE_REASON
    )
    lanes = ", ".join(f"{k} {v:,}" for k, v in batch["by_lane"].items())
    lines = [
        f"selection policy {section['policy_version']} at {section['rate']:.1%}: "
        f"{batch['selected']:,} of {batch['rows']:,} selected ({reasons}); "
        f"random share {batch['random_share']:.1%}; lanes: {lanes}",
    ]
    ranking = section.get("ranking") or {}
    if ranking:
        lines.append(
            f"ranking objective {ranking.get('objective', '-')}: priority = risk x stake^"
            f"{ranking.get('revenue_weight', 0):g}"
            + (f" ({ranking['reason']})" if ranking.get("reason") else "")
        )
    if batch.get("floor_message"):
        lines.append(f"budget exceeded: {batch['floor_message']}")
    disclosed = section.get("disclosed")
    if disclosed:
        covered = _count(disclosed["disclosed_rows"], "declaration")
        violations = _count(disclosed["disclosed_violations"], "disclosed violation")
        lines.append(
            f"voluntary disclosures (measure 22): {covered} "
            f"covered (document review, outside the budget), {violations} among the "
            f"{disclosed['disclosed_labelled_rows']:,} with an outcome: counted as disclosed, "
            "not as hits, and left out of the rankings below"
        )
    lines += [
        "realised inspection rate by credit rule set and tier "
        "(x ref: multiple of the reference tier's rate):",
        f"  {'rule set':<15} {'tier':<20} {'rows':>7} {'selected':>8} {'rate':>7} {'x ref':>6}  "
        f"{'rule':<12} met",
    ]
    for tier in batch["tiers"]:
        ratio = tier["ratio_to_reference"]
        lines.append(
            f"  {tier['rule_set']:<15} {tier['credit_tier']:<20} {tier['rows']:>7,} "
            f"{tier['selected']:>8,} {tier['rate']:>7.2%} "
            f"{'-' if ratio is None else f'{ratio:.2f}':>6}  "
            f"{tier['rule'] or '-':<12} {'yes' if tier['met'] else 'NO'}"
        )
    lines.append(
        f"on the {labelled['rows']:,} inspected declarations (the policy replayed on them):"
    )
    if labelled.get("floor_message"):
        lines.append(f"  budget exceeded: {labelled['floor_message']}")
    lines.append(f"  {'part':<8} {'selected':>8} {'hits':>6} {'precision':>9} {'revenue':>14}")
    for part in ("risk", "random", "rule", "all"):
        p = labelled["parts"][part]
        precision = "-" if p["precision"] is None else f"{p['precision']:.1%}"
        lines.append(
            f"  {part:<8} {p['selected']:>8,} {p['hits']:>6,} {precision:>9} {p['revenue']:>14,.0f}"
        )
    estimate = labelled["random_violation_rate"]
    low, high = labelled["random_violation_rate_ci95"]
    if estimate is None:
        lines.append("  violation rate from the random part alone: no random selection")
    else:
        n = labelled["parts"]["random"]["selected"]
        lines.append(
            f"  violation rate from the random part alone: {estimate:.1%} "
            f"(95% Wilson interval {low:.1%} .. {high:.1%}, n = {n})"
        )

    comparison = section.get("comparison")
    if comparison:
        lines.append(
            f"  what the policy selected against the rankings at the same budget "
            f"({comparison['budget']:,} of the inspected declarations):"
        )
        lines.append(
            f"  {'selection':<18} {'selected':>8} {'hits':>6} {'precision':>9} {'Rev share':>9}"
        )
        for entry in comparison["selections"]:
            lines.append(
                f"  {entry['selection']:<18} {entry['selected']:>8,} {entry['hits']:>6,} "
                f"{pct(entry['precision']):>9} {pct(entry['revenue_share']):>9}"
            )
    lines.append(
        f"  precision at {section['rate']:.0%}: unconstrained top-k "
        f"{pct(labelled['precision_unconstrained'])}, with the tier rules "
        f"{pct(labelled['precision_tier_constrained'])} ({pct(labelled['precision_kept'])} kept), "
        f"whole policy with exploration {pct(labelled['precision_policy'])}"
    )
    return "\n".join(lines)


def _by_tier(
    rows: pd.DataFrame, y: np.ndarray, risk: np.ndarray, percents: tuple[float, ...]
) -> pd.DataFrame:
    tier = rows["credit_tier"].astype("str").to_numpy()
    percent = 5.0 if 5.0 in percents else percents[0]
    records = []
    for name in CREDIT_TIERS:
        mask = tier == name
        if not mask.any():
            continue
        records.append(
            {
                "credit_tier": name,
                "labelled_rows": int(mask.sum()),
                "violations": int(y[mask].sum()),
                "violation_rate": float(y[mask].mean()),
                "mean_risk_score": float(risk[mask].mean()),
                "auc": metrics.auc(risk[mask], y[mask]),
                f"precision_at_{percent:g}": metrics.at_percent(risk[mask], y[mask], None, percent)[
                    "precision"
                ],
            }
        )
    return pd.DataFrame.from_records(records).set_index("credit_tier")


def format_table(evaluation: Evaluation, percents: tuple[float, ...]) -> str:
    """Render the evaluation table as fixed-width text (percentages)."""
    columns = [f"{m}_at_{p:g}" for m in ("precision", "recall", "revenue") for p in percents]
    columns += ["auc", "calibration_error"]
    table = evaluation.table.reindex(columns=columns)
    headers = ["method"] + [_short(c) for c in columns]
    lines = []
    for method, row in table.iterrows():
        cells = [str(method)]
        for column, value in row.items():
            if _is_nan(value):
                cells.append("-")
            elif column in ("auc", "calibration_error"):
                cells.append(f"{value:.3f}")
            else:
                cells.append(f"{100 * value:.1f}")
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    render = [
        "  ".join(
            h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(headers)
        )
    ]
    for line in lines:
        render.append(
            "  ".join(
                c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(line)
            )
        )
    return "\n".join(render)


def _short(column: str) -> str:
    for long, short in (("precision_at_", "P@"), ("recall_at_", "R@"), ("revenue_at_", "Rev@")):
        if column.startswith(long):
            return f"{short}{column[len(long) :]}%"
    return {"calibration_error": "ECE"}.get(column, column.upper())
