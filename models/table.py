"""Reading declarations the policy decides from: a pandas frame or columns of numpy arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: What the policy reads declarations from: a pandas frame (batch scoring) or columns of
#: numpy arrays (the API's per-request path, text as object arrays with None missing).
Table = pd.DataFrame | Mapping[str, np.ndarray]


def table_length(frame: Table) -> int:
    """Rows of a frame or of a mapping of equal-length columns."""
    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return len(next(iter(frame.values()))) if frame else 0


def number_column(frame: Table, column: str) -> np.ndarray:
    """A numeric column as float64 (NaN where missing, all NaN when absent)."""
    if column not in frame:
        return np.full(table_length(frame), np.nan)
    values = frame[column]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64")


def flag_column(frame: Table, column: str) -> np.ndarray:
    """A 0/1 feature as booleans (missing column or NaN = False)."""
    return number_column(frame, column) == 1


def text_column(frame: Table, column: str) -> np.ndarray:
    """A text column as an object array of strings, empty where missing."""
    if column not in frame:
        return np.full(table_length(frame), "", dtype=object)
    values = frame[column]
    if isinstance(values, pd.Series):
        return values.astype(object).where(values.notna(), "").astype(str).to_numpy(dtype=object)
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def date_text_column(frame: Table, column: str) -> np.ndarray:
    """A date column as ``YYYY-MM-DD`` text, empty where missing."""
    if column not in frame:
        return np.full(table_length(frame), "", dtype=object)
    values = frame[column]
    if isinstance(values, pd.Series):
        values = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
    dates = np.asarray(values, dtype="datetime64[ns]")
    text = np.datetime_as_string(dates, unit="D").astype(object)
    return np.where(np.isnat(dates), "", text)


def date_column(frame: Table, column: str) -> np.ndarray:
    """A date column as ``datetime64[D]`` (NaT where missing, all NaT when absent)."""
    if column not in frame:
        return np.full(table_length(frame), np.datetime64("NaT"), dtype="datetime64[D]")
    values = frame[column]
    if isinstance(values, pd.Series):
        values = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]")


def starts_with(texts: np.ndarray, prefix: str) -> np.ndarray:
    """Whether each text starts with ``prefix``."""
    if len(texts) == 0:
        return np.zeros(0, dtype=bool)
    return np.char.startswith(texts.astype(str), prefix)


#: The sorted levels of each prefix table :func:`longest_prefix` has seen, by its items.
_PREFIX_LEVELS: dict[tuple[tuple[str, Any], ...], list[tuple[int, np.ndarray, np.ndarray]]] = {}


def _prefix_levels(table: Mapping[str, Any]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per prefix length, longest first: the sorted prefixes and their values."""
    values = np.asarray(list(table.values()), dtype=object)
    keys = np.asarray(list(table), dtype=str)
    lengths = np.char.str_len(keys)
    levels = []
    for length in sorted(set(lengths.tolist()), reverse=True):
        at = np.flatnonzero(lengths == length)
        order = np.argsort(keys[at])
        levels.append((length, keys[at][order], values[at][order]))
    return levels


def longest_prefix(codes: np.ndarray, table: Mapping[str, Any], default: Any) -> np.ndarray:
    """Value of the longest prefix of ``table`` each code starts with (else ``default``)."""
    out = np.full(len(codes), default, dtype=object)
    if len(codes) == 0 or not table:
        return out
    # The tables are the settings' (a handful, fixed once loaded): sorting one costs
    # more than a one-row request's whole lookup, so each is prepared once.
    try:
        key = tuple(table.items())
        levels = _PREFIX_LEVELS.get(key)
        if levels is None:
            levels = _PREFIX_LEVELS[key] = _prefix_levels(table)
    except TypeError:  # unhashable values: prepared on every call
        levels = _prefix_levels(table)
    found = np.zeros(len(codes), dtype=bool)
    text = np.asarray(codes, dtype=object).astype(str)
    # One binary search per prefix length (codes cut to that length), not one pass per
    # prefix: a code starts with a prefix of length L exactly when its first L
    # characters are the prefix.
    for length, level, level_values in levels:
        cut = text.astype(f"<U{length}")
        position = np.minimum(np.searchsorted(level, cut), len(level) - 1)
        hit = ~found & (level[position] == cut)
        out[hit] = level_values[position[hit]]
        found |= hit
    return out


def one_of(values: np.ndarray, wanted: Sequence[str]) -> np.ndarray:
    """Whether each value is one of a few configured ones.

    One comparison per configured value (a handful), not per row: on the one-row arrays
    of the API's path this is several times cheaper than ``np.isin``, which sorts.
    """
    hit = np.zeros(len(values), dtype=bool)
    for one in wanted:
        hit |= np.asarray(values, dtype=object) == one
    return hit


def select_first(
    conditions: Sequence[np.ndarray], choices: Sequence[Any], default: Any
) -> np.ndarray:
    """``np.select`` for text: per row the choice of the first true condition, as objects.

    The same values as ``np.select(conditions, choices, default).astype(object)``, but
    with one masked assignment per condition, last to first so that the first true one
    is written last: ``np.select`` broadcasts every condition and choice to a common
    shape first, a fixed cost that dominates on the one-row arrays of the API's path.

    Args:
        conditions: Boolean arrays, all of one length.
        choices: Per condition, a scalar or an array of that length.
        default: The value where no condition holds.

    Returns:
        An object array of that length.
    """
    out = np.full(len(conditions[0]), default, dtype=object)
    for condition, choice in zip(reversed(conditions), reversed(choices), strict=True):
        # No test of whether the mask holds anything: an empty masked assignment costs
        # less than the test. tolist() gives Python str (not numpy.str_), as
        # np.select(...).astype(object) does.
        mask = np.asarray(condition, dtype=bool)
        if isinstance(choice, np.ndarray):
            out[mask] = choice[mask].tolist()
        else:
            out[mask] = choice
    return out


def tier_values(tiers: np.ndarray, table: Mapping[str, float], default: float) -> np.ndarray:
    """Map tier names to numbers (``default`` for a tier not in ``table``)."""
    # One dict lookup per distinct tier, not per row.
    names, inverse = np.unique(np.asarray(tiers, dtype=object).astype(str), return_inverse=True)
    mapped = np.array([table.get(name, default) for name in names], dtype="float64")
    return mapped[inverse.reshape(-1)]


def join_parts(*parts: np.ndarray) -> np.ndarray:
    """Join per-row text parts with "; " (the contract's reason separator), skipping empties."""
    joined = np.full(len(parts[0]), "", dtype=object)
    for part in parts:
        part = np.asarray(part, dtype=object)
        given = part != ""
        # Most parts are empty on most rows (every row of a one-row request): an empty
        # part changes nothing, and skipping it saves its four whole-array operations
        # (count_nonzero: a fraction of the cost of ndarray.any on small arrays).
        if not np.count_nonzero(given):
            continue
        joined = np.where(given, np.where(joined == "", part, joined + "; " + part), joined)
    return joined


def fmt_number(value: float) -> str:
    """A number in its shortest form (``0.2``, ``80``)."""
    return f"{value:g}"
