"""Writing tables, text and rejected rows atomically (features/writing.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from portsift.features.loading import (
    load_declarations,
)
from portsift.features.validation import InputError
from portsift.features.writing import (
    atomic_path,
    write_rejected,
    write_table_atomic,
    write_text_atomic,
)
from tests.features.input_files import declarations, good_rows

# ---------------------------------------------------------------------- writing


def test_atomic_path_leaves_nothing_on_exception(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []

    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_atomic_writers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.5, 2.0]})
    for name in ("out.csv", "out.parquet"):
        path = write_table_atomic(frame, tmp_path / "sub" / name)
        back = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert write_text_atomic("héllo", tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    with pytest.raises(InputError, match="unknown table format"):
        write_table_atomic(frame, tmp_path / "out.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "t.txt"]


def test_write_rejected_naming(tmp_path: Path) -> None:
    rows = good_rows(3)
    rows[1] = "D2,2024-01-01,I1,61091000,-1"
    loaded = load_declarations(declarations(tmp_path, rows), skip_invalid=True)
    output = tmp_path / "scores.csv"
    written = write_rejected(loaded.rejected, output)
    assert written == tmp_path / "scores.csv.rejected.csv"
    back = pd.read_csv(written, dtype=str)
    assert back["row"].tolist() == ["2"]
    assert back["reason"].tolist() == ["declared_value: a negative value"]

    clean = load_declarations(declarations(tmp_path, good_rows(2)))
    assert write_rejected(clean.rejected, tmp_path / "other.csv") is None
    assert not (tmp_path / "other.csv.rejected.csv").exists()
