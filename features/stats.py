"""Declarative historic statistics, computed point in time or applied from fitted state.

A feature family declares which statistics it needs (:class:`OutcomeStat`,
:class:`ActivityStat`, :class:`ReferenceStat`); this module computes all of them in one
pass. Training rows get each statistic *as of* their own date (see
:mod:`portsift.features.history`); scoring rows get the totals over the fitted history, which is
the state saved with the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from portsift.features import history
from portsift.features.history import AVAILABLE_AT

OUTCOME_VALUES = ("inspected", "illicit", "revenue")
ACTIVITY_VALUES = ("declarations",)
REFERENCE_VALUES = ("weighted_sum", "weight")


@dataclass(frozen=True)
class OutcomeStat:
    """Inspection outcomes of a group: inspections, violations found, revenue raised.

    Attributes:
        name: Prefix of the output columns.
        keys: Grouping columns (empty for the whole history).
        where: Optional boolean column restricting which declarations count.
    """

    name: str
    keys: tuple[str, ...]
    where: str | None = None


@dataclass(frozen=True)
class ActivityStat:
    """Declarations lodged by a group and the day of its first declaration."""

    name: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class ReferenceStat:
    """A robust reference level of a (log) measure for a group.

    The reference is the count-weighted mean of the group's per-period medians over all
    periods that ended before the declaration, so that a few extreme values, such as
    undervalued declarations, move it little.
    """

    name: str
    keys: tuple[str, ...]
    measure: str


Stat = OutcomeStat | ActivityStat | ReferenceStat
State = dict[str, pd.DataFrame]


def first_day_name(stat: ActivityStat) -> str:
    """Name of the column holding a key's first activity day (the state of ``stat``)."""
    return f"{stat.name}__first_day"


def day_number(dates: pd.Series) -> np.ndarray:
    """Return days since 1970-01-01 plus one, so that 0 can stand for "never"."""
    days = (dates.dt.normalize() - pd.Timestamp("1970-01-01")).dt.days
    return days.to_numpy(dtype="float64") + 1.0


def outcome_events(frame: pd.DataFrame, stat: OutcomeStat, label_delay_days: int) -> pd.DataFrame:
    """The labelled outcome events of ``frame`` that ``stat`` counts, when each is known.

    Shared by the pandas and the Dask pipeline, so that both count the same events.
    """
    if "illicit" not in frame:
        mask = np.zeros(len(frame), dtype=bool)
    else:
        inspected = frame["inspected"] if "inspected" in frame else frame["illicit"].notna()
        mask = (inspected == 1).to_numpy() & frame["illicit"].notna().to_numpy()
    if stat.where is not None:
        mask &= frame[stat.where].fillna(False).to_numpy(dtype=bool)
    rows = frame.loc[mask]
    events = pd.DataFrame({key: rows[key] for key in stat.keys}, index=rows.index)
    events[AVAILABLE_AT] = history.outcome_available_at(rows["declared_at"], label_delay_days)
    events["inspected"] = 1.0
    illicit = rows["illicit"] if "illicit" in rows else pd.Series(0.0, index=rows.index)
    events["illicit"] = illicit.astype("float64")
    revenue = rows["revenue"] if "revenue" in rows else pd.Series(0.0, index=rows.index)
    events["revenue"] = revenue.astype("float64").fillna(0.0)
    return events


def _activity_events(frame: pd.DataFrame, stat: ActivityStat) -> pd.DataFrame:
    events = pd.DataFrame({key: frame[key] for key in stat.keys}, index=frame.index)
    # Declarations (not outcomes) are known when lodged; the next-day rule still applies
    # so that the order of declarations within one day never matters.
    events[AVAILABLE_AT] = history.outcome_available_at(frame["declared_at"], 0)
    events["declarations"] = 1.0
    return events


def _first_days(frame: pd.DataFrame, stat: ActivityStat) -> pd.DataFrame:
    keys = list(stat.keys)
    days = pd.DataFrame({key: frame[key] for key in keys}, index=frame.index)
    days["_day"] = day_number(frame["declared_at"])
    first = days.dropna(subset=keys).groupby(keys, observed=True, sort=True)["_day"].min()
    table = first.reset_index().rename(columns={"_day": first_day_name(stat)})
    table[AVAILABLE_AT] = pd.Timestamp("1970-01-01") + pd.to_timedelta(
        table[first_day_name(stat)], unit="D"
    )
    return table.sort_values(AVAILABLE_AT, kind="stable").reset_index(drop=True)


