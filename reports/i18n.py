"""Words of the reports in Chinese and English: labels, lanes, tiers, fields, factors.

Everything a report prints that is not data comes from here, so that both languages
carry the same content. Unknown codes (a lane, tier or column the policy adds later)
fall back to the code itself rather than failing.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

#: The CSS font stack of every report. The first family is the one ``make install``
#: installs (Debian ``fonts-noto-cjk``); the others are common CJK fonts elsewhere, so
#: that Chinese never falls back to a font without the glyphs (tofu boxes).
FONT_STACK = (
    '"Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei", '
    '"Microsoft YaHei", "PingFang SC", "DejaVu Sans", sans-serif'
)
#: Titles: the serif (Song/Ming style) face of the same family, as official documents use.
TITLE_FONT_STACK = (
    '"Noto Serif CJK SC", "Source Han Serif SC", "Noto Serif SC", "SimSun", ' + FONT_STACK
)

LABELS: dict[Lang, dict[str, str]] = {
    "en": {
        "agency": "portsift · risk management and inspection selection",
        "marking": "For official use",
        "title": "Inspection decision report",
        "batch_title": "Daily selection report",
        "generated": "Generated",
        "summary": "Declaration",
        "decision": "Decision",
        "risk": "Risk score",
        "risk_note": "calibrated probability that the declaration is illicit",
        "percentile": "Percentile in batch",
        "percentile_text": "higher than {share} of the {count} declarations in the batch"
        " (rank {rank})",
        "expected_revenue": "Expected revenue if inspected",
        "estimate": "an estimate: the model had no revenue label",
        "lane": "Lane",
        "status": "Status",
        "reason": "Selection reason",
        "deadlines": "Deadlines",
        "no_deadlines": "none given by the policy of this run",
        "other_columns": "Further decision fields",
        "why": "Why: the factors that moved the risk most",
        "reasons_words": "Reasons",
        "no_reasons": "No factor raised the risk above the base value.",
        "waterfall": "Contributions to the risk (SHAP, log-odds)",
        "waterfall_note": "Each bar is one input field's contribution to the model's raw score "
        "(log-odds): red bars raise the risk, blue bars lower it. The base value is the model's "
        "average; the contributions add up to the raw score, which calibration turns into "
        "the risk score.",
        "feature": "Factor",
        "value": "Value",
        "shap": "Contribution",
        "base": "Base value E[f(X)]",
        "raw": "Raw score f(x)",
        "others": "{count} other factors",
        "enterprise": "Importer credit and history",
        "importer": "Importer",
        "declarant": "Broker",
        "tier": "Credit tier in force",
        "tier_history": "Credit register entries",
        "tier_since": "Since",
        "not_in_register": "not in the register (treated as regular)",
        "history": "Earlier inspections of this importer in the declarations file",
        "history_totals": "{declarations} earlier declarations in the file, {inspected} "
        "inspected, {violations} with a violation; revenue raised {revenue}",
        "no_history": "No earlier inspection of this importer in the file.",
        "outcome": "Outcome",
        "tier_short": "Tier",
        "reason_short": "Basis",
        "risk_short": "Risk",
        "revenue_short": "Exp. revenue",
        "lodged": "Lodged",
        "hs_code": "HS code",
        "revenue": "Revenue raised",
        "violation": "violation",
        "compliant": "no violation",
        "unknown": "unknown",
        "lab": "Third-party lab report",
        "no_lab": "No lab report is on file for this declaration.",
        "lab_id": "Lab",
        "lab_result": "Result",
        "lab_pass": "Result is pass",
        "issued_at": "Issued",
        "lab_age": "Age at declaration",
        "days": "{days} days",
        "within_hours": "within {value} h",
        "within_days": "within {value} days",
        "lab_accredited": "Lab in the acceptance directory",
        "acceptance_listed": "Goods in the acceptance catalogue",
        "accepted": "Report accepted (采信)",
        "accepted_yes": "accepted: the selection does not go to sampling on account of it",
        "accepted_no": "not accepted",
        "accepted_derived": "judged by the report from the criteria above with the default "
        "one-year validity; this run's decisions carry no acceptance field",
        "yes": "yes",
        "no": "no",
        "versions": "Versions",
        "model_version": "Model version",
        "policy_version": "Policy version",
        "trained": "Training window",
        "batch_scope": "Batch",
        "batch_scope_text": "{count} declarations of {source}, inspection rate {rate}",
        "day_scope_text": "{count} declarations lodged on {date}, inspection rate {rate}",
        "selected": "selected for inspection",
        "released": "released",
        "declarations": "Declarations",
        "selections": "Selected",
        "rate": "Inspection rate",
        "overview": "Overview",
        "by_lane_tier": "Selections by lane and credit tier",
        "tier_rates": "Realised inspection rates by credit tier",
        "floor_excess": "Budget exceeded by credit floors",
        "vs_reference": "Relative to {tier}",
        "rule": "Rule",
        "meets": "Meets",
        "no_rule": "-",
        "distribution": "Risk score distribution",
        "distribution_note": "Declarations of the day by risk score; dark bars are the "
        "selected ones. Count axis on a log scale.",
        "count": "Count",
        "count_log": "count (log scale)",
        "top_reasons": "Top reasons among the selections",
        "top_reasons_note": "How often each factor was among the three strongest reasons "
        "of a selected declaration, with one of its reasons as an example.",
        "example": "Example",
        "share": "Share",
        "selection_reasons": "Selections by reason",
        "selected_list": "Selected declarations",
        "total": "Total",
        "revenue_at_stake": "Expected revenue of the selections",
        "mean_risk": "Mean risk score",
        "legend_selected": "selected",
        "legend_all": "all declarations",
        "page": "Page",
    },
    "zh": {
        "agency": "portsift · 风险管理与布控查验",
        "marking": "内部资料 · 注意保存",
        "title": "查验决定说明报告",
        "batch_title": "每日布控汇总报告",
        "generated": "生成时间",
        "summary": "报关单",
        "decision": "决定",
        "risk": "风险评分",
        "risk_note": "经校准的违规概率",
        "percentile": "批次百分位",
        "percentile_text": "高于本批 {count} 票报关单中的 {share}（排名第 {rank}）",
        "expected_revenue": "查验预期补税",
        "estimate": "估算值：模型无补税标签",
        "lane": "通道",
        "status": "状态",
        "reason": "布控原因",
        "deadlines": "时限",
        "no_deadlines": "本次运行的布控规则未给出时限",
        "other_columns": "其他决定字段",
        "why": "原因：对风险影响最大的因素",
        "reasons_words": "原因说明",
        "no_reasons": "没有因素使风险高于基准值。",
        "waterfall": "各因素对风险的贡献（SHAP，对数几率）",
        "waterfall_note": "每一条表示一个申报字段对模型原始得分（对数几率）的贡献："
        "红色提高风险，蓝色降低风险。基准值为模型平均值；各项贡献之和等于原始得分，"
        "经校准后即为风险评分。",
        "feature": "因素",
        "value": "数值",
        "shap": "贡献",
        "base": "基准值 E[f(X)]",
        "raw": "原始得分 f(x)",
        "others": "其余 {count} 项因素",
        "enterprise": "进口企业信用与历史",
        "importer": "进口企业",
        "declarant": "报关企业",
        "tier": "适用信用等级",
        "tier_history": "信用登记记录",
        "tier_since": "起始日期",
        "not_in_register": "未在信用登记中（按常规管理企业处理）",
        "history": "申报文件中该企业此前的查验",
        "history_totals": "文件中此前申报 {declarations} 票，查验 {inspected} 票，"
        "查获违规 {violations} 票；补税合计 {revenue}",
        "no_history": "文件中无该企业此前的查验记录。",
        "outcome": "查验结果",
        "tier_short": "信用等级",
        "reason_short": "依据",
        "risk_short": "风险",
        "revenue_short": "预期补税",
        "lodged": "申报日期",
        "hs_code": "商品编码",
        "revenue": "补税",
        "violation": "违规",
        "compliant": "未见违规",
        "unknown": "未知",
        "lab": "第三方检验报告",
        "no_lab": "该报关单无第三方检验报告。",
        "lab_id": "检验机构",
        "lab_result": "检验结果",
        "lab_pass": "检验结果为合格",
        "issued_at": "出具日期",
        "lab_age": "申报时报告已出具",
        "days": "{days} 天",
        "within_hours": "{value} 小时内",
        "within_days": "{value} 天内",
        "lab_accredited": "检验机构在采信名录内",
        "acceptance_listed": "商品属采信目录",
        "accepted": "报告是否采信",
        "accepted_yes": "采信：不因此送取样检测",
        "accepted_no": "不采信",
        "accepted_derived": "本次决定未含采信字段，系按上列条件及默认一年有效期判断",
        "yes": "是",
        "no": "否",
        "versions": "版本",
        "model_version": "模型版本",
        "policy_version": "布控规则版本",
        "trained": "训练数据期间",
        "batch_scope": "批次",
        "batch_scope_text": "{source} 中的 {count} 票报关单，查验比例 {rate}",
        "day_scope_text": "{date} 申报的 {count} 票报关单，查验比例 {rate}",
        "selected": "布控查验",
        "released": "放行",
        "declarations": "报关单数",
        "selections": "布控数",
        "rate": "查验率",
        "overview": "概况",
        "by_lane_tier": "按通道与信用等级的布控数",
        "tier_rates": "各信用等级的实际查验率",
        "floor_excess": "信用规则强制查验超出额度",
        "vs_reference": "相对{tier}",
        "rule": "规则",
        "meets": "是否符合",
        "no_rule": "-",
        "distribution": "风险评分分布",
        "distribution_note": "当日报关单按风险评分分布；深色为布控的报关单。数量轴为对数刻度。",
        "count": "数量",
        "count_log": "数量（对数刻度）",
        "top_reasons": "布控报关单的主要原因",
        "top_reasons_note": "各因素位列布控报关单前三项原因的次数，并举一例。",
        "example": "示例",
        "share": "占比",
        "selection_reasons": "按布控原因",
        "selected_list": "布控报关单清单",
        "total": "合计",
        "revenue_at_stake": "布控报关单预期补税",
        "mean_risk": "平均风险评分",
        "legend_selected": "布控",
        "legend_all": "全部报关单",
        "page": "页",
    },
}

LANE_NAMES: dict[Lang, dict[str, str]] = {
    "zh": {
        "green": "绿色 · 放行",
        "yellow": "黄色 · 单证审核",
        "red": "红色 · 实货查验",
        "red_sampling": "红色 · 查验并取样送检",
        "red_remote": "红色 · 远程视频查验",
    },
    "en": {
        "green": "GREEN · release",
        "yellow": "YELLOW · document review",
        "red": "RED · physical inspection",
        "red_sampling": "RED · inspection with sampling",
        "red_remote": "RED · remote video inspection",
    },
}
LANE_SHORT: dict[Lang, dict[str, str]] = {
    "zh": {
        "green": "绿色",
        "yellow": "黄色",
        "red": "红色",
        "red_sampling": "红色取样",
        "red_remote": "红色视频",
    },
    "en": {
        "green": "green",
        "yellow": "yellow",
        "red": "red",
        "red_sampling": "red sampling",
        "red_remote": "red video",
    },
}
LANE_ORDER: tuple[str, ...] = ("red_sampling", "red", "red_remote", "yellow", "green")

REASON_NAMES: dict[Lang, dict[str, str]] = {
    "zh": {
        "risk": "风险评分布控（在查验预算内风险最高）",
        "random": "随机抽查（用于无偏估计违规率）",
        "tier_floor": "信用等级查验比例要求",
        "rule": "命中布控规则",
        "disclosure": "主动披露（不作为查发目标，转单证审核）",
        "": "未布控",
    },
    "en": {
        "risk": "risk (among the highest priorities within the inspection budget)",
        "random": "random draw (unbiased sample for estimating the violation rate)",
        "tier_floor": "credit-tier inspection rate rule",
        "rule": "officer rule hit",
        "disclosure": "voluntary disclosure (not a detection target: document review)",
        "": "not selected",
    },
}
REASON_SHORT: dict[Lang, dict[str, str]] = {
    "zh": {
        "risk": "风险",
        "random": "随机",
        "tier_floor": "信用等级",
        "rule": "规则",
        "disclosure": "主动披露",
        "": "-",
    },
    "en": {
        "risk": "risk",
        "random": "random",
        "tier_floor": "tier rule",
        "rule": "rule",
        "disclosure": "disclosure",
        "": "-",
    },
}

TIER_NAMES: dict[Lang, dict[str, str]] = {
    "zh": {
        "advanced": "高级认证企业",
        "certified": "认证企业",
        "regular": "常规管理企业",
        "dishonest": "失信企业",
        "seriously_dishonest": "严重失信企业",
    },
    "en": {
        "advanced": "advanced certified",
        "certified": "certified",
        "regular": "regular",
        "dishonest": "dishonest",
        "seriously_dishonest": "seriously dishonest",
    },
}

SUMMARY_FIELDS: dict[str, tuple[str, str]] = {
    "declaration_id": ("报关单号", "Declaration id"),
    "declared_at": ("申报日期", "Lodged"),
    "importer_id": ("进口企业（经营单位）", "Importer"),
    "declarant_id": ("报关企业", "Broker (declarant)"),
    "hs_code": ("商品编码", "HS code"),
    "origin_country": ("原产国", "Origin"),
    "departure_country": ("启运国", "Departure country"),
    "customs_office": ("申报口岸", "Customs office"),
    "trade_mode": ("贸易方式", "Trade mode"),
    "transport_mode": ("运输方式", "Transport mode"),
    "declared_value": ("申报价格（CIF）", "Declared value (CIF)"),
    "fob_value": ("FOB 价格", "FOB value"),
    "quantity": ("数量", "Quantity"),
    "gross_weight": ("毛重（千克）", "Gross weight (kg)"),
    "net_weight": ("净重（千克）", "Net weight (kg)"),
    "tax_rate": ("税率（%）", "Tax rate (%)"),
    "total_taxes": ("税款", "Taxes assessed"),
}

#: Decision columns of ``score_declarations`` the report shows in their own places.
KNOWN_DECISION_COLUMNS: frozenset[str] = frozenset(
    {
        "declaration_id",
        "risk_score",
        "expected_revenue",
        "selected",
        "lane",
        "selection_reason",
        "credit_tier",
        "reasons",
        "raw_score",
        "revenue_estimated",
        "model_version",
        "policy_version",
        "lab_accepted",
        "policy_note_en",
        "policy_note_zh",
        # Shown in the blocks of the measures (reports/measures.py).
        "disclosure_id",
        "ruling_ids",
        "ruling_kinds",
        "ruling_expiring",
        "ruling_risk_score",
        "release_condition",
    }
)

#: Further decision columns of the policy: name -> (Chinese, English, kind); kind is
#: ``flag`` (shown only when set), ``hours``, ``days`` (deadlines) or ``number``.
DECISION_COLUMNS: dict[str, tuple[str, str, str]] = {
    "priority": ("排序分值", "Priority score", "number"),
    "green_channel": ("绿色通道（鲜活易腐商品）", "Green channel (perishable goods)", "flag"),
    "priority_lane": ("优先查验", "Priority handling", "flag"),
    "inspection_deadline_hours": ("查验", "Inspection", "hours"),
    "remote_inspection_deadline_hours": ("远程视频查验", "Remote video inspection", "hours"),
    "release_deadline_hours": ("放行（结果正常后）", "Release after a normal result", "hours"),
    "sampling_deadline_days": ("取样送检", "Sample submission", "days"),
    "lab_test_deadline_days": ("实验室检测", "Lab test", "days"),
}
#: The policy's own note on a decision, by language.
POLICY_NOTE_COLUMNS: dict[Lang, str] = {"zh": "policy_note_zh", "en": "policy_note_en"}

# Factor kinds decide how a value is printed.
RATIO, RATE, LOG_COUNT, LOG_MONEY, DAYS, FLAG, TIER_RANK, CATEGORY, NUMBER, POINTS, PERCENT = (
    "ratio",
    "rate",
    "log_count",
    "log_money",
    "days",
    "flag",
    "tier_rank",
    "category",
    "number",
    "points",
    "percent",
)

#: Officer names of the model's factors (the field or signal each feature is labelled
#: with by ``FeaturePipeline.feature_labels``), with how their values print.
FACTORS: dict[str, tuple[str, str, str]] = {
    "importer_tier_rank": ("进口企业信用等级", "importer credit tier", TIER_RANK),
    "importer_days_in_tier": ("现信用等级持续天数", "days in the current tier", DAYS),
    "importer_tier_changes": ("信用等级变更次数", "credit tier changes", NUMBER),
    "importer_tier_worsened": ("信用等级曾下调", "credit tier downgraded", FLAG),
    "declarant_tier_rank": ("报关企业信用等级", "broker credit tier", TIER_RANK),
    "importer_inspections": ("进口企业此前查验次数", "importer's earlier inspections", LOG_COUNT),
    "importer_violation_rate": ("进口企业历史违规率", "importer violation rate", RATE),
    "importer_revenue_per_inspection": (
        "进口企业每次查验补税",
        "importer revenue per inspection",
        LOG_MONEY,
    ),
    "importer_declarations": ("进口企业此前申报票数", "importer's earlier declarations", LOG_COUNT),
    "declarant_inspections": ("报关企业此前查验次数", "broker's earlier inspections", LOG_COUNT),
    "declarant_violation_rate": ("报关企业历史违规率", "broker violation rate", RATE),
    "declarant_revenue_per_inspection": (
        "报关企业每次查验补税",
        "broker revenue per inspection",
        LOG_MONEY,
    ),
    "declarant_declarations": ("报关企业此前申报票数", "broker's earlier declarations", LOG_COUNT),
    "importer_days_active": ("进口企业首次申报至今", "days since the importer's first", DAYS),
    "importer_is_new": ("新进口企业", "new importer", FLAG),
    "importer_hs6_declarations": (
        "该企业此前申报该税号票数",
        "importer's earlier declarations of this HS6",
        LOG_COUNT,
    ),
    "importer_hs6_is_new": ("该企业首次申报该税号", "first declaration of this HS6", FLAG),
    "acceptance_listed": ("属采信目录商品", "goods in the acceptance catalogue", FLAG),
    "lab_report_present": ("附第三方检验报告", "lab report attached", FLAG),
    "lab_accredited": ("检验机构在采信名录", "lab in the acceptance directory", FLAG),
    "lab_result_pass": ("检验结果合格", "lab result pass", FLAG),
    "lab_report_age_days": ("检验报告已出具天数", "lab report age", DAYS),
    "lab_disagreement_rate": (
        "该机构合格报告后查获违规比例",
        "violations after the lab's pass reports",
        RATE,
    ),
    "hs2_violation_rate": ("商品章历史违规率", "HS chapter violation rate", RATE),
    "hs4_violation_rate": ("品目历史违规率", "HS heading violation rate", RATE),
    "hs6_violation_rate": ("税号历史违规率", "HS6 violation rate", RATE),
    "hs6_origin_violation_rate": (
        "税号与原产国历史违规率",
        "HS6 and origin violation rate",
        RATE,
    ),
    "unit_value_ratio": ("单价与税号参考价之比", "unit value / HS reference", RATIO),
    "unit_value_ratio_origin": (
        "单价与同原产地参考价之比",
        "unit value / reference for the origin",
        RATIO,
    ),
    "unit_value_ratio_importer": (
        "单价与该企业此前价格之比",
        "unit value / importer's earlier prices",
        RATIO,
    ),
    "value_per_kg_ratio": ("每千克价值与参考值之比", "value per kg / reference", RATIO),
    "weight_per_unit_ratio": ("单位毛重与参考值之比", "weight per unit / reference", RATIO),
    "tax_rate_gap": ("申报税率与通常税率之差", "tax rate minus the usual rate", POINTS),
    "tax_assessment_gap": ("税款核算差异", "tax assessment gap", NUMBER),
    "tax_rate": ("申报税率", "tax rate", PERCENT),
    "perishable": ("鲜活易腐商品", "perishable goods", FLAG),
    "importer_disclosures": ("进口企业此前主动披露次数", "importer's earlier disclosures", NUMBER),
    "importer_days_since_disclosure": (
        "距进口企业上次主动披露",
        "days since the importer's last disclosure",
        DAYS,
    ),
    "origin_departure_mismatch": (
        "原产国与启运国不一致",
        "origin differs from departure",
        FLAG,
    ),
    "day_of_week": ("申报星期", "day of the week", NUMBER),
    "month": ("申报月份", "month", NUMBER),
    "net_gross_ratio": ("净重与毛重之比", "net / gross weight", RATIO),
    "cif_fob_ratio": ("CIF 与 FOB 之比", "CIF / FOB value", RATIO),
    "log_declared_value": ("申报价格", "declared value", LOG_MONEY),
    "customs_office": ("申报口岸", "customs office", CATEGORY),
    "origin_country": ("原产国", "origin country", CATEGORY),
    "trade_mode": ("贸易方式", "trade mode", CATEGORY),
    "transport_mode": ("运输方式", "transport mode", CATEGORY),
    "hs_chapter": ("商品章", "HS chapter", CATEGORY),
}
#: Whose record an identity feature (``portsift.features.identity``) measures, by its key.
IDENTITY_SUBJECTS: dict[str, tuple[str, str]] = {
    "importer_declarant": ("进口企业经该报关企业", "importer with this broker"),
    "importer_hs6": ("进口企业申报该税号", "importer with this HS6"),
    "declarant_origin": ("报关企业申报该原产地", "broker with this origin"),
    "seller_hs6": ("卖方供应该税号", "seller with this HS6"),
}
#: What an identity feature measures, by its name's suffix, with how its value prints.
IDENTITY_MEASURES: dict[str, tuple[str, str, str]] = {
    "_inspections": ("此前查验次数", "earlier inspections", LOG_COUNT),
    "_violations": ("此前查获违规次数", "earlier violations found", LOG_COUNT),
    "_violation_rate": ("历史违规率", "violation rate", RATE),
    "_revenue_per_inspection": ("每次查验补税", "revenue per inspection", LOG_MONEY),
}
#: Officer names of schema-file columns (model inputs ``extra_<slug>``).
EXTRA_FIELD_NAMES: dict[str, tuple[str, str]] = {
    "extra_seller_id": ("卖方", "seller"),
    "extra_seller": ("卖方", "seller"),
    "extra_courier_id": ("承运企业", "courier"),
    "extra_courier": ("承运企业", "courier"),
}
FACTORS.update(
    {
        f"{key}{suffix}": (f"{who_zh}{what_zh}", f"{who_en}: {what_en}", kind)
        for key, (who_zh, who_en) in IDENTITY_SUBJECTS.items()
        for suffix, (what_zh, what_en, kind) in IDENTITY_MEASURES.items()
    }
)

#: Raw columns that hold the value of a categorical factor.
CATEGORY_SOURCES: dict[str, str] = {"hs_chapter": "hs2"}


def _extra_identity_factor(label: str) -> tuple[str, str, str] | None:
    """The factor of a schema-file column's identity feature (``extra_courier_id_...``)."""
    if not label.startswith("extra_"):
        return None
    for suffix, (what_zh, what_en, kind) in IDENTITY_MEASURES.items():
        if label.endswith(suffix):
            column = label.removesuffix(suffix)
            slug = column.removeprefix("extra_").replace("_", " ")
            zh, en = EXTRA_FIELD_NAMES.get(column, (slug, slug))
            return f"{zh}{what_zh}", f"{en}: {what_en}", kind
    return None


