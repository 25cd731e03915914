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

import numpy as np
import pandas as pd

AVAILABLE_AT = "_available_at"


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
    periods = declared_at.dt.to_period(period)
    return periods.dt.start_time, (periods + 1).dt.start_time


def cumulative_by_time(
    events: pd.DataFrame, keys: Sequence[str], values: Sequence[str]
) -> pd.DataFrame:
    """Sum ``values`` per key and availability time, then accumulate over time per key.

    Args:
        events: Rows with ``keys``, ``values`` and an ``AVAILABLE_AT`` column.
        keys: Grouping columns; rows with a missing key are ignored.
        values: Numeric columns to sum.

    Returns:
        One row per (key, available_at) with the running totals, sorted by time.
    """
    keys = list(keys)
    values = list(values)
    usable = events.dropna(subset=keys) if keys else events
    grouped = (
        usable.groupby([*keys, AVAILABLE_AT], observed=True, sort=True)[values].sum().reset_index()
    )
    if keys:
        grouped[values] = grouped.groupby(keys, observed=True, sort=False)[values].cumsum()
    else:
        grouped[values] = grouped[values].cumsum()
    return grouped.sort_values(AVAILABLE_AT, kind="stable").reset_index(drop=True)


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
    left = queries[[*keys, time_col]].copy()
    left[time_col] = left[time_col].astype("datetime64[ns]")
    left["_row"] = np.arange(len(left))
    left = left.sort_values(time_col, kind="stable")
    right = table[[*keys, AVAILABLE_AT, *values]].copy()
    right[AVAILABLE_AT] = right[AVAILABLE_AT].astype("datetime64[ns]")
    if len(right) == 0 or len(left) == 0:
        return pd.DataFrame(fill_value, index=queries.index, columns=values)
    merged = pd.merge_asof(
        left,
        right,
        left_on=time_col,
        right_on=AVAILABLE_AT,
        by=keys or None,
        direction="backward",
        allow_exact_matches=True,
    )
    merged = merged.sort_values("_row", kind="stable")
    result = merged[values].astype("float64").fillna(fill_value)
    result.index = queries.index
    return result


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
