"""What no input value may be: refused characters and the plausibility bounds, files and JSON.

The API's side of the same rule is tested against a real server in
``tests/serving/test_strict_input.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.cli import main
from portsift.features import contract
from portsift.features.loading import declarations_from_records, load_declarations
from portsift.features.plausibility import (
    columns_plausible,
    default_bounds,
    describe,
    first_forbidden,
    forbidden_mask,
)
from portsift.settings import load_settings
from portsift.synthetic.generator import generate_synthetic, write_synthetic
from portsift.synthetic.layouts import to_bacuda
from tests.conftest import DataFiles
from tests.features.input_files import HEADER, declarations, error_of, good_rows

#: One of each kind of refused character.
REFUSED = {
    "NUL": "\x00",
    "tab": "\t",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 next line": "\x85",
    "soft hyphen": "\u00ad",
    "Arabic letter mark": "\u061c",
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "line separator": "\u2028",
    "left-to-right embedding": "\u202a",
    "right-to-left override": "\u202e",
    "word joiner": "\u2060",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "byte-order mark": "\ufeff",
}
#: Text that looks unusual and is accepted: other scripts, no-break space, punctuation.
ACCEPTED = ["进口企业01", "IMP\u00a0001", "شركة-7", "Müller & Söhne", "O'Brien—Ltd", "№5"]


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_character_in_an_id_is_named_with_file_column_and_row(
    tmp_path: Path, char: str
) -> None:
    rows = good_rows(3)
    rows[1] = rows[1].replace(",I", f",I{char}", 1)  # importer_id of row 2
    path = declarations(tmp_path, rows)
    error = error_of(load_declarations, path)
    assert error.file == str(path) and error.column == "importer_id" and error.rows == [2]
    assert "control, bidirectional or invisible character" in str(error)
    assert describe(char) in str(error) and char not in str(error)
    loaded = load_declarations(path, skip_invalid=True)
    assert loaded.frame["declaration_id"].tolist() == ["D1", "D3"]
    assert loaded.rejected["row"].tolist() == [2]
    assert "importer_id: a control, bidirectional" in loaded.rejected["reason"].iloc[0]


def test_refused_characters_in_other_text_fields_and_json_records(tmp_path: Path) -> None:
    header = HEADER + ",origin_country,declarant_id"
    rows = [row + ",AE,BRK1" for row in good_rows(3)]
    rows[2] = rows[2].replace(",AE,", ",A\u202eE,")
    error = error_of(load_declarations, declarations(tmp_path, rows, header))
    assert (error.column, error.rows) == ("origin_country", [3])
    record = {
        "declaration_id": "X1",
        "declared_at": "2024-01-01",
        "importer_id": "I1",
        "hs_code": "610910",
        "declared_value": 10,
    }
    for field in ("declaration_id", "importer_id", "declarant_id", "lab_id", "customs_office"):
        bad = {**record, field: "A\u2066B"}
        error = error_of(declarations_from_records, [record | {"declaration_id": "X0"}, bad])
        assert (error.column, error.rows) == (field, [2]), field
    # A code: refused by the digits rule already.
    error = error_of(declarations_from_records, [{**record, "hs_code": "6109\u200b10"}])
    assert error.column == "hs_code"


def test_accepted_text_is_kept_as_written(tmp_path: Path) -> None:
    rows = [f"D{i},2024-01-02,{text},61091000,10" for i, text in enumerate(ACCEPTED)]
    loaded = load_declarations(declarations(tmp_path, rows))
    assert loaded.frame["importer_id"].tolist() == [t.strip() for t in ACCEPTED]


def test_forbidden_mask_matches_the_scalar_rule() -> None:
    values = [*ACCEPTED, *(f"x{c}y" for c in REFUSED.values()), None, ""]
    for dtype in ("str", object):
        mask, first = forbidden_mask(pd.Series(values, dtype=dtype))
        expected = [isinstance(v, str) and first_forbidden(v) is not None for v in values]
        assert mask.tolist() == expected
        assert first == "\x00"
    clean = pd.Series(ACCEPTED * 1000, dtype="str")
    assert not forbidden_mask(clean)[0].any() and forbidden_mask(clean)[1] is None
    # A lone surrogate (JSON can spell one) is refused too.
    assert forbidden_mask(pd.Series(["ok", "a\ud800"], dtype=object))[0].tolist() == [False, True]
    assert describe("\x00") == "U+0000 NUL"
    assert describe("\u202e") == "U+202E RIGHT-TO-LEFT OVERRIDE"


def test_every_numeric_field_has_a_bound() -> None:
    numbers = {f.name for f in contract.DECLARATION_FIELDS if f.kind == "number"}
    assert set(load_settings().input_bounds.as_mapping()) == numbers
    assert default_bounds() == load_settings().input_bounds.as_mapping()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("declared_value", "1e300"),
        ("declared_value", "1.5e14"),
        ("quantity", "2000000000000"),
        ("gross_weight", "2e10"),
        ("net_weight", "1e11"),
        ("tax_rate", "3500"),
        ("total_taxes", "1e15"),
        ("fob_value", "1e16"),
        ("revenue", "1e15"),
    ],
)
def test_a_value_beyond_its_bound_is_named_with_file_column_and_row(
    tmp_path: Path, column: str, value: str
) -> None:
    header = HEADER if column == "declared_value" else f"{HEADER},{column}"
    rows = [row if column == "declared_value" else row + ",1" for row in good_rows(4)]
    rows[2] = rows[2].rsplit(",", 1)[0] + f",{value}"  # the column is the last one
    if column == "revenue":
        header += ",illicit"
        rows = [row + ",1" for row in rows]
    path = declarations(tmp_path, rows, header)
    error = error_of(load_declarations, path)
    bound = load_settings().input_bounds.as_mapping()[column]
    assert (error.file, error.column, error.rows) == (str(path), column, [3])
    assert f"a value above the plausible maximum {bound:g}" in str(error)
    assert "[input_bounds]" in str(error)
    loaded = load_declarations(path, skip_invalid=True)
    assert loaded.rejected["row"].tolist() == [3] and len(loaded.frame) == 3
    # At the bound is accepted; the bounds of the call decide.
    assert len(load_declarations(path, bounds={column: float(value)}).frame) == 4


def test_the_generated_data_passes_every_bound_and_character_rule(
    data_files: DataFiles, tmp_path: Path
) -> None:
    """Nothing legitimate is refused: the shared data set, BACUDA, the identity world."""
    shared = load_declarations(data_files.declarations)
    assert len(shared.rejected) == 0
    assert len(shared.frame) == len(pd.read_csv(data_files.declarations, usecols=[0]))
    bounds = default_bounds()
    for name, maximum in bounds.items():
        if name in shared.frame:
            # Far below: the bounds are for what no shipment can be.
            assert shared.frame[name].max() < maximum / 20, name
    identity = generate_synthetic(rows=4000, seed=3, fraud="identity")
    paths = write_synthetic(identity, tmp_path / "identity")
    loaded = load_declarations(paths["declarations"], schema_path=paths["schema"])
    assert len(loaded.rejected) == 0 and len(loaded.frame) == 4000
    bacuda = tmp_path / "bacuda.csv"
    to_bacuda(identity.declarations).to_csv(bacuda, index=False)
    assert len(load_declarations(bacuda).frame) == 4000


def test_columns_plausible_holds_the_fast_path_to_the_same_rule() -> None:
    columns = {
        "declaration_id": np.array(["D1", "D2"], dtype=object),
        "importer_id": np.array(["IMP1", None], dtype=object),
        "declared_value": np.array([10.0, np.nan]),
    }
    assert columns_plausible(columns)
    assert not columns_plausible({**columns, "declared_value": np.array([10.0, 1e300])})
    assert not columns_plausible({**columns, "importer_id": np.array(["I\u202e", None], object)})
    assert columns_plausible({**columns, "declared_value": np.array([10.0, 1e300])}, {})


def test_the_command_line_refuses_a_row_beyond_a_bound_and_config_can_raise_it(
    trained_model_dir: Path, data_files: DataFiles, tmp_path: Path, capsys
) -> None:
    frame = pd.read_csv(data_files.declarations, dtype=str, keep_default_na=False).head(50)
    frame.loc[7, "gross_weight"] = "4e10"  # 40 million tonnes on one declaration
    path = tmp_path / "declarations.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "scores.csv"
    argv = ["score", "--model-dir", str(trained_model_dir), "--declarations", str(path)]
    assert main([*argv, "--out", str(out), "--quiet"]) == 2
    message = capsys.readouterr().err
    assert str(path) in message and "'gross_weight'" in message and "row 8" in message
    assert not out.exists()
    assert main([*argv, "--out", str(out), "--quiet", "--skip-invalid"]) == 0
    assert len(pd.read_csv(out)) == 49
    config = tmp_path / "settings.toml"
    # Key by key: the other bounds keep the packaged values.
    config.write_text("[input_bounds]\ngross_weight = 1e11\n", "utf-8")
    assert main([*argv, "--out", str(out), "--quiet", "--config", str(config)]) == 0
    assert len(pd.read_csv(out)) == 50
