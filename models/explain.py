"""Per-decision explanations: TreeSHAP contributions and reasons in officer language.

Contributions come from LightGBM's own TreeSHAP (``pred_contrib=True``) in log-odds:
for each row ``base_value + sum(contributions) = raw_score``. Reasons are written for
the features that raised the risk most, each quoting the declared value and the
reference it was compared with, in Chinese or English.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

Language = str  # "en" | "zh"


@dataclass(frozen=True)
class Explanation:
    """Contributions of a batch of rows.

    Attributes:
        features: Feature names, in column order of ``values``.
        values: SHAP value per row and feature (log-odds).
        base_value: The model's expected raw score per row.
    """

    features: list[str]
    values: np.ndarray
    base_value: np.ndarray

    @property
    def raw_score(self) -> np.ndarray:
        """The raw score the contributions add up to."""
        return self.base_value + self.values.sum(axis=1)


def explanation_from_contrib(contrib: np.ndarray, features: list[str]) -> Explanation:
    """Split LightGBM's ``pred_contrib`` output into contributions and base value."""
    return Explanation(features=list(features), values=contrib[:, :-1], base_value=contrib[:, -1])


def top_features(explanation: Explanation, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Return, per row, the positions and SHAP values of the most risk-raising features.

    Args:
        explanation: Contributions of the rows.
        count: How many features per row.

    Returns:
        ``(positions, values)`` of shape (rows, count), largest contribution first;
        positions are -1 where fewer features raised the risk.
    """
    values = explanation.values
    count = min(count, values.shape[1])
    order = np.argsort(-values, axis=1, kind="stable")[:, :count]
    chosen = np.take_along_axis(values, order, axis=1)
    positions = np.where(chosen > 0, order, -1)
    return positions, np.where(chosen > 0, chosen, 0.0)


def _num(series: pd.Series, digits: int = 2) -> pd.Series:
    return series.astype("float64").round(digits).map(lambda v: f"{v:,.{digits}f}")


def _pct_off(ratio: pd.Series) -> pd.Series:
    return ((ratio.astype("float64") - 1.0).abs() * 100).round(0).map(lambda v: f"{v:.0f}")


def _below_above(ratio: pd.Series, lang: Language) -> pd.Series:
    below = ratio.astype("float64") < 1.0
    if lang == "zh":
        return pd.Series(np.where(below, "低于", "高于"), index=ratio.index)
    return pd.Series(np.where(below, "below", "above"), index=ratio.index)


def _hs(frame: pd.DataFrame, column: str = "hs6") -> pd.Series:
    code = frame[column].astype("str")
    return code.str[:4] + "." + code.str[4:]


def _price_reason(
    reference: str, declared: str, unit: str, what_en: str, what_zh: str, scope: str
) -> Callable:
    def render(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
        ratio = frame[feature]
        value = _num(frame[declared])
        ref = _num(frame[reference])
        hs = _hs(frame)
        origin = frame["origin_country"].astype("str") if "origin_country" in frame else ""
        # Without a reference (a code, origin or importer not seen before) the missing
        # comparison is itself the signal: say so instead of quoting a ratio.
        missing = ratio.isna().to_numpy()
        if lang == "zh":
            where = {
                "hs6": "该税号" + hs,
                "origin": "该税号" + hs + "同原产地(" + origin + ")",
                "importer": "该企业此前申报的税号" + hs,
            }[scope]
            compared = (
                what_zh
                + value
                + unit_zh(unit)
                + "，"
                + _below_above(ratio, lang)
                + where
                + "参考值（"
                + ref
                + unit_zh(unit)
                + "）"
                + _pct_off(ratio)
                + "%"
            )
            unseen = what_zh + value + unit_zh(unit) + "，" + where + "无参考价可比"
            return pd.Series(np.where(missing, unseen, compared), index=frame.index)
        where = {
            "hs6": "the reference for HS " + hs,
            "origin": "the reference for HS " + hs + " from " + origin,
            "importer": "this importer's earlier prices for HS " + hs,
        }[scope]
        compared = (
            what_en
            + " "
            + value
            + " "
            + unit
            + " is "
            + _pct_off(ratio)
            + "% "
            + _below_above(ratio, lang)
            + " "
            + where
            + " ("
            + ref
            + " "
            + unit
            + ")"
        )
        unseen = what_en + " " + value + " " + unit + ": no " + where.str.removeprefix("the ")
        unseen = unseen + " to compare with"
        return pd.Series(np.where(missing, unseen, compared), index=frame.index)

    return render


def unit_zh(unit: str) -> str:
    """Return the Chinese for a unit used in reasons."""
    return {"USD/unit": "美元/单位", "USD/kg": "美元/千克", "kg/unit": "千克/单位"}.get(unit, unit)


def _rate_reason(what_en: str, what_zh: str, count: str | None) -> Callable:
    def render(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
        rate = (frame[feature].astype("float64") * 100).round(1).map(lambda v: f"{v:.1f}")
        if count is not None and count in frame:
            n = np.expm1(frame[count].astype("float64")).round(0).map(lambda v: f"{v:.0f}")
        else:
            n = None
        if lang == "zh":
            text = what_zh + "历史违规率" + rate + "%"
            return text + "（" + n + "次查验）" if n is not None else text
        text = what_en + " historic violation rate " + rate + "%"
        return text + " (" + n + " inspections)" if n is not None else text

    return render


def _hs_rate_reason(level: str) -> Callable:
    def render(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
        rate = (frame[feature].astype("float64") * 100).round(1).map(lambda v: f"{v:.1f}")
        code = frame["hs6"].astype("str").str[: int(level)] if level.isdigit() else _hs(frame)
        if lang == "zh":
            return "税号" + code + "历史违规率" + rate + "%"
        return "HS " + code + " historic violation rate " + rate + "%"

    return render


def _tier_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    tier = frame["credit_tier"].astype("str")
    if lang == "zh":
        names = {
            "advanced": "高级认证企业",
            "certified": "认证企业",
            "regular": "常规管理企业",
            "dishonest": "失信企业",
            "seriously_dishonest": "严重失信企业",
        }
        return "进口企业信用等级：" + tier.map(names)
    return "importer credit tier: " + tier.str.replace("_", " ")


def _new_importer_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    days = frame["importer_days_active"].astype("float64").map(lambda v: f"{v:.0f}")
    if lang == "zh":
        return "新进口企业，首次申报至今仅" + days + "天"
    return "new importer, first declaration only " + days + " days ago"


def _novel_hs_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    hs = _hs(frame)
    if lang == "zh":
        return "该企业首次申报税号" + hs
    return "first declaration of HS " + hs + " by this importer"


def _lab_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    present = frame["lab_report_present"].astype("float64") == 1
    accredited = frame["lab_accredited"].astype("float64") == 1
    passed = frame["lab_result_pass"].astype("float64") == 1
    listed = frame["acceptance_listed"].astype("float64") == 1
    if lang == "zh":
        text = np.select(
            [~present & listed, present & ~accredited, present & ~passed],
            [
                "采信目录商品未附第三方检验报告",
                "检验报告出具机构不在采信名录",
                "第三方检验结果不合格",
            ],
            "第三方检验报告",
        )
    else:
        text = np.select(
            [~present & listed, present & ~accredited, present & ~passed],
            [
                "goods in the acceptance catalogue without a lab report",
                "lab report from a lab not in the acceptance directory",
                "lab report result: fail",
            ],
            "third-party lab report",
        )
    return pd.Series(text, index=frame.index)


def _lab_record_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    rate = (frame[feature].astype("float64") * 100).round(1).map(lambda v: f"{v:.1f}")
    lab = frame["lab_id"].astype("str")
    if lang == "zh":
        return "检验机构" + lab + "出具合格报告后海关查获违规的比例" + rate + "%"
    return "lab " + lab + ": violations found after its pass reports " + rate + "%"


def _tax_gap_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    declared = _num(frame["tax_rate"], 1)
    reference = _num(frame["ref_tax_rate"], 1)
    hs4 = frame["hs6"].astype("str").str[:4]
    if lang == "zh":
        return "申报税率" + declared + "%，该品目" + hs4 + "通常税率" + reference + "%"
    return "declared tax rate " + declared + "% against " + reference + "% usual for heading " + hs4


FIELD_NAMES_ZH: dict[str, str] = {
    "customs_office": "申报口岸",
    "origin_country": "原产国",
    "trade_mode": "贸易方式",
    "transport_mode": "运输方式",
    "hs2": "商品章",
}
FIELD_NAMES_EN: dict[str, str] = {
    "customs_office": "customs office",
    "origin_country": "origin",
    "trade_mode": "trade mode",
    "transport_mode": "transport mode",
    "hs2": "HS chapter",
}


def _category_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    field = feature.removesuffix("_code")
    raw = frame[field].astype("str") if field in frame else pd.Series("?", index=frame.index)
    if lang == "zh":
        return FIELD_NAMES_ZH.get(field, field) + raw + "的风险较高"
    return FIELD_NAMES_EN.get(field, field) + " " + raw + " carries higher risk"


def _count_reason(what_en: str, what_zh: str) -> Callable:
    def render(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
        count = np.expm1(frame[feature].astype("float64")).round(0).map(lambda v: f"{v:.0f}")
        if lang == "zh":
            return what_zh + "此前仅申报" + count + "票"
        return what_en + " has lodged only " + count + " declarations before"

    return render


def _tier_history_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    days = frame["importer_days_in_tier"].astype("float64")
    registered = days.notna().to_numpy()
    shown = days.fillna(0).map(lambda v: f"{v:.0f}")
    worsened = frame["importer_tier_worsened"].astype("float64").fillna(0).to_numpy() == 1
    if lang == "zh":
        text = np.where(
            registered,
            np.where(
                worsened,
                "进口企业信用等级近期下调（" + shown + "天前）",
                "现信用等级已保持" + shown + "天",
            ),
            "进口企业不在信用登记名录中",
        )
    else:
        text = np.where(
            registered,
            np.where(
                worsened,
                "importer's credit tier was lowered " + shown + " days ago",
                "importer has held its tier for " + shown + " days",
            ),
            "importer not in the credit register",
        )
    return pd.Series(text, index=frame.index)


def _broker_tier_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    from features.contract import CREDIT_TIERS

    rank = frame[feature].astype("float64").fillna(2).astype(int).clip(0, len(CREDIT_TIERS) - 1)
    tier = pd.Series(np.asarray(CREDIT_TIERS)[rank.to_numpy()], index=frame.index)
    if lang == "zh":
        return "报关企业信用等级：" + tier
    return "broker credit tier: " + tier.str.replace("_", " ")


def _flag_reason(text_en: str, text_zh: str) -> Callable:
    def render(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
        return pd.Series(text_zh if lang == "zh" else text_en, index=frame.index)

    return render


def _assessment_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    gap = _num(frame[feature], 1)
    if lang == "zh":
        return "申报税款与申报税率相差" + gap + "个百分点"
    return "taxes declared differ from the declared rate by " + gap + " points"


def _generic_reason(frame: pd.DataFrame, feature: str, lang: Language) -> pd.Series:
    if feature.endswith("_code"):
        return _category_reason(frame, feature, lang)
    if frame[feature].isna().all():
        if lang == "zh":
            return pd.Series(feature + "未申报或无法计算", index=frame.index)
        return pd.Series(feature + " not declared or not computable", index=frame.index)
    value = frame[feature].astype("float64").round(3).map(lambda v: f"{v:g}")
    if lang == "zh":
        return feature + " = " + value + "（提高风险）"
    return feature + " = " + value + " (raises the risk)"


REASONS: dict[str, Callable[[pd.DataFrame, str, Language], pd.Series]] = {
    "unit_value_ratio": _price_reason(
        "ref_unit_value", "unit_value", "USD/unit", "declared unit value", "申报单价", "hs6"
    ),
    "unit_value_ratio_origin": _price_reason(
        "ref_unit_value_origin",
        "unit_value",
        "USD/unit",
        "declared unit value",
        "申报单价",
        "origin",
    ),
    "unit_value_ratio_importer": _price_reason(
        "ref_unit_value_importer",
        "unit_value",
        "USD/unit",
        "declared unit value",
        "申报单价",
        "importer",
    ),
    "value_per_kg_ratio": _price_reason(
        "ref_value_per_kg",
        "value_per_kg",
        "USD/kg",
        "declared value per kg",
        "申报每千克价值",
        "hs6",
    ),
    "weight_per_unit_ratio": _price_reason(
        "ref_weight_per_unit",
        "weight_per_unit",
        "kg/unit",
        "gross weight per unit",
        "单位毛重",
        "hs6",
    ),
    "importer_violation_rate": _rate_reason("importer", "进口企业", "importer_inspections"),
    "declarant_violation_rate": _rate_reason("broker", "报关企业", "declarant_inspections"),
    "hs2_violation_rate": _hs_rate_reason("2"),
    "hs4_violation_rate": _hs_rate_reason("4"),
    "hs6_violation_rate": _hs_rate_reason("hs6"),
    "hs6_origin_violation_rate": _hs_rate_reason("hs6"),
    "importer_tier_rank": _tier_reason,
    "importer_is_new": _new_importer_reason,
    "importer_days_active": _new_importer_reason,
    "importer_hs6_is_new": _novel_hs_reason,
    "importer_hs6_declarations": _novel_hs_reason,
    "lab_report_present": _lab_reason,
    "lab_accredited": _lab_reason,
    "lab_result_pass": _lab_reason,
    "acceptance_listed": _lab_reason,
    "lab_disagreement_rate": _lab_record_reason,
    "tax_rate_gap": _tax_gap_reason,
    "importer_days_in_tier": _tier_history_reason,
    "importer_tier_changes": _tier_history_reason,
    "importer_tier_worsened": _tier_history_reason,
    "declarant_tier_rank": _broker_tier_reason,
    "tax_assessment_gap": _assessment_reason,
    "perishable": _flag_reason("perishable goods (green channel)", "鲜活易腐商品（绿色通道）"),
    "origin_departure_mismatch": _flag_reason(
        "shipped from a country other than the origin", "启运国与原产国不一致"
    ),
    "importer_declarations": _count_reason("the importer", "该进口企业"),
    "declarant_declarations": _count_reason("the broker", "该报关企业"),
}


def reasons(
    frame: pd.DataFrame,
    explanation: Explanation,
    *,
    count: int = 3,
    lang: Language = "en",
) -> pd.Series:
    """Return the ``;``-separated reasons of each row, most risk-raising first.

    Args:
        frame: The feature frame of the rows (features and ``ref_*`` context).
        explanation: Their contributions.
        count: Reasons per row at most.
        lang: ``"en"`` or ``"zh"``.

    Returns:
        One string per row (empty where no feature raised the risk).
    """
    positions, _ = top_features(explanation, count)
    texts = np.full(positions.shape, "", dtype=object)
    frame = frame.reset_index(drop=True)
    for position in np.unique(positions[positions >= 0]):
        feature = explanation.features[position]
        rows, slots = np.nonzero(positions == position)
        render = REASONS.get(feature, _generic_reason)
        subset = frame.iloc[rows]
        try:
            rendered = render(subset, feature, lang)
        except KeyError:
            rendered = _generic_reason(subset, feature, lang)
        texts[rows, slots] = rendered.fillna("").to_numpy(dtype=object)
    # The contract separates reasons by ";" in both languages.
    joined = texts[:, 0] if texts.shape[1] else np.full(len(frame), "", dtype=object)
    for slot in range(1, texts.shape[1]):
        column = texts[:, slot]
        extended = np.where(joined != "", joined + "; " + column, column)
        joined = np.where(column != "", extended, joined)
    return pd.Series(joined, dtype="str", name="reasons")
