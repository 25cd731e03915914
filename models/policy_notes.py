"""The policy's part of every reason, in English and Chinese.

Why a declaration was selected (officer rule, random draw, credit floor, risk, or a
voluntary disclosure sending it to document review), the credit rule its tier is held
to, the lab report and the deadlines.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from portsift.models.disclosures import (
    DISCLOSURE_REASON,
    disclosure_cover,
    disclosure_notes,
    in_play,
)
from portsift.models.table import (
    Table,
    date_text_column,
    fmt_number,
    join_parts,
    number_column,
    select_first,
    table_length,
    text_column,
)
from portsift.settings import (
    RuleSettings,
    SelectionSettings,
)


def policy_notes(
    settings: SelectionSettings,
    seed: int,
    share: float,
    frame: Table,
    selected: np.ndarray,
    reason: np.ndarray,
    rule_index: np.ndarray,
    lane: np.ndarray,
    lab: Mapping[str, np.ndarray],
    priority_lane: np.ndarray,
    test_class: np.ndarray,
    rule_sets: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The policy's part of the reasons, per row, in English and Chinese."""
    s = settings
    n = table_length(frame)
    empty = np.full(n, "", dtype=object)
    risk = number_column(frame, "risk_score")
    risk_text = np.char.mod("%.2f", risk).astype(object)

    # Why selected.
    rule_en, rule_zh = _rule_texts(s.rules)
    rule_en, rule_zh = rule_en[rule_index], rule_zh[rule_index]
    share = f"{share:.0%}"
    (floor_en, floor_zh), (cap_en, cap_zh) = tier_notes(settings, frame, rule_sets)
    # Measure 22: a covered declaration's reason is its disclosure (no tier rule: it is
    # not a detection selection); a covered rule hit says the rule outranks it.
    disclosed = np.asarray(reason, dtype=object) == DISCLOSURE_REASON
    disclosure_en, disclosure_zh = empty, empty
    if in_play(frame):
        cover = disclosure_cover(s.disclosure, frame)
        disclosure_en, disclosure_zh = disclosure_notes(
            s.disclosure, cover, cover.covered & (np.asarray(reason, dtype=object) == "rule")
        )
    why_en = select_first(
        [reason == "rule", reason == "random", reason == "tier_floor", reason == "risk"],
        [
            rule_en,
            f"random exploration draw ({share} of the budget, seed {seed})",
            floor_en,
            "selected by risk ranking (risk score " + risk_text + ")",
        ],
        "",
    )
    why_zh = select_first(
        [reason == "rule", reason == "random", reason == "tier_floor", reason == "risk"],
        [
            rule_zh,
            f"随机抽查抽中（占查验额度{share}，随机种子{seed}）",
            floor_zh,
            "按风险排序布控（风险评分" + risk_text + "）",
        ],
        "",
    )
    why_en = np.where(disclosed, disclosure_en, why_en)
    why_zh = np.where(disclosed, disclosure_zh, why_zh)
    ruled_en = np.where(disclosed, empty, disclosure_en)
    ruled_zh = np.where(disclosed, empty, disclosure_zh)
    cap_en = np.where(selected & ~disclosed, cap_en, empty)
    cap_zh = np.where(selected & ~disclosed, cap_zh, empty)

    # The lab report and the deadlines: most declarations have neither, and a real-time
    # request is one row on which every text operation has a fixed cost, so the texts
    # are only built when some row needs them.
    status = np.asarray(lab["status"], dtype=object)
    sampling = lane == "red_sampling"
    noted = (status != "") & ((status != "no_report") | sampling)
    lab_en, lab_zh = (
        lab_notes(settings, frame, lab, status, lane) if noted.any() else (empty, empty)
    )
    if priority_lane.any() or sampling.any():
        deadline_en, deadline_zh = deadline_notes(settings, priority_lane, sampling, test_class)
    else:
        deadline_en, deadline_zh = (empty, empty), (empty, empty)
    return (
        join_parts(why_en, ruled_en, cap_en, lab_en, *deadline_en),
        join_parts(why_zh, ruled_zh, cap_zh, lab_zh, *deadline_zh),
    )


