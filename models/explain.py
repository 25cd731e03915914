"""Per-decision explanations: TreeSHAP contributions and reasons in officer language.

Contributions come from :meth:`RiskModel.contributions`: the TreeSHAP tables of
:mod:`portsift.models.tree_shap`, equal to LightGBM's ``pred_contrib=True``, in log-odds:
for each row ``base_value + sum(contributions) = raw_score``. Reasons are written for
the features that raised the risk most, each quoting the declared value and the
reference it was compared with, in Chinese or English.

Why this file stays whole (over 600 lines): most of it is the one :data:`REASONS` table,
about forty small renderers that share the ``_Rows`` view and the text helpers above
them, and a new feature's reason is added to it in one place. Its callers
(:mod:`portsift.models.scoring`, :mod:`portsift.training.scale`, the reports) use it as
one namespace (``explain.reasons``, ``explain.Explanation``); the renderers split from
the table they fill would scatter one idea over files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from portsift.features import identity
from portsift.models.table import select_first

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


# -- the renderers -----------------------------------------------------------------
#
# Each renderer takes the rows to explain as columns of numpy arrays (a _Rows view) and
# returns one text per row as an object array, None where a text field it quotes is
# missing (the reason is then left out). Text is built with numpy's element-wise
# operations on object arrays: pandas' Arrow strings cost a fixed ~0.3 ms per operation,
# which is most of a one-declaration request.

Text = np.ndarray


class _Rows(Mapping[str, np.ndarray]):
    """Some rows of a frame or of columns of arrays, column by column on demand."""

    def __init__(self, source: pd.DataFrame | Mapping[str, Any], rows: np.ndarray) -> None:
        self._source = source
        self._rows = rows

    def __getitem__(self, name: str) -> np.ndarray:
        values = self._source[name]
        array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
        return array[self._rows]

    def __contains__(self, name: object) -> bool:
        return name in self._source

    def __iter__(self) -> Iterator[str]:
        return iter(self._source.keys())

    def __len__(self) -> int:
        return len(self._source.keys())

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self._rows)


def _float(frame: _Rows, column: str) -> np.ndarray:
    return np.asarray(frame[column], dtype="float64")


def _words(frame: _Rows, column: str) -> Text:
    """A text column as an object array of str, None where missing."""
    values = np.asarray(frame[column], dtype=object)
    missing = pd.isna(values)
    return np.where(missing, None, values.astype(str).astype(object))


def _missing(value: object) -> bool:
    """``pd.isna`` of one cell, without its dispatch for the cells that are text or None."""
    return value is None or (value.__class__ is not str and bool(pd.isna(value)))


def _cat(*parts: str | Text) -> Text:
    """Concatenate texts element-wise; None wherever any part is missing.

    One ``str.join`` per row: element-wise operations on object arrays cost a few
    microseconds each whatever the number of rows (``pd.isna`` alone twice per part), and
    a request explains one row.
    """
    arrays = [p for p in parts if not isinstance(p, str)]
    n = len(arrays[0])
    columns = [repeat(p, n) if isinstance(p, str) else p.tolist() for p in parts]
    joined: Text = np.empty(n, dtype=object)
    rows = zip(*columns, strict=True)
    joined[:] = [None if any(map(_missing, row)) else "".join(row) for row in rows]
    return joined


def _fmt(values: np.ndarray, spec: str) -> Text:
    return np.array([format(v, spec) for v in values.tolist()], dtype=object)


def _num(values: np.ndarray, digits: int = 2) -> Text:
    return _fmt(np.round(np.asarray(values, dtype="float64"), digits), f",.{digits}f")


def _pct_off(ratio: np.ndarray) -> Text:
    return _fmt(np.round(np.abs(np.asarray(ratio, dtype="float64") - 1.0) * 100, 0), ".0f")


def _below_above(ratio: np.ndarray, lang: Language) -> Text:
    below = np.asarray(ratio, dtype="float64") < 1.0
    if lang == "zh":
        return np.where(below, "低于", "高于").astype(object)
    return np.where(below, "below", "above").astype(object)


def _slice(text: Text, start: int | None, stop: int | None) -> Text:
    return np.array([None if t is None else t[start:stop] for t in text], dtype=object)


def _hs(frame: _Rows, column: str = "hs6") -> Text:
    code = _words(frame, column)
    return _cat(_slice(code, None, 4), ".", _slice(code, 4, None))


def _price_reason(
    reference: str, declared: str, unit: str, what_en: str, what_zh: str, scope: str
) -> Callable:
    def render(frame: _Rows, feature: str, lang: Language) -> Text:
        ratio = _float(frame, feature)
        value = _num(frame[declared])
        ref = _num(frame[reference])
        hs = _hs(frame)
        origin = _words(frame, "origin_country") if "origin_country" in frame else ""
        # Without a reference (a code, origin or importer not seen before) the missing
        # comparison is itself the signal: say so instead of quoting a ratio.
        missing = np.isnan(ratio)
        if lang == "zh":
            where = {
                "hs6": lambda: _cat("该税号", hs),
                "origin": lambda: _cat("该税号", hs, "同原产地(", origin, ")"),
                "importer": lambda: _cat("该企业此前申报的税号", hs),
            }[scope]()
            unit_text = unit_zh(unit)
            compared = _cat(
                what_zh, value, unit_text, "，", _below_above(ratio, lang), where,
                "参考值（", ref, unit_text, "）", _pct_off(ratio), "%",
            )  # fmt: skip
            unseen = _cat(what_zh, value, unit_text, "，", where, "无参考价可比")
            return np.where(missing, unseen, compared)
        where = {
            "hs6": lambda: _cat("the reference for HS ", hs),
            "origin": lambda: _cat("the reference for HS ", hs, " from ", origin),
            "importer": lambda: _cat("this importer's earlier prices for HS ", hs),
        }[scope]()
        compared = _cat(
            what_en, " ", value, " ", unit, " is ", _pct_off(ratio), "% ",
            _below_above(ratio, lang), " ", where, " (", ref, " ", unit, ")",
        )  # fmt: skip
        where_short = np.array(
            [None if w is None else w.removeprefix("the ") for w in where], dtype=object
        )
        unseen = _cat(what_en, " ", value, " ", unit, ": no ", where_short, " to compare with")
        return np.where(missing, unseen, compared)

    return render


def unit_zh(unit: str) -> str:
    """Return the Chinese for a unit used in reasons."""
    return {"USD/unit": "美元/单位", "USD/kg": "美元/千克", "kg/unit": "千克/单位"}.get(unit, unit)


def _percent(frame: _Rows, feature: str) -> Text:
    return _fmt(np.round(_float(frame, feature) * 100, 1), ".1f")


def _rate_reason(what_en: str, what_zh: str, count: str | None) -> Callable:
    def render(frame: _Rows, feature: str, lang: Language) -> Text:
        rate = _percent(frame, feature)
        n = None
        if count is not None and count in frame:
            n = _fmt(np.round(np.expm1(_float(frame, count)), 0), ".0f")
        if lang == "zh":
            text = _cat(what_zh, "历史违规率", rate, "%")
            return _cat(text, "（", n, "次查验）") if n is not None else text
        text = _cat(what_en, " historic violation rate ", rate, "%")
        return _cat(text, " (", n, " inspections)") if n is not None else text

    return render


def _hs_rate_reason(level: str) -> Callable:
    def render(frame: _Rows, feature: str, lang: Language) -> Text:
        rate = _percent(frame, feature)
        code = _slice(_words(frame, "hs6"), None, int(level)) if level.isdigit() else _hs(frame)
        if lang == "zh":
            return _cat("税号", code, "历史违规率", rate, "%")
        return _cat("HS ", code, " historic violation rate ", rate, "%")

    return render


_TIER_NAMES_ZH: dict[str, str] = {
    "advanced": "高级认证企业",
    "certified": "认证企业",
    "regular": "常规管理企业",
    "dishonest": "失信企业",
    "seriously_dishonest": "严重失信企业",
}


def _tier_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    tier = _words(frame, "credit_tier")
    if lang == "zh":
        names = np.array([_TIER_NAMES_ZH.get(t) if t else None for t in tier], dtype=object)
        return _cat("进口企业信用等级：", names)
    return _cat("importer credit tier: ", _replace(tier, "_", " "))


def _replace(text: Text, old: str, new: str) -> Text:
    return np.array([None if t is None else t.replace(old, new) for t in text], dtype=object)


def _new_importer_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    days = _fmt(_float(frame, "importer_days_active"), ".0f")
    if lang == "zh":
        return _cat("新进口企业，首次申报至今仅", days, "天")
    return _cat("new importer, first declaration only ", days, " days ago")


def _novel_hs_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    hs = _hs(frame)
    if lang == "zh":
        return _cat("该企业首次申报税号", hs)
    return _cat("first declaration of HS ", hs, " by this importer")


def _lab_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    present = _float(frame, "lab_report_present") == 1
    accredited = _float(frame, "lab_accredited") == 1
    passed = _float(frame, "lab_result_pass") == 1
    listed = _float(frame, "acceptance_listed") == 1
    if lang == "zh":
        text = select_first(
            [~present & listed, present & ~accredited, present & ~passed],
            [
                "采信目录商品未附第三方检验报告",
                "检验报告出具机构不在采信名录",
                "第三方检验结果不合格",
            ],
            "第三方检验报告",
        )
    else:
        text = select_first(
            [~present & listed, present & ~accredited, present & ~passed],
            [
                "goods in the acceptance catalogue without a lab report",
                "lab report from a lab not in the acceptance directory",
                "lab report result: fail",
            ],
            "third-party lab report",
        )
    return text.astype(object)


def _lab_record_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    rate = _percent(frame, feature)
    lab = _words(frame, "lab_id")
    if lang == "zh":
        return _cat("检验机构", lab, "出具合格报告后海关查获违规的比例", rate, "%")
    return _cat("lab ", lab, ": violations found after its pass reports ", rate, "%")


def _tax_gap_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    declared = _num(frame["tax_rate"], 1)
    reference = _num(frame["ref_tax_rate"], 1)
    hs4 = _slice(_words(frame, "hs6"), None, 4)
    if lang == "zh":
        return _cat("申报税率", declared, "%，该品目", hs4, "通常税率", reference, "%")
    return _cat(
        "declared tax rate ", declared, "% against ", reference, "% usual for heading ", hs4
    )


FIELD_NAMES_ZH: dict[str, str] = {
    "customs_office": "申报口岸",
    "origin_country": "原产国",
    "trade_mode": "贸易方式",
    "transport_mode": "运输方式",
    "hs2": "商品章",
    "extra_seller_id": "卖方",
    "extra_seller": "卖方",
    "extra_courier_id": "承运企业",
    "extra_courier": "承运企业",
}
FIELD_NAMES_EN: dict[str, str] = {
    "customs_office": "customs office",
    "origin_country": "origin",
    "trade_mode": "trade mode",
    "transport_mode": "transport mode",
    "hs2": "HS chapter",
    "extra_seller_id": "seller",
    "extra_seller": "seller",
    "extra_courier_id": "courier",
    "extra_courier": "courier",
}


def _category_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    field = feature.removesuffix("_code")
    raw = _words(frame, field)
    if lang == "zh":
        return _cat(FIELD_NAMES_ZH.get(field, field), raw, "的风险较高")
    return _cat(FIELD_NAMES_EN.get(field, field), " ", raw, " carries higher risk")


#: The parties a reason can be about, by their id column: English and Chinese names.
_PARTIES: dict[str, tuple[str, str]] = {
    "importer_id": ("importer", "进口企业"),
    "declarant_id": ("broker", "报关企业"),
}


def _parties(feature: str) -> tuple[str, ...]:
    """The id columns of the parties a feature is about (``declarant_origin_*``: the broker)."""
    if feature.startswith("importer_declarant_"):
        return ("importer_id", "declarant_id")
    if feature.startswith("declarant_"):
        return ("declarant_id",)
    if feature.startswith("importer_"):
        return ("importer_id",)
    return ()


def _not_given(frame: _Rows, column: str) -> np.ndarray:
    """Rows whose declaration names no party in ``column`` (empty or missing).

    The explained rows carry the ids as context columns; without the column nothing is
    known, and no row is marked.
    """
    if column not in frame:
        return np.zeros(frame.n, dtype=bool)
    ids = np.asarray(frame[column], dtype=object)
    return np.asarray(pd.isna(ids) | (ids == ""), dtype=bool)


def _given(render: Callable, columns: tuple[str, ...]) -> Callable:
    """A party's reason, or "broker not given" where the declaration names no such party.

    The party's statistics are missing then, and a reason quoting them would read "has
    lodged only nan declarations" (``declarant_id`` is optional; ``importer_id`` is
    required by the contract, and is guarded the same way for callers who skip the loader).
    """

    def guarded(frame: _Rows, feature: str, lang: Language) -> Text:
        text = render(frame, feature, lang)
        for column in columns:
            absent = _not_given(frame, column)
            if absent.any():
                en, zh = _PARTIES[column]
                note = f"未填报{zh}" if lang == "zh" else f"{en} not given"
                text = np.where(absent, note, text).astype(object)
        return text

    return guarded


def _count_reason(what_en: str, what_zh: str) -> Callable:
    def render(frame: _Rows, feature: str, lang: Language) -> Text:
        count = _fmt(np.round(np.expm1(_float(frame, feature)), 0), ".0f")
        if lang == "zh":
            return _cat(what_zh, "此前仅申报", count, "票")
        return _cat(what_en, " has lodged only ", count, " declarations before")

    return render


def _tier_history_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    days = _float(frame, "importer_days_in_tier")
    registered = ~np.isnan(days)
    shown = _fmt(np.where(registered, days, 0.0), ".0f")
    worsened = _float(frame, "importer_tier_worsened") == 1
    if lang == "zh":
        text = np.where(
            registered,
            np.where(
                worsened,
                _cat("进口企业信用等级近期下调（", shown, "天前）"),
                _cat("现信用等级已保持", shown, "天"),
            ),
            "进口企业不在信用登记名录中",
        )
    else:
        text = np.where(
            registered,
            np.where(
                worsened,
                _cat("importer's credit tier was lowered ", shown, " days ago"),
                _cat("importer has held its tier for ", shown, " days"),
            ),
            "importer not in the credit register",
        )
    return text.astype(object)


def _broker_tier_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    from portsift.features.contract import CREDIT_TIERS

    rank = _float(frame, feature)
    rank = np.clip(np.where(np.isnan(rank), 2, rank).astype(int), 0, len(CREDIT_TIERS) - 1)
    tier = np.asarray(CREDIT_TIERS, dtype=object)[rank]
    if lang == "zh":
        return _cat("报关企业信用等级：", tier)
    return _cat("broker credit tier: ", _replace(tier, "_", " "))


def _flag_reason(text_en: str, text_zh: str) -> Callable:
    def render(frame: _Rows, feature: str, lang: Language) -> Text:
        return np.full(frame.n, text_zh if lang == "zh" else text_en, dtype=object)

    return render


def _assessment_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    gap = _num(frame[feature], 1)
    if lang == "zh":
        return _cat("申报税款与申报税率相差", gap, "个百分点")
    return _cat("taxes declared differ from the declared rate by ", gap, " points")


def _identity_key(feature: str) -> str:
    """Return the identity key of an identity feature, ``""`` for another feature.

    ``importer_declarant_violations`` -> ``importer_declarant`` (see
    :data:`portsift.features.identity.SUFFIXES`).
    """
    for suffix in identity.SUFFIXES:
        if feature.endswith(suffix):
            return feature.removesuffix(suffix)
    return ""


def _field_words(column: str, lang: Language) -> str:
    """An officer's name of a schema-file column (``extra_courier_id`` -> courier)."""
    names = FIELD_NAMES_ZH if lang == "zh" else FIELD_NAMES_EN
    return names.get(column, column.removeprefix("extra_").replace("_", " "))


