"""Advance rulings (预裁定, Haikou Customs 2024 measure 12) in scoring and selection.

The feature pipeline attaches, per ruling kind, the valid ruling a declaration matches
(:mod:`portsift.features.ruling`). A matched kind's risk is covered:

* **ranking**: the risk-raising SHAP contributions of the kind's features
  (``[selection.rulings] covered_features``) do not count in the selection priority, so
  that a selection by risk never rests on covered risk (:func:`uncovered_raw_score`);
* **lane**: a selection whose documentary kinds (classification, valuation, origin) are
  all covered has nothing left for document review and is not ``yellow`` (it is
  ``red``, see :mod:`portsift.models.lanes`);
* **reasons**: the policy's note names the ruling and the kind it covers, and the
  model's reasons mark the covered features (:func:`covered_marks`);
* **expiry**: a ruling ending within ``expiry_warning_days`` of the declaration's day
  is flagged (``ruling_expiring``) with a line suggesting the extension.

Without a rulings register none of this happens: there are no ruling columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from portsift.features.contract import RULING_KINDS
from portsift.models.budget import priority
from portsift.models.risk_model import RiskModel
from portsift.models.table import Table, date_column, number_column, table_length, text_column
from portsift.settings import RulingSettings

#: The decision columns of measure 12 (written only when a rulings register is given).
RULING_DECISION_COLUMNS: tuple[str, ...] = (
    "ruling_ids",
    "ruling_kinds",
    "ruling_expiring",
    "ruling_risk_score",
)

_KIND_ZH: dict[str, str] = {"classification": "商品归类", "valuation": "价格", "origin": "原产地"}


def in_play(frame: Table) -> bool:
    """Whether the rows carry the matching rulings (a rulings register was given)."""
    return f"ruling_{RULING_KINDS[0]}_id" in frame


def matched(frame: Table) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per ruling kind: the matching valid ruling's id (``""``: none) and its end date."""
    return {
        kind: (
            text_column(frame, f"ruling_{kind}_id"),
            date_column(frame, f"ruling_{kind}_valid_to"),
        )
        for kind in RULING_KINDS
    }


def all_documentary_covered(frame: Table) -> np.ndarray:
    """Whether valid rulings cover every documentary kind of each row."""
    n = table_length(frame)
    if not in_play(frame):
        return np.zeros(n, dtype=bool)
    covered = np.ones(n, dtype=bool)
    for ids, _ in matched(frame).values():
        covered &= ids != ""
    return covered


def days_left(frame: Table) -> dict[str, np.ndarray]:
    """Per kind: whole days from the declaration's day to its ruling's end (NaN: none)."""
    day = date_column(frame, "declared_at")
    out = {}
    for kind, (ids, end) in matched(frame).items():
        left = (end - day).astype("timedelta64[D]").astype("float64")
        out[kind] = np.where((ids != "") & ~np.isnat(end), left, np.nan)
    return out


def expiring(settings: RulingSettings, frame: Table) -> dict[str, np.ndarray]:
    """Per kind: whether the row's ruling ends within ``expiry_warning_days``."""
    low, high = settings.expiry_warning_days
    return {kind: (left >= low) & (left <= high) for kind, left in days_left(frame).items()}


def ruling_decision_columns(settings: RulingSettings, frame: Table) -> dict[str, np.ndarray]:
    """The decision columns of measure 12 (:data:`RULING_DECISION_COLUMNS`).

    ``ruling_ids`` and ``ruling_kinds`` (``;``-joined, in kind order), ``ruling_expiring``
    (1 where a ruling ends within ``expiry_warning_days``) and ``ruling_risk_score``
    (the risk without what the rulings cover, :func:`uncovered_scores`; the model's
    risk where none covers anything).

    Args:
        settings: ``[selection.rulings]``.
        frame: Rows with the ruling columns (all empty without them), ``risk_score``
            and, where computed, ``ruling_risk_score``.

    Returns:
        The columns.
    """
    n = table_length(frame)
    ids = np.full(n, "", dtype=object)
    kinds = np.full(n, "", dtype=object)
    flagged = np.zeros(n, dtype=bool)
    soon = expiring(settings, frame)
    for kind, (ruling_ids, _) in matched(frame).items():
        has = ruling_ids != ""
        ids = np.where(has, np.where(ids == "", ruling_ids, ids + ";" + ruling_ids), ids)
        kinds = np.where(has, np.where(kinds == "", kind, kinds + ";" + kind), kinds)
        flagged |= soon[kind]
    uncovered = "ruling_risk_score" if "ruling_risk_score" in frame else "risk_score"
    return {
        "ruling_ids": ids.astype(object),
        "ruling_kinds": kinds.astype(object),
        "ruling_expiring": flagged.astype("int64"),
        "ruling_risk_score": number_column(frame, uncovered),
    }


