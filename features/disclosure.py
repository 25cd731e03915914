"""Voluntary disclosures (主动披露, Haikou Customs 2024 measure 22): history and cover.

Two things are read from the register of disclosures (contract section 1.5):

* **The importer's disclosure history**, a model feature built point in time like the
  other enterprise history: the number of disclosures the importer lodged on days
  before the declaration's day, and the days since the latest of them. A disclosure
  dated on or after a declaration's day changes nothing of that declaration's features.
* **The disclosures that may cover the declaration**, context for the selection policy
  (which decides, with the scope of ``[selection.disclosure]``, whether one does): the
  earliest disclosure naming the declaration, and the importer's earliest disclosure
  naming no declaration lodged on or after the declaration's day.

Without a register neither exists: no feature column, no context column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The importer's disclosure history (model features).
HISTORY_FEATURES: tuple[str, ...] = ("importer_disclosures", "importer_days_since_disclosure")

#: The candidate disclosures of each declaration (context for the policy): the one
#: naming it, and the importer's next one naming no declaration.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "named_disclosure_id",
    "named_disclosed_at",
    "named_disclosure_minor",
    "enterprise_disclosure_id",
    "enterprise_disclosed_at",
    "enterprise_disclosure_minor",
)

#: A group id and a day number pack into one int64 (days stay far below this).
_DAY_SPAN = 1 << 32


def _days(values: pd.Series) -> np.ndarray:
    """Whole days since 1970-01-01 (floored), as int64."""
    return values.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype("int64")


def _packed(codes: np.ndarray, days: np.ndarray) -> np.ndarray:
    return codes.astype("int64") * _DAY_SPAN + (days + _DAY_SPAN // 2)


def disclosure_columns(
    declarations: pd.DataFrame, disclosures: pd.DataFrame | None
) -> pd.DataFrame:
    """The history features and the candidate disclosures of each declaration.

    Args:
        declarations: Canonical declarations (``declaration_id``, ``declared_at``,
            ``importer_id``).
        disclosures: The register of voluntary disclosures, or None.

    Returns:
        :data:`HISTORY_FEATURES` and :data:`CONTEXT_COLUMNS` aligned with
        ``declarations.index``; no column at all without a register.
    """
    out = pd.DataFrame(index=declarations.index)
    if disclosures is None:
        return out
    history = _history(declarations, disclosures)
    named = _named(declarations, disclosures)
    enterprise = _next_enterprise_disclosure(declarations, disclosures)
    return pd.concat([out, history, named, enterprise], axis=1)


def _history(declarations: pd.DataFrame, disclosures: pd.DataFrame) -> pd.DataFrame:
    """Disclosures of the importer on days before the declaration's, and days since the last."""
    n = len(declarations)
    register = pd.Index(disclosures["enterprise_id"].astype("str").unique())
    event_code = register.get_indexer(disclosures["enterprise_id"].astype("str"))
    events = np.sort(_packed(event_code, _days(disclosures["disclosed_at"])))
    importer = declarations["importer_id"]
    code = register.get_indexer(importer.astype("str"))
    known = (code >= 0) & importer.notna().to_numpy()
    day = _days(declarations["declared_at"])
    # Events of the importer strictly before the declaration's day: those packed below
    # (code, day), less those of earlier codes.
    before = np.searchsorted(events, _packed(code, day), side="left")
    start = np.searchsorted(events, _packed(code, np.full(n, -(_DAY_SPAN // 2))), side="left")
    count = np.where(known, before - start, 0)
    last = events[np.maximum(before - 1, 0)] % _DAY_SPAN - _DAY_SPAN // 2 if len(events) else day
    since = np.where(known & (count > 0), day - last, np.nan)
    return pd.DataFrame(
        {
            "importer_disclosures": count.astype("float64"),
            "importer_days_since_disclosure": since.astype("float64"),
        },
        index=declarations.index,
    )


def _named(declarations: pd.DataFrame, disclosures: pd.DataFrame) -> pd.DataFrame:
    """The earliest disclosure naming each declaration (missing where none does)."""
    out = pd.DataFrame(index=declarations.index)
    if "declaration_id" in disclosures:
        naming = disclosures[disclosures["declaration_id"].notna()]
    else:
        naming = disclosures.iloc[0:0].assign(declaration_id=pd.Series(dtype="str"))
    earliest = naming.sort_values(["disclosed_at", "disclosure_id"], kind="stable")
    earliest = earliest.drop_duplicates("declaration_id", keep="first")
    position = pd.Index(earliest["declaration_id"].astype("str")).get_indexer(
        declarations["declaration_id"].astype("str")
    )
    return _pick(out, earliest, position, "named_")


def _next_enterprise_disclosure(
    declarations: pd.DataFrame, disclosures: pd.DataFrame
) -> pd.DataFrame:
    """The importer's earliest disclosure naming no declaration, on or after its day."""
    out = pd.DataFrame(index=declarations.index)
    if "declaration_id" in disclosures:
        general = disclosures[disclosures["declaration_id"].isna()]
    else:
        general = disclosures
    register = pd.Index(general["enterprise_id"].astype("str").unique())
    order = general.assign(
        _key=_packed(
            register.get_indexer(general["enterprise_id"].astype("str")),
            _days(general["disclosed_at"]),
        )
    ).sort_values(["_key", "disclosure_id"], kind="stable")
    keys = order["_key"].to_numpy(dtype="int64")
    code = register.get_indexer(declarations["importer_id"].astype("str"))
    known = (code >= 0) & declarations["importer_id"].notna().to_numpy()
    at = np.searchsorted(keys, _packed(code, _days(declarations["declared_at"])), side="left")
    inside = at < len(keys)
    same = np.zeros(len(at), dtype=bool)
    same[inside] = keys[at[inside]] // _DAY_SPAN == code[inside]
    position = np.where(known & inside & same, at, -1)
    return _pick(out, order, position, "enterprise_")


def _pick(
    out: pd.DataFrame, table: pd.DataFrame, position: np.ndarray, prefix: str
) -> pd.DataFrame:
    """The id, date and minor flag of ``table``'s row ``position`` per declaration (-1: none)."""
    found = (position >= 0) & (len(table) > 0)
    rows = np.maximum(position, 0)[found]
    ids = np.full(len(out), None, dtype=object)
    dates = np.full(len(out), np.datetime64("NaT"), dtype="datetime64[ns]")
    minor = np.full(len(out), np.nan)
    ids[found] = table["disclosure_id"].astype("str").to_numpy(dtype=object)[rows]
    dates[found] = table["disclosed_at"].to_numpy(dtype="datetime64[ns]")[rows]
    minor[found] = table["minor"].to_numpy(dtype="float64")[rows]
    out[f"{prefix}disclosure_id"] = pd.Series(ids, index=out.index, dtype="str")
    out[f"{prefix}disclosed_at"] = dates
    out[f"{prefix}disclosure_minor"] = minor
    return out
