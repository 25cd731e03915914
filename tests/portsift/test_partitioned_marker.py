"""The random-inspection marker of partitioned declarations (``monitor``, ``retrain``)."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import pandas as pd

from portsift.commands.monitor_impl import read_random_marker
from portsift.commands.steps import Inputs
from portsift.features.loading import UNIQUE_KEYS, load_declarations
from portsift.features.parts import load_parts
from tests.features.input_files import HEADER, good_rows, write


def test_the_marker_is_read_part_by_part_and_follows_the_rows_kept(tmp_path: Path) -> None:
    directory = tmp_path / "parts"
    directory.mkdir()
    rows = [f"{r},{i % 3 == 0:d}" for i, r in enumerate(good_rows(8))]
    rows[5] = rows[5].replace("61091000", "bad")  # part 2, row 2: set aside
    header = HEADER + ",random_inspection"
    for number, chunk in enumerate((rows[:4], rows[4:])):
        write(directory, f"part-{number}.csv", "\n".join([header, *chunk]) + "\n")
    load = functools.partial(load_declarations, skip_invalid=True)
    table = load_parts(directory, load, UNIQUE_KEYS["declarations"], skip_invalid=True)
    inputs = Inputs(declarations=table, registers=None, notes=[], rejected=table.rejected)
    column, mask = read_random_marker(argparse.Namespace(declarations=str(directory)), inputs)
    assert column == "random_inspection"
    expected = [i % 3 == 0 for i in range(8) if i != 5]
    assert mask.tolist() == expected
    assert len(mask) == len(table.frame)
    assert pd.Series(mask).sum() == 3
