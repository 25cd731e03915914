"""Partitioned input read and validated on the Dask workers (``--engine dask``).

Each part is read by the table's own loader (:mod:`portsift.features.loading`) in a task on
a worker, so every contract rule applies per part with the part's name and row numbers
in its messages. The loaded frames stay on the workers (they become the partitions of a
``dask.dataframe``); the client receives a small summary per part: its columns, row
count, notes, the rows ``--skip-invalid`` set aside, or the error that rejects it.

Keys repeated across parts are found on the workers too: every part's keys (with its
part number and file rows) are hash-shuffled by key, so that each key's rows meet in one
partition, and each partition returns only its repeated keys
(:func:`portsift.features.parts.later_duplicates`). The client never holds the ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from portsift.features.loading import LoadedTable
from portsift.features.parts import (
    PART,
    ROW,
    check_same_columns,
    drop_duplicate_rows,
    duplicates_error,
    key_column,
    later_duplicates,
    part_sources,
    source_positions,
)
from portsift.features.validation import InputError

Loader = Callable[..., LoadedTable]


@dataclass(frozen=True)
class PartSummary:
    """What the client learns about one loaded part (no rows but the rejected ones).

    Attributes:
        error: The error that rejects the part, or None.
        columns: The loaded frame's columns.
        rows: Valid rows.
        rejected: The rows ``--skip-invalid`` set aside.
        notes: The loader's notes.
        table: The loaded table without its frame (layout, schema columns, names).
    """

    error: InputError | None
    columns: tuple[str, ...] = ()
    rows: int = 0
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: tuple[str, ...] = ()
    table: LoadedTable | None = None


@dataclass(frozen=True)
class PartitionedTable:
    """A validated table whose rows are partitions on the cluster.

    The attributes are those of :class:`portsift.features.loading.LoadedTable`, except that
    ``frame`` is a ``dask.dataframe`` with one partition per part, in part order.
    """

    frame: dd.DataFrame
    rejected: pd.DataFrame
    layout: str
    notes: tuple[str, ...]
    extra_categorical: tuple[str, ...] = ()
    extra_numeric: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict)
    parts: tuple[str, ...] = ()


def _load(path: str, loader: Loader, options: Mapping[str, Any]) -> LoadedTable | InputError:
    # The error is returned, not raised: the client chooses the first part in file order.
    try:
        return loader(path, **options)
    except InputError as exc:
        return exc


def _summary(loaded: LoadedTable | InputError) -> PartSummary:
    if isinstance(loaded, InputError):
        return PartSummary(error=loaded)
    return PartSummary(
        error=None,
        columns=tuple(loaded.frame.columns),
        rows=len(loaded.frame),
        rejected=loaded.rejected,
        notes=loaded.notes,
        table=LoadedTable(
            frame=loaded.frame.iloc[:0],
            rejected=loaded.rejected.iloc[:0],
            layout=loaded.layout,
            notes=(),
            extra_categorical=loaded.extra_categorical,
            extra_numeric=loaded.extra_numeric,
            columns=loaded.columns,
        ),
    )


def _frame(loaded: LoadedTable) -> pd.DataFrame:
    return loaded.frame


def _positions(loaded: LoadedTable, key: tuple[str, ...], part: int) -> pd.DataFrame:
    return source_positions(loaded, key, part)


def _drop(loaded: LoadedTable, rows: np.ndarray, source: str, key: str, column: str) -> LoadedTable:
    return drop_duplicate_rows(loaded, rows, source, key, column)


def repeated_keys(
    client: Any, loaded: Sequence[Any], key: tuple[str, ...], meta: pd.DataFrame
) -> pd.DataFrame:
    """Keys of the loaded parts repeated across parts, found on the workers.

    Args:
        client: A ``distributed.Client``.
        loaded: Futures of the loaded parts, in part order.
        key: The unique key's canonical fields.
        meta: An empty frame of :func:`portsift.features.parts.source_positions`.

    Returns:
        The later occurrences of repeated keys (key, part, row): a few rows at most.
    """
    positions = dd.from_delayed(
        [client.submit(_positions, part, key, number) for number, part in enumerate(loaded)],
        meta=meta,
        verify_meta=False,
    )
    shuffled = positions.shuffle(on=list(key), npartitions=max(1, len(loaded)))
    found = shuffled.map_partitions(later_duplicates, key, meta=meta).compute()
    # Each partition held whole key groups, so these are all the later occurrences.
    return found.sort_values([PART, ROW], kind="stable").reset_index(drop=True)


def load_parts_dask(
    path: str | Path,
    loader: Loader,
    key: tuple[str, ...] | None,
    client: Any,
    **options: Any,
) -> PartitionedTable:
    """Read and validate the parts of ``path`` on the workers of ``client``.

    Args:
        path: A file, a directory of parts or a glob (the workers must see the same paths).
        loader: The table's loader of one file, e.g. ``load_declarations``.
        key: The unique key to check across parts, or None.
        client: A ``distributed.Client``.
        **options: The loader's keyword arguments (``skip_invalid``, ``schema_path``, ...).

    Returns:
        The table, one partition per part, with the parts' rejected rows and notes.

    Raises:
        InputError: The first part (in file order) that the loader rejects, parts of
            different columns, or a key repeated across parts (without ``skip_invalid``).
    """
    names = part_sources(path)
    parts = [Path(name) for name in names]
    loaded = [client.submit(_load, name, loader, options, pure=False) for name in names]
    summaries: list[PartSummary] = client.gather([client.submit(_summary, f) for f in loaded])
    for summary in summaries:
        if summary.error is not None:
            raise summary.error
    check_same_columns([s.columns for s in summaries], parts)
    first = summaries[0].table
    assert first is not None  # no error means a loaded table
    if key is not None and len(parts) > 1:
        meta = source_positions(first, key, 0)
        duplicates = repeated_keys(client, loaded, key, meta)
        column = key_column(first, key)
        if len(duplicates) and not options.get("skip_invalid", False):
            raise duplicates_error(duplicates, parts, key[0], column)
        for number, rows in duplicates.groupby(PART)[ROW]:
            index = int(str(number))
            loaded[index] = client.submit(
                _drop, loaded[index], rows.to_numpy(dtype="int64"), names[index], key[0], column
            )
            summaries[index] = client.submit(_summary, loaded[index]).result()
    frames = [client.submit(_frame, f) for f in loaded]
    frame = dd.from_delayed(frames, meta=first.frame, verify_meta=False)
    rejected = [s.rejected for s in summaries if len(s.rejected)]
    return PartitionedTable(
        frame=frame,
        rejected=pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame(),
        layout=first.layout,
        notes=tuple(note for s in summaries for note in s.notes),
        extra_categorical=first.extra_categorical,
        extra_numeric=first.extra_numeric,
        columns=first.columns,
        parts=tuple(names),
    )
