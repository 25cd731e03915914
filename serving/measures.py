"""The answer fields of measures 22 (voluntary disclosure) and 12 (advance rulings).

The policy's decision columns of the two measures (``disclosure_id``, ``ruling_ids``,
``ruling_kinds``, ``ruling_expiring``, ``ruling_risk_score``,
:data:`portsift.models.policy.MEASURE_COLUMNS`) go into the answer as they are; the
covering disclosure's date and minor flag and the rulings' end dates are read from the
same rows with the policy's own functions (:func:`portsift.models.disclosures.
disclosure_cover`, :func:`portsift.models.rulings.matched`), so that they describe
exactly the disclosure and rulings the decision names. A field is ``null`` when the
server has no register of its measure (nothing was checked), and empty (``""``, 0) when
it has one and nothing applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from portsift.models import disclosures, rulings
from portsift.models.table import Table, table_length
from portsift.settings import SelectionSettings

#: The answer fields of measure 22, in the order of the answer.
DISCLOSURE_FIELDS: Final[tuple[str, ...]] = ("disclosure_id", "disclosed_at", "disclosure_minor")
#: The answer fields of measure 12, in the order of the answer.
RULING_FIELDS: Final[tuple[str, ...]] = (
    "ruling_ids",
    "ruling_kinds",
    "ruling_valid_to",
    "ruling_expiring",
    "ruling_risk_score",
)
#: Every answer field of the two measures.
MEASURE_FIELDS: Final[tuple[str, ...]] = (*DISCLOSURE_FIELDS, *RULING_FIELDS)


def measure_fields(
    settings: SelectionSettings, features: Table, columns: Mapping[str, np.ndarray]
) -> dict[str, list[Any]]:
    """The JSON values of :data:`MEASURE_FIELDS`, one list per field, aligned with the rows.

    Args:
        settings: The ``[selection]`` settings the policy decided with.
        features: The rows' features and context columns (a frame or columns).
        columns: The rows' decision columns (the policy's measure columns among them
            when a register is in force).

    Returns:
        Every field of :data:`MEASURE_FIELDS`: ``None`` throughout without the
        measure's register.
    """
    n = table_length(features)
    out: dict[str, list[Any]] = {name: [None] * n for name in MEASURE_FIELDS}
    if disclosures.in_play(features):
        cover = disclosures.disclosure_cover(settings.disclosure, features)
        out["disclosure_id"] = np.asarray(columns["disclosure_id"]).astype(str).tolist()
        days = np.datetime_as_string(cover.disclosed_at, unit="D")
        out["disclosed_at"] = np.where(cover.covered, days, None).tolist()
        out["disclosure_minor"] = np.where(cover.covered, cover.minor.astype(int), None).tolist()
    if rulings.in_play(features):
        ends = np.full(n, "", dtype=object)
        for ids, valid_to in rulings.matched(features).values():
            has = ids != ""
            day = np.datetime_as_string(valid_to, unit="D").astype(object)
            ends = np.where(has, np.where(ends == "", day, ends + ";" + day), ends)
        out["ruling_ids"] = np.asarray(columns["ruling_ids"]).astype(str).tolist()
        out["ruling_kinds"] = np.asarray(columns["ruling_kinds"]).astype(str).tolist()
        out["ruling_valid_to"] = ends.tolist()
        out["ruling_expiring"] = np.asarray(columns["ruling_expiring"]).astype(int).tolist()
        risk = np.asarray(columns["ruling_risk_score"], dtype="float64")
        out["ruling_risk_score"] = np.where(np.isfinite(risk), risk, None).tolist()
    return out