def labels(lang: Lang) -> dict[str, str]:
    """Return the report labels of a language."""
    return LABELS[lang]


def lane_name(lane: str, lang: Lang) -> str:
    """Return the badge text of a lane (the code itself if unknown)."""
    return LANE_NAMES[lang].get(lane, lane)


def tier_name(tier: str, lang: Lang) -> str:
    """Return the name of a credit tier (the code itself if unknown)."""
    return TIER_NAMES[lang].get(tier, str(tier).replace("_", " "))


def reason_name(reason: str, lang: Lang, *, short: bool = False) -> str:
    """Return the words of a ``selection_reason`` code (the code itself if unknown)."""
    names = REASON_SHORT[lang] if short else REASON_NAMES[lang]
    return names.get(reason, reason)


def factor_name(label: str, lang: Lang) -> str:
    """Return the officer name of a factor (a model feature's field or signal label)."""
    known = FACTORS.get(label) or _extra_identity_factor(label)
    if known is not None:
        return known[0] if lang == "zh" else known[1]
    return label.replace("_", " ")


def factor_kind(label: str) -> str:
    """Return how a factor's value prints (``NUMBER`` when unknown)."""
    known = FACTORS.get(label) or _extra_identity_factor(label)
    return known[2] if known is not None else NUMBER


def column_spec(column: str, lang: Lang) -> tuple[str, str]:
    """Return the name and kind of a further decision column.

    Unknown columns are named after themselves; their kind follows the suffix
    (``_hours``, ``_days``), else ``number``.
    """
    known = DECISION_COLUMNS.get(column)
    if known is not None:
        return (known[0] if lang == "zh" else known[1]), known[2]
    kind = "hours" if column.endswith("_hours") else "days" if column.endswith("_days") else ""
    return column.replace("_", " "), kind or "number"


def summary_name(field: str, lang: Lang) -> str:
    """Return the name of a declaration field in the summary table."""
    known = SUMMARY_FIELDS.get(field)
    if known is not None:
        return known[0] if lang == "zh" else known[1]
    return field.replace("_", " ")
