"""Advance rulings (预裁定, Haikou Customs 2024 measure 12): the rulings a declaration matches.

A declaration matches a ruling of the register (contract section 1.6) when the ruling
is its importer's, the declaration's HS code starts with the ruling's code (the code
compared as the ruling gives it, normally the full 10-digit national code: a ruling on
``6203419090`` needs those ten digits, a ruling given at six digits covers every
national subheading under them), and the declaration's day lies in the ruling's
validity, ``valid_from <= declared_at <= valid_to`` (whole days, both ends included).
An expired ruling, or one not yet in force, matches nothing.

Per ruling kind (``classification``, ``valuation``, ``origin``) the context carries the
matching ruling with the latest ``valid_to`` (its id and end date): what the selection
policy needs to say which risk is covered and whether the ruling nears its end. Without
a register there is no such column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from portsift.features.contract import RULING_KINDS


def context_columns() -> tuple[str, ...]:
    """The context columns of the rulings: ``ruling_<kind>_id``, ``ruling_<kind>_valid_to``."""
    return tuple(
        name for kind in RULING_KINDS for name in (f"ruling_{kind}_id", f"ruling_{kind}_valid_to")
    )


#: :func:`context_columns`, in order.
CONTEXT_COLUMNS: tuple[str, ...] = context_columns()


def ruling_columns(declarations: pd.DataFrame, rulings: pd.DataFrame | None) -> pd.DataFrame:
    """The valid rulings each declaration matches, one id and end date per kind.

    Args:
        declarations: Canonical declarations (``declared_at``, ``importer_id``,
            ``hs_code``).
        rulings: The register of advance rulings, or None.

    Returns:
        :data:`CONTEXT_COLUMNS` aligned with ``declarations.index`` (missing where no
        valid ruling of the kind matches); no column at all without a register.
    """
    out = pd.DataFrame(index=declarations.index)
    if rulings is None:
        return out
    left = pd.DataFrame(
        {
            "_row": np.arange(len(declarations)),
            "enterprise_id": declarations["importer_id"].astype("str").to_numpy(),
            "_code": declarations["hs_code"].astype("str").to_numpy(),
            "_day": declarations["declared_at"].to_numpy(dtype="datetime64[ns]"),
        }
    ).dropna(subset=["enterprise_id"])
    right = rulings[["ruling_id", "enterprise_id", "hs_code", "kind", "valid_from", "valid_to"]]
    right = right.astype({"enterprise_id": "str", "hs_code": "str", "ruling_id": "str"})
    # An importer holds a handful of rulings, so the pairs stay few.
    pairs = left.merge(right, on="enterprise_id", how="inner")
    day = pairs["_day"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    start = pairs["valid_from"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    end = pairs["valid_to"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    codes = pairs["_code"].to_numpy(dtype=str)
    prefixes = pairs["hs_code"].to_numpy(dtype=str)
    matches = (start <= day) & (day <= end)
    if len(pairs):
        matches &= np.strings.startswith(codes, prefixes)
    valid = pairs[matches].sort_values(["_row", "kind", "valid_to", "ruling_id"], kind="stable")
    latest = valid.drop_duplicates(["_row", "kind"], keep="last")
    for kind in RULING_KINDS:
        of_kind = latest[latest["kind"] == kind]
        ids = np.full(len(declarations), None, dtype=object)
        ends = np.full(len(declarations), np.datetime64("NaT"), dtype="datetime64[ns]")
        rows = of_kind["_row"].to_numpy(dtype="int64")
        ids[rows] = of_kind["ruling_id"].to_numpy(dtype=object)
        ends[rows] = of_kind["valid_to"].to_numpy(dtype="datetime64[ns]")
        out[f"ruling_{kind}_id"] = pd.Series(ids, index=out.index, dtype="str")
        out[f"ruling_{kind}_valid_to"] = ends
    return out
