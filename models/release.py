"""Conditional release (Haikou Customs 2024 measure 14) in the selection policy.

Two conditions of ``[selection.release]`` let selected goods leave before the result of
their check:

* ``conditional_early_release`` (附条件先行提离): sampling-lane goods whose
  prohibited-entry and licence risk is excluded (``early``: HS classes and lanes);
* ``conditional_release`` (附条件放行): food and cosmetics for the offshore duty-free
  trade (``duty_free``: HS classes, trade modes and lanes); it wins where both apply.

Neither applies to a selection by officer rule or with a failed lab report. The lane,
the deadlines and the budget do not change; the decision's ``release_condition`` says
which applies (``""``: none).
"""

from __future__ import annotations

import numpy as np

from portsift.models.table import (
    Table,
    flag_column,
    longest_prefix,
    number_column,
    one_of,
    select_first,
    text_column,
)
from portsift.settings import ReleaseClassSettings, ReleaseSettings

#: The column of measure 14 (every decision carries it).
RELEASE_COLUMN = "release_condition"
EARLY_RELEASE = "conditional_early_release"
DUTY_FREE_RELEASE = "conditional_release"
#: The values of ``release_condition``.
RELEASE_CONDITIONS = (EARLY_RELEASE, DUTY_FREE_RELEASE, "")


def in_class(goods: ReleaseClassSettings, frame: Table, lane: np.ndarray) -> np.ndarray:
    """Whether each row's lane, goods (and trade mode, where configured) are in the class."""
    hit = one_of(np.asarray(lane, dtype=object), goods.lanes)
    if goods.trade_modes is not None and hit.any():
        hit &= one_of(text_column(frame, "trade_mode"), goods.trade_modes)
    if not hit.any():
        # Most rows of a batch and of a request are in no such lane or trade mode: the
        # prefix lookup, the dearest test, is left out (it matters on the API's path).
        return hit
    prefixes = dict.fromkeys(goods.hs_prefixes, True)
    hit &= longest_prefix(text_column(frame, "hs_code"), prefixes, False).astype(bool)
    return hit


def release_conditions(
    settings: ReleaseSettings,
    frame: Table,
    lane: np.ndarray,
    rule_index: np.ndarray,
) -> np.ndarray:
    """``release_condition`` of each decided row.

    Args:
        settings: ``[selection.release]``.
        frame: Rows with ``hs_code``, ``trade_mode``, ``lab_report_present`` and
            ``lab_result_pass``.
        lane: Their lanes (``green`` never qualifies: nothing holds the goods).
        rule_index: The officer rule each row matched (-1: none).

    Returns:
        An object array of :data:`RELEASE_CONDITIONS` values.
    """
    n = len(lane)
    if not settings.enabled:
        return np.full(n, "", dtype=object)
    duty_free = in_class(settings.duty_free, frame, lane)
    early = in_class(settings.early, frame, lane) & ~duty_free
    if not (duty_free.any() or early.any()):
        return np.full(n, "", dtype=object)
    # A rule hit or a failed report is a known risk: the goods wait for their result.
    # Any failed report counts, whether or not the goods are in the acceptance catalogue.
    failed = flag_column(frame, "lab_report_present") & (
        number_column(frame, "lab_result_pass") == 0
    )
    open_risk = (np.asarray(rule_index) >= 0) | failed
    duty_free &= ~open_risk
    early &= ~open_risk
    return select_first([duty_free, early], [DUTY_FREE_RELEASE, EARLY_RELEASE], "")


def release_notes(
    settings: ReleaseSettings, condition: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The reason of a release condition in English and Chinese (``""`` elsewhere).

    Args:
        settings: ``[selection.release]`` (its sources).
        condition: :func:`release_conditions` of the rows.

    Returns:
        ``(en, zh)``.
    """
    early = condition == EARLY_RELEASE
    duty_free = condition == DUTY_FREE_RELEASE
    en = select_first(
        [early, duty_free],
        [
            "conditional early release (附条件先行提离): prohibited-entry and licence risk "
            "excluded, no rule hit, no failed lab report; the goods may leave before the "
            f"lab result under the measure's conditions ({settings.source})",
            "conditional release (附条件放行): duty-free food or cosmetics for the offshore "
            "duty-free trade; the goods may be released before the result under the "
            f"measure's conditions ({settings.source})",
        ],
        "",
    )
    zh = select_first(
        [early, duty_free],
        [
            "附条件先行提离：已排除禁止入境及许可证件风险，未命中布控规则，无不合格检验报告；"
            f"检测结果出具前可按条件先行提离（{settings.source_zh}）",
            f"附条件放行：离岛免税食品、化妆品，检测结果出具前可按条件放行（{settings.source_zh}）",
        ],
        "",
    )
    return en.astype(object), zh.astype(object)
