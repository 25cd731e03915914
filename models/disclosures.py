"""Voluntary disclosure (主动披露, Haikou Customs 2024 measure 22) in the selection policy.

A declaration covered by a voluntary disclosure lodged before the decision on it is not
a detection target. Which disclosure covers which declaration is decided here, from the
candidate disclosures the feature pipeline attaches
(:mod:`portsift.features.disclosure`) and the scope of ``[selection.disclosure]``; what
follows from it is in :mod:`portsift.models.policy` (outside the budget, document
review, ``selection_reason = disclosure``), :mod:`portsift.models.policy_notes` (the
reason) and :mod:`portsift.training.evaluate` (a disclosed violation is never a hit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from portsift.models.table import Table, date_column, number_column, table_length, text_column
from portsift.settings import DisclosureSettings

#: The selection reason of a covered declaration.
DISCLOSURE_REASON = "disclosure"

#: The column that says the policy was given the disclosures register.
IN_PLAY_COLUMN = "named_disclosure_id"


@dataclass(frozen=True)
class DisclosureCover:
    """Which declarations a voluntary disclosure covers, and by which one.

    Attributes:
        covered: Per row, whether a disclosure covers it.
        disclosure_id: The covering disclosure's id (``""`` where none).
        disclosed_at: Its date (NaT where none).
        minor: Whether it is minor (False where none).
    """

    covered: np.ndarray
    disclosure_id: np.ndarray
    disclosed_at: np.ndarray
    minor: np.ndarray


def in_play(frame: Table) -> bool:
    """Whether the rows carry the candidate disclosures (a disclosures register was given)."""
    return IN_PLAY_COLUMN in frame


def disclosure_cover(settings: DisclosureSettings, frame: Table) -> DisclosureCover:
    """The disclosures that cover each declaration under ``[selection.disclosure]``.

    A disclosure naming the declaration covers it when lodged at most ``decision_days``
    after the declaration's day; with ``enterprise_scope``, the importer's next
    disclosure naming no declaration covers it when lodged at most ``decision_days``
    after that day and at most ``enterprise_scope_days`` after it; a disclosure that is
    not minor only with ``cover_not_minor``. The one naming the declaration wins.

    Args:
        settings: ``[selection.disclosure]``.
        frame: Rows with ``declared_at`` and the candidate columns of
            :data:`portsift.features.disclosure.CONTEXT_COLUMNS` (absent: nothing covered).

    Returns:
        The cover of every row.
    """
    n = table_length(frame)
    none = DisclosureCover(
        covered=np.zeros(n, dtype=bool),
        disclosure_id=np.full(n, "", dtype=object),
        disclosed_at=np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
        minor=np.zeros(n, dtype=bool),
    )
    if not in_play(frame):
        return none
    day = date_column(frame, "declared_at")
    decided = day + np.timedelta64(settings.decision_days, "D")

    def candidate(prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ids = text_column(frame, f"{prefix}disclosure_id")
        at = date_column(frame, f"{prefix}disclosed_at")
        minor = number_column(frame, f"{prefix}disclosure_minor") == 1
        usable = (ids != "") & ~np.isnat(at) & (at <= decided)
        usable &= minor | settings.cover_not_minor
        return usable, ids, at, minor

    named, named_id, named_at, named_minor = candidate("named_")
    general, general_id, general_at, general_minor = candidate("enterprise_")
    reach = day + np.timedelta64(settings.enterprise_scope_days, "D")
    general &= settings.enterprise_scope & (general_at >= day) & (general_at <= reach)
    general &= ~named
    if not (named.any() or general.any()):
        return none
    return DisclosureCover(
        covered=named | general,
        disclosure_id=np.where(named, named_id, np.where(general, general_id, "")).astype(object),
        disclosed_at=np.where(named, named_at, np.where(general, general_at, np.datetime64("NaT"))),
        minor=np.where(named, named_minor, general & general_minor),
    )


def disclosure_notes(
    settings: DisclosureSettings, cover: DisclosureCover, ruled: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The reason of a covered declaration, in English and Chinese (``""`` elsewhere).

    Args:
        settings: ``[selection.disclosure]`` (its sources).
        cover: :func:`disclosure_cover` of the rows.
        ruled: Covered rows an officer rule selects all the same (the rule outranks
            the disclosure; the note says so).

    Returns:
        ``(en, zh)``, e.g. "voluntary disclosure DS00012 on 2025-03-02, minor: in
        principle no penalty (not a detection target: document review; Haikou Customs
        2024 measure 22)".
    """
    n = len(cover.covered)
    if not cover.covered.any():
        empty = np.full(n, "", dtype=object)
        return empty, empty.copy()
    on = np.datetime_as_string(cover.disclosed_at, unit="D").astype(object)
    ids = cover.disclosure_id
    head_en = "voluntary disclosure " + ids + " on " + on
    head_zh = "企业于" + on + "主动披露（" + ids + "）"
    what_en = np.where(
        cover.minor, ", minor: in principle no penalty", ", not minor: the penalty may be lightened"
    )
    what_zh = np.where(
        cover.minor, "，情节轻微：原则上不予行政处罚", "，情节非轻微：可依法从轻或减轻处罚"
    )
    tail_en = np.where(
        ruled,
        f" ({settings.source}); the officer rule still applies",
        f" (not a detection target: document review; {settings.source})",
    )
    tail_zh = np.where(
        ruled,
        f"（{settings.source_zh}）；布控规则仍然适用",
        f"（不作为查发目标，转单证审核；{settings.source_zh}）",
    )
    en = np.where(cover.covered, head_en + what_en.astype(object) + tail_en.astype(object), "")
    zh = np.where(cover.covered, head_zh + what_zh.astype(object) + tail_zh.astype(object), "")
    return en.astype(object), zh.astype(object)
