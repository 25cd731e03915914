"""Atomic output: a file appears whole at its path, or not at all.

The contract promises that no subcommand leaves a half-written output behind.
Everything is written to a temporary file in the target's directory (so the final
``os.replace`` is a rename on one file system) and moved into place only after
the writer finished.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from portsift.features.validation import InputError

#: Table formats by (lower-cased) file suffix.
CSV_SUFFIXES: frozenset[str] = frozenset({".csv"})
PARQUET_SUFFIXES: frozenset[str] = frozenset({".parquet", ".pq"})


def table_format(path: str | Path) -> str:
    """Return ``"csv"`` or ``"parquet"`` for a table path.

    Args:
        path: The table's path.

    Returns:
        The format chosen by the suffix.

    Raises:
        InputError: The suffix is neither ``.csv`` nor ``.parquet``/``.pq``.
    """
    suffix = Path(path).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise InputError(
        f"{path}: unknown table format {suffix or '(no suffix)'!s}; "
        "use a .csv or .parquet (.pq) file.",
        file=str(path),
    )


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The temporary name keeps the target's suffix, so writers that choose a format
    by suffix (matplotlib, pandas) behave the same. It is not created in advance:
    the writer creates it, with the usual permissions. The parent directory is
    created if needed.

    Args:
        path: The final path of the file.

    Yields:
        The temporary path to write to.

    Raises:
        FileNotFoundError: The block finished without writing the temporary path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp{target.suffix}")
    try:
        yield temporary
        _flush_to_disk(temporary)
        os.replace(temporary, target)
    except BaseException:
        # BaseException: an interrupted run (Ctrl-C) must not leave the temp file either.
        _remove(temporary)
        raise


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory next to ``path``; swap it in on success.

    A directory already at ``path`` is moved aside and removed only after the new one
    is in place, so a reader finds the old content or the new, never a mix. On error
    the staging directory is removed and ``path`` is left as it was. The staging
    directory is made by :func:`tempfile.mkdtemp` (owner-only permissions).

    Args:
        path: The final path of the directory.

    Yields:
        The staging directory to fill.

    Raises:
        NotADirectoryError: ``path`` exists and is not a directory.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target}: exists and is not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        if not target.exists():
            os.replace(staging, target)
            return
        retired = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        # BaseException: an interrupted run (Ctrl-C) must not leave the staging copy either.
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _flush_to_disk(path: Path) -> None:
    # Without fsync a crash right after the rename can leave an empty file at the target.
    if path.is_file():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def write_table_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix) atomically, without the index.

    Args:
        frame: The table.
        path: Where to write it.

    Returns:
        The written path.

    Raises:
        InputError: The suffix is not a table format.
    """
    target = Path(path)
    kind = table_format(target)
    with atomic_path(target) as temporary:
        if kind == "csv":
            frame.to_csv(temporary, index=False)
        else:
            frame.to_parquet(temporary, index=False)
    return target


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write UTF-8 ``text`` atomically.

    Args:
        text: The content.
        path: Where to write it.

    Returns:
        The written path.
    """
    target = Path(path)
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return target


def rejected_path(output_path: str | Path) -> Path:
    """Return where the rows set aside for ``output_path`` go: ``<output>.rejected.csv``."""
    output = Path(output_path)
    return output.with_name(f"{output.name}.rejected.csv")


def write_rejected(rejected: pd.DataFrame, output_path: str | Path) -> Path | None:
    """Write the rows set aside by ``--skip-invalid`` next to the output.

    ``scores.csv`` -> ``scores.csv.rejected.csv``. Always CSV, whatever the output
    format, so the raw values can be fixed by hand and fed back.

    Args:
        rejected: Rows set aside (``LoadedTable.rejected``, possibly several concatenated).
        output_path: The run's main output.

    Returns:
        The written path, or ``None`` (and nothing written) if ``rejected`` is empty.
    """
    if rejected.empty:
        return None
    target = rejected_path(output_path)
    with atomic_path(target) as temporary:
        rejected.to_csv(temporary, index=False)
    return target
