"""Officer explanation report of one declaration, as HTML or PDF.

The declaration is decided as part of its batch (the declarations file given, scored
and selected as ``portsift score`` would at the same rate), so the report shows the
same decision as the batch run. The report then explains it: the decision and its
policy basis, the risk score and its percentile in the batch, a SHAP waterfall of the
factors with the reasons in words, the importer's credit tier and inspection history
in the file, the lab report and whether it was accepted, and the versions.

Why this file stays whole (just over 600 lines): every section builder here (basis, lab
report, enterprise history, factors) reads the same decided row and fills one part of
the one template ``templates/declaration.html.j2``; a change to the report changes the
template, :class:`DeclarationReport` and its builder together. The parts shared with
other reports already live apart (:mod:`portsift.reports.charts`, ``page``, ``render``,
``i18n``).
"""

from __future__ import annotations

import re
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
from portsift.models.policy import SelectionPolicy
from portsift.models.scoring import registers_for, score_declarations
from portsift.reports import i18n, page
from portsift.reports.charts import WaterfallStep, waterfall_svg
from portsift.reports.measures import MeasureBlock, declaration_measures
from portsift.reports.measures import text as measure_text
from portsift.reports.render import DEFAULT_TIMEOUT, output_format, write_document

#: Lab reports older than this are not accepted when the decisions do not say.
DEFAULT_LAB_VALIDITY_DAYS = 365
#: Raw-score agreement required to reuse the one-row explanation for the batch row.
_SAME_SCORE = 1e-6


@dataclass(frozen=True)
class Contribution:
    """One factor of the waterfall: the officer's name, its value and its SHAP sum."""

    feature: str
    value: str
    shap: float


@dataclass(frozen=True)
class DeclarationReport:
    """Everything a declaration report shows, in one language."""

    lang: i18n.Lang
    labels: dict[str, str]
    declaration_id: str
    declared_at: str
    generated: str
    summary: list[tuple[str, str]]
    decision: dict[str, Any]
    basis: list[str]
    deadlines: list[tuple[str, str]]
    other_fields: list[tuple[str, str]]
    measures: list[MeasureBlock]
    measures_title: str
    reasons: list[str]
    contributions: list[Contribution]
    base_value: float
    raw_score: float
    waterfall: Markup
    enterprise: dict[str, Any]
    history: list[dict[str, Any]]
    history_totals: str
    lab: dict[str, Any] | None
    versions: list[tuple[str, str]]
    scope: str
    revenue_estimated: bool
    model_version: str


