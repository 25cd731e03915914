"""Words of the officer console that the reports do not already have, in Chinese and English.

Everything else (lanes, tiers, reasons, factor names, the decision's labels) comes from
:mod:`portsift.reports.i18n`, so that the console and the officer report say the same
thing the same way.
"""

from __future__ import annotations

from typing import Final

from portsift.reports import i18n

TEXTS: Final[dict[i18n.Lang, dict[str, str]]] = {
    "zh": {
        "console": "查验作业台",
        "sign_in": "登录",
        "sign_out": "退出",
        "officer_id": "关员编号",
        "password": "密码",
        "bad_login": "关员编号或密码错误。",
        "throttled": "登录失败次数过多，请 {minutes} 分钟后再试。",
        "no_officers": "未配置关员（PORTSIFT_OFFICERS），无法登录。",
        "queue": "待查验队列",
        "supervisor": "科长视图",
        "other_language": "English",
        "waiting": "待处理",
        "filter": "筛选",
        "any": "全部",
        "office": "申报口岸",
        "date": "决定日期",
        "deadline": "期限",
        "time_left": "剩余时间",
        "overdue": "已超时",
        "no_deadline": "无时限",
        "decided_at": "决定时间",
        "open": "查看",
        "empty_queue": "队列中没有待处理的报关单。",
        "page": "第 {page} 页，共 {pages} 页（{total} 票）",
        "previous": "上一页",
        "next": "下一页",
        "recorded": "报关单 {id} 的查验结果已记录。",
        "outcome": "查验结果",
        "record": "提交查验结果",
        "violation": "发现违规",
        "kind": "违规类型",
        "revenue_raised": "补征税款",
        "disclosure": "企业主动披露",
        "note": "备注",
        "inspected": "已查验",
        "on_record": "已记录的查验结果",
        "by_officer": "关员",
        "received": "记录时间",
        "versions": "版本",
        "tier_rule": "信用等级规则",
        "no_rule": "无",
        "lab_accepted": "采信检测报告",
        "rates": "今日各信用等级实际查验率",
        "rule_in_force": "现行规则",
        "rate": "查验率",
        "declarations": "报关单",
        "selected_count": "布控",
        "met": "符合",
        "rules_not_met": "有等级未达到规则要求",
        "random_share": "随机布控占比",
        "hits": "查获",
        "with_outcome": "已有结果",
        "violation_rate": "随机样本估计违规率",
        "interval": "{level} 置信区间",
        "drift": "最近一次漂移监测",
        "no_drift": "尚无 portsift monitor 运行记录。",
        "today": "今日（{day}，{zone}）",
        "none_today": "今日尚无决定。",
        "no_contributions": "该决定来自批量导入（portsift audit import），未保存各因素贡献。",
        "recorded_reasons": "决定时记录的理由（{language}原文）：",
        "language_zh": "中文",
        "language_en": "英文",
        "history": "审计库中该企业的其他报关单",
        "no_history": "审计库中没有该企业的其他报关单。",
        "history_counts": "审计库中另有 {declarations} 票：布控 {selected}，已查验 {inspected}，"
        "查获 {violations}",
        "forbidden": "仅科长可查看此页面。",
        "unknown_declaration": "审计库中没有报关单 {id} 的决定。",
        "bad_form": "表单有误：{error}",
        "stale_form": "表单已失效（缺少或不匹配的 CSRF 令牌），请刷新页面后重试。",
        "store_unavailable": "审计库暂时无法访问，未作任何记录，请稍后重试。",
    },
    "en": {
        "console": "Inspection console",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "officer_id": "Officer id",
        "password": "Password",
        "bad_login": "Wrong officer id or password.",
        "throttled": "Too many failed sign-ins; try again in {minutes} minutes.",
        "no_officers": "No officers are configured (PORTSIFT_OFFICERS): nobody can sign in.",
        "queue": "Inspection queue",
        "supervisor": "Supervisor view",
        "other_language": "中文",
        "waiting": "waiting",
        "filter": "Filter",
        "any": "any",
        "office": "Customs office",
        "date": "Decided on",
        "deadline": "Deadline",
        "time_left": "Time left",
        "overdue": "overdue",
        "no_deadline": "no time limit",
        "decided_at": "Decided at",
        "open": "Open",
        "empty_queue": "No declaration is waiting.",
        "page": "Page {page} of {pages} ({total} declarations)",
        "previous": "Previous",
        "next": "Next",
        "recorded": "The outcome of declaration {id} is recorded.",
        "outcome": "Inspection outcome",
        "record": "Record the outcome",
        "violation": "Violation found",
        "kind": "Kind of violation",
        "revenue_raised": "Revenue raised",
        "disclosure": "Disclosed by the enterprise first",
        "note": "Note",
        "inspected": "Inspected",
        "on_record": "Outcomes on record",
        "by_officer": "Officer",
        "received": "Recorded at",
        "versions": "Versions",
        "tier_rule": "Credit tier rule",
        "no_rule": "none",
        "lab_accepted": "Lab report accepted",
        "rates": "Today's realised inspection rates per credit tier",
        "rule_in_force": "Rule in force",
        "rate": "Rate",
        "declarations": "Declarations",
        "selected_count": "Selected",
        "met": "Met",
        "rules_not_met": "a tier does not meet its rule",
        "random_share": "Random share of the selections",
        "hits": "Hits",
        "with_outcome": "With an outcome",
        "violation_rate": "Violation rate estimated from the random sample",
        "interval": "{level} interval",
        "drift": "Latest drift monitoring",
        "no_drift": "No portsift monitor run on record.",
        "today": "Today ({day}, {zone})",
        "none_today": "No decision yet today.",
        "no_contributions": "This decision was imported from a batch (portsift audit import): "
        "no factor contributions are on record.",
        "recorded_reasons": "The reasons as recorded with the decision (in {language}):",
        "language_zh": "Chinese",
        "language_en": "English",
        "history": "Other declarations of this importer on record",
        "no_history": "No other declaration of this importer is on record.",
        "history_counts": "{declarations} other declarations on record: {selected} selected, "
        "{inspected} inspected, {violations} violations",
        "forbidden": "Only supervisors may open this page.",
        "unknown_declaration": "The audit store holds no decision for declaration {id}.",
        "bad_form": "The form is not right: {error}",
        "stale_form": "The form has expired (CSRF token missing or wrong); reload the page.",
        "store_unavailable": "The audit store cannot be reached; nothing was recorded. Retry.",
    },
}

#: The kinds of violation, as the outcome form names them.
KIND_NAMES: Final[dict[i18n.Lang, dict[str, str]]] = {
    "zh": {
        "undervaluation": "低报价格",
        "misclassification": "归类错误",
        "origin": "原产地不实",
        "quantity": "数量不符",
        "prohibited_goods": "禁限物品",
        "other": "其他",
    },
    "en": {
        "undervaluation": "undervaluation",
        "misclassification": "misclassification",
        "origin": "origin",
        "quantity": "quantity",
        "prohibited_goods": "prohibited goods",
        "other": "other",
    },
}


def texts(lang: i18n.Lang) -> dict[str, str]:
    """The report's labels with the console's own words on top, in one language.

    Args:
        lang: ``zh`` or ``en``.

    Returns:
        The words by key.
    """
    return {**i18n.labels(lang), **TEXTS[lang]}


__all__ = ["KIND_NAMES", "TEXTS", "texts"]
