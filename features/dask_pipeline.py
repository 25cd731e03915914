"""The feature pipeline on ``dask.dataframe`` partitions, from the same pure functions.

Design
------
Every point-in-time statistic of :meth:`portsift.features.pipeline.FeaturePipeline.statistics` is
keyed by a group (importer, declarant, lab, HS code, importer x broker, ...) and time,
and :mod:`portsift.features.history` computes each group's running totals from that group's own
rows only (the cumulative sums never cross groups). So a group's statistics are exact
in any partition that holds the group's *whole* history, whatever else the partition
holds. The Dask path therefore:

1. numbers the rows (``_row``, a global position that becomes the index, with known
   divisions) and runs :meth:`FeaturePipeline._prepare` per partition (row-wise:
   measures, catalogue flags, lab reports, credit tier in force);
2. sorts the keyed statistics into *shuffle groups*, one per partition column that is a
   function of their keys: ``importer_id`` (importer outcomes and activity, importer x
   HS6 activity and references, the importer x broker and importer x HS6 records),
   ``declarant_id`` (and the broker x origin record), ``lab_id`` and ``hs2`` (HS2, HS4,
   HS6, HS6 x origin rates, all HS references and a seller x HS6 record: a heading's
   code starts with its chapter, so one chapter holds all of its headings); the record
   of a schema-file categorical column (:mod:`portsift.features.identity`) is shuffled by that
   column itself;
3. for each shuffle group, hash-shuffles the rows whose partition column is known
   (``DataFrame.shuffle(on=...)``) so that each key's full history is in one partition,
   and runs the unchanged :func:`portsift.features.stats.stats_as_of` on every partition with
   that group's statistics. Rows whose partition column is missing belong to no group
   of that shuffle group; they stay where they are and get the same fill values from
   the same function. The per-partition fitted states have disjoint keys, so the
   fitted state is their concatenation (sorted by key as the pandas path sorts it);
4. the statistics without a key (``all``, ``all_lab_pass``: every outcome of the whole
   history) need the global running totals: each partition sums its outcome events per
   availability day (:func:`portsift.features.stats.outcome_events`, a few hundred rows), the
   client adds those up and runs :func:`portsift.features.history.cumulative_by_time` on them
   (the cumulative sum across time), and every partition looks its rows up in that small
   table with :func:`portsift.features.history.as_of`;
5. the values are shuffled back to the row partitions (``set_index("_row",
   divisions=...)``) and :meth:`FeaturePipeline._derive` builds the features per
   partition, exactly as ``fit_transform`` does.

Categorical vocabularies come from Dask ``value_counts`` with the rule of
:func:`portsift.features.transaction.fit_vocabulary` (categories seen at least
``min_category_count`` times, sorted). ``transform`` needs none of this: it is
row-wise, so it is :meth:`FeaturePipeline.transform` mapped over partitions.

Counts and rates are exactly those of the pandas path; sums of float labels (revenue)
can differ in the last bits when rows of one group and day are summed in another order.
Only :class:`~portsift.features.stats.OutcomeStat` may be unkeyed (the pipeline has no other).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from portsift.features import history
from portsift.features.history import AVAILABLE_AT
from portsift.features.pipeline import FeaturePipeline, Registers
from portsift.features.stats import (
    OUTCOME_VALUES,
    OutcomeStat,
    Stat,
    State,
    needed_columns,
    outcome_events,
    state_key,
    stats_as_of,
)

ROW = "_row"

#: Coarser partition columns that determine a key: a code's heading starts with its
#: chapter, so partitioning by chapter keeps every HS4 and HS6 group whole.
_COARSER: dict[str, str] = {"hs4": "hs2", "hs6": "hs2"}

#: The order in which a statistic's keys are tried as its partition column.
_PARTITION_COLUMNS: tuple[str, ...] = ("importer_id", "declarant_id", "lab_id", "hs2")


def partition_column(stat: Stat) -> str | None:
    """Return the column whose hash partitioning keeps each group of ``stat`` whole.

    Args:
        stat: A statistic of :meth:`portsift.features.pipeline.FeaturePipeline.statistics`.

    Returns:
        The partition column, or None for a statistic over the whole history: the first
        of :data:`_PARTITION_COLUMNS` that is (a coarsening of) a key, else the first key
        (coarsened).
    """
    if not stat.keys:
        return None
    coarse = [_COARSER.get(key, key) for key in stat.keys]
    for column in _PARTITION_COLUMNS:
        if column in coarse:
            return column
    # Any one key column keeps the groups whole (a group fixes every key); a statistic
    # over none of the usual columns (a schema-file column's) is shuffled by its first.
    return coarse[0]


def shuffle_groups(stats: Sequence[Stat]) -> dict[str | None, tuple[Stat, ...]]:
    """Group statistics by partition column (None: the unkeyed ones), keeping order."""
    groups: dict[str | None, list[Stat]] = {}
    for stat in stats:
        groups.setdefault(partition_column(stat), []).append(stat)
    return {column: tuple(members) for column, members in groups.items()}


def with_row_index(declarations: dd.DataFrame) -> dd.DataFrame:
    """Index the rows by their global position (``_row``), with known divisions.

    Args:
        declarations: Canonical declarations, partitions in file order.

    Returns:
        The same rows indexed ``0..n-1`` in partition order.
    """
    lengths = declarations.map_partitions(len).compute()
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype="int64"))])
    keep = [i for i, n in enumerate(lengths) if n > 0]
    parts = declarations.to_delayed()
    indexed = [dask.delayed(_renumber)(parts[i], int(offsets[i])) for i in keep]
    divisions = [int(offsets[i]) for i in keep] + [int(offsets[-1]) - 1]
    meta = _renumber(declarations._meta, 0)
    return dd.from_delayed(indexed, meta=meta, divisions=divisions, verify_meta=False)


def _renumber(frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    out = frame.reset_index(drop=True)
    out.index = pd.RangeIndex(offset, offset + len(out), name=ROW)
    return out


def _keyed_part(
    frame: pd.DataFrame, stats: tuple[Stat, ...], label_delay_days: int, period: str
) -> tuple[pd.DataFrame, State | None]:
    """Run :func:`stats_as_of` on one partition holding whole groups."""
    if len(frame) == 0:
        return _empty_values(frame, stats), None
    return stats_as_of(frame, stats, label_delay_days=label_delay_days, period=period)


def _empty_values(frame: pd.DataFrame, stats: Sequence[Stat]) -> pd.DataFrame:
    names = value_columns(stats)
    return pd.DataFrame({name: pd.Series(dtype="float64") for name in names}, index=frame.index)


def value_columns(stats: Sequence[Stat]) -> list[str]:
    """Names of the value columns :func:`stats_as_of` returns for ``stats``, in order."""
    from portsift.features.stats import (
        ACTIVITY_VALUES,
        REFERENCE_VALUES,
        ActivityStat,
        first_day_name,
    )

    names: list[str] = []
    for stat in stats:
        if isinstance(stat, OutcomeStat):
            names += [f"{stat.name}__{v}" for v in OUTCOME_VALUES]
        elif isinstance(stat, ActivityStat):
            names += [f"{stat.name}__{v}" for v in ACTIVITY_VALUES]
            names.append(first_day_name(stat))
        else:
            names += [f"{stat.name}__{v}" for v in REFERENCE_VALUES]
    return names


def _day_events(
    frame: pd.DataFrame, stats: tuple[Stat, ...], label_delay_days: int
) -> dict[str, pd.DataFrame]:
    """Outcome events of one partition summed per availability day, per unkeyed stat."""
    out: dict[str, pd.DataFrame] = {}
    for stat in stats:
        assert isinstance(stat, OutcomeStat)
        events = outcome_events(frame, replace(stat, keys=()), label_delay_days)
        out[stat.name] = events.groupby(AVAILABLE_AT, sort=True)[list(OUTCOME_VALUES)].sum()
    return out


def _global_values(
    frame: pd.DataFrame, tables: dict[str, pd.DataFrame], stats: tuple[Stat, ...]
) -> pd.DataFrame:
    queries = frame[["declared_at"]].astype({"declared_at": "datetime64[ns]"})
    parts = [
        history.as_of(queries, "declared_at", tables[s.name], [], OUTCOME_VALUES).add_prefix(
            f"{s.name}__"
        )
        for s in stats
    ]
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def _combine_states(states: list[State | None]) -> State:
    """Concatenate per-partition states of disjoint keys, sorted by key as pandas does."""
    tables: dict[str, list[pd.DataFrame]] = {}
    for state in states:
        for name, table in (state or {}).items():
            tables.setdefault(name, []).append(table)
    combined: State = {}
    for name, parts in tables.items():
        non_empty = [p for p in parts if len(p)] or parts[:1]
        table = pd.concat(non_empty, ignore_index=True)
        keys = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        if keys:
            table = table.sort_values(keys, kind="stable").reset_index(drop=True)
        combined[name] = table
    return combined


def _prepare_part(frame: pd.DataFrame, pipeline: FeaturePipeline, registers: Registers) -> Any:
    return pipeline.prepare(frame, registers)


def _derive_part(
    frame: pd.DataFrame,
    *values: pd.DataFrame,
    pipeline: FeaturePipeline,
    tables: dict[str, pd.DataFrame],
    unkeyed: tuple[Stat, ...],
) -> pd.DataFrame:
    columns = [_global_values(frame, tables, unkeyed)]
    columns += [v.reindex(frame.index) for v in values]
    return pipeline.derive(frame, pd.concat(columns, axis=1))


def fit_transform_dask(
    pipeline: FeaturePipeline,
    declarations: dd.DataFrame,
    registers: Registers,
    *,
    registers_on_cluster: Any = None,
    keep: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> dd.DataFrame:
    """Fit ``pipeline`` on a Dask history and return its out-of-time features.

    The fitted state (``state_``, ``vocabulary_``, ``history_end_``, ``feature_names_``)
    is set on ``pipeline`` exactly as :meth:`FeaturePipeline.fit_transform` sets it, so
    that the pipeline is saved and applied by the pandas code unchanged.

    Args:
        pipeline: An unfitted pipeline (its parameters are used).
        declarations: Canonical declarations indexed by :func:`with_row_index`.
        registers: The registers (held by the client; used to infer metadata).
        registers_on_cluster: The same registers scattered to the workers (a future), or
            None to ship them with the tasks.
        keep: Given one partition's features, the rows to keep (e.g. the labelled
            rows training reads); None keeps every row. The fitted state and the
            dropped features are those of every row either way.

    Returns:
        Features and context columns, indexed by ``_row`` with the divisions of
        ``declarations`` (persisted on the cluster): the rows ``keep`` keeps.
    """
    shipped = registers if registers_on_cluster is None else registers_on_cluster
    sample = declarations.get_partition(0).head(200)
    prepared_meta = pipeline.prepare(sample, registers).iloc[:0]
    prepared = declarations.map_partitions(
        _prepare_part, pipeline, shipped, meta=prepared_meta, align_dataframes=False
    ).persist()
    delay, period = pipeline.label_delay_days, pipeline.reference_period
    groups = shuffle_groups(pipeline.statistics())
    unkeyed = groups.pop(None, ())

    # Unkeyed statistics: per-day event sums, added up and accumulated on the client.
    per_part = [dask.delayed(_day_events)(part, unkeyed, delay) for part in prepared.to_delayed()]
    tables: dict[str, pd.DataFrame] = {}
    state: State = {}
    day_sums = dask.compute(*per_part)
    for stat in unkeyed:
        sums = [p[stat.name] for p in day_sums]
        events = pd.concat(sums).groupby(level=0, sort=True).sum().reset_index()
        table = history.cumulative_by_time(events, [], OUTCOME_VALUES)
        tables[stat.name] = table
        state[state_key(stat)] = history.totals(table, [], OUTCOME_VALUES)

    # Keyed statistics: one hash shuffle per partition column, then the pandas function.
    divisions = prepared.divisions
    value_frames: list[dd.DataFrame] = []
    for column, stats in groups.items():
        columns = needed_columns(prepared_meta, stats)
        work = prepared[columns]
        known = work[~work[column].isna()].shuffle(on=column, npartitions=prepared.npartitions)
        unknown = work[work[column].isna()]
        results = [
            dask.delayed(_keyed_part, nout=2)(part, stats, delay, period)
            for part in [*known.to_delayed(), *unknown.to_delayed()]
        ]
        results = list(dask.persist(*results))
        states = dask.compute(*[r[1] for r in results])
        state.update(_combine_states(list(states)))
        meta = _empty_values(prepared_meta[columns], stats)
        values = dd.from_delayed([r[0] for r in results], meta=meta, verify_meta=False)
        values = values.reset_index().set_index(ROW, divisions=list(divisions))
        value_frames.append(values)

    categorical = pipeline.categorical_inputs(prepared_meta)
    pipeline.vocabulary_ = _vocabulary(prepared, categorical, pipeline.min_category_count)
    pipeline.state_ = {name: state[name] for name in _state_order(pipeline, state)}
    pipeline.history_end_ = pd.Timestamp(prepared["declared_at"].max().compute())
    # ``_derive`` reads the parameters and vocabulary only: the tasks carry a copy
    # without the fitted state, which grows with the number of groups.
    deriving = FeaturePipeline(**_params(pipeline))
    deriving.vocabulary_ = pipeline.vocabulary_
    derive_meta = _derive_part(
        prepared_meta,
        *[v._meta for v in value_frames],
        pipeline=deriving,
        tables=tables,
        unkeyed=unkeyed,
    )
    features = prepared.map_partitions(
        _derive_part,
        *value_frames,
        pipeline=deriving,
        tables=tables,
        unkeyed=unkeyed,
        meta=derive_meta,
    )
    candidates = pipeline.candidate_features(features.columns)
    presence = (~features[candidates].isna()).any()
    if keep is None:
        features = features.persist()
    else:
        # One graph for both: each partition's features are derived once, counted for
        # the presence check and cut to the kept rows, and the whole partition is then
        # released, so the workers never hold every row's features.
        kept = features.map_partitions(keep, meta=features._meta)
        features, presence = dask.persist(kept, presence)
    present = presence.compute()
    pipeline.dropped_features_ = [name for name in candidates if not bool(present[name])]
    pipeline.feature_names_ = [n for n in candidates if n not in pipeline.dropped_features_]
    return features


def _params(pipeline: FeaturePipeline) -> dict[str, Any]:
    """The constructor arguments of ``pipeline``."""
    return {
        "smoothing": pipeline.smoothing,
        "label_delay_days": pipeline.label_delay_days,
        "reference_period": pipeline.reference_period,
        "new_importer_days": pipeline.new_importer_days,
        "min_category_count": pipeline.min_category_count,
        "extra_categorical": tuple(pipeline.extra_categorical),
        "extra_numeric": tuple(pipeline.extra_numeric),
        "identity_smoothing": pipeline.identity_smoothing,
    }


def _state_order(pipeline: FeaturePipeline, state: State) -> list[str]:
    """State keys in the order :func:`stats_as_of` creates them (the pipeline's order)."""
    from portsift.features.stats import ActivityStat

    order: list[str] = []
    for stat in pipeline.statistics():
        order.append(state_key(stat))
        if isinstance(stat, ActivityStat):
            order.append(f"first:{stat.name}")
    return [name for name in order if name in state]


def _vocabulary(
    prepared: dd.DataFrame, columns: tuple[str, ...], min_count: int
) -> dict[str, list[str]]:
    """:func:`transaction.fit_vocabulary` from Dask counts (same rule, same order)."""
    counts = dask.compute(*[prepared[c].dropna().astype("str").value_counts() for c in columns])
    vocabulary: dict[str, list[str]] = {}
    for column, count in zip(columns, counts, strict=True):
        vocabulary[column] = sorted(count.index[count >= min_count].tolist())
    return vocabulary