def _identity_subject(frame: _Rows, key: str, lang: Language) -> Text:
    """Who an identity key's record is about, per row (``importer IMP01 with broker B2``)."""
    zh = lang == "zh"
    if key == "importer_declarant":
        importer, broker = _words(frame, "importer_id"), _words(frame, "declarant_id")
        if zh:
            return _cat("进口企业", importer, "经报关企业", broker, "申报")
        return _cat("importer ", importer, " with broker ", broker)
    if key == "importer_hs6":
        importer = _words(frame, "importer_id")
        if zh:
            return _cat("进口企业", importer, "申报税号", _hs(frame))
        return _cat("importer ", importer, " with HS ", _hs(frame))
    if key == "declarant_origin":
        broker, origin = _words(frame, "declarant_id"), _words(frame, "origin_country")
        if zh:
            return _cat("报关企业", broker, "申报原产于", origin, "的货物")
        return _cat("broker ", broker, " with goods from ", origin)
    if key == "seller_hs6":
        column = next((c for c in identity.ROLE_COLUMNS["seller"] if c in frame), "")
        seller = _words(frame, column)
        if zh:
            return _cat("卖方", seller, "的税号", _hs(frame), "货物")
        return _cat("seller ", seller, " with HS ", _hs(frame))
    # A schema-file column's own record.
    return _cat(_field_words(key, lang), "" if zh else " ", _words(frame, key))