def tier_notes(
    settings: SelectionSettings, frame: Table, rule_sets: tuple[np.ndarray, np.ndarray]
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The credit rule behind each row: ``(floor en, zh)`` and ``(cap en, zh)``."""
    credit = settings.credit
    which, effective = rule_sets
    n = len(which)
    register = text_column(frame, "credit_tier")
    floor_en, floor_zh, cap_en, cap_zh = (np.full(n, "", dtype=object) for _ in range(4))
    for index in np.unique(which):
        rule_set = credit.rule_sets[int(index)]
        reference = rule_set.reference_tier
        ref_zh = credit.name_zh(reference)
        in_set = which == index
        for name, rule in rule_set.tiers.items():
            here = in_set & (effective == name)
            if rule.is_empty or not here.any():
                continue
            zh = credit.name_zh(name)
            source = rule.source or rule_set.source
            source_zh = rule.source_zh or rule_set.source_zh
            if rule.at_least_rate is not None:
                floor_en[here] = (
                    f"credit tier {name}: average inspection rate at least "
                    f"{rule.at_least_rate:.0%} ({source})"
                )
                floor_zh[here] = f"{zh}：平均查验率不低于{rule.at_least_rate:.0%}（{source_zh}）"
            elif rule.at_least is not None:
                floor_en[here] = (
                    f"credit tier {name}: its inspection rate must be at least "
                    f"{rule.at_least:.0%} of {reference} enterprises' ({source})"
                )
                floor_zh[here] = f"{zh}：查验率不低于{ref_zh}的{rule.at_least:.0%}（{source_zh}）"
            if rule.below is not None:
                cap_en[here] = (
                    f"credit tier {name}: inspection rate kept below {rule.below:.0%} of "
                    f"{reference} enterprises' ({source})"
                )
                cap_zh[here] = f"{zh}：查验率低于{ref_zh}的{rule.below:.0%}（{source_zh}）"
            elif rule.below_rate is not None:
                cap_en[here] = (
                    f"credit tier {name}: inspection rate kept below "
                    f"{rule.below_rate:.0%} ({source})"
                )
                cap_zh[here] = f"{zh}：查验率低于{rule.below_rate:.0%}（{source_zh}）"
    # A register tier the rule set does not know is held to another tier's rule.
    moved = (register != effective) & (register != "")
    for en, zh in ((floor_en, floor_zh), (cap_en, cap_zh)):
        hit = moved & (en != "")
        if hit.any():
            tier = register[hit]
            tier_zh = pd.Series(tier).map(credit.name_zh).to_numpy(dtype=object)
            en[hit] = en[hit] + " (" + tier + " enterprises are held to this rule)"
            zh[hit] = zh[hit] + "（" + tier_zh + "适用此规则）"
    return (floor_en, floor_zh), (cap_en, cap_zh)


def lab_notes(
    settings: SelectionSettings,
    frame: Table,
    lab: Mapping[str, np.ndarray],
    status: np.ndarray,
    lane: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """What the policy did with each lab report, in English and Chinese."""
    lab_id = text_column(frame, "lab_id")
    issued = date_text_column(frame, "issued_at")
    age = np.char.mod("%.0f", number_column(frame, "lab_report_age_days")).astype(object)
    validity = np.char.mod("%g", np.asarray(lab["validity_days"], dtype="float64")).astype(object)
    conditions = [
        status == "accepted",
        status == "not_accredited",
        status == "failed",
        status == "out_of_validity",
        (status == "no_report") & (lane == "red_sampling"),
    ]
    lab_en = select_first(
        conditions,
        [
            "lab report " + lab_id + " (pass, " + issued + ") accepted (采信): no sampling",
            "lab report " + lab_id + " not accepted: the lab is not in the acceptance directory",
            "lab report " + lab_id + ": result fail",
            "lab report " + lab_id + " not accepted: " + age + " days old, beyond the "
            "validity of " + validity + " days",
            "goods in the acceptance catalogue without an accepted lab report",
        ],
        "",
    )
    lab_zh = select_first(
        conditions,
        [
            "采信第三方检验报告" + lab_id + "（合格，" + issued + "），免于取样送检",
            "检验报告" + lab_id + "不予采信：检验机构不在采信名录",
            "检验报告" + lab_id + "结果不合格",
            "检验报告" + lab_id + "不予采信：已出具" + age + "天，超过" + validity + "天有效期",
            "采信目录商品未附可采信的检验报告",
        ],
        "",
    )
    return lab_en, lab_zh


def deadline_notes(
    settings: SelectionSettings,
    priority_lane: np.ndarray,
    sampling: np.ndarray,
    test_class: np.ndarray,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The sampling and green-channel deadlines: ``(sample, green)`` in en, then zh."""
    s = settings
    g = s.green_channel
    green_en = np.where(
        priority_lane,
        f"green channel (perishable): inspect within {fmt_number(g.inspection_hours)} h, "
        f"release within {fmt_number(g.release_hours)} h of a normal result",
        "",
    )
    green_zh = np.where(
        priority_lane,
        f"绿色通道（鲜活易腐）：{fmt_number(g.inspection_hours)}小时内查验，"
        f"结果正常后{fmt_number(g.release_hours)}小时内放行",
        "",
    )
    classes = s.sampling.lab_test
    submit = fmt_number(s.sampling.submission_days)
    test_en = np.array(
        [f", lab test within {fmt_number(c.days)} days ({c.name})" for c in classes] + [""],
        dtype=object,
    )[test_class]
    test_zh = np.array(
        [f"，{fmt_number(c.days)}天内完成检测（{c.name_zh}）" for c in classes] + [""],
        dtype=object,
    )[test_class]
    sample_en = np.where(sampling, f"sampling: submit samples within {submit} days" + test_en, "")
    sample_zh = np.where(sampling, f"取样送检：{submit}天内送样" + test_zh, "")
    return (sample_en, green_en), (sample_zh, green_zh)


@functools.lru_cache(maxsize=64)
def _rule_texts(rules: tuple[RuleSettings, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Why each officer rule selects, in English and Chinese ("" last, for no rule).

    Cached by the rules (frozen settings): the texts are the same for every request.
    """
    en = np.array(
        [f"officer rule {r.name} ({rule_conditions(r, 'en')}) -> {r.lane}" for r in rules] + [""],
        dtype=object,
    )
    zh = np.array(
        [f"命中布控规则{r.name}（{rule_conditions(r, 'zh')}）" for r in rules] + [""],
        dtype=object,
    )
    en.flags.writeable = False  # shared by every call: indexed, never changed
    zh.flags.writeable = False
    return en, zh


def rule_conditions(rule: RuleSettings, lang: str) -> str:
    """The conditions of an officer rule, e.g. "HS 0303, origin XX" / "税号0303、原产地XX"."""
    names = {
        "hs_prefix": ("HS ", "税号"),
        "origin_country": ("origin ", "原产地"),
        "importer_id": ("importer ", "进口企业"),
        "credit_tier": ("tier ", "信用等级"),
    }
    zh = lang == "zh"
    parts = [
        f"{label[zh]}{value}"
        for key, label in names.items()
        if (value := getattr(rule, key)) is not None
    ]
    return ("、" if zh else ", ").join(parts)


# -- batch -----------------------------------------------------------------------
