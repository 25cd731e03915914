"""Lanes, third-party lab acceptance (采信) and deadlines of decided declarations.

The lane rules and the acceptance rule are described in :mod:`portsift.models.policy`;
:func:`finish` turns the selection of a batch or a request into the decision columns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from portsift.models.disclosures import DISCLOSURE_REASON, disclosure_cover
from portsift.models.disclosures import in_play as disclosures_in_play
from portsift.models.policy_notes import policy_notes
from portsift.models.release import RELEASE_COLUMN, release_conditions, release_notes
from portsift.models.remote_inspection import REMOTE_LANE, remote_eligible, remote_notes
from portsift.models.rulings import (
    all_documentary_covered,
    ruling_decision_columns,
    ruling_notes,
)
from portsift.models.rulings import in_play as rulings_in_play
from portsift.models.table import (
    Table,
    flag_column,
    join_parts,
    longest_prefix,
    number_column,
    select_first,
    text_column,
)
from portsift.settings import (
    SelectionSettings,
)


def lab_acceptance(settings: SelectionSettings, frame: Table) -> pd.DataFrame:
    """Whether each declaration's lab report is accepted (采信), and why not.

    Args:
        settings: ``[selection]`` (its ``acceptance`` part).
        frame: Features with ``acceptance_listed``, ``lab_report_present``,
            ``lab_accredited``, ``lab_result_pass``, ``lab_report_age_days`` and
            ``hs_code``.

    Returns:
        ``accepted`` (bool), ``status`` (``accepted``, ``not_accredited``,
        ``failed``, ``out_of_validity``, ``not_listed``, ``no_report``, or ``""`` for
        goods outside the catalogue without a report) and ``validity_days``.
    """
    index = frame.index if isinstance(frame, pd.DataFrame) else None
    return pd.DataFrame(lab_status(settings, frame), index=index)


def lab_status(settings: SelectionSettings, frame: Table) -> dict[str, np.ndarray]:
    """:func:`lab_acceptance` as columns: ``accepted``, ``status``, ``validity_days``."""
    acceptance = settings.acceptance
    listed = flag_column(frame, "acceptance_listed")
    present = flag_column(frame, "lab_report_present")
    accredited = flag_column(frame, "lab_accredited")
    passed = flag_column(frame, "lab_result_pass")
    validity = longest_prefix(
        text_column(frame, "hs_code"),
        acceptance.validity_days,
        acceptance.default_validity_days,
    ).astype("float64")
    age = number_column(frame, "lab_report_age_days")
    # A report dated after the declaration is no more valid than an expired one.
    fresh = (age >= 0) & (age <= validity)
    accepted = listed & present & accredited & passed & fresh
    status = select_first(
        [
            accepted,
            present & ~listed,
            present & ~accredited,
            present & ~passed,
            present & ~fresh,
            listed & ~present,
        ],
        ["accepted", "not_listed", "not_accredited", "failed", "out_of_validity", "no_report"],
        "",
    )
    return {"accepted": accepted, "status": status, "validity_days": validity}


def lab_test_days(settings: SelectionSettings, frame: Table) -> tuple[np.ndarray, np.ndarray]:
    """The lab test limit (days) of each row's goods class, and the class (-1: none)."""
    table: dict[str, int] = {}
    classes = settings.sampling.lab_test
    for index, goods_class in enumerate(classes):
        for prefix in goods_class.hs_prefixes:
            table[prefix] = index
    which = longest_prefix(text_column(frame, "hs_code"), table, -1).astype("int64")
    days = np.array([c.days for c in classes] + [np.nan], dtype="float64")[which]
    return days, which


