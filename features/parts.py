"""Partitioned input: a directory or a glob of CSV or Parquet parts read as one table.

``--declarations`` and the registers accept one file, a directory of parts
(``data/declarations/``) or a glob (``data/declarations/*.parquet``, ``part-*.csv``).
Every part is read and validated by the loader of its table
(:mod:`portsift.features.loading`) on its own, so that a message names the part, the column
and the part's own row numbers, and every contract rule applies unchanged. What no single
part can see is checked here: that the parts have the same columns, and that a unique key
(``declaration_id``, ``ruling_id``, ...) does not repeat across parts.

This module holds the rules shared by both engines and the pandas engine's reading
(:func:`load_parts`: the parts concatenated in order). The Dask engine reads the parts on
the workers (:mod:`portsift.features.dask_loading`) with the same functions.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from portsift.features.loading import LoadedTable, read_table
from portsift.features.validation import (
    InputError,
    Problem,
    format_rows,
    rejected_rows,
)
from portsift.features.writing import CSV_SUFFIXES, PARQUET_SUFFIXES

#: Characters that make a path a glob pattern.
_GLOB_CHARACTERS = frozenset("*?[")

#: What a directory of parts may hold besides parts: Spark's and Dask's marker files.
_IGNORED_PREFIXES = (".", "_")

#: The columns of a table of source positions (:func:`source_positions`).
PART, ROW = "_part", "_source_row"


def is_partitioned(path: str | Path) -> bool:
    """Whether ``path`` names parts (a directory or a glob) rather than one file.

    Args:
        path: The path as given on the command line.

    Returns:
        True for a directory or a pattern with ``*``, ``?`` or ``[``.
    """
    text = str(path)
    return bool(_GLOB_CHARACTERS & set(text)) or Path(text).is_dir()


def part_files(path: str | Path) -> list[Path]:
    """The part files of ``path``, in name order (one file is its own only part).

    Args:
        path: A CSV or Parquet file, a directory of parts or a glob pattern.

    Returns:
        The parts, sorted by name so that the table's row order is reproducible.

    Raises:
        InputError: A directory or pattern with no CSV or Parquet part, or with both
            CSV and Parquet parts (two exports mixed up, most likely).
    """
    text = str(path)
    if not is_partitioned(text):
        return [Path(text)]
    candidates = (
        sorted(Path(text).iterdir()) if Path(text).is_dir() else sorted(map(Path, glob.glob(text)))
    )
    suffixes = CSV_SUFFIXES | PARQUET_SUFFIXES
    parts = [
        p
        for p in candidates
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(_IGNORED_PREFIXES)
    ]
    if not parts:
        what = "directory" if Path(text).is_dir() else "pattern"
        raise InputError(
            f"{text}: the {what} holds no CSV or Parquet part (.csv, .parquet, .pq).", file=text
        )
    kinds = {p.suffix.lower() in CSV_SUFFIXES for p in parts}
    if len(kinds) > 1:
        raise InputError(
            f"{text}: holds both CSV and Parquet parts; give the parts of one export "
            "(a directory or pattern of one format).",
            file=text,
        )
    return parts


def part_sources(path: str | Path) -> list[str]:
    """The parts of ``path`` as messages name them (one file: exactly as given).

    Args:
        path: A CSV or Parquet file, a directory of parts or a glob pattern.

    Returns:
        The parts' paths as text, in name order.

    Raises:
        InputError: See :func:`part_files`.
    """
    if not is_partitioned(path):
        return [str(path)]
    return [str(part) for part in part_files(path)]


def source_rows(table: LoadedTable) -> np.ndarray:
    """The 1-based file rows of a loaded table's valid rows (``frame``'s row order).

    The loader numbers rows as in the file; ``--skip-invalid`` removes some, and
    ``rejected["row"]`` says which.

    Args:
        table: What a loader returned for one file.

    Returns:
        int64 row numbers, one per row of ``table.frame``.
    """
    total = len(table.frame) + len(table.rejected)
    rows = np.arange(1, total + 1, dtype="int64")
    if len(table.rejected) == 0:
        return rows
    return np.setdiff1d(rows, table.rejected["row"].to_numpy(dtype="int64"), assume_unique=True)


def source_positions(table: LoadedTable, keys: Sequence[str], part: int) -> pd.DataFrame:
    """The unique key of every valid row with its part number and file row.

    Args:
        table: One loaded part.
        keys: The table's unique key columns.
        part: The part's position among the parts.

    Returns:
        ``keys`` then :data:`PART` and :data:`ROW`.
    """
    positions = table.frame[list(keys)].reset_index(drop=True)
    positions[PART] = np.full(len(positions), part, dtype="int64")
    positions[ROW] = source_rows(table)
    return positions


def later_duplicates(positions: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rows whose key an earlier row (earlier part, or earlier row of the part) holds.

    Args:
        positions: :func:`source_positions` of some parts (any order, whole key groups).
        keys: The key columns.

    Returns:
        The later occurrences (``keys``, :data:`PART`, :data:`ROW`), in part and row order.
    """
    ordered = positions.sort_values([PART, ROW], kind="stable")
    complete = ordered[list(keys)].notna().all(axis=1)
    repeated = ordered[list(keys)].duplicated(keep="first") & complete
    return ordered[repeated.to_numpy()].reset_index(drop=True)


