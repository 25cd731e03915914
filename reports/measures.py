"""The report lines of Haikou Customs' 2024 measures 22, 12, 8 and 14, in zh and en.

* **Measure 22, voluntary disclosure (主动披露)**: the disclosure that covers the
  declaration, its date, whether it is minor (in principle no penalty) and what the
  decision did with it (document review outside the budget, or an officer rule still
  applies). From the decision's ``disclosure_id`` and the candidate disclosures the
  pipeline attached (``named_*``, ``enterprise_*``).
* **Measure 12, advance rulings (预裁定)**: per ruling kind covered, the ruling, its end
  date, the days left and whether it nears its end (the enterprise may ask for the
  extension). From the ``ruling_<kind>_id`` and ``ruling_<kind>_valid_to`` context
  columns and ``[selection.rulings] expiry_warning_days``.
* **Measure 8, remote video inspection (远程视频查验)**: the lane ``red_remote`` and its
  deadline (``remote_inspection_deadline_hours`` when the decisions carry it, else the
  inspection deadline).
* **Measure 14, conditional release (附条件先行提离 / 附条件放行)**: the
  ``release_condition`` column (``conditional_early_release``, ``conditional_release``).

:func:`declaration_measures` gives the officer report's blocks of one decision;
:func:`batch_measures` the batch report's counts. Both read only what the decisions and
features carry, so a measure whose columns are absent has no block and no count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from portsift.features.contract import RULING_KINDS
from portsift.reports import i18n, page
from portsift.settings import RulingSettings

#: The lane of measure 8.
REMOTE_LANE: Final[str] = "red_remote"
#: The release conditions of measure 14, in report order.
RELEASE_CONDITIONS: Final[tuple[str, ...]] = ("conditional_early_release", "conditional_release")

_TEXT: Final[dict[i18n.Lang, dict[str, str]]] = {
    "en": {
        "heading": "Measures that apply (Haikou Customs 2024)",
        "m22": "Voluntary disclosure (measure 22)",
        "m12": "Advance rulings (measure 12)",
        "m8": "Remote video inspection (measure 8)",
        "m14": "Conditional release (measure 14)",
        "disclosed": "Disclosure {id}, lodged on {date} by the enterprise.",
        "minor": "Minor: in principle no penalty.",
        "not_minor": "Not minor: the penalty may be lightened or mitigated.",
        "review": "Not a detection target: document review, outside the inspection budget.",
        "rule_applies": "An officer rule selects the declaration all the same.",
        "covered": "{kind} risk covered by advance ruling {id}, valid until {date}.",
        "expiring": "Ends in {days} days: the enterprise may apply for its extension before "
        "it ends.",
        "expiring_flagged": "Ends within {low}-{high} days of the declaration: the enterprise "
        "may apply for its extension before it ends.",
        "all_covered": "Classification, valuation and origin are all covered: no document "
        "review for them.",
        "remote": "The physical check is done by remote video inspection.",
        "remote_deadline": "Video inspection within {hours} h.",
        "conditional_early_release": "Conditional early release (附条件先行提离): "
        "prohibited-entry and licence risk are excluded, the goods may leave before the "
        "sampling results, under the conditions set.",
        "conditional_release": "Conditional release (附条件放行) of duty-free food or "
        "cosmetics for the offshore duty-free trade.",
        "classification": "Classification",
        "valuation": "Valuation",
        "origin": "Origin",
        "counts": "Measures of Haikou Customs 2024",
        "count_disclosed": "Covered by a voluntary disclosure (measure 22)",
        "count_disclosed_review": "of which sent to document review outside the budget",
        "count_disclosed_violations": "Disclosed violations (outcome known; not hits)",
        "count_hits": "Violations detected among the selections (hits)",
        "count_ruled": "Covered by advance rulings (measure 12)",
        "count_ruled_kind": "of which {kind}",
        "count_expiring": "Rulings nearing their end (extension possible)",
        "count_remote": "Remote video inspections (measure 8, lane red_remote)",
        "count_red": "Physical inspections on site (lane red)",
        "count_release": "Release condition: {name} (measure 14)",
        "early": "conditional early release",
        "conditional": "conditional release (offshore duty-free)",
        "none": "None of the measures applies to the declarations of the day.",
    },
    "zh": {
        "heading": "适用的改革措施（海口海关2024年）",
        "m22": "主动披露（措施第22条）",
        "m12": "预裁定（措施第12条）",
        "m8": "远程视频查验（措施第8条）",
        "m14": "附条件放行（措施第14条）",
        "disclosed": "企业于{date}主动披露（{id}）。",
        "minor": "情节轻微：原则上不予行政处罚。",
        "not_minor": "情节非轻微：可依法从轻或减轻处罚。",
        "review": "不作为查发目标：转单证审核，不占用查验额度。",
        "rule_applies": "布控规则仍然适用，照常布控。",
        "covered": "{kind}风险已由预裁定{id}覆盖，有效期至{date}。",
        "expiring": "剩余{days}天到期：企业可在到期前申请延期。",
        "expiring_flagged": "距申报日{low}至{high}天内到期：企业可在到期前申请延期。",
        "all_covered": "归类、价格、原产地均已预裁定：不作单证审核。",
        "remote": "以远程视频方式实施查验。",
        "remote_deadline": "{hours}小时内完成视频查验。",
        "conditional_early_release": "附条件先行提离：已排除禁止入境及许可证件风险，"
        "可在取样检测结果出具前按条件先行提离。",
        "conditional_release": "离岛免税食品、化妆品附条件放行。",
        "classification": "商品归类",
        "valuation": "价格",
        "origin": "原产地",
        "counts": "海口海关2024年改革措施",
        "count_disclosed": "主动披露覆盖（措施第22条）",
        "count_disclosed_review": "其中转单证审核、不占查验额度",
        "count_disclosed_violations": "主动披露的违规（已有结果；不计为查获）",
        "count_hits": "布控查获的违规",
        "count_ruled": "预裁定覆盖（措施第12条）",
        "count_ruled_kind": "其中{kind}",
        "count_expiring": "预裁定即将到期（可申请延期）",
        "count_remote": "远程视频查验（措施第8条，red_remote通道）",
        "count_red": "现场实货查验（red通道）",
        "count_release": "放行条件：{name}（措施第14条）",
        "early": "附条件先行提离",
        "conditional": "离岛免税附条件放行",
        "none": "当日报关单均不适用上述措施。",
    },
}


@dataclass(frozen=True)
class MeasureBlock:
    """One measure's block in the officer report.

    Attributes:
        measure: The measure's number (``"22"``, ``"12"``, ``"8"``, ``"14"``).
        title: Its heading in the report's language.
        lines: What it says of the declaration, one sentence a line.
        warning: Whether a line calls for action (a ruling nearing its end).
    """

    measure: str
    title: str
    lines: list[str]
    warning: bool = False


def text(lang: i18n.Lang) -> dict[str, str]:
    """The report texts of the measures in a language."""
    return _TEXT[lang]


def _given(value: Any) -> bool:
    return not page.is_missing(value) and str(value) != ""


def _day(value: Any) -> str:
    return "-" if page.is_missing(value) else str(pd.Timestamp(value).date())


def declaration_measures(
    decision: Mapping[str, Any],
    features: Mapping[str, Any] | pd.Series,
    rulings: RulingSettings,
    lang: i18n.Lang,
) -> list[MeasureBlock]:
    """The blocks of the measures that apply to one decided declaration.

    Args:
        decision: The declaration's decision row (``lane``, ``selection_reason``,
            ``disclosure_id``, ``release_condition``, deadlines...).
        features: Its feature row with the context columns of measures 22 and 12 and
            ``declared_at``.
        rulings: ``[selection.rulings]`` (the expiry warning window).
        lang: ``"zh"`` or ``"en"``.

    Returns:
        One block per measure that applies, in the order 22, 12, 8, 14; none when none
        applies.
    """
    words = _TEXT[lang]
    blocks: list[MeasureBlock] = []
    disclosure = decision.get("disclosure_id")
    if _given(disclosure):
        # The covering disclosure is the one naming the declaration, else the importer's.
        prefix = "named_" if features.get("named_disclosure_id") == disclosure else "enterprise_"
        minor = features.get(f"{prefix}disclosure_minor")
        lines = [
            words["disclosed"].format(
                id=disclosure, date=_day(features.get(f"{prefix}disclosed_at"))
            ),
            words["minor"]
            if not page.is_missing(minor) and float(minor) == 1
            else words["not_minor"],
            words["rule_applies"]
            if decision.get("selection_reason") == "rule"
            else words["review"],
        ]
        blocks.append(MeasureBlock("22", words["m22"], lines))
    declared = features.get("declared_at")
    low, high = rulings.expiry_warning_days
    lines, warning, kinds = [], False, 0
    for kind in RULING_KINDS:
        ruling = features.get(f"ruling_{kind}_id")
        if not _given(ruling):
            continue
        kinds += 1
        end = features.get(f"ruling_{kind}_valid_to")
        lines.append(words["covered"].format(kind=words[kind], id=ruling, date=_day(end)))
        if page.is_missing(end) or page.is_missing(declared):
            continue
        left = (pd.Timestamp(end).normalize() - pd.Timestamp(declared).normalize()).days
        if low <= left <= high:
            lines.append(words["expiring"].format(days=left))
            warning = True
    # Without the declaration's day (a decision read back from the audit store), the
    # decision's own flag says whether a ruling nears its end.
    if kinds and page.is_missing(declared) and decision.get("ruling_expiring") == 1:
        lines.append(words["expiring_flagged"].format(low=low, high=high))
        warning = True
    if kinds == len(RULING_KINDS):
        lines.append(words["all_covered"])
    if lines:
        blocks.append(MeasureBlock("12", words["m12"], lines, warning))
    if decision.get("lane") == REMOTE_LANE:
        lines = [words["remote"]]
        hours = decision.get("remote_inspection_deadline_hours")
        if page.is_missing(hours):
            hours = decision.get("inspection_deadline_hours")
        if not page.is_missing(hours):
            lines.append(words["remote_deadline"].format(hours=f"{float(hours):g}"))
        blocks.append(MeasureBlock("8", words["m8"], lines))
    condition = decision.get("release_condition")
    if _given(condition):
        line = words.get(str(condition), str(condition))
        blocks.append(MeasureBlock("14", words["m14"], [line]))
    return blocks


def batch_measures(
    decisions: pd.DataFrame, declarations: pd.DataFrame, lang: i18n.Lang
) -> list[tuple[str, int, bool]]:
    """The batch report's counts of the measures, for the columns the decisions carry.

    Args:
        decisions: The day's decisions (``selected``, ``lane``, ``selection_reason``
            and, when their measures are in play, ``disclosure_id``, ``ruling_kinds``,
            ``ruling_expiring``, ``release_condition``).
        declarations: The same declarations (aligned), with ``inspected`` and
            ``illicit`` where outcomes are known.
        lang: ``"zh"`` or ``"en"``.

    Returns:
        ``(label, count, indented)`` rows; indented rows break down the row above.
    """
    words = _TEXT[lang]
    rows: list[tuple[str, int, bool]] = []
    reason = decisions["selection_reason"].astype(str).to_numpy()
    selected = decisions["selected"].to_numpy(dtype="int64") == 1
    if "disclosure_id" in decisions:
        disclosed = _texts(decisions["disclosure_id"]) != ""
        rows.append((words["count_disclosed"], int(disclosed.sum()), False))
        rows.append((words["count_disclosed_review"], int((reason == "disclosure").sum()), True))
        if "illicit" in declarations:
            illicit = declarations["illicit"].to_numpy(dtype="float64", na_value=np.nan) == 1
            if "inspected" in declarations:
                illicit &= declarations["inspected"].to_numpy(dtype="float64", na_value=0) == 1
            rows.append(
                (words["count_disclosed_violations"], int((disclosed & illicit).sum()), False)
            )
            hits = selected & ~disclosed & illicit
            rows.append((words["count_hits"], int(hits.sum()), False))
    if "ruling_kinds" in decisions:
        kinds = _texts(decisions["ruling_kinds"])
        rows.append((words["count_ruled"], int((kinds != "").sum()), False))
        for kind in RULING_KINDS:
            has = pd.Series(kinds).str.contains(rf"(?:^|;){kind}(?:;|$)").to_numpy(dtype=bool)
            if has.any():
                rows.append(
                    (words["count_ruled_kind"].format(kind=words[kind]), int(has.sum()), True)
                )
        expiring = decisions["ruling_expiring"].to_numpy(dtype="float64", na_value=0) == 1
        rows.append((words["count_expiring"], int(expiring.sum()), False))
    lanes = decisions["lane"].astype(str).to_numpy()
    if (lanes == REMOTE_LANE).any():
        rows.append((words["count_remote"], int((lanes == REMOTE_LANE).sum()), False))
        rows.append((words["count_red"], int((lanes == "red").sum()), False))
    if "release_condition" in decisions:
        conditions = _texts(decisions["release_condition"])
        names = {
            "conditional_early_release": words["early"],
            "conditional_release": words["conditional"],
        }
        for condition in (
            *RELEASE_CONDITIONS,
            *sorted(set(conditions) - {"", *RELEASE_CONDITIONS}),
        ):
            name = names.get(condition, condition)
            rows.append(
                (
                    words["count_release"].format(name=name),
                    int((conditions == condition).sum()),
                    False,
                )
            )
    return rows


def _texts(column: pd.Series) -> np.ndarray:
    """A text column as strings, ``""`` where missing."""
    return column.astype(object).where(column.notna(), "").astype(str).to_numpy(dtype=object)