def _identity_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    """``importer IMP01 with broker BRK02: 5 of 7 past inspections found a violation``.

    Every feature of an identity key (:mod:`portsift.features.identity`) is explained by its
    record: the inspections and violations counted before the declaration.
    """
    key = _identity_key(feature)
    who = _identity_subject(frame, key, lang)
    inspections = np.round(np.expm1(_float(frame, f"{key}_inspections")), 0)
    violations = np.round(np.expm1(_float(frame, f"{key}_violations")), 0)
    n, v = _fmt(inspections, ".0f"), _fmt(violations, ".0f")
    if lang == "zh":
        found = _cat(who, "：此前", n, "次查验中", v, "次查获违规")
        never = _cat(who, "：此前未经查验")
    else:
        noun = np.where(inspections == 1, " past inspection", " past inspections").astype(object)
        found = _cat(who, ": ", v, " of ", n, noun, " found a violation")
        never = _cat(who, ": no past inspection")
    return np.where(inspections > 0, found, never)


def _renderer(feature: str) -> Callable[[_Rows, str, Language], Text]:
    """The reason renderer of a feature (identity features of schema-file columns too).

    A feature about the importer or the broker says so where the declaration names none.
    """
    render = REASONS.get(feature)
    if render is None:
        identity_of_extra = feature.startswith("extra_") and _identity_key(feature)
        render = _identity_reason if identity_of_extra else _generic_reason
    parties = _parties(feature)
    return _given(render, parties) if parties else render


