"""Remote video inspection (远程视频查验, Haikou Customs 2024 measure 8) in the policy.

A selection that would go to physical inspection (``red``, not by an officer rule) is
inspected by video (``red_remote``) when ``[selection.remote_inspection]`` allows it:
its importer's credit tier, its goods class, not perishable (unless configured) and no
weight signal. The lane replaces ``red`` after the selection is made, so the budget and
the credit-tier rates are the same with and without the measure. The batch and the
real-time path both reach it through :func:`portsift.models.lanes.finish`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from portsift.models.table import (
    Table,
    flag_column,
    longest_prefix,
    number_column,
    one_of,
    text_column,
)
from portsift.settings import LaneSettings, RemoteInspectionSettings

#: The lane of a selection inspected by remote video.
REMOTE_LANE = "red_remote"


def goods_class(settings: RemoteInspectionSettings, frame: Table) -> np.ndarray:
    """The index of each row's remote-inspection goods class (-1: none), by longest prefix."""
    table = {
        prefix: index for index, goods in enumerate(settings.goods) for prefix in goods.hs_prefixes
    }
    return longest_prefix(text_column(frame, "hs_code"), table, -1).astype("int64")


def weight_limit(settings: RemoteInspectionSettings, lanes: LaneSettings) -> float:
    """The weight-per-unit ratio beyond which a weight signal rules out a video check."""
    return lanes.physical_weight_ratio if settings.weight_ratio is None else settings.weight_ratio


def weight_signal(
    settings: RemoteInspectionSettings, lanes: LaneSettings, frame: Table
) -> np.ndarray:
    """Whether the declared weight per unit gives a reason to weigh the goods.

    A ratio to the HS6 reference (``weight_per_unit_ratio``) beyond :func:`weight_limit`
    either way is a signal; so is a missing one (no weight, quantity or reference): a
    video can only confirm what the papers already make plausible.
    """
    ratio = number_column(frame, "weight_per_unit_ratio")
    with np.errstate(divide="ignore", invalid="ignore"):
        within = np.abs(np.log(ratio)) <= math.log(weight_limit(settings, lanes))
    return ~within


def remote_eligible(
    settings: RemoteInspectionSettings, lanes: LaneSettings, frame: Table, physical: np.ndarray
) -> np.ndarray:
    """Which rows may be inspected by remote video instead of physically.

    Args:
        settings: ``[selection.remote_inspection]``.
        lanes: ``[selection.lanes]`` (the default weight limit).
        frame: Rows with ``credit_tier``, ``hs_code``, ``perishable`` and
            ``weight_per_unit_ratio``.
        physical: The rows whose lane is ``red`` by the lane rule (not by an officer
            rule); only they can move.

    Returns:
        A boolean mask (all False when the measure is disabled).
    """
    if not settings.enabled or not physical.any():
        return np.zeros(len(physical), dtype=bool)
    eligible = physical & one_of(text_column(frame, "credit_tier"), settings.credit_tiers)
    eligible &= goods_class(settings, frame) >= 0
    if not settings.perishable:
        eligible &= ~flag_column(frame, "perishable")
    eligible &= ~weight_signal(settings, lanes, frame)
    return eligible


def remote_notes(
    settings: RemoteInspectionSettings,
    lanes: LaneSettings,
    frame: Table,
    remote: np.ndarray,
    tier_names_zh: Mapping[str, str],
) -> tuple[np.ndarray, np.ndarray]:
    """The reason of a ``red_remote`` lane in English and Chinese (``""`` elsewhere).

    Args:
        settings: ``[selection.remote_inspection]``.
        lanes: ``[selection.lanes]`` (the default weight limit).
        frame: The decided rows.
        remote: The rows sent to remote video inspection.
        tier_names_zh: Chinese names of the credit tiers (``[selection.credit]``).

    Returns:
        ``(en, zh)``, e.g. "remote video inspection (远程视频查验): credit tier advanced,
        machinery and electrical equipment, weight per unit within 1.5x of its
        reference; inspect by video within 8 h (Haikou Customs 2024 measure 8)".
    """
    n = len(remote)
    if not remote.any():
        empty = np.full(n, "", dtype=object)
        return empty, empty.copy()
    which = goods_class(settings, frame)
    names_en = np.array([g.name for g in settings.goods] + [""], dtype=object)[which]
    names_zh = np.array([g.name_zh for g in settings.goods] + [""], dtype=object)[which]
    tier = text_column(frame, "credit_tier")
    # One lookup per distinct tier, not per row.
    names, inverse = np.unique(tier.astype(str), return_inverse=True)
    tier_zh = np.array([tier_names_zh.get(t, t) for t in names], dtype=object)[inverse]
    ratio = f"{weight_limit(settings, lanes):g}"
    hours = f"{settings.inspection_hours:g}"
    en = (
        "remote video inspection (远程视频查验): credit tier " + tier + ", " + names_en
        + f", weight per unit within {ratio}x of its reference; inspect by video within "
        + f"{hours} h ({settings.source})"
    )  # fmt: skip
    zh = (
        "远程视频查验：" + tier_zh + "，" + names_zh
        + f"，单位重量在参考值的{ratio}倍以内；{hours}小时内完成视频查验（{settings.source_zh}）"
    )  # fmt: skip
    return np.where(remote, en, "").astype(object), np.where(remote, zh, "").astype(object)