def ruling_notes(
    settings: RulingSettings, frame: Table, lane_moved: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The policy's note of measure 12 per row, in English and Chinese.

    Args:
        settings: ``[selection.rulings]``.
        frame: Rows with the ruling columns and ``declared_at``.
        lane_moved: Rows whose lane was taken away from document review because every
            documentary kind is covered.

    Returns:
        ``(en, zh)``: one line per covered kind, the lane line, one line per ruling
        nearing its end; ``""`` where there is no valid ruling.
    """
    n = table_length(frame)
    en = np.full(n, "", dtype=object)
    zh = np.full(n, "", dtype=object)
    if not in_play(frame):
        return en, zh
    left = days_left(frame)
    soon = expiring(settings, frame)
    source, source_zh = settings.source, settings.source_zh
    for kind, (ids, end) in matched(frame).items():
        has = ids != ""
        if not has.any():
            continue
        until = np.datetime_as_string(end, unit="D").astype(object)
        line_en = (
            kind + " risk covered by advance ruling " + ids + " (valid to " + until
            + f"; {source})"
        )  # fmt: skip
        line_zh = (
            _KIND_ZH[kind] + "风险已由预裁定" + ids + "覆盖（有效期至" + until
            + f"；{source_zh}）"
        )  # fmt: skip
        en = _append(en, np.where(has, line_en, ""))
        zh = _append(zh, np.where(has, line_zh, ""))
        days = np.char.mod("%.0f", np.nan_to_num(left[kind])).astype(object)
        warn_en = (
            "advance ruling " + ids + " ends on " + until + " (in " + days
            + " days): the enterprise may apply for its extension before it ends ("
            + source + ")"
        )  # fmt: skip
        warn_zh = (
            "预裁定" + ids + "将于" + until + "到期（剩余" + days
            + "天），企业可在到期前申请延期（" + source_zh + "）"
        )  # fmt: skip
        en = _append(en, np.where(soon[kind], warn_en, ""))
        zh = _append(zh, np.where(soon[kind], warn_zh, ""))
    en = _append(
        en,
        np.where(
            lane_moved,
            "classification, valuation and origin all covered by advance rulings: no "
            "document review, physical inspection instead",
            "",
        ),
    )
    zh = _append(
        zh, np.where(lane_moved, "归类、价格、原产地均已预裁定：不作单证审核，改为实货查验", "")
    )
    return en, zh


def _append(text: np.ndarray, part: np.ndarray) -> np.ndarray:
    part = np.asarray(part, dtype=object)
    return np.where(part == "", text, np.where(text == "", part, text + "; " + part)).astype(object)


def covered_feature_mask(
    settings: RulingSettings, frame: Table, features: Sequence[str]
) -> np.ndarray | None:
    """Per row and feature, whether a valid ruling covers the feature's risk.

    Args:
        settings: ``[selection.rulings]`` (``covered_features`` per kind).
        frame: Rows with the ruling columns.
        features: The model's features, in column order.

    Returns:
        A boolean matrix (rows x features), or None when no row has a valid ruling.
    """
    if not in_play(frame):
        return None
    n = table_length(frame)
    mask = np.zeros((n, len(features)), dtype=bool)
    position = {name: i for i, name in enumerate(features)}
    for kind, (ids, _) in matched(frame).items():
        has = ids != ""
        columns = [position[f] for f in settings.covered_features[kind] if f in position]
        if has.any() and columns:
            mask[np.ix_(has, columns)] = True
    return mask if mask.any() else None


def uncovered_raw_score(
    raw_score: np.ndarray, contributions: np.ndarray, covered: np.ndarray
) -> np.ndarray:
    """The raw score without the risk-raising contributions of covered features.

    Args:
        raw_score: The model's log-odds of the rows.
        contributions: Their SHAP values (rows x features, log-odds).
        covered: :func:`covered_feature_mask` of the rows.

    Returns:
        ``raw_score - sum(max(shap, 0))`` over each row's covered features: a ruling
        takes away the risk of its kind, it never adds any.
    """
    lifted = np.where(covered, np.maximum(contributions, 0.0), 0.0).sum(axis=1)
    return np.asarray(raw_score, dtype="float64") - lifted


def covered_marks(
    settings: RulingSettings, frame: Table, lang: str
) -> Mapping[str, np.ndarray] | None:
    """What the model's reasons add to a covered feature: which ruling covers it.

    Args:
        settings: ``[selection.rulings]``.
        frame: Rows with the ruling columns.
        lang: ``"en"`` or ``"zh"``.

    Returns:
        Feature -> per-row mark (``""`` where not covered), or None without rulings.
    """
    if not in_play(frame):
        return None
    marks: dict[str, np.ndarray] = {}
    for kind, (ids, _) in matched(frame).items():
        has = ids != ""
        if not has.any():
            continue
        if lang == "zh":
            text = np.where(has, "（已由预裁定" + ids + "覆盖）", "")
        else:
            text = np.where(has, " (covered by advance ruling " + ids + ")", "")
        for feature in settings.covered_features[kind]:
            previous = marks.get(feature)
            marks[feature] = text if previous is None else np.where(previous == "", text, previous)
    return marks or None


def uncovered_scores(
    model: RiskModel,
    x: np.ndarray,
    raw_score: np.ndarray,
    amount: np.ndarray,
    frame: Table,
    settings: RulingSettings,
    *,
    revenue_weight: float,
    num_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The risk and priority of each row without the risk its valid rulings cover.

    TreeSHAP runs on the rows with a valid ruling only (a few per cent of a batch).

    Args:
        model: The fitted risk model.
        x: The rows' risk-feature matrix.
        raw_score: Their log-odds.
        amount: Their revenue at stake if illicit.
        frame: Their features with the ruling columns.
        settings: ``[selection.rulings]``.
        revenue_weight: The ranking's weight of the revenue at stake.
        num_threads: LightGBM threads (0 = default).

    Returns:
        ``(ruling_risk_score, priority)`` of every row (the model's own where no ruling
        covers a feature), or None when no row has a valid ruling.
    """
    covered = covered_feature_mask(settings, frame, model.risk_features)
    if covered is None:
        return None
    rows = covered.any(axis=1)
    contributions = model.contributions(x[rows], num_threads=num_threads)[:, :-1]
    raw = np.asarray(raw_score, dtype="float64")
    risk = model.calibrate(raw)
    ranked = priority(risk, amount, revenue_weight)
    lowered = model.calibrate(uncovered_raw_score(raw[rows], contributions, covered[rows]))
    risk[rows] = lowered
    ranked[rows] = priority(lowered, np.asarray(amount, dtype="float64")[rows], revenue_weight)
    return risk, ranked