def _reference_events(frame: pd.DataFrame, stat: ReferenceStat, period: str) -> pd.DataFrame:
    keys = list(stat.keys)
    measure = frame[stat.measure].to_numpy(dtype="float64")
    usable = np.isfinite(measure)
    for key in keys:
        usable &= frame[key].notna().to_numpy()
    start, available = history.period_available_at(frame["declared_at"][usable], period)
    events = pd.DataFrame({key: frame[key].to_numpy()[usable] for key in keys})
    events["_period"] = start.to_numpy()
    events[AVAILABLE_AT] = available.to_numpy()
    events["_measure"] = measure[usable]
    if len(keys) == 1 and pd.api.types.is_float_dtype(events[keys[0]]):
        # One numeric key: group on a single packed int64 (id, period), much faster.
        days = events["_period"].to_numpy().astype("datetime64[D]").astype("int64")
        packed = events[keys[0]].to_numpy().astype("int64") * 1_000_000 + days
        grouped = events.groupby(packed, sort=True)
        medians = grouped["_measure"].agg(["median", "size"])
        firsts = grouped[[keys[0], AVAILABLE_AT]].first()
        medians = pd.concat([firsts, medians], axis=1).reset_index(drop=True)
    else:
        grouped = events.groupby([*keys, "_period", AVAILABLE_AT], observed=True)
        medians = grouped["_measure"].agg(["median", "size"]).reset_index()
    medians["weighted_sum"] = medians["median"] * medians["size"]
    medians["weight"] = medians["size"].astype("float64")
    return medians[[*keys, AVAILABLE_AT, "weighted_sum", "weight"]]


def _prefixed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.add_prefix(f"{name}__")