def finish(
    settings: SelectionSettings,
    version: str,
    seed: int,
    share: float,
    frame: Table,
    selected: np.ndarray,
    reason: np.ndarray,
    rule_index: np.ndarray,
    rule_sets: tuple[np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """Lanes, deadlines and notes of decided rows (:data:`DECISION_COLUMNS`).

    ``rule_sets`` is :meth:`rule_sets_of` of the rows: the credit rule set in force
    per row and the tier it holds the row to. Rows covered by a voluntary disclosure
    (``reason == "disclosure"``, measure 22) go to ``yellow``; a selection whose
    documentary kinds valid advance rulings all cover (measure 12) is ``red``, not
    ``yellow``. A ``red`` the lane rule chose is ``red_remote`` where
    ``[selection.remote_inspection]`` allows a video check (measure 8), with its own
    inspection deadline; ``release_condition`` follows ``[selection.release]`` (measure
    14). With the registers of measures 22 and 12 their columns follow
    (:data:`portsift.models.policy.MEASURE_COLUMNS`).
    """
    s = settings
    lab = lab_status(settings, frame)
    accepted = lab["accepted"]
    listed = flag_column(frame, "acceptance_listed")
    perishable = flag_column(frame, "perishable")
    value = number_column(frame, "declared_value")
    ratio = number_column(frame, "weight_per_unit_ratio")
    with np.errstate(divide="ignore", invalid="ignore"):
        off_weight = np.abs(np.log(ratio)) > math.log(s.lanes.physical_weight_ratio)
    physical = perishable | off_weight | (value >= s.lanes.red_min_value)
    rule_lanes = np.array([r.lane for r in s.rules] + [""], dtype=object)[rule_index]
    # Measure 22: a covered declaration goes to document review, whatever else.
    disclosed = np.asarray(reason, dtype=object) == DISCLOSURE_REASON
    ruled = rule_lanes != ""
    lane = select_first(
        [~selected, ruled, disclosed, listed & ~accepted, physical],
        ["green", rule_lanes, "yellow", "red_sampling", "red"],
        "yellow",
    )
    # 采信 outranks a rule's sampling lane: the accepted report settles quality.
    lane = np.where((lane == "red_sampling") & accepted, "red", lane)
    # Measure 12: document review is for classification, valuation and origin; when
    # valid rulings cover all three there is nothing left to review on paper.
    moved = (lane == "yellow") & ~disclosed & ~ruled
    moved &= all_documentary_covered(frame)
    lane = np.where(moved, "red", lane)
    # Measure 8: a physical inspection the lane rule chose may be done by video; the
    # selection itself (budget, tier rates) is already made and does not change.
    physical_red = selected & (lane == "red") & ~ruled
    remote = remote_eligible(s.remote_inspection, s.lanes, frame, physical_red)
    lane = np.where(remote, REMOTE_LANE, lane)
    priority_lane = selected & perishable
    sampling = lane == "red_sampling"
    test_days, test_class = lab_test_days(settings, frame)
    nan = np.nan
    out: dict[str, np.ndarray] = {}
    out["selected"] = selected.astype("int64")
    out["lane"] = lane
    out["selection_reason"] = np.asarray(reason, dtype=object)
    out["lab_accepted"] = accepted.astype("int64")
    out["green_channel"] = perishable.astype("int64")
    out["priority_lane"] = priority_lane.astype("int64")
    inspect_hours = np.where(priority_lane, s.green_channel.inspection_hours, nan)
    # A perishable selection inspected by video keeps the shorter of the two deadlines.
    out["inspection_deadline_hours"] = np.where(
        remote, np.fmin(inspect_hours, s.remote_inspection.inspection_hours), inspect_hours
    )
    out["release_deadline_hours"] = np.where(priority_lane, s.green_channel.release_hours, nan)
    out["sampling_deadline_days"] = np.where(sampling, s.sampling.submission_days, nan)
    out["lab_test_deadline_days"] = np.where(sampling, test_days, nan)
    note_en, note_zh = policy_notes(
        settings,
        seed,
        share,
        frame,
        selected,
        reason,
        rule_index,
        lane,
        lab,
        priority_lane,
        test_class,
        rule_sets,
    )
    if rulings_in_play(frame):
        ruling_en, ruling_zh = ruling_notes(s.rulings, frame, moved)
        note_en, note_zh = join_parts(note_en, ruling_en), join_parts(note_zh, ruling_zh)
    condition = release_conditions(s.release, frame, lane, rule_index)
    if remote.any():
        remote_en, remote_zh = remote_notes(
            s.remote_inspection, s.lanes, frame, remote, s.credit.tier_names_zh
        )
        note_en, note_zh = join_parts(note_en, remote_en), join_parts(note_zh, remote_zh)
    if (condition != "").any():
        release_en, release_zh = release_notes(s.release, condition)
        note_en, note_zh = join_parts(note_en, release_en), join_parts(note_zh, release_zh)
    out["policy_note_en"] = note_en
    out["policy_note_zh"] = note_zh
    versions = [f"{version}/{r.id}" for r in s.credit.rule_sets]
    out["policy_version"] = np.array(versions, dtype=object)[rule_sets[0]]
    out[RELEASE_COLUMN] = condition
    # The columns of measures 22 and 12, only when their registers are given.
    if disclosures_in_play(frame):
        cover = disclosure_cover(s.disclosure, frame)
        out["disclosure_id"] = np.where(cover.covered, cover.disclosure_id, "").astype(object)
    if rulings_in_play(frame):
        out.update(ruling_decision_columns(s.rulings, frame))
    return out