def _generic_reason(frame: _Rows, feature: str, lang: Language) -> Text:
    # A category's reason names its raw value; without the raw column (a decision on
    # record carries only the features) the feature's own value is said instead.
    if feature.endswith("_code") and feature.removesuffix("_code") in frame:
        return _category_reason(frame, feature, lang)
    values = _float(frame, feature)
    if np.isnan(values).all():
        text = "未申报或无法计算" if lang == "zh" else " not declared or not computable"
        return np.full(frame.n, feature + text, dtype=object)
    shown = _fmt(np.round(values, 3), "g")
    if lang == "zh":
        return _cat(feature, " = ", shown, "（提高风险）")
    return _cat(feature, " = ", shown, " (raises the risk)")


REASONS: dict[str, Callable[[_Rows, str, Language], Text]] = {
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
    **{
        f"{pair.name}{suffix}": _identity_reason
        for pair in identity.PAIRS
        for suffix in identity.SUFFIXES
    },
}


def reasons(
    frame: pd.DataFrame | Mapping[str, np.ndarray],
    explanation: Explanation,
    *,
    count: int = 3,
    lang: Language = "en",
) -> pd.Series:
    """Return the ``;``-separated reasons of each row, most risk-raising first.

    Args:
        frame: The features of the rows (features and ``ref_*`` context), as a frame
            or as columns of numpy arrays.
        explanation: Their contributions.
        count: Reasons per row at most.
        lang: ``"en"`` or ``"zh"``.

    Returns:
        One string per row (empty where no feature raised the risk).
    """
    return pd.Series(reason_texts(frame, explanation, count=count, lang=lang), dtype="str")


