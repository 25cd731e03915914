"""Which file column is which field: canonical, BACUDA, --schema (features/layouts.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from portsift.features import contract
from portsift.features.loading import (
    load_declarations,
)
from portsift.features.schema_file import read_schema_file
from tests.features.input_files import HEADER, declarations, error_of, good_rows, write


def test_missing_required_columns_are_named_even_with_skip_invalid(tmp_path: Path) -> None:
    path = write(
        tmp_path, "declarations.csv", "declaration_id,declared_at,importer_id\nD1,2024-01-01,I1\n"
    )
    for skip in (False, True):
        error = error_of(load_declarations, path, skip_invalid=skip)
        assert str(error).startswith(
            f"{path}: missing required column(s) 'hs_code', 'declared_value'"
        )
        assert error.file == str(path)
        assert error.column == "hs_code"


# ---------------------------------------------------------------------- layouts


def test_bacuda_detection_and_dates(tmp_path: Path) -> None:
    header = (
        "sgd.id,sgd.date,importer.id,declarant.id,country,office.id,tariff.code,quantity,"
        "gross.weight,fob.value,cif.value,total.taxes,illicit,revenue,unrelated"
    )
    rows = [
        "S1,13-01-02,IMP1,DEC1,CN,OF1,8471300000,2,10.5,100,120,12,0,0,z",
        "S2,99-12-31,IMP2,DEC1,US,OF2,8471300000,1,3,50,60,6,1,30,z",
        "S3,2014-06-30,IMP2,DEC2,US,OF2,8471300000,1,3,50,60,6,,,z",
    ]
    path = write(tmp_path, "bacuda.csv", "\n".join([header, *rows]) + "\n")
    loaded = load_declarations(path)
    frame = loaded.frame
    assert loaded.layout == "bacuda"
    assert frame["declared_at"].tolist() == [
        pd.Timestamp("2013-01-02"),
        pd.Timestamp("1999-12-31"),
        pd.Timestamp("2014-06-30"),
    ]
    assert frame["declared_value"].tolist() == [120.0, 60.0, 60.0]
    assert frame["origin_country"].tolist() == ["CN", "US", "US"]
    assert frame["customs_office"].tolist() == ["OF1", "OF2", "OF2"]
    assert frame["inspected"].tolist() == [1.0, 1.0, 0.0]
    assert "unrelated" not in frame.columns


def test_bacuda_bad_date_names_the_file_column(tmp_path: Path) -> None:
    header = ",".join(sorted(contract.BACUDA_SIGNATURE))  # cif.value,importer.id,sgd.date,...
    path = write(tmp_path, "bacuda.csv", header + "\n10,I1,13/01/02,S1,610910\n")
    error = error_of(load_declarations, path)
    assert "column 'sgd.date' (declared_at): 1 row with an unparseable date (row 1)" in str(error)
    assert error.column == "sgd.date"


def schema(tmp_path: Path, text: str) -> Path:
    return write(tmp_path, "schema.toml", text)


COLUMNS = """[columns]
declaration_id = "Declaration ID"
declared_at = "Date"
importer_id = "Importer ID"
hs_code = "HS6 Code"
declared_value = "Item Price"
illicit = "Fraud"
"""


def test_schema_mapping_with_extra_features(tmp_path: Path) -> None:
    schema_path = schema(
        tmp_path,
        COLUMNS + '[features]\ncategorical = ["Process Type"]\nnumeric = ["Tax Rate"]\n',
    )
    data = write(
        tmp_path,
        "other.csv",
        "Declaration ID,Date,Importer ID,HS6 Code,Item Price,Fraud,"
        "Process Type,Tax Rate,Noise,quantity\n"
        "A1,2020-01-01,IMP,610910,100,1,B, -2.5,n,4\n"
        "A2,2020-01-02,IMP,610910,50,0,,8,n,\n",
    )
    loaded = load_declarations(data, schema_path=schema_path)
    frame = loaded.frame
    assert loaded.layout == "schema"
    assert loaded.extra_categorical == ("Process Type",)
    assert loaded.extra_numeric == ("Tax Rate",)
    assert frame["declaration_id"].tolist() == ["A1", "A2"]
    assert frame["illicit"].tolist() == [1.0, 0.0]
    assert frame["quantity"].iloc[0] == 4.0  # canonical by its own name
    assert frame["Process Type"].iloc[0] == "B" and pd.isna(frame["Process Type"].iloc[1])
    assert frame["Tax Rate"].tolist() == [-2.5, 8.0]  # extra numerics may be negative
    assert "Noise" not in frame.columns and "Item Price" not in frame.columns


def test_schema_naming_a_missing_column(tmp_path: Path) -> None:
    schema_path = schema(tmp_path, COLUMNS)
    data = write(
        tmp_path,
        "other.csv",
        "Declaration ID,Date,Importer ID,HS6 Code,Price\nA,2020-01-01,I,610910,1\n",
    )
    error = error_of(load_declarations, data, schema_path=schema_path)
    assert str(error).startswith(
        f"{schema_path}: [columns] maps declared_value to 'Item Price', but {data} has no "
        "column 'Item Price'"
    )
    assert (error.file, error.column) == (str(schema_path), "Item Price")


def test_schema_feature_naming_a_missing_column(tmp_path: Path) -> None:
    schema_path = schema(tmp_path, '[features]\nnumeric = ["Tax Rate"]\n')
    data = declarations(tmp_path, good_rows(1))
    error = error_of(load_declarations, data, schema_path=schema_path)
    assert str(error).startswith(f"{schema_path}: [features] lists 'Tax Rate'")


def test_schema_with_unknown_canonical_field(tmp_path: Path) -> None:
    path = schema(tmp_path, '[columns]\ndeclared_val = "Item Price"\n')
    error = error_of(read_schema_file, path)
    assert str(error).startswith(
        f"{path}: [columns] names unknown canonical field(s) 'declared_val' "
        "(did you mean 'declared_val' -> 'declared_value'?)"
    )
    assert error.file == str(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[columns]\nhs_code = 6\n", "[columns] hs_code must be the name of a column"),
        ('[features]\nnumeric = ["quantity"]\n', "collide with canonical field names"),
        ('[features]\nnumeric = ["A"]\ncategorical = ["A"]\n', "lists 'A' more than once"),
        ('[colums]\nhs_code = "HS"\n', "unknown section(s) 'colums'"),
        ("[columns\n", "not a valid TOML file"),
    ],
)
def test_schema_file_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = schema(tmp_path, text)
    error = error_of(read_schema_file, path)
    assert str(error).startswith(f"{path}: ")
    assert expected in str(error)


def test_schema_required_field_neither_mapped_nor_present(tmp_path: Path) -> None:
    schema_path = schema(tmp_path, '[columns]\ndeclared_value = "Price"\n')
    data = write(
        tmp_path, "other.csv", "declaration_id,declared_at,importer_id,Price\nA,2020-01-01,I,1\n"
    )
    error = error_of(load_declarations, data, schema_path=schema_path)
    assert str(error).startswith(f"{schema_path}: required field(s) 'hs_code' not mapped")
    assert (error.file, error.column) == (str(schema_path), "hs_code")


def test_missing_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert str(error_of(read_schema_file, path)) == f"{path}: schema file not found."


# ------------------------------------------------- labels are optional when scoring

BACUDA_HEADER = (
    "sgd.id,sgd.date,importer.id,declarant.id,country,office.id,tariff.code,quantity,"
    "gross.weight,fob.value,cif.value,total.taxes"
)
BACUDA_ROWS = [
    "S1,13-01-02,IMP1,DEC1,CN,OF1,8471300000,2,10.5,100,120,12",
    "S2,13-01-03,IMP2,DEC1,US,OF2,8471300000,1,3,50,60,6",
]


@pytest.mark.parametrize("require_labels", [True, False])
def test_canonical_file_without_label_columns_loads(tmp_path: Path, require_labels: bool) -> None:
    loaded = load_declarations(declarations(tmp_path, good_rows(3)), require_labels=require_labels)
    assert loaded.layout == "canonical"
    assert len(loaded.frame) == 3
    assert not set(contract.LABEL_FIELDS) & set(loaded.frame.columns)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_canonical_empty_label_cells_are_missing_not_rejected(tmp_path: Path, suffix: str) -> None:
    csv_path = declarations(
        tmp_path, [row + ",,," for row in good_rows(3)], HEADER + ",inspected,illicit,revenue"
    )
    path = csv_path
    if suffix == "parquet":
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        for name in contract.LABEL_FIELDS:
            frame[name] = pd.Series([None] * len(frame), dtype="float64")
        path = tmp_path / "declarations.parquet"
        frame.to_parquet(path, index=False)
    loaded = load_declarations(path, require_labels=False)
    frame = loaded.frame
    assert len(frame) == 3 and loaded.rejected.empty
    assert frame["illicit"].isna().all() and frame["revenue"].isna().all()
    # No row says it was inspected and none has an outcome: none counts as inspected.
    assert frame["inspected"].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("empty_columns", [False, True])
def test_bacuda_file_without_labels_loads(tmp_path: Path, empty_columns: bool) -> None:
    header, rows = BACUDA_HEADER, BACUDA_ROWS
    if empty_columns:
        header, rows = header + ",illicit,revenue", [row + ",," for row in rows]
    path = write(tmp_path, "bacuda.csv", "\n".join([header, *rows]) + "\n")
    loaded = load_declarations(path, require_labels=False)
    frame = loaded.frame
    assert loaded.layout == "bacuda"
    assert frame["declaration_id"].tolist() == ["S1", "S2"]
    if empty_columns:
        assert frame["illicit"].isna().all() and frame["revenue"].isna().all()
        assert frame["inspected"].tolist() == [0.0, 0.0]
    else:
        assert not set(contract.LABEL_FIELDS) & set(frame.columns)


LABELLED_COLUMNS = COLUMNS + 'inspected = "Checked"\nrevenue = "Revenue"\n'
UNLABELLED_DATA = (
    "Declaration ID,Date,Importer ID,HS6 Code,Item Price,illicit\n"
    "A1,2020-01-01,IMP,610910,100,1\n"
    "A2,2020-01-02,IMP,610910,50,0\n"
)


def test_schema_mapping_labels_scores_a_file_without_them(tmp_path: Path) -> None:
    schema_path = schema(tmp_path, LABELLED_COLUMNS)
    # The file lacks Fraud, Checked and Revenue; its own 'illicit' column is not read
    # instead, since the schema says the outcome is in 'Fraud'.
    data = write(tmp_path, "new.csv", UNLABELLED_DATA)
    loaded = load_declarations(data, schema_path=schema_path, require_labels=False)
    assert loaded.layout == "schema"
    assert loaded.frame["declaration_id"].tolist() == ["A1", "A2"]
    assert not set(contract.LABEL_FIELDS) & set(loaded.frame.columns)


def test_schema_mapping_labels_with_empty_label_cells(tmp_path: Path) -> None:
    schema_path = schema(tmp_path, LABELLED_COLUMNS)
    data = write(
        tmp_path,
        "new.csv",
        "Declaration ID,Date,Importer ID,HS6 Code,Item Price,Fraud,Checked,Revenue\n"
        "A1,2020-01-01,IMP,610910,100,,,\n"
        "A2,2020-01-02,IMP,610910,50,,,\n",
    )
    frame = load_declarations(data, schema_path=schema_path, require_labels=False).frame
    assert frame["illicit"].isna().all() and frame["revenue"].isna().all()
    assert frame["inspected"].tolist() == [0.0, 0.0]


def test_schema_mapping_absent_labels_is_an_error_when_labels_are_required(
    tmp_path: Path,
) -> None:
    schema_path = schema(tmp_path, LABELLED_COLUMNS)
    data = write(tmp_path, "new.csv", UNLABELLED_DATA)
    error = error_of(load_declarations, data, schema_path=schema_path)
    message = str(error)
    assert message.startswith(
        f"{schema_path}: [columns] maps illicit to 'Fraud', but {data} has no column 'Fraud'"
    )
    assert message.endswith("Only a file to score may lack its label columns.")
    assert (error.file, error.column) == (str(schema_path), "Fraud")


def test_scoring_still_needs_the_mapped_required_fields(tmp_path: Path) -> None:
    schema_path = schema(tmp_path, LABELLED_COLUMNS)
    data = write(
        tmp_path, "new.csv", "Declaration ID,Date,Importer ID,HS6 Code\nA1,2020-01-01,I,610910\n"
    )
    error = error_of(load_declarations, data, schema_path=schema_path, require_labels=False)
    assert "maps declared_value to 'Item Price'" in str(error)