def duplicates_error(
    duplicates: pd.DataFrame, parts: Sequence[Path], key: str, column: str
) -> InputError:
    """The error for keys repeated across parts: the first part that repeats one.

    Args:
        duplicates: :func:`later_duplicates` of every part (not empty).
        parts: The part files, by part number.
        key: The key's canonical field (the first if several).
        column: Its column as named in the files.

    Returns:
        The error naming the part, the column and the part's rows.
    """
    first = int(duplicates[PART].min())
    rows = np.sort(duplicates.loc[duplicates[PART] == first, ROW].to_numpy(dtype="int64"))
    label = f"'{column}'" if column == key else f"'{column}' ({key})"
    n = len(rows)
    source = str(parts[first])
    others = sorted(set(duplicates[PART].tolist()) - {first})
    message = (
        f"{source}: column {label}: {n} row{'s' if n != 1 else ''} with a {key} that an "
        f"earlier row or part already holds ({format_rows(rows)})."
    )
    if others:
        message += f" {len(others)} other part(s) repeat keys too."
    message += " Fix them or pass --skip-invalid to set them aside."
    return InputError(message, file=source, column=column, rows=[int(r) for r in rows])


def drop_duplicate_rows(
    table: LoadedTable, rows: np.ndarray, source: str, key: str, column: str
) -> LoadedTable:
    """Set aside the rows of one part whose key repeats an earlier part's (``--skip-invalid``).

    The rejected rows carry the raw values of the file, as the loader's own do, so the
    part is read again (only a part that repeats keys).

    Args:
        table: The part as loaded.
        rows: 1-based file rows to set aside.
        source: The part file.
        key: The key's canonical field.
        column: Its column as named in the file.

    Returns:
        The part without those rows, with them added to ``rejected``.
    """
    raw = read_table(source)
    mask = np.zeros(len(raw), dtype=bool)
    mask[rows - 1] = True
    problem = Problem(column, f"a {key} that an earlier part already holds", mask, field=key)
    extra = rejected_rows(source, raw, [problem], mask)
    keep = ~np.isin(source_rows(table), rows)
    rejected = (
        pd.concat([table.rejected, extra], ignore_index=True) if len(table.rejected) else extra
    )
    note = f"{source}: {len(rows)} rows set aside whose {key} an earlier part already holds."
    return replace(
        table,
        frame=table.frame[keep].reset_index(drop=True),
        rejected=rejected.sort_values("row", kind="stable").reset_index(drop=True),
        notes=(*table.notes, note),
    )


def check_same_columns(columns: Sequence[Sequence[str]], parts: Sequence[Path]) -> None:
    """Refuse parts whose canonical columns differ from the first part's.

    Args:
        columns: The loaded columns of every part, by part number.
        parts: The part files.

    Raises:
        InputError: Naming the first part that differs and how.
    """
    expected = list(columns[0])
    for number, found in enumerate(columns):
        if list(found) == expected:
            continue
        lacks = [c for c in expected if c not in found]
        extra = [c for c in found if c not in expected]
        what = "; ".join(
            text
            for text in (
                f"lacks {', '.join(lacks)}" if lacks else "",
                f"has {', '.join(extra)} besides" if extra else "",
                "has them in another order" if not lacks and not extra else "",
            )
            if text
        )
        raise InputError(
            f"{parts[number]}: the part's columns differ from those of {parts[0]} ({what}); "
            "every part of one table must have the same columns.",
            file=str(parts[number]),
            column=(lacks or extra or [None])[0],
        )


def load_parts(
    path: str | Path,
    load_one: Callable[[str], LoadedTable],
    key: tuple[str, ...] | None,
    *,
    skip_invalid: bool,
) -> LoadedTable:
    """Read the parts of ``path`` with ``load_one`` and concatenate them (pandas engine).

    Args:
        path: A file, a directory of parts or a glob.
        load_one: The table's loader of one file (it applies every contract rule).
        key: The unique key (canonical fields) to check across parts, or None.
        skip_invalid: Set repeated keys aside instead of refusing the table.

    Returns:
        One table: the parts' valid rows in part order, their rejected rows and notes.

    Raises:
        InputError: From the loader (naming the part), parts of different columns, or a
            key repeated across parts (without ``skip_invalid``).
    """
    sources = part_sources(path)
    tables = [load_one(source) for source in sources]
    if not is_partitioned(path):
        return tables[0]
    parts = [Path(source) for source in sources]
    check_same_columns([list(t.frame.columns) for t in tables], parts)
    if key is not None:
        positions = pd.concat(
            [source_positions(t, key, n) for n, t in enumerate(tables)], ignore_index=True
        )
        duplicates = later_duplicates(positions, key)
        column = key_column(tables[0], key)
        if len(duplicates) and not skip_invalid:
            raise duplicates_error(duplicates, parts, key[0], column)
        for number, rows in duplicates.groupby(PART)[ROW]:
            index = int(str(number))
            tables[index] = drop_duplicate_rows(
                tables[index], rows.to_numpy(dtype="int64"), str(parts[index]), key[0], column
            )
    return combine(tables)


def key_column(table: LoadedTable, key: Sequence[str]) -> str:
    """The file's column of a key's first field (what a message names).

    Args:
        table: A loaded part.
        key: The key's canonical fields.

    Returns:
        The column name as the file spells it.
    """
    return table.columns.get(key[0], key[0])


def combine(tables: Sequence[LoadedTable]) -> LoadedTable:
    """Concatenate loaded parts (same columns) into one table, in part order.

    Args:
        tables: The loaded parts.

    Returns:
        Their frames and rejected rows concatenated, their notes in order.
    """
    rejected = [t.rejected for t in tables if len(t.rejected)]
    return replace(
        tables[0],
        frame=pd.concat([t.frame for t in tables], ignore_index=True),
        rejected=pd.concat(rejected, ignore_index=True) if rejected else tables[0].rejected,
        notes=tuple(note for t in tables for note in t.notes),
    )