def build_report(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    declaration_id: str,
    lang: i18n.Lang,
    rate: float,
    revenue_weight: float | None = None,
    top: int = 8,
    reason_count: int = 5,
    source: str = "",
    policy: Any = None,
) -> DeclarationReport:
    """Score the batch and assemble the report of one declaration in it.

    Args:
        bundle: The model bundle.
        declarations: The batch the declaration belongs to (canonical declarations).
        registers: Registers for this run (missing ones come from the bundle).
        declaration_id: The declaration to report on.
        lang: ``"zh"`` or ``"en"``.
        rate: Inspection rate of the batch.
        revenue_weight: Weight of the revenue at stake in the priority (None = the
            bundle's training objective).
        top: Factors drawn in the waterfall (the rest are summed into one bar).
        reason_count: Reasons in words at most.
        source: Name of the declarations file, for the batch line.
        policy: The selection policy to decide with (None = the packaged one).

    Returns:
        The report content.

    Raises:
        InputError: If the id is not in the declarations.
    """
    if lang not in i18n.LANGS:
        raise InputError(f"unknown report language {lang!r}; use one of {', '.join(i18n.LANGS)}")
    ids = declarations["declaration_id"].astype(str).to_numpy()
    matches = np.flatnonzero(ids == str(declaration_id))
    if len(matches) == 0:
        raise InputError(
            f"declaration id {declaration_id!r} is not in the declarations file"
            + (f" {source}" if source else ""),
            file=source or None,
            column="declaration_id",
        )
    position = int(matches[0])
    labels = i18n.labels(lang)
    scored = score_declarations(
        bundle,
        declarations,
        registers,
        rate=rate,
        revenue_weight=revenue_weight,
        explain_rows=False,
        lang=lang,
        **page.policy_option(policy),
    )
    decisions = scored.decisions
    decision = decisions.iloc[position].to_dict()
    features = scored.features.iloc[[position]].reset_index(drop=True)
    explanation = _explain_row(
        bundle, declarations, registers, position, float(decision["raw_score"]), lang
    )
    reasons_text = explain.reasons(features, explanation, count=reason_count, lang=lang).iloc[0]
    feature_labels = bundle.pipeline.feature_labels()
    reasons = [
        officer_words(r.strip(), feature_labels, features.iloc[0], lang)
        for r in reasons_text.split(";")
        if r.strip()
    ]
    # The decisions' own reasons start with the policy's note, shown with the basis.
    note = page.policy_note(decision, lang)
    for extra in page.model_reasons(decision.get("reasons"), note):
        if extra not in reasons:
            reasons.append(extra)
    row = declarations.iloc[position]
    feature_row = features.iloc[0]
    risk = decisions["risk_score"].to_numpy(dtype="float64")
    own = float(decision["risk_score"])
    count = len(risk)
    share_below = float((risk < own).mean())
    rank = int((risk > own).sum()) + 1
    lab = _lab(feature_row, decision, lang)
    contributions = _contributions(bundle, explanation, feature_row, lang)
    shown, rest = contributions[:top], contributions[top:]
    steps = [WaterfallStep(c.feature, c.value, c.shap) for c in shown]
    if rest:
        steps.append(
            WaterfallStep(
                labels["others"].format(count=len(rest)), "", float(sum(c.shap for c in rest))
            )
        )
    base_value = float(explanation.base_value[0])
    raw_score = float(explanation.raw_score[0])
    waterfall = waterfall_svg(
        base_value,
        steps,
        base_label=labels["base"],
        final_label=labels["raw"],
        final_note=f"{labels['risk']} {page.fmt_percent(own)}",
    )
    deadlines, others = page.extra_decision_fields(decision, lang)
    lane = str(decision.get("lane") or "green")
    reason_code = str(decision.get("selection_reason") or "")
    selected = bool(int(decision.get("selected") or 0))
    revenue_estimated = bool(int(decision.get("revenue_estimated") or 0)) or bool(
        bundle.metadata.get("revenue_estimated", False)
    )
    decision_view = {
        "lane": lane,
        "lane_name": i18n.lane_name(lane, lang),
        "selected": selected,
        "status": labels["selected"] if selected else labels["released"],
        "reason": reason_code,
        "reason_name": i18n.reason_name(reason_code, lang),
        "risk": own,
        "risk_text": page.fmt_percent(own),
        "percentile": share_below * 100,
        "percentile_text": labels["percentile_text"].format(
            share=page.fmt_percent(share_below), count=f"{count:,}", rank=f"{rank:,}"
        ),
        "expected_revenue": page.fmt_money(decision.get("expected_revenue")),
        "credit_tier": i18n.tier_name(str(decision.get("credit_tier")), lang),
    }
    enterprise, history, totals = _enterprise(
        bundle, declarations, registers, row, str(decision.get("credit_tier")), lang
    )
    scope = labels["batch_scope_text"].format(
        count=f"{count:,}", source=source or "-", rate=page.fmt_percent(rate)
    )
    return DeclarationReport(
        lang=lang,
        labels=labels,
        declaration_id=str(row["declaration_id"]),
        declared_at=page.fmt(pd.Timestamp(row["declared_at"])),
        generated=page.generated_at(),
        summary=[
            (i18n.summary_name(name, lang), page.fmt(row[name]))
            for name in i18n.SUMMARY_FIELDS
            if name in row.index
        ],
        decision=decision_view,
        basis=_basis(
            decision_view,
            reason_code,
            lab,
            rank,
            count,
            rate,
            lang,
            note,
        ),
        deadlines=deadlines,
        other_fields=others,
        # Measures 22, 12, 8 and 14, from the decision and the pipeline's context columns.
        measures=declaration_measures(
            decision,
            scored.features.iloc[position],
            (policy if policy is not None else SelectionPolicy()).settings.rulings,
            lang,
        ),
        measures_title=measure_text(lang)["heading"],
        reasons=reasons,
        contributions=contributions,
        base_value=base_value,
        raw_score=raw_score,
        waterfall=waterfall,
        enterprise=enterprise,
        history=history,
        history_totals=totals,
        lab=lab,
        versions=page.versions(bundle, decisions, lang),
        scope=scope,
        revenue_estimated=revenue_estimated,
        model_version=bundle.model_version,
    )


