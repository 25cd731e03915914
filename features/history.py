"""Point-in-time statistics over the declaration history.

Every historic statistic of portsift is built here, in one of two forms:

* **As of a date** (:func:`as_of`): for each query row dated ``t``, the running total of
  the statistic over events that became *available* at or before ``t``. Inspection
  outcomes of declarations lodged on day ``d`` become available on day
  ``d + 1 + label_delay_days``, so a declaration never sees its own outcome, nor one
  lodged the same day, nor any later one. This gives training rows their out-of-time
  encodings.
* **Totals** (:func:`totals`): the same statistic over the whole fitted history, which is
  the state a model saves and applies to declarations lodged after its history ends.

The functions are pure and vectorised: a group-by, a cumulative sum and one
``merge_asof`` per statistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

AVAILABLE_AT = "_available_at"

#: Availability times are whole days; a group id and a day number pack into one int64
#: (day numbers stay far below this for any date pandas can represent).
_DAY_SPAN = 1_000_000


def _day_numbers(times: pd.Series) -> np.ndarray:
    """Whole days since 1970-01-01 (floored), as int64."""
    return times.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype("int64")


def _single_numeric_key(frame: pd.DataFrame, keys: list[str]) -> bool:
    return len(keys) == 1 and pd.api.types.is_float_dtype(frame[keys[0]])


def _packed(ids: np.ndarray, days: np.ndarray) -> np.ndarray:
    return ids.astype("int64") * _DAY_SPAN + (days + _DAY_SPAN // 2)


def outcome_available_at(declared_at: pd.Series, label_delay_days: int) -> pd.Series:
    """Return when the inspection outcome of each declaration becomes known.

    Args:
        declared_at: Lodging date (or datetime) of each declaration.
        label_delay_days: Days between lodging and a known outcome.

    Returns:
        The start of the day after lodging plus the delay.
    """
    return declared_at.dt.normalize() + pd.Timedelta(days=1 + label_delay_days)


def period_available_at(declared_at: pd.Series, period: str) -> tuple[pd.Series, pd.Series]:
    """Return the calendar period of each date and the moment the period has ended.

    Args:
        declared_at: Lodging date of each declaration.
        period: A pandas period alias such as ``"M"`` or ``"W"``.

    Returns:
        ``(period_start, available_at)``: statistics of a period may be used by
        declarations lodged at or after ``available_at``.
    """
    if period == "M":
        # numpy's month unit gives the same boundaries as pandas periods, much faster.
        months = declared_at.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
        start = pd.Series(months.astype("datetime64[ns]"), index=declared_at.index)
        end = pd.Series((months + 1).astype("datetime64[ns]"), index=declared_at.index)
        return start, end
    periods = declared_at.dt.to_period(period)
    return periods.dt.start_time, (periods + 1).dt.start_time


def cumulative_by_time(
    events: pd.DataFrame, keys: Sequence[str], values: Sequence[str]
) -> pd.DataFrame:
    """Sum ``values`` per key and availability time, then accumulate over time per key.

    Args:
        events: Rows with ``keys``, ``values`` and an ``AVAILABLE_AT`` column (whole days).
        keys: Grouping columns; rows with a missing key are ignored. A single float
            column of group ids takes a fast numpy path.
        values: Numeric columns to sum.

    Returns:
        One row per (key, available_at) with the running totals, sorted by time.
    """
    keys = list(keys)
    values = list(values)
    usable = events.dropna(subset=keys) if keys else events
    if not keys or _single_numeric_key(usable, keys):
        return _cumulative_numeric(usable, keys, values)
    grouped = (
        usable.groupby([*keys, AVAILABLE_AT], observed=True, sort=True)[values].sum().reset_index()
    )
    grouped[values] = grouped.groupby(keys, observed=True, sort=False)[values].cumsum()
    return grouped.sort_values(AVAILABLE_AT, kind="stable").reset_index(drop=True)


def _cumulative_numeric(events: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    ids = events[keys[0]].to_numpy() if keys else np.zeros(len(events))
    packed = _packed(ids, _day_numbers(events[AVAILABLE_AT]))
    order = np.argsort(packed, kind="stable")
    packed = packed[order]
    data = events[values].to_numpy(dtype="float64")[order]
    unique, starts = np.unique(packed, return_index=True)
    sums = np.add.reduceat(data, starts, axis=0) if len(data) else data.reshape(0, len(values))
    group = unique // _DAY_SPAN
    days = unique % _DAY_SPAN - _DAY_SPAN // 2
    # A cumulative sum within each group only (never across groups), so that a group's
    # totals do not depend, even in the last bit, on other groups' outcomes.
    table = pd.DataFrame(sums, columns=values).groupby(group, sort=False).cumsum()
    table = table.reset_index(drop=True)
    if keys:
        table.insert(0, keys[0], group.astype("float64"))
    table[AVAILABLE_AT] = pd.to_datetime(days, unit="D")
    return table.sort_values(AVAILABLE_AT, kind="stable").reset_index(drop=True)


def as_of(
    queries: pd.DataFrame,
    time_col: str,
    table: pd.DataFrame,
    keys: Sequence[str],
    values: Sequence[str],
    fill_value: float = 0.0,
) -> pd.DataFrame:
    """Look up, for each query row, the latest running totals available at its time.

    Args:
        queries: Rows with ``keys`` and ``time_col``.
        time_col: The query time (the declaration's lodging time).
        table: Output of :func:`cumulative_by_time`.
        keys: Grouping columns shared by ``queries`` and ``table``.
        values: Columns of ``table`` to return.
        fill_value: Value where nothing was available yet.

    Returns:
        ``values`` aligned with ``queries.index``.
    """
    keys = list(keys)
    values = list(values)
    if len(table) == 0 or len(queries) == 0:
        return pd.DataFrame(fill_value, index=queries.index, columns=values)
    if not keys or _single_numeric_key(queries, keys):
        return _as_of_numeric(queries, time_col, table, keys, values, fill_value)
    left = queries[[*keys, time_col]].copy()
    left[time_col] = left[time_col].astype("datetime64[ns]")
    left["_row"] = np.arange(len(left))
    if not left[time_col].is_monotonic_increasing:
        left = left.sort_values(time_col, kind="stable")
    right = table[[*keys, AVAILABLE_AT, *values]].copy()
    right[AVAILABLE_AT] = right[AVAILABLE_AT].astype("datetime64[ns]")
    merged = pd.merge_asof(
        left,
        right,
        left_on=time_col,
        right_on=AVAILABLE_AT,
        by=keys,
        direction="backward",
        allow_exact_matches=True,
    )
    result = np.full((len(queries), len(values)), fill_value, dtype="float64")
    found = merged[values].astype("float64").fillna(fill_value).to_numpy()
    result[merged["_row"].to_numpy()] = found
    return pd.DataFrame(result, index=queries.index, columns=values)


@dataclass(frozen=True)
class Probe:
    """Query rows packed as (group id, day) and their sort order, reusable across tables."""

    packed: np.ndarray
    order: np.ndarray
    known: np.ndarray


def make_probe(queries: pd.DataFrame, time_col: str, keys: Sequence[str]) -> Probe:
    """Pack query rows for :func:`as_of_probe` (``keys``: none, or one float id column)."""
    keys = list(keys)
    ids = queries[keys[0]].to_numpy() if keys else np.zeros(len(queries))
    known = ~np.isnan(ids)
    packed = _packed(np.where(known, ids, -1), _day_numbers(queries[time_col]))
    return Probe(packed=packed, order=np.argsort(packed, kind="stable"), known=known)


def as_of_probe(
    probe: Probe,
    index: pd.Index,
    table: pd.DataFrame,
    keys: Sequence[str],
    values: Sequence[str],
    fill_value: float = 0.0,
) -> pd.DataFrame:
    """:func:`as_of` for packed queries: a binary search over (group, day) keys."""
    keys = list(keys)
    values = list(values)
    result = np.full((len(index), len(values)), fill_value, dtype="float64")
    if len(table):
        table_ids = table[keys[0]].to_numpy() if keys else np.zeros(len(table))
        packed = _packed(table_ids, _day_numbers(table[AVAILABLE_AT]))
        order = np.argsort(packed, kind="stable")
        packed = packed[order]
        data = table[values].to_numpy(dtype="float64")[order]
        # Searching in sorted order is several times faster than probing at random.
        position = np.empty(len(probe.packed), dtype="int64")
        sorted_probe = probe.packed[probe.order]
        position[probe.order] = np.searchsorted(packed, sorted_probe, side="right") - 1
        hit = (position >= 0) & probe.known
        hit[hit] = packed[position[hit]] // _DAY_SPAN == probe.packed[hit] // _DAY_SPAN
        result[hit] = data[position[hit]]
    return pd.DataFrame(result, index=index, columns=values)


def _as_of_numeric(
    queries: pd.DataFrame,
    time_col: str,
    table: pd.DataFrame,
    keys: list[str],
    values: list[str],
    fill_value: float,
) -> pd.DataFrame:
    probe = make_probe(queries, time_col, keys)
    return as_of_probe(probe, queries.index, table, keys, values, fill_value)


def totals(table: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Return the final running totals per key (the whole fitted history).

    Args:
        table: Output of :func:`cumulative_by_time`.
        keys: Grouping columns.
        values: Total columns.

    Returns:
        One row per key with ``values``.
    """
    keys = list(keys)
    values = list(values)
    if not keys:
        return table[values].tail(1).reset_index(drop=True)
    return table.groupby(keys, observed=True, sort=True)[values].last().reset_index()


def lookup(
    queries: pd.DataFrame,
    state: pd.DataFrame,
    keys: Sequence[str],
    values: Sequence[str],
    fill_value: float = 0.0,
) -> pd.DataFrame:
    """Look up fitted totals for each query row by key.

    Args:
        queries: Rows with ``keys``.
        state: Totals as returned by :func:`totals`.
        keys: Key columns.
        values: Columns of ``state`` to return.
        fill_value: Value for unknown keys.

    Returns:
        ``values`` aligned with ``queries.index``.
    """
    keys = list(keys)
    values = list(values)
    if not keys:
        row = state[values].iloc[0] if len(state) else pd.Series(fill_value, index=values)
        return pd.DataFrame(
            np.tile(row.to_numpy(dtype="float64"), (len(queries), 1)),
            index=queries.index,
            columns=values,
        )
    index = pd.MultiIndex.from_frame(state[keys]) if len(keys) > 1 else pd.Index(state[keys[0]])
    probe = pd.MultiIndex.from_frame(queries[keys]) if len(keys) > 1 else pd.Index(queries[keys[0]])
    position = index.get_indexer(probe)
    found = position >= 0
    out = np.full((len(queries), len(values)), fill_value, dtype="float64")
    if found.any():
        out[found] = state[values].to_numpy(dtype="float64")[position[found]]
    return pd.DataFrame(out, index=queries.index, columns=values)
