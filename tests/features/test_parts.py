"""Partitioned input with the pandas engine: parts concatenated, rules applied per part."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest

from portsift.features.loading import (
    UNIQUE_KEYS,
    load_commodities,
    load_declarations,
)
from portsift.features.parts import is_partitioned, load_parts, part_files
from tests.features.input_files import HEADER, SKIP, error_of, good_rows, write

KEY = UNIQUE_KEYS["declarations"]


def _parts(directory: Path, rows: list[str], sizes: list[int], suffix: str = ".csv") -> Path:
    """Write ``rows`` as parts of ``sizes`` rows (CSV or Parquet) into ``directory``."""
    directory.mkdir()
    begin = 0
    for number, size in enumerate(sizes):
        chunk = rows[begin : begin + size]
        begin += size
        path = directory / f"part-{number:03d}{suffix}"
        if suffix == ".csv":
            write(directory, path.name, "\n".join([HEADER, *chunk]) + "\n")
        else:
            table = pd.DataFrame([r.split(",") for r in chunk], columns=HEADER.split(","))
            table.to_parquet(path, index=False)
    return directory


def _load(path: Path | str, *, skip_invalid: bool = False):
    load = functools.partial(load_declarations, skip_invalid=skip_invalid)
    return load_parts(path, load, KEY, skip_invalid=skip_invalid)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_parts_are_concatenated_in_name_order(tmp_path: Path, suffix: str) -> None:
    rows = good_rows(10)
    directory = _parts(tmp_path / "parts", rows, [4, 3, 3], suffix)
    whole = load_declarations(write(tmp_path, "whole.csv", "\n".join([HEADER, *rows]) + "\n"))
    for given in (directory, f"{directory}/part-*{suffix}"):
        assert is_partitioned(given)
        table = _load(given)
        pd.testing.assert_frame_equal(table.frame, whole.frame)
    assert not is_partitioned(tmp_path / "whole.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_bad_row_names_the_part_its_column_and_its_row(tmp_path: Path, suffix: str) -> None:
    rows = good_rows(10)
    rows[5] = rows[5].replace("61091000", "61x1")  # the 2nd row of the second part
    directory = _parts(tmp_path / "parts", rows, [4, 3, 3], suffix)
    error = error_of(_load, directory)
    part = directory / f"part-001{suffix}"
    assert str(error) == (
        f"{part}: column 'hs_code': 1 row with an invalid code (6 to 10 digits expected) "
        f"(row 2). {SKIP}"
    )
    assert (error.file, error.column, error.rows) == (str(part), "hs_code", [2])
    skipped = _load(directory, skip_invalid=True)
    assert skipped.frame["declaration_id"].tolist() == [f"D{i}" for i in range(1, 11) if i != 6]
    assert skipped.rejected[["source_file", "row"]].values.tolist() == [[str(part), 2]]


def test_an_id_repeated_across_parts_names_the_later_part(tmp_path: Path) -> None:
    rows = good_rows(9)
    rows[7] = rows[1].replace(",2024-01-03,", ",2024-01-09,")  # D2 again, in part 3, row 2
    directory = _parts(tmp_path / "parts", rows, [3, 3, 3])
    error = error_of(_load, directory)
    part = directory / "part-002.csv"
    assert str(error).startswith(
        f"{part}: column 'declaration_id': 1 row with a declaration_id that an earlier row "
        "or part already holds (row 2)."
    )
    assert (error.file, error.column, error.rows) == (str(part), "declaration_id", [2])
    skipped = _load(directory, skip_invalid=True)
    assert skipped.frame["declaration_id"].tolist().count("D2") == 1
    assert len(skipped.frame) == 8
    rejected = skipped.rejected
    assert rejected[["source_file", "row", "declaration_id"]].values.tolist() == [
        [str(part), 2, "D2"]
    ]
    # The raw values of the file, as the loader's own rejected rows carry them.
    assert rejected["declared_at"].tolist() == ["2024-01-09"]


def test_an_invalid_row_keeps_its_file_row_number_for_a_later_duplicate(tmp_path: Path) -> None:
    rows = good_rows(6)
    rows[3] = rows[3].replace("61091000", "bad")  # part 2, row 1: set aside
    rows[4] = rows[0]  # part 2, row 2: D1 again
    directory = _parts(tmp_path / "parts", rows, [3, 3])
    skipped = _load(directory, skip_invalid=True)
    assert skipped.rejected["row"].tolist() == [1, 2]
    assert skipped.rejected["reason"].str.contains("declaration_id").tolist() == [False, True]


def test_parts_must_have_the_same_columns(tmp_path: Path) -> None:
    directory = _parts(tmp_path / "parts", good_rows(6), [3, 3])
    other = "\n".join([HEADER + ",declarant_id", *[r + ",B1" for r in good_rows(2)]]) + "\n"
    write(directory, "part-002.csv", other.replace("D1,", "D7,").replace("D2,", "D8,"))
    error = error_of(_load, directory)
    assert str(error).startswith(
        f"{directory / 'part-002.csv'}: the part's columns differ from those of "
        f"{directory / 'part-000.csv'} (has declarant_id besides)"
    )


def test_empty_and_mixed_directories_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    assert "holds no CSV or Parquet part" in str(error_of(part_files, empty))
    assert "holds no CSV or Parquet part" in str(error_of(part_files, f"{tmp_path}/*.csv"))
    mixed = _parts(tmp_path / "mixed", good_rows(4), [2, 2])
    pd.DataFrame({"declaration_id": ["D9"]}).to_parquet(mixed / "part-009.parquet")
    assert "both CSV and Parquet parts" in str(error_of(part_files, mixed))


def test_register_keys_are_unique_across_parts(tmp_path: Path) -> None:
    directory = tmp_path / "commodities"
    directory.mkdir()
    write(directory, "a.csv", "hs_prefix,acceptance_listed,perishable\n6109,0,1\n")
    write(directory, "b.csv", "hs_prefix,acceptance_listed,perishable\n6110,0,0\n6109,1,0\n")
    load = functools.partial(load_commodities, skip_invalid=False)
    error = error_of(load_parts, directory, load, UNIQUE_KEYS["commodities"], skip_invalid=False)
    assert error.file == str(directory / "b.csv") and error.rows == [2]