# The tail: the mark of an advance ruling that covers the feature (measure 12), kept.
_GENERIC_REASON = re.compile(
    r"^([a-z][a-z0-9_]*) = (\S+)(?:（提高风险）| \(raises the risk\))((?:（| \().*)?$"
)


def officer_words(reason: str, labels: dict[str, str], row: pd.Series, lang: i18n.Lang) -> str:
    """Reword a reason the explainer left generic (``feature = value``) in officer terms.

    Args:
        reason: One reason as :func:`portsift.models.explain.reasons` wrote it.
        labels: Feature to field/signal labels of the pipeline.
        row: The declaration's feature row.
        lang: Language of the reason.

    Returns:
        ``"<factor name> <value>, raises the risk"`` for a generic reason (without the
        value when it is not known; a ruling's mark after it kept), else the reason
        unchanged.
    """
    match = _GENERIC_REASON.match(reason)
    if match is None or match.group(1) not in row.index:
        return reason
    feature = match.group(1)
    label = labels.get(feature, feature)
    value = factor_value(label, [feature], row, lang)
    name = i18n.factor_name(label, lang)
    mark = match.group(3) or ""
    if value == "-":  # a category whose raw value is not at hand (a decision on record)
        said = f"{name}提高风险" if lang == "zh" else f"{name} raises the risk"
    else:
        said = f"{name}为{value}，提高风险" if lang == "zh" else f"{name} {value} raises the risk"
    return said + mark


def _explain_row(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    position: int,
    batch_raw: float,
    lang: i18n.Lang,
) -> explain.Explanation:
    """SHAP contributions of one row: scored alone (fast) if that gives the batch's score.

    Features are point in time, so one row alone normally scores as in its batch; if it
    does not, the whole batch is explained and the row taken from it.
    """
    single = score_declarations(
        bundle, declarations.iloc[[position]], registers, rate=1.0, lang=lang
    )
    explanation = single.explanation
    if explanation is not None and abs(float(explanation.raw_score[0]) - batch_raw) <= _SAME_SCORE:
        return explanation
    full = score_declarations(bundle, declarations, registers, rate=1.0, lang=lang)
    assert full.explanation is not None
    return explain.Explanation(
        features=full.explanation.features,
        values=full.explanation.values[[position]],
        base_value=full.explanation.base_value[[position]],
    )


def _contributions(
    bundle: Bundle, explanation: explain.Explanation, row: pd.Series, lang: i18n.Lang
) -> list[Contribution]:
    """Sum the SHAP values by the input field each feature belongs to, strongest first."""
    labels = bundle.pipeline.feature_labels()
    totals: dict[str, float] = {}
    members: dict[str, list[str]] = {}
    for name, value in zip(explanation.features, explanation.values[0], strict=True):
        label = labels.get(name, name)
        totals[label] = totals.get(label, 0.0) + float(value)
        members.setdefault(label, []).append(name)
    order = sorted(totals, key=lambda label: (-abs(totals[label]), label))
    return [
        Contribution(
            feature=i18n.factor_name(label, lang),
            value=factor_value(label, members[label], row, lang),
            shap=totals[label],
        )
        for label in order
    ]