def _group_ids(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """One float id per distinct key combination (NaN where a key is missing).

    Grouping, sorting and ``merge_asof`` on one numeric column are several times faster
    than on several Arrow-backed string columns.
    """
    combined = np.zeros(len(frame), dtype="int64")
    missing = np.zeros(len(frame), dtype=bool)
    for key in keys:
        codes, uniques = pd.factorize(frame[key])
        missing |= codes < 0
        combined = combined * (len(uniques) + 1) + codes + 1
    ids = pd.factorize(combined)[0].astype("float64")
    ids[missing] = np.nan
    return ids


def needed_columns(frame: pd.DataFrame, stats: Sequence[Stat]) -> list[str]:
    """The columns of ``frame`` that computing ``stats`` reads (dates, labels, keys, measures)."""
    needed = ["declared_at", "inspected", "illicit", "revenue"]
    for stat in stats:
        needed += list(stat.keys)
        if isinstance(stat, OutcomeStat) and stat.where is not None:
            needed.append(stat.where)
        if isinstance(stat, ReferenceStat):
            needed.append(stat.measure)
    return [c for c in dict.fromkeys(needed) if c in frame]


def _working_frame(frame: pd.DataFrame, stats: list[Stat]) -> tuple[pd.DataFrame, dict]:
    """The columns the statistics read, sorted by time once, with a group id per key set."""
    work = frame[needed_columns(frame, stats)].copy()
    work["declared_at"] = work["declared_at"].astype("datetime64[ns]")
    id_columns: dict[tuple[str, ...], str] = {}
    for stat in stats:
        if stat.keys and stat.keys not in id_columns:
            name = f"_gid{len(id_columns)}"
            work[name] = _group_ids(work, stat.keys)
            id_columns[stat.keys] = name
    order = np.argsort(work["declared_at"].to_numpy(), kind="stable")
    return work.iloc[order], id_columns


def _with_keys(
    table: pd.DataFrame, work: pd.DataFrame, id_column: str, keys: list[str]
) -> pd.DataFrame:
    """Replace the group id of a state table by the key values it stands for."""
    first = work[[id_column, *keys]].dropna(subset=[id_column]).drop_duplicates(id_column)
    merged = table.merge(first, on=id_column, how="left", sort=False)
    values = [c for c in table.columns if c != id_column]
    return merged[[*keys, *values]].sort_values(keys, kind="stable").reset_index(drop=True)


def stats_as_of(
    frame: pd.DataFrame,
    stats: Iterable[Stat],
    *,
    label_delay_days: int,
    period: str,
) -> tuple[pd.DataFrame, State]:
    """Compute every statistic for each row as of its own date, and the fitted totals.

    Args:
        frame: Prepared declarations (``declared_at``, keys, labels, measures).
        stats: The statistics to compute.
        label_delay_days: Days from lodging to a known outcome.
        period: Period alias of reference medians.

    Returns:
        ``(values, state)``: the point-in-time values aligned with ``frame.index`` and
        the totals over the whole of ``frame`` to apply to later declarations.
    """
    stats = list(stats)
    work, id_columns = _working_frame(frame, stats)
    columns: list[pd.DataFrame] = []
    state: State = {}
    probes: dict[tuple[str, ...], history.Probe] = {}

    def lookup(table: pd.DataFrame, id_keys: list[str], values: Sequence[str]) -> pd.DataFrame:
        key = tuple(id_keys)
        if key not in probes:
            probes[key] = history.make_probe(work, "declared_at", id_keys)
        return history.as_of_probe(probes[key], work.index, table, id_keys, values)

    for stat in stats:
        keys = list(stat.keys)
        id_keys = [id_columns[stat.keys]] if keys else []
        by_id = replace(stat, keys=tuple(id_keys))
        if isinstance(by_id, OutcomeStat):
            events, values = outcome_events(work, by_id, label_delay_days), OUTCOME_VALUES
        elif isinstance(by_id, ActivityStat):
            events, values = _activity_events(work, by_id), ACTIVITY_VALUES
        else:
            events, values = _reference_events(work, by_id, period), REFERENCE_VALUES
        table = history.cumulative_by_time(events, id_keys, values)
        found = lookup(table, id_keys, values)
        columns.append(_prefixed(found, stat.name))
        totals = history.totals(table, id_keys, values)
        state[state_key(stat)] = _with_keys(totals, work, id_keys[0], keys) if keys else totals
        if isinstance(by_id, ActivityStat):
            first = _first_days(work, by_id)
            name = first_day_name(stat)
            columns.append(lookup(first, id_keys, [name]))
            state[f"first:{stat.name}"] = _with_keys(
                first[[*id_keys, name]], work, id_keys[0], keys
            )
    return _assemble(work, columns).reindex(frame.index), state


def stats_from_state(frame: pd.DataFrame, stats: Iterable[Stat], state: State) -> pd.DataFrame:
    """Apply fitted totals to declarations lodged after the fitted history.

    Args:
        frame: Prepared declarations.
        stats: The statistics to look up (the same as at fitting).
        state: The totals returned by :func:`stats_as_of`.

    Returns:
        The statistic values aligned with ``frame.index``.
    """
    columns: list[pd.DataFrame] = []
    for stat in stats:
        keys = list(stat.keys)
        values = values_of(stat)
        table = state[state_key(stat)]
        columns.append(_prefixed(history.lookup(frame, table, keys, values), stat.name))
        if isinstance(stat, ActivityStat):
            name = first_day_name(stat)
            columns.append(history.lookup(frame, state[f"first:{stat.name}"], keys, [name]))
    return _assemble(frame, columns)


def _assemble(frame: pd.DataFrame, columns: list[pd.DataFrame]) -> pd.DataFrame:
    if not columns:
        return pd.DataFrame(index=frame.index)
    return pd.concat(columns, axis=1)


def values_of(stat: Stat) -> tuple[str, ...]:
    """The value columns a statistic's state holds per key."""
    if isinstance(stat, OutcomeStat):
        return OUTCOME_VALUES
    if isinstance(stat, ActivityStat):
        return ACTIVITY_VALUES
    return REFERENCE_VALUES


def state_key(stat: Stat) -> str:
    """Key of a statistic's table in the fitted state (``kind:name``)."""
    kind = {OutcomeStat: "outcome", ActivityStat: "activity", ReferenceStat: "reference"}
    return f"{kind[type(stat)]}:{stat.name}"


def prior_rates(values: pd.DataFrame, name: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Return the overall violation rate and revenue per inspection known at each row.

    Args:
        values: Statistic values containing the overall outcome statistic ``name``.
        name: Name of the statistic over the whole history.

    Returns:
        ``(violation_rate, revenue_per_inspection)`` per row (0 before any outcome).
    """
    inspected = values[f"{name}__inspected"].to_numpy()
    safe = np.maximum(inspected, 1.0)
    rate = np.where(inspected > 0, values[f"{name}__illicit"].to_numpy() / safe, 0.0)
    revenue = np.where(inspected > 0, values[f"{name}__revenue"].to_numpy() / safe, 0.0)
    return rate, revenue


def smoothed(events: pd.Series, count: pd.Series, prior: np.ndarray, weight: float) -> np.ndarray:
    """Bayesian-smoothed rate ``(events + weight * prior) / (count + weight)``."""
    return (events.to_numpy() + weight * prior) / (count.to_numpy() + weight)


def reference_level(values: pd.DataFrame, name: str) -> np.ndarray:
    """Return the reference level of a :class:`ReferenceStat` (NaN where none is known)."""
    weight = values[f"{name}__weight"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, values[f"{name}__weighted_sum"].to_numpy() / weight, np.nan)
