"""The console's pages: the reports' Jinja environment and what each page shows.

The templates in ``serving/console/templates`` extend the reports' ``base.html.j2`` and
include its ``explanation.html.j2`` (the reasons in words and the SHAP waterfall of the
officer report); the waterfall is drawn by :func:`portsift.reports.charts.waterfall_svg`
from the contributions the decision carries, grouped by input field as in the report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from jinja2 import ChoiceLoader, Environment, PackageLoader
from markupsafe import Markup

from portsift.features.contract import RULING_KINDS
from portsift.models import explain
from portsift.models.credit import rule_set_index, rule_text
from portsift.models.rulings import covered_marks
from portsift.reports import i18n, page
from portsift.reports.charts import WaterfallStep, waterfall_svg
from portsift.reports.measures import MeasureBlock, declaration_measures
from portsift.reports.officer import factor_value, officer_words
from portsift.serving.console.days import local_date, local_text
from portsift.serving.console.texts import KIND_NAMES, texts
from portsift.settings import CreditRuleSetSettings, CreditSettings, RulingSettings
from portsift.store.audit_records import StoredDecision

#: Factors drawn in the waterfall (the rest are summed into one bar), as in the report.
WATERFALL_FACTORS = 8


@cache
def environment() -> Environment:
    """The reports' Jinja environment, with the console's templates found first."""
    return page.environment().overlay(
        loader=ChoiceLoader(
            [
                PackageLoader("portsift.serving", "console/templates"),
                PackageLoader("portsift.reports", "templates"),
            ]
        )
    )


def render(template: str, lang: i18n.Lang, **context: Any) -> str:
    """Render a console template with the words of one language.

    Args:
        template: The template's name.
        lang: ``zh`` or ``en``.
        **context: What the template shows.

    Returns:
        The HTML.
    """
    return (
        environment()
        .get_template(template)
        .render(lang=lang, labels=texts(lang), kinds=KIND_NAMES[lang], **context)
    )


@dataclass(frozen=True)
class Explanation:
    """What ``explanation.html.j2`` reads: reasons, waterfall and contributions.

    Attributes:
        reasons: The reasons in words, in the page's language.
        waterfall: The SHAP waterfall (SVG).
        contributions: The factors, strongest first.
        base_value: The model's base value.
        raw_score: The raw score the contributions add up to.
        recorded: The reasons text as recorded, when it is in another language than the
            page (shown as it is, with its language); ``""`` otherwise.
        recorded_lang: The language of ``recorded``.
    """

    reasons: list[str]
    waterfall: Markup
    contributions: list[Any]
    base_value: float
    raw_score: float
    recorded: str = ""
    recorded_lang: str = ""


@dataclass(frozen=True)
class _Factor:
    feature: str
    value: str
    shap: float


def explanation(
    decision: dict[str, Any],
    feature_labels: dict[str, str],
    lang: i18n.Lang,
    rulings: RulingSettings | None = None,
) -> Explanation:
    """The officer report's explanation of a decision on record, in one language.

    Args:
        decision: The decision as the API answered it (its ``contributions``).
        feature_labels: Feature to input-field label of the bundle's pipeline.
        lang: ``zh`` or ``en``.
        rulings: ``[selection.rulings]``: the features an advance ruling covers, marked
            in reasons written again (measure 12); ``None``: no marks.

    Returns:
        The reasons in words, the waterfall and the factors, strongest first.
    """
    labels = i18n.labels(lang)
    contributions = decision.get("contributions") or []
    values = pd.Series(
        {c["feature"]: math.nan if c.get("value") is None else c["value"] for c in contributions},
        dtype="float64",
    )
    totals: dict[str, float] = {}
    members: dict[str, list[str]] = {}
    for item in contributions:  # one per model feature (tens), not per declaration
        label = feature_labels.get(item["feature"], item["feature"])
        totals[label] = totals.get(label, 0.0) + float(item["shap"])
        members.setdefault(label, []).append(item["feature"])
    order = sorted(totals, key=lambda label: (-abs(totals[label]), label))
    factors = [
        _Factor(
            i18n.factor_name(label, lang),
            factor_value(label, members[label], values, lang),
            totals[label],
        )
        for label in order
    ]
    shown, rest = factors[:WATERFALL_FACTORS], factors[WATERFALL_FACTORS:]
    steps = [WaterfallStep(f.feature, f.value, f.shap) for f in shown]
    if rest:
        steps.append(
            WaterfallStep(labels["others"].format(count=len(rest)), "", sum(f.shap for f in rest))
        )
    base_value = float(decision.get("base_value") or 0.0)
    risk = float(decision.get("risk_score") or 0.0)
    chart = waterfall_svg(
        base_value,
        steps,
        base_label=labels["base"],
        final_label=labels["raw"],
        final_note=f"{labels['risk']} {page.fmt_percent(risk)}",
    )
    stored = "" if page.is_missing(decision.get("reasons")) else str(decision["reasons"])
    stored_lang = reasons_language(stored) if stored else lang
    if stored_lang == lang:
        # Written in this language by the service, from the whole declaration: as it is.
        parts = page.model_reasons(stored, page.policy_note(decision, lang))
        recorded = ""
    else:
        parts = model_reasons(decision, lang, rulings) if contributions else []
        # The policy's part (rule, draw, tier rule, deadlines) is stored text only.
        recorded = stored
    return Explanation(
        reasons=[officer_words(part, feature_labels, values, lang) for part in parts],
        waterfall=chart,
        contributions=factors,
        base_value=base_value,
        raw_score=float(decision.get("raw_score") or 0.0),
        recorded=recorded,
        recorded_lang=stored_lang if recorded else "",
    )


#: Reasons the service writes per decision (``reason_count`` of
#: :func:`portsift.models.scoring.score_online`, which the API leaves at its default).
SERVICE_REASON_COUNT = 3

#: Snake-case identifiers (feature names in a generic reason): in either language.
_IDENTIFIER = re.compile(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def reasons_language(text: str) -> i18n.Lang:
    """The language a reasons text was written in: ``zh`` or ``en``.

    The decision does not record it. English reasons name a few Chinese terms in
    brackets (``conditional release (附条件放行)``) and Chinese ones quote feature
    names (``declared_value = 12000（提高风险）``), so the text counts as Chinese when,
    feature names aside, it holds more Chinese characters than Latin letters.

    Args:
        text: A decision's ``reasons``.

    Returns:
        The language.
    """
    words = _IDENTIFIER.sub("", text)
    return "zh" if len(_CJK.findall(words)) > len(_LATIN.findall(words)) else "en"


def model_reasons(
    decision: dict[str, Any], lang: i18n.Lang, rulings: RulingSettings | None = None
) -> list[str]:
    """The model's reasons of a decision on record, written again in one language.

    :func:`portsift.models.explain.reason_texts` (the code that wrote them) is given
    what the decision carries: its SHAP contributions (feature, value, shap), its base
    value and its credit tier. A reason that quotes a field of the declaration the store
    does not keep (the HS code, a reference price) cannot be written again as it was;
    the explainer then says the feature and its value, which :func:`officer_words`
    turns into the factor's name. A feature whose risk an advance ruling of the
    decision covers is marked as the service marks it (measure 12).

    Args:
        decision: The stored decision (its ``contributions``).
        lang: ``zh`` or ``en``.
        rulings: ``[selection.rulings]`` (``None``: no marks).

    Returns:
        The reasons, most risk-raising first.
    """
    contributions = decision.get("contributions") or []
    features = [str(c["feature"]) for c in contributions]
    frame: dict[str, np.ndarray] = {
        name: np.array([math.nan if c.get("value") is None else float(c["value"])])
        for name, c in zip(features, contributions, strict=True)
    }
    frame["credit_tier"] = np.array([decision.get("credit_tier")], dtype=object)
    shap = np.array([[float(c["shap"]) for c in contributions]], dtype="float64")
    base = np.array([float(decision.get("base_value") or 0.0)])
    covered = None
    if rulings is not None and decision.get("ruling_ids") is not None:  # a register ran
        context = _ruling_context(decision)
        matched = {
            f"ruling_{kind}_id": np.array([context.get(f"ruling_{kind}_id") or ""], dtype=object)
            for kind in RULING_KINDS
        }
        covered = covered_marks(rulings, matched, lang)
    text = explain.reason_texts(
        frame,
        explain.Explanation(features=features, values=shap, base_value=base),
        count=SERVICE_REASON_COUNT,
        lang=lang,
        covered=covered,
    )[0]
    return [part.strip() for part in str(text).split(";") if part.strip()]


def decided_rule_set(
    stored: StoredDecision, credit: CreditSettings, office_zone: ZoneInfo
) -> CreditRuleSetSettings:
    """The credit rule set the decision was held to.

    The policy version of a decision names it (``policy-<digest>/<rule set id>``: the set
    in force on the declaration's date, which the store does not keep); a version that
    names none (an older one) falls back to the set in force on the decision's date.

    Args:
        stored: The decision on record.
        credit: ``[selection.credit]``.
        office_zone: The office's time zone (the decision's date is the office's).

    Returns:
        The rule set.
    """
    named = stored.policy_version.rsplit("/", 1)[-1]
    for rule_set in credit.rule_sets:
        if rule_set.id == named:
            return rule_set
    day = np.array([np.datetime64(local_date(stored.recorded_at, office_zone), "D")])
    return credit.rule_sets[int(rule_set_index(day, credit)[0])]


def decision_facts(
    stored: StoredDecision, credit: CreditSettings, lang: i18n.Lang, office_zone: ZoneInfo
) -> dict[str, Any]:
    """The decision panel: lane, reason, deadlines, lab acceptance, tier and its rule.

    Args:
        stored: The declaration's latest decision on record.
        credit: ``[selection.credit]``, for the rule of the tier in force on its day.
        lang: ``zh`` or ``en``.
        office_zone: The office's time zone (the decision's time is shown in it).

    Returns:
        What ``declaration.html.j2`` shows of the decision.
    """
    decision = stored.decision
    labels = texts(lang)
    lane = str(decision.get("lane") or "green")
    tier = str(decision.get("credit_tier") or "")
    rule_set = decided_rule_set(stored, credit, office_zone)
    rule = rule_set.tiers.get(rule_set.fallback.get(tier, tier))
    deadlines, _ = page.extra_decision_fields(decision, lang)
    return {
        "lane": lane,
        "lane_name": i18n.lane_name(lane, lang),
        "selected": bool(int(decision.get("selected") or 0)),
        "reason_name": i18n.reason_name(str(decision.get("selection_reason") or ""), lang),
        "risk_text": page.fmt_percent(float(decision.get("risk_score") or 0.0)),
        "expected_revenue": page.fmt_money(decision.get("expected_revenue")),
        "credit_tier": i18n.tier_name(tier, lang),
        "tier_rule": (
            rule_text(rule, i18n.tier_name(rule_set.reference_tier, lang), plain=False)
            or labels["no_rule"]
        ),
        "rule_set": rule_set.source_zh if lang == "zh" else rule_set.source,
        "lab_accepted": page.yes_no(bool(int(decision.get("lab_accepted") or 0)), lang),
        "deadlines": deadlines,
        "policy_note": page.policy_note(decision, lang),
        "versions": [
            (labels["model_version"], stored.model_version),
            (labels["policy_version"], stored.policy_version),
        ],
        "decided_at": local_text(stored.recorded_at, office_zone, "%Y-%m-%d %H:%M")
        + f" ({office_zone.key})",
    }


def measure_blocks(
    decision: dict[str, Any], rulings: RulingSettings, lang: i18n.Lang
) -> list[MeasureBlock]:
    """The officer report's blocks of measures 22, 12, 8 and 14 for a stored decision.

    The report reads the disclosure and the rulings from the pipeline's context columns;
    a decision on record carries them as its answer fields (``disclosure_id``,
    ``disclosed_at``, ``disclosure_minor``; ``ruling_ids``, ``ruling_kinds``,
    ``ruling_valid_to`` joined by ``;`` in kind order), which are turned back into those
    columns here. The declaration's day is not on record, so whether a ruling nears its
    end comes from the decision's own ``ruling_expiring``.

    Args:
        decision: The stored decision (:attr:`StoredDecision.decision`).
        rulings: ``[selection.rulings]`` (the expiry warning window, for the text).
        lang: ``zh`` or ``en``.

    Returns:
        One block per measure that applies, as in the officer report.
    """
    context: dict[str, Any] = {
        "named_disclosure_id": decision.get("disclosure_id"),
        "named_disclosed_at": decision.get("disclosed_at"),
        "named_disclosure_minor": decision.get("disclosure_minor"),
        **_ruling_context(decision),
    }
    return declaration_measures(decision, context, rulings, lang)


def _ruling_context(decision: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's ``ruling_<kind>_id`` / ``_valid_to`` of the kinds a decision names."""
    context: dict[str, Any] = {}
    parts = [str(decision.get(name) or "") for name in ("ruling_ids", "ruling_kinds")]
    ends = str(decision.get("ruling_valid_to") or "").split(";")
    ids, kinds = (part.split(";") if part else [] for part in parts)
    for position, (ruling, kind) in enumerate(zip(ids, kinds, strict=False)):
        if kind in RULING_KINDS:
            context[f"ruling_{kind}_id"] = ruling
            context[f"ruling_{kind}_valid_to"] = ends[position] if position < len(ends) else None
    return context


def time_left(deadline: datetime | None, now: datetime, lang: i18n.Lang) -> tuple[str, bool]:
    """How long until a deadline, for the queue (``"2 h 15 min"``), and whether it passed.

    Args:
        deadline: The deadline (``None``: none).
        now: The time.
        lang: ``zh`` or ``en``.

    Returns:
        The text and whether the deadline has passed.
    """
    labels = texts(lang)
    if deadline is None:
        return labels["no_deadline"], False
    seconds = (deadline - now).total_seconds()
    if seconds <= 0:
        return labels["overdue"], True
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if lang == "zh":
        text = (f"{days} 天 " if days else "") + f"{hours} 小时 {minutes} 分"
    else:
        text = (f"{days} d " if days else "") + f"{hours} h {minutes:02d} min"
    return text, False


__all__ = [
    "Explanation",
    "decided_rule_set",
    "environment",
    "explanation",
    "model_reasons",
    "reasons_language",
    "render",
    "time_left",
]