def factor_value(label: str, features: list[str], row: pd.Series, lang: i18n.Lang) -> str:
    """Print the value of a factor as an officer reads it.

    Args:
        label: The factor (field or signal) the features belong to.
        features: The model features summed into it.
        row: The declaration's feature row (features and raw context columns).
        lang: Language of words in values.

    Returns:
        The value text, ``-`` when missing.
    """
    kind = i18n.factor_kind(label)
    if kind == i18n.CATEGORY or len(features) > 1:
        source = i18n.CATEGORY_SOURCES.get(label, label)
        return page.fmt(row.get(source)) if source in row.index else "-"
    value = row.get(features[0])
    if page.is_missing(value):
        return "缺失" if lang == "zh" else "missing"
    number = float(value)
    labels = i18n.labels(lang)
    if kind == i18n.RATIO:
        return f"{number:.2f}"
    if kind == i18n.RATE:
        return page.fmt_percent(number)
    if kind == i18n.PERCENT:
        return f"{number:.1f}%"
    if kind == i18n.POINTS:
        return f"{number:+.1f} " + ("个百分点" if lang == "zh" else "pp")
    if kind == i18n.LOG_COUNT:
        return f"{np.expm1(number):,.0f}"
    if kind == i18n.LOG_MONEY:
        return f"{np.expm1(number):,.0f}"
    if kind == i18n.DAYS:
        return labels["days"].format(days=f"{number:,.0f}")
    if kind == i18n.FLAG:
        return page.yes_no(number == 1, lang)
    if kind == i18n.TIER_RANK:
        index = round(number)
        return i18n.tier_name(CREDIT_TIERS[index], lang) if 0 <= index < len(CREDIT_TIERS) else "-"
    if number.is_integer():
        return f"{int(number):,}"
    return (
        f"{number:,.3f}".rstrip("0").rstrip(".").replace("-0", "0")
        if abs(number) < 1000
        else (f"{number:,.0f}")
    )


def _lab(row: pd.Series, decision: dict[str, Any], lang: i18n.Lang) -> dict[str, Any] | None:
    """The lab report on file for the declaration, with the acceptance criteria."""
    present = row.get("lab_report_present")
    if page.is_missing(present) or float(present) != 1:
        return None
    accredited = float(row.get("lab_accredited") or 0) == 1
    passed = str(row.get("lab_result")) == "pass" or float(row.get("lab_result_pass") or 0) == 1
    listed = float(row.get("acceptance_listed") or 0) == 1
    age = row.get("lab_report_age_days")
    fresh = not page.is_missing(age) and float(age) <= DEFAULT_LAB_VALIDITY_DAYS
    if "lab_accepted" in decision and not page.is_missing(decision["lab_accepted"]):
        accepted, derived = bool(int(decision["lab_accepted"])), False
    else:
        accepted, derived = accredited and passed and listed and fresh, True
    labels = i18n.labels(lang)
    result = str(row.get("lab_result") or "-")
    return {
        "lab_id": page.fmt(row.get("lab_id")),
        "result": {"pass": "合格", "fail": "不合格"}.get(result, result)
        if lang == "zh"
        else result,
        "passed": passed,
        "issued_at": page.fmt(row.get("issued_at")),
        "age": "-" if page.is_missing(age) else labels["days"].format(days=f"{float(age):,.0f}"),
        "accredited": accredited,
        "listed": listed,
        "accepted": accepted,
        "derived": derived,
        "criteria": [
            (labels["lab_accredited"], accredited),
            (labels["lab_pass"], passed),
            (labels["acceptance_listed"], listed),
        ],
    }