def reason_texts(
    frame: pd.DataFrame | Mapping[str, np.ndarray],
    explanation: Explanation,
    *,
    count: int = 3,
    lang: Language = "en",
    covered: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """:func:`reasons` as an object array of str, without building a pandas object.

    ``covered`` maps a feature to a per-row mark appended to its reason where not
    ``""`` (measure 12: which advance ruling covers the feature's risk).
    """
    positions, _ = top_features(explanation, count)
    n, slots_per_row = positions.shape
    texts = [[""] * slots_per_row for _ in range(n)]
    if isinstance(frame, pd.DataFrame):
        frame = frame.reset_index(drop=True)
    for position in np.unique(positions[positions >= 0]).tolist():
        feature = explanation.features[position]
        rows, slots = np.nonzero(positions == position)
        render = _renderer(feature)
        subset = _Rows(frame, rows)
        try:
            rendered = render(subset, feature, lang)
        except KeyError:
            rendered = _given(_generic_reason, _parties(feature))(subset, feature, lang)
        marks = None
        if covered is not None and feature in covered:
            marks = np.asarray(covered[feature], dtype=object)[rows].tolist()
        for i, (row, slot, text) in enumerate(
            zip(rows.tolist(), slots.tolist(), list(rendered), strict=True)
        ):
            said = "" if _missing(text) else text
            if said and marks is not None and marks[i] != "":
                said += marks[i]
            texts[row][slot] = said
    # The contract separates reasons by ";" in both languages; empty slots are skipped,
    # and a text two features give ("broker not given" for each of the broker's
    # statistics) is said once.
    joined: np.ndarray = np.empty(n, dtype=object)
    joined[:] = ["; ".join(dict.fromkeys(t for t in row if t != "")) for row in texts]
    return joined
