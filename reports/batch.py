"""Daily batch report: what the selection did with the declarations lodged on one day.

The declarations lodged on the day form the batch, scored and selected as a daily
``portsift score`` run over them would (same rate). The report shows the selections
by lane and credit tier, the realised inspection rate of every tier next to the
regular tier's (the credit-management rules are stated relative to it), the
distribution of the risk scores, the reasons most often behind the selections, and
the list of selected declarations.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from portsift.features.contract import CREDIT_TIERS
from portsift.features.pipeline import Registers
from portsift.features.validation import InputError
from portsift.models import explain
from portsift.models.bundle import Bundle
from portsift.models.credit import rule_text
from portsift.models.policy import SelectionPolicy
from portsift.models.scoring import score_declarations
from portsift.reports import i18n, page
from portsift.reports.charts import histogram_svg
from portsift.reports.measures import batch_measures
from portsift.reports.measures import text as measure_text
from portsift.reports.officer import check_output, officer_words
from portsift.reports.render import DEFAULT_TIMEOUT, write_document

#: Reasons per selected declaration counted in the top reasons.
REASON_SLOTS = 3


@dataclass(frozen=True)
class BatchReport:
    """Everything a daily batch report shows, in one language."""

    lang: i18n.Lang
    labels: dict[str, str]
    date: str
    generated: str
    overview: list[tuple[str, str]]
    lanes: list[tuple[str, str]]
    lane_tier: list[dict[str, Any]]
    measures: list[tuple[str, int, str, bool]]
    measures_title: str
    tier_rates: list[dict[str, Any]]
    has_rules: bool
    reference: str
    selection_reasons: list[tuple[str, int, str]]
    histogram: Markup
    top_reasons: list[dict[str, Any]]
    selected: list[dict[str, Any]]
    selected_more: int
    versions: list[tuple[str, str]]
    scope: str
    revenue_estimated: bool


def parse_date(text: str | dt.date) -> pd.Timestamp:
    """Read the ``--date`` of a batch report (``YYYY-MM-DD``).

    Raises:
        InputError: Not a date.
    """
    try:
        stamp = pd.Timestamp(text)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--date {text!r} is not a date; use YYYY-MM-DD") from exc
    if pd.isna(stamp):
        raise InputError(f"--date {text!r} is not a date; use YYYY-MM-DD")
    return stamp.normalize()


def build_batch_report(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    date: str | dt.date,
    lang: i18n.Lang,
    rate: float,
    revenue_weight: float | None = None,
    top_reasons: int = 10,
    list_limit: int = 50,
    source: str = "",
    policy: Any = None,
) -> BatchReport:
    """Score the declarations lodged on ``date`` as one batch and summarise the selection.

    Args:
        bundle: The model bundle.
        declarations: Canonical declarations (any span of days).
        registers: Registers for this run (missing ones come from the bundle).
        date: The day of the batch.
        lang: ``"zh"`` or ``"en"``.
        rate: Inspection rate of the batch.
        revenue_weight: Weight of the revenue at stake in the priority (None = the
            bundle's training objective).
        top_reasons: Reasons listed.
        list_limit: Selected declarations listed at most.
        source: Name of the declarations file.
        policy: The selection policy to decide with (None = the packaged one).

    Returns:
        The report content.

    Raises:
        InputError: No declaration was lodged on the day.
    """
    day = parse_date(date)
    labels = i18n.labels(lang)
    lodged = declarations["declared_at"].dt.normalize()
    batch = declarations[(lodged == day).to_numpy()].reset_index(drop=True)
    if batch.empty:
        where = f" in {source}" if source else ""
        span = (
            f" (the file covers {lodged.min().date()} to {lodged.max().date()})"
            if len(declarations)
            else ""
        )
        raise InputError(
            f"no declarations lodged on {day.date()}{where}{span}",
            file=source or None,
            column="declared_at",
        )
    scored = score_declarations(
        bundle,
        batch,
        registers,
        rate=rate,
        revenue_weight=revenue_weight,
        explain_rows=True,
        lang=lang,
        reason_count=REASON_SLOTS,
        **page.policy_option(policy),
    )
    decisions = scored.decisions
    selected = decisions["selected"].astype(int).to_numpy() == 1
    tiers = decisions["credit_tier"].astype(str)
    lanes = decisions["lane"].astype(str)
    n, k = len(decisions), int(selected.sum())
    revenue_estimated = bool(decisions["revenue_estimated"].astype(int).any()) or bool(
        bundle.metadata.get("revenue_estimated", False)
    )
    lane_codes = [lane for lane in i18n.LANE_ORDER if lane in set(lanes)] + sorted(
        set(lanes) - set(i18n.LANE_ORDER)
    )
    tier_codes = [t for t in CREDIT_TIERS if t in set(tiers)] + sorted(
        set(tiers) - set(CREDIT_TIERS)
    )
    overview = [
        (labels["declarations"], f"{n:,}"),
        (labels["selections"], f"{k:,} ({page.fmt_percent(k / n)})"),
        (
            labels["revenue_at_stake"],
            page.fmt_money(decisions.loc[selected, "expected_revenue"].sum())
            + (f" ({labels['estimate']})" if revenue_estimated else ""),
        ),
        (labels["mean_risk"], page.fmt_percent(float(decisions["risk_score"].mean()))),
    ]
    lane_tier = []
    for tier in [*tier_codes, None]:
        mask = np.ones(n, dtype=bool) if tier is None else (tiers == tier).to_numpy()
        counts = lanes[mask].value_counts()
        chosen = int(selected[mask].sum())
        lane_tier.append(
            {
                "tier": labels["total"] if tier is None else i18n.tier_name(tier, lang),
                "total": tier is None,
                "declarations": int(mask.sum()),
                "lanes": [int(counts.get(lane, 0)) for lane in lane_codes],
                "selected": chosen,
                "rate": page.fmt_percent(chosen / mask.sum()) if mask.sum() else "-",
            }
        )
    # The rules in force on the day (the rule set of its date), as the policy applied them.
    chosen = policy if policy is not None else SelectionPolicy()
    summary = chosen.summarise(decisions, tiers.to_numpy(), batch["declared_at"])
    credit = chosen.settings.credit
    tier_rates = []
    reference_tier = credit.latest.reference_tier
    for code, row in summary.tiers.iterrows():
        rule_set = credit.rule_set(str(row["rule_set"]))
        reference_tier = rule_set.reference_tier
        rule = rule_set.tiers.get(str(code))
        empty = rule is None or rule.is_empty
        source = rule_set.source_zh if lang == "zh" else rule_set.source
        reference_name = i18n.tier_name(reference_tier, lang)
        ratio = row["ratio_to_reference"]
        tier_rates.append(
            {
                "tier": i18n.tier_name(str(code), lang),
                "code": str(code),
                "declarations": int(row["rows"]),
                "selected": int(row["selected"]),
                "rate": page.fmt_percent(float(row["rate"])),
                "vs_regular": "-" if pd.isna(ratio) else f"{ratio * 100:.0f}%",
                "rule": labels["no_rule"]
                if empty
                else rule_text(rule, reference_name, plain=False),
                "source": "" if empty else source,
                "holds": None if empty else bool(row["met"]),
            }
        )
    facts = scored.policy_facts
    if facts is not None and facts.floor_excess > 0:
        overview.append((labels["floor_excess"], facts.floor_message()))
    reason_counts = Counter(decisions.loc[selected, "selection_reason"].astype(str))
    selection_reasons = [
        (i18n.reason_name(code, lang), count, page.fmt_percent(count / k) if k else "-")
        for code, count in reason_counts.most_common()
    ]
    histogram = histogram_svg(
        decisions["risk_score"].to_numpy(dtype="float64"),
        selected,
        x_label=labels["risk"],
        y_label=labels["count_log"],
        legend_selected=labels["legend_selected"],
        legend_all=labels["legend_all"],
    )
    reasons = _top_reasons(bundle, scored, selected, lang, top_reasons)
    order = np.argsort(-decisions["risk_score"].to_numpy(dtype="float64"), kind="stable")
    chosen_rows = [i for i in order if selected[i]]
    listed = []
    feature_labels = bundle.pipeline.feature_labels()
    for i in chosen_rows[:list_limit]:
        d = decisions.iloc[i]
        own = page.model_reasons(d.get("reasons"), page.policy_note(d.to_dict(), lang))
        first = own[0] if own else ""
        listed.append(
            {
                "declaration_id": str(d["declaration_id"]),
                "importer_id": str(batch.iloc[i]["importer_id"]),
                "hs_code": str(batch.iloc[i]["hs_code"]),
                "tier": i18n.tier_name(str(d["credit_tier"]), lang),
                "lane": str(d["lane"]),
                "lane_name": i18n.LANE_SHORT[lang].get(str(d["lane"]), str(d["lane"])),
                "reason": i18n.reason_name(str(d["selection_reason"]), lang, short=True),
                "risk": page.fmt_percent(float(d["risk_score"])),
                "expected_revenue": page.fmt_money(d["expected_revenue"]),
                "first_reason": officer_words(first, feature_labels, scored.features.iloc[i], lang)
                if first
                else "-",
            }
        )
    return BatchReport(
        lang=lang,
        labels=labels,
        date=str(day.date()),
        generated=page.generated_at(),
        overview=overview,
        lanes=[(lane, i18n.LANE_SHORT[lang].get(lane, lane)) for lane in lane_codes],
        lane_tier=lane_tier,
        # Measures 22, 12, 8 and 14: counted from the columns the decisions carry.
        measures=[
            (name, count, page.fmt_percent(count / n), indented)
            for name, count, indented in batch_measures(decisions, batch, lang)
        ],
        measures_title=measure_text(lang)["counts"],
        tier_rates=tier_rates,
        has_rules=any(row["holds"] is not None for row in tier_rates),
        reference=i18n.tier_name(reference_tier, lang),
        selection_reasons=selection_reasons,
        histogram=histogram,
        top_reasons=reasons,
        selected=listed,
        selected_more=max(len(chosen_rows) - list_limit, 0),
        versions=page.versions(bundle, decisions, lang),
        scope=labels["day_scope_text"].format(
            count=f"{n:,}", date=str(day.date()), rate=page.fmt_percent(rate)
        )
        + (f" · {source}" if source else ""),
        revenue_estimated=revenue_estimated,
    )


def _top_reasons(
    bundle: Bundle, scored: Any, selected: np.ndarray, lang: i18n.Lang, top: int
) -> list[dict[str, Any]]:
    """Count the factors among the strongest reasons of the selections, with an example.

    A reason's wording carries the declaration's own values, so the same kind of
    reason is never the same phrase twice; it is counted by the factor (the input field
    or signal) it is about instead, and one phrase is kept as the example.
    """
    explanation = scored.explanation
    if explanation is None or not selected.any():
        return []
    positions, _ = explain.top_features(explanation, REASON_SLOTS)
    labels = bundle.pipeline.feature_labels()
    decisions = scored.decisions
    notes = [page.policy_note(row, lang) for row in decisions.to_dict("records")]
    texts = decisions["reasons"].astype(str).to_numpy()
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for row in np.flatnonzero(selected):
        valid = [p for p in positions[row] if p >= 0]
        phrases = page.model_reasons(texts[row], notes[row])
        seen: set[str] = set()
        for slot, position in enumerate(valid):
            feature = explanation.features[position]
            label = labels.get(feature, feature)
            if label in seen:
                continue
            seen.add(label)
            counts[label] += 1
            if label not in examples and len(phrases) == len(valid):
                examples[label] = officer_words(
                    phrases[slot], labels, scored.features.iloc[row], lang
                )
    total = int(selected.sum())
    return [
        {
            "factor": i18n.factor_name(label, lang),
            "count": count,
            "share": page.fmt_percent(count / total),
            "example": examples.get(label, "-"),
        }
        for label, count in counts.most_common(top)
    ]


def render_batch_html(report: BatchReport) -> str:
    """Render the batch report as a standalone HTML page."""
    return page.render("batch.html.j2", report=report, labels=report.labels)


def write_batch_report(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    date: str | dt.date,
    lang: i18n.Lang,
    out: str | Path,
    rate: float,
    revenue_weight: float | None = None,
    source: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    policy: Any = None,
) -> Path:
    """Build the daily batch report and write it, as HTML or PDF by suffix, atomically.

    Args:
        bundle: The model bundle.
        declarations: Canonical declarations.
        registers: Registers for this run.
        date: The day of the batch.
        lang: ``"zh"`` or ``"en"``.
        out: ``*.html`` or ``*.pdf``.
        rate: Inspection rate of the batch.
        revenue_weight: Weight of the revenue at stake in the priority (None = the
            bundle's training objective).
        source: Name of the declarations file.
        timeout: Seconds the browser may take for a PDF.
        policy: The selection policy to decide with (None = the packaged one).

    Returns:
        The written path.

    Raises:
        InputError: A bad date, no declaration on it, or another output suffix.
        RenderError: PDF output without a working browser.
    """
    check_output(out)
    report = build_batch_report(
        bundle,
        declarations,
        registers,
        date=date,
        lang=lang,
        rate=rate,
        revenue_weight=revenue_weight,
        source=source,
        policy=policy,
    )
    path, _ = write_document(render_batch_html(report), out, timeout=timeout)
    return path