def _basis(
    decision: dict[str, Any],
    reason: str,
    lab: dict[str, Any] | None,
    rank: int,
    count: int,
    rate: float,
    lang: i18n.Lang,
    note: str = "",
) -> list[str]:
    """The policy part of the reasons: why the decision is what it is.

    The rank in the batch comes first; then the policy's own note when the decisions
    carry one (it names the rule, the tier constraint, the lab acceptance), else the
    report's wording of the selection reason.
    """
    zh = lang == "zh"
    risk = decision["risk_text"]
    lines: list[str] = []
    if note:
        lines.append(
            f"风险评分{risk}，在本批{count:,}票中排名第{rank:,}（查验比例{page.fmt_percent(rate)}）。"
            if zh
            else f"Risk score {risk}, rank {rank:,} of {count:,} in the batch "
            f"(inspection rate {page.fmt_percent(rate)})."
        )
        lines.append(note)
        return lines
    if not decision["selected"]:
        lines.append(
            f"风险评分{risk}，排名第{rank:,}/{count:,}，未进入查验预算（{page.fmt_percent(rate)}），放行。"
            if zh
            else f"Risk score {risk}, rank {rank:,} of {count:,}: outside the inspection "
            f"budget ({page.fmt_percent(rate)}), released."
        )
    elif reason == "risk":
        lines.append(
            f"风险评分{risk}，排名第{rank:,}/{count:,}，在查验预算（{page.fmt_percent(rate)}）之内，布控查验。"
            if zh
            else f"Risk score {risk}, rank {rank:,} of {count:,}: within the inspection "
            f"budget ({page.fmt_percent(rate)}), selected."
        )
    elif reason == "random":
        lines.append(
            "随机抽查选中：查验预算中的探索部分在未布控报关单中均匀随机抽取，用于无偏估计违规率。"
            if zh
            else "Drawn at random: the exploration share of the budget is drawn uniformly from "
            "the declarations not otherwise selected, to estimate the violation rate without bias."
        )
    elif reason == "tier_floor":
        lines.append(
            f"按差别化信用管理的查验比例要求选中（{decision['credit_tier']}）。"
            if zh
            else "Selected to meet the credit-tier inspection rate rule "
            f"({decision['credit_tier']})."
        )
    elif reason == "rule":
        lines.append(
            "命中布控规则，按规则布控。" if zh else "An officer rule applies: selected by rule."
        )
    else:
        lines.append(
            f"{i18n.labels(lang)['reason']}：{decision['reason_name']}"
            if zh
            else f"{i18n.labels(lang)['reason']}: {decision['reason_name']}"
        )
    if lab is not None and lab["accepted"] and decision["selected"]:
        lines.append(
            "第三方检验报告获采信，不因此送取样检测。"
            if zh
            else "The third-party lab report is accepted: no sampling on its account."
        )
    return lines


def _enterprise(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    row: pd.Series,
    tier: str,
    lang: i18n.Lang,
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """The importer's tier, register entries and earlier inspections in the file."""
    labels = i18n.labels(lang)
    register = registers_for(bundle, registers).enterprises
    declared_at = pd.Timestamp(row["declared_at"])

    def entries(enterprise: Any) -> list[dict[str, Any]]:
        if register is None or page.is_missing(enterprise):
            return []
        own = register[register["enterprise_id"].astype(str) == str(enterprise)]
        own = own.sort_values("tier_since")
        in_force = own[own["tier_since"] <= declared_at].tail(1).index
        return [
            {
                "tier": i18n.tier_name(str(r["credit_tier"]), lang),
                "since": page.fmt(r["tier_since"]),
                "in_force": index in in_force,
            }
            for index, r in own.iterrows()
        ]

    declarant = row.get("declarant_id")
    declarant_entries = entries(declarant)
    declarant_tier = next(
        (e["tier"] for e in declarant_entries if e["in_force"]),
        labels["not_in_register"] if not page.is_missing(declarant) else "-",
    )
    importer_entries = entries(row["importer_id"])
    enterprise = {
        "importer_id": str(row["importer_id"]),
        "tier": i18n.tier_name(tier, lang),
        "tier_code": tier,
        "entries": importer_entries,
        "in_register": bool(importer_entries),
        "declarant_id": page.fmt(declarant),
        "declarant_tier": declarant_tier,
    }
    same = declarations["importer_id"].astype(str) == str(row["importer_id"])
    earlier = declarations[same & (declarations["declared_at"] < declared_at)]
    if "inspected" in earlier:
        inspected_mask = earlier["inspected"].fillna(0).astype("float64") == 1
    elif "illicit" in earlier:
        inspected_mask = earlier["illicit"].notna()
    else:
        inspected_mask = pd.Series(False, index=earlier.index)
    inspected = earlier[inspected_mask].sort_values("declared_at")
    illicit = inspected["illicit"] if "illicit" in inspected else pd.Series(np.nan, inspected.index)
    revenue = inspected["revenue"] if "revenue" in inspected else pd.Series(np.nan, inspected.index)
    history = []
    for index, r in inspected.tail(12).iloc[::-1].iterrows():
        outcome = illicit.loc[index]
        history.append(
            {
                "declaration_id": str(r["declaration_id"]),
                "declared_at": page.fmt(pd.Timestamp(r["declared_at"])),
                "hs_code": page.fmt(r["hs_code"]),
                "outcome": "unknown"
                if page.is_missing(outcome)
                else ("violation" if float(outcome) == 1 else "compliant"),
                "revenue": page.fmt_money(revenue.loc[index]),
            }
        )
    totals = labels["history_totals"].format(
        declarations=f"{len(earlier):,}",
        inspected=f"{len(inspected):,}",
        violations=f"{int((illicit.fillna(0) == 1).sum()):,}",
        revenue=page.fmt_money(revenue.fillna(0).sum()),
    )
    return enterprise, history, totals


def render_html(report: DeclarationReport) -> str:
    """Render the report as a standalone HTML page (inline CSS and SVG, no network)."""
    return page.render("declaration.html.j2", report=report, labels=report.labels)


def check_output(out: str | Path) -> str:
    """Return the format of a report path, or raise the user error for another suffix.

    Raises:
        InputError: The suffix is neither ``.html``/``.htm`` nor ``.pdf``.
    """
    try:
        return output_format(out)
    except ValueError as exc:
        raise InputError(str(exc), file=str(out)) from exc


def write_declaration_report(
    bundle: Bundle,
    declarations: pd.DataFrame,
    registers: Registers,
    *,
    declaration_id: str,
    lang: i18n.Lang,
    out: str | Path,
    rate: float,
    revenue_weight: float | None = None,
    source: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    policy: Any = None,
) -> Path:
    """Build one declaration's report and write it, as HTML or PDF by suffix, atomically.

    Args:
        bundle: The model bundle.
        declarations: The batch.
        registers: Registers for this run.
        declaration_id: The declaration to report on.
        lang: ``"zh"`` or ``"en"``.
        out: ``*.html`` or ``*.pdf``.
        rate: Inspection rate of the batch.
        revenue_weight: Weight of the revenue at stake in the priority (None = the
            bundle's training objective).
        source: Name of the declarations file, for the batch line.
        timeout: Seconds the browser may take for a PDF.
        policy: The selection policy to decide with (None = the packaged one).

    Returns:
        The written path.

    Raises:
        InputError: For an unknown id or an output suffix other than html or pdf.
        RenderError: PDF output without a working browser.
    """
    check_output(out)
    report = build_report(
        bundle,
        declarations,
        registers,
        declaration_id=declaration_id,
        lang=lang,
        rate=rate,
        revenue_weight=revenue_weight,
        source=source,
        policy=policy,
    )
    path, _ = write_document(render_html(report), out, timeout=timeout)
    return path
