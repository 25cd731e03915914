"""Reading and validating the input tables (contract section 1)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.features import contract
from portsift.features.loading import (
    declarations_from_records,
    load_commodities,
    load_declarations,
    load_enterprises,
    load_lab_results,
    read_table,
)
from portsift.features.schema_file import read_schema_file
from portsift.features.validation import InputError
from portsift.features.writing import (
    atomic_path,
    write_rejected,
    write_table_atomic,
    write_text_atomic,
)

HEADER = "declaration_id,declared_at,importer_id,hs_code,declared_value"
SKIP = "Fix them or pass --skip-invalid to set them aside."


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def declarations(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    return write(tmp_path, "declarations.csv", "\n".join([header, *rows]) + "\n")


def good_rows(n: int) -> list[str]:
    return [f"D{i},2024-01-{i % 28 + 1:02d},I{i % 3},61091000,{100 + i}" for i in range(1, n + 1)]


def error_of(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------ bad input


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


def test_negative_value_message_is_exact(tmp_path: Path) -> None:
    rows = good_rows(10)
    rows[3] = "D4,2024-01-05,I1,61091000,-5"
    rows[8] = "D9,2024-01-10,I0,61091000,-0.5"
    path = declarations(tmp_path, rows)
    error = error_of(load_declarations, path)
    assert str(error) == (
        f"{path}: column 'declared_value': 2 rows with a negative value (rows 4, 9). {SKIP}"
    )
    assert (error.file, error.column, error.rows) == (str(path), "declared_value", [4, 9])


def test_unparseable_date(tmp_path: Path) -> None:
    rows = good_rows(4)
    rows[1] = "D2,2024-02-30,I1,61091000,10"
    rows[3] = "D4,01/02/2024,I1,61091000,10"
    path = declarations(tmp_path, rows)
    error = error_of(load_declarations, path)
    assert str(error) == (
        f"{path}: column 'declared_at': 2 rows with an unparseable date (rows 2, 4). {SKIP}"
    )


def test_date_out_of_range(tmp_path: Path) -> None:
    rows = good_rows(3)
    rows[2] = "D3,0224-01-01,I1,61091000,10"
    error = error_of(load_declarations, declarations(tmp_path, rows))
    assert "column 'declared_at': 1 row with a date out of range" in str(error)
    assert error.rows == [3]


def test_non_numeric_value_lists_five_rows_and_the_rest(tmp_path: Path) -> None:
    rows = [f"D{i},2024-01-01,I1,61091000,{'1,5' if i % 2 else '12'}" for i in range(1, 17)]
    rows = [r.replace(",1,5", ',"1,5"') for r in rows]
    path = declarations(tmp_path, rows)
    error = error_of(load_declarations, path)
    assert str(error) == (
        f"{path}: column 'declared_value': 8 rows with a non-numeric value "
        f"(rows 1, 3, 5, 7, 9 and 3 more). {SKIP}"
    )
    assert error.rows == [1, 3, 5, 7, 9, 11, 13, 15]


def test_non_finite_and_missing_required_number(tmp_path: Path) -> None:
    rows = good_rows(3)
    rows[0] = "D1,2024-01-01,I1,61091000,inf"
    rows[2] = "D3,2024-01-01,I1,61091000,"
    error = error_of(load_declarations, declarations(tmp_path, rows))
    message = str(error)
    assert "1 row with a missing value (row 3)" in message
    assert "1 row with a non-finite value (row 1)" in message
    assert error.rows == [1, 3]


def test_duplicate_ids_every_occurrence_after_the_first(tmp_path: Path) -> None:
    rows = good_rows(5)
    rows[2] = rows[0].replace("2024-01-02", "2024-03-01")
    rows[4] = rows[0]
    path = declarations(tmp_path, rows)
    error = error_of(load_declarations, path)
    assert str(error) == (
        f"{path}: column 'declaration_id': 2 rows with a duplicate declaration_id "
        f"(rows 3, 5). {SKIP}"
    )


def test_first_column_in_contract_order_is_detailed_others_listed(tmp_path: Path) -> None:
    rows = good_rows(4)
    rows[0] = "D1,2024-01-01,I1,12,-1"  # hs_code and declared_value bad
    rows[1] = "D2,nope,I1,61091000,-2"  # declared_at and declared_value bad
    path = declarations(tmp_path, rows)
    error = error_of(load_declarations, path)
    assert str(error) == (
        f"{path}: column 'declared_at': 1 row with an unparseable date (row 2). "
        "Other columns with problems: 'hs_code' (1 row), 'declared_value' (2 rows). " + SKIP
    )
    assert error.column == "declared_at"


def test_bad_hs_code_and_accepted_spellings(tmp_path: Path) -> None:
    rows = [
        "D1,2024-01-01,I1,6109.10,1",
        "D2,2024-01-01,I1,6109 10 00,1",
        "D3,2024-01-01,I1,61O910,1",
        "D4,2024-01-01,I1,61091,1",
        "D5,2024-01-01,I1,61091000001,1",
        "D6,2024-01-01,I1,０１０１２１,1",
    ]
    path = declarations(tmp_path, rows)
    error = error_of(load_declarations, path)
    assert str(error) == (
        f"{path}: column 'hs_code': 4 rows with an invalid code (6 to 10 digits expected) "
        f"(rows 3, 4, 5, 6). {SKIP}"
    )
    kept = load_declarations(path, skip_invalid=True).frame
    assert kept["hs_code"].tolist() == ["610910", "61091000"]


def test_bad_flag_and_accepted_spellings(tmp_path: Path) -> None:
    header = HEADER + ",inspected,illicit"
    flags = ["1,0", "TRUE,False", "yes,NO", "1.0,0.0", "0,", "2,0", "1,maybe"]
    rows = [f"D{i},2024-01-01,I1,61091000,5,{f}" for i, f in enumerate(flags, start=1)]
    path = declarations(tmp_path, rows, header)
    error = error_of(load_declarations, path)
    assert str(error) == (
        f"{path}: column 'inspected': 1 row with a value that is not 0/1, true/false or "
        f"yes/no (row 6). Other columns with problems: 'illicit' (1 row). {SKIP}"
    )
    frame = load_declarations(path, skip_invalid=True).frame
    assert frame["inspected"].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert frame["illicit"].tolist()[:4] == [0.0, 0.0, 0.0, 0.0]


def test_unknown_suffix_missing_file_and_empty_file(tmp_path: Path) -> None:
    xlsx = write(tmp_path, "declarations.xlsx", "x")
    error = error_of(load_declarations, xlsx)
    assert str(error).startswith(f"{xlsx}: unknown table format .xlsx")
    assert error.file == str(xlsx)

    missing = tmp_path / "nope.csv"
    error = error_of(read_table, missing)
    assert str(error) == f"{missing}: file not found."

    empty = write(tmp_path, "empty.csv", "")
    assert str(error_of(read_table, empty)) == f"{empty}: the file is empty (no header row)."


def test_header_only_declarations_is_rejected(tmp_path: Path) -> None:
    path = declarations(tmp_path, [])
    assert str(error_of(load_declarations, path)) == f"{path}: the table has no data rows."


def test_non_utf8_and_ragged_csv(tmp_path: Path) -> None:
    gbk = tmp_path / "enterprises.csv"
    gbk.write_bytes("enterprise_id,credit_tier,tier_since\nE1,失信企业,2024-01-01\n".encode("gbk"))
    assert "not UTF-8" in str(error_of(load_enterprises, gbk))
    ragged = declarations(tmp_path, ["D1,2024-01-01,I1,61091000,1,extra"])
    error = error_of(read_table, ragged)
    assert str(error).startswith(f"{ragged}: cannot read the CSV file")


def test_duplicate_header_names(tmp_path: Path) -> None:
    path = declarations(tmp_path, ["D1,2024-01-01,I1,61091000,1,2"], HEADER + ",declared_value")
    error = error_of(load_declarations, path)
    assert "'declared_value' more than once" in str(error)


# --------------------------------------------------------------- skip_invalid


def test_skip_invalid_sets_rows_aside_with_reasons(tmp_path: Path) -> None:
    rows = good_rows(5)
    rows[1] = "D2,bad,I1,ABC,-3"
    rows[3] = "D4,2024-01-01,I1,61091000,x"
    path = declarations(tmp_path, rows)
    loaded = load_declarations(path, skip_invalid=True)
    assert loaded.frame["declaration_id"].tolist() == ["D1", "D3", "D5"]
    assert list(loaded.frame.index) == [0, 1, 2]
    rejected = loaded.rejected
    assert list(rejected.columns[:3]) == ["source_file", "row", "reason"]
    assert rejected["row"].tolist() == [2, 4]
    assert rejected["source_file"].tolist() == [str(path)] * 2
    assert rejected["reason"].tolist() == [
        "declared_at: an unparseable date; hs_code: an invalid code (6 to 10 digits "
        "expected); declared_value: a negative value",
        "declared_value: a non-numeric value",
    ]
    # The raw values are kept as written, so the rows can be fixed and fed back.
    assert rejected["declared_value"].tolist() == ["-3", "x"]
    assert any(
        note.startswith(f"{path}: 2 of 5 rows set aside as invalid") for note in loaded.notes
    )


def test_no_rejected_rows_gives_an_empty_frame(tmp_path: Path) -> None:
    loaded = load_declarations(declarations(tmp_path, good_rows(2)))
    assert loaded.rejected.empty
    assert list(loaded.rejected.columns[:3]) == ["source_file", "row", "reason"]


def test_all_rows_invalid_is_an_error_even_with_skip(tmp_path: Path) -> None:
    path = declarations(tmp_path, ["D1,bad,I1,61091000,1"])
    assert "all 1 rows are invalid" in str(error_of(load_declarations, path, skip_invalid=True))


# ------------------------------------------------------------------ typed output


def test_typed_canonical_output(tmp_path: Path) -> None:
    header = HEADER + ",origin_country,quantity,trade_mode,extra"
    rows = [
        " D1 ,2024-01-01,I1,61091000,10.5,NA,3,0110,x",
        "D2,2024-01-02T13:45:00,I2,61091000,0,,NA,,y",
    ]
    loaded = load_declarations(declarations(tmp_path, rows, header))
    frame = loaded.frame
    assert loaded.layout == "canonical"
    assert frame["declaration_id"].tolist() == ["D1", "D2"]
    assert frame["declaration_id"].dtype == "str"
    assert frame["declared_at"].dtype == "datetime64[ns]"
    assert frame["declared_at"].tolist() == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-01-02 13:45"),
    ]
    assert frame["declared_value"].dtype == "float64"
    # "NA" is Namibia in a text column, but missing in a number column.
    assert frame["origin_country"].tolist()[0] == "NA"
    assert pd.isna(frame["origin_country"].iloc[1])
    assert frame["quantity"].iloc[0] == 3.0 and np.isnan(frame["quantity"].iloc[1])
    assert frame["trade_mode"].iloc[0] == "0110"
    assert "extra" not in frame.columns
    assert any("columns not used: extra" in note for note in loaded.notes)
    absent = [n for n in loaded.notes if "optional fields absent" in n]
    assert len(absent) == 1 and "net_weight" in absent[0] and "inspected" not in absent[0]


def test_utc_offsets_keep_the_local_wall_clock_time(tmp_path: Path) -> None:
    rows = [
        "D1,2024-01-01T10:00:00+08:00,I1,61091000,1",
        "D2,2024-01-01T10:00:00-05:00,I1,61091000,1",
        "D3,2024-01-03,I1,61091000,1",
    ]
    frame = load_declarations(declarations(tmp_path, rows)).frame
    assert frame["declared_at"].dtype == "datetime64[ns]"
    assert frame["declared_at"].tolist() == [
        pd.Timestamp("2024-01-01 10:00"),
        pd.Timestamp("2024-01-01 10:00"),
        pd.Timestamp("2024-01-03"),
    ]


def test_parquet_and_csv_give_the_same_frame(tmp_path: Path) -> None:
    header = HEADER + ",quantity,inspected,illicit,revenue"
    rows = [
        "D1,2024-01-01,I1,01012100,10.5,3,1,1,7.5",
        "D2,2024-01-02,I2,61091000,0,,1,0,",
        "D3,2024-01-03,I2,61091000,4,2,0,,",
    ]
    csv_path = declarations(tmp_path, rows, header)
    from_csv = load_declarations(csv_path).frame
    typed = pd.DataFrame(
        {
            "declaration_id": ["D1", "D2", "D3"],
            "declared_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "importer_id": ["I1", "I2", "I2"],
            "hs_code": ["01012100", "61091000", "61091000"],
            "declared_value": [10.5, 0.0, 4.0],
            "quantity": [3, None, 2],  # float with NaN, as a writer would store it
            "inspected": [1, 1, 0],
            "illicit": [True, False, None],
            "revenue": [7.5, None, None],
        }
    )
    parquet_path = tmp_path / "declarations.parquet"
    typed.to_parquet(parquet_path)
    from_parquet = load_declarations(parquet_path).frame
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    assert from_csv["revenue"].tolist()[:2] == [7.5, 0.0]


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


# ----------------------------------------------------------------------- labels


def test_inspected_derived_from_illicit(tmp_path: Path) -> None:
    header = HEADER + ",illicit,revenue"
    rows = [
        "D1,2024-01-01,I1,61091000,1,1,20",
        "D2,2024-01-01,I1,61091000,1,0,",
        "D3,2024-01-01,I1,61091000,1,,",
    ]
    loaded = load_declarations(declarations(tmp_path, rows, header))
    frame = loaded.frame
    assert frame["inspected"].tolist() == [1.0, 1.0, 0.0]
    assert list(frame.columns[-3:]) == ["inspected", "illicit", "revenue"]
    # A clean inspection raised no revenue; an uninspected row has no outcome.
    assert frame["revenue"].tolist()[:2] == [20.0, 0.0] and np.isnan(frame["revenue"].iloc[2])
    assert any("no 'inspected' column; 2 rows" in note for note in loaded.notes)


def test_outcomes_of_uninspected_rows_are_dropped_and_noted(tmp_path: Path) -> None:
    header = HEADER + ",inspected,illicit,revenue"
    rows = [
        "D1,2024-01-01,I1,61091000,1,0,1,50",
        "D2,2024-01-01,I1,61091000,1,0,0,",
        "D3,2024-01-01,I1,61091000,1,1,,",
        "D4,2024-01-01,I1,61091000,1,,1,",
    ]
    loaded = load_declarations(declarations(tmp_path, rows, header))
    frame = loaded.frame
    assert frame["inspected"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert frame["illicit"].isna().tolist() == [True, True, True, False]
    assert frame["revenue"].isna().tolist() == [True, True, True, True]
    assert any("2 rows not inspected carry" in note for note in loaded.notes)
    assert any("1 row inspected without an 'illicit' value" in note for note in loaded.notes)


def test_no_label_columns_without_inspected_or_illicit(tmp_path: Path) -> None:
    loaded = load_declarations(
        declarations(tmp_path, ["D1,2024-01-01,I1,61091000,1,5"], HEADER + ",revenue")
    )
    assert not set(contract.LABEL_FIELDS) & set(loaded.frame.columns)
    assert any("'revenue' is ignored" in note for note in loaded.notes)


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


# -------------------------------------------------------------------- registers


def test_enterprise_tiers_english_and_chinese(tmp_path: Path) -> None:
    rows = [
        "E1,高级认证企业,2020-01-01",
        "E1,失信企业,2021-01-01",
        "E2, Seriously Dishonest ,2020-01-01",
        "E3,其他注册登记企业,2020-01-01",
        "E4,认证企业,2020-01-01",
        "E5,严重失信企业,2020-01-01",
        "E6,ADVANCED,2020-01-01",
    ]
    path = write(
        tmp_path, "enterprises.csv", "enterprise_id,credit_tier,tier_since\n" + "\n".join(rows)
    )
    loaded = load_enterprises(path)
    assert loaded.layout == "enterprises"
    assert loaded.frame["credit_tier"].tolist() == [
        "advanced",
        "dishonest",
        "seriously_dishonest",
        "regular",
        "certified",
        "seriously_dishonest",
        "advanced",
    ]
    assert loaded.frame["tier_since"].dtype == "datetime64[ns]"


def test_unknown_tier_and_duplicate_tier_history(tmp_path: Path) -> None:
    rows = ["E1,regular,2020-01-01", "E2,platinum,2020-01-01", "E1,certified,2020-01-01"]
    path = write(
        tmp_path, "enterprises.csv", "enterprise_id,credit_tier,tier_since\n" + "\n".join(rows)
    )
    error = error_of(load_enterprises, path)
    assert str(error) == (
        f"{path}: column 'enterprise_id': 1 row with a duplicate (enterprise_id, tier_since) "
        "(row 3). Other columns with problems: 'credit_tier' (1 row). " + SKIP
    )
    loaded = load_enterprises(path, skip_invalid=True)
    assert loaded.frame["enterprise_id"].tolist() == ["E1"]
    assert loaded.rejected["reason"].tolist()[0].startswith("credit_tier: an unknown credit tier")


def test_lab_results(tmp_path: Path) -> None:
    header = "declaration_id,lab_id,lab_accredited,lab_result,issued_at\n"
    rows = "D1,L1,1,合格,2024-01-01\nD1,L2,no,不合格,2024-01-02\nD2,L1,yes,FAIL,2024-01-03\n"
    loaded = load_lab_results(write(tmp_path, "lab.csv", header + rows))
    assert loaded.frame["lab_result"].tolist() == ["pass", "fail", "fail"]
    assert loaded.frame["lab_accredited"].tolist() == [1.0, 0.0, 1.0]
    bad = write(tmp_path, "lab_bad.csv", header + "D1,L1,1,maybe,2024-01-01\n")
    error = error_of(load_lab_results, bad)
    assert "column 'lab_result': 1 row with a lab result other than pass or fail (row 1)" in str(
        error
    )


def test_commodities_duplicate_prefix(tmp_path: Path) -> None:
    header = "hs_prefix,acceptance_listed,perishable\n"
    path = write(tmp_path, "commodities.csv", header + "02,0,1\n0201,1,1\n02.01,1,0\n0,0,0\n")
    error = error_of(load_commodities, path)
    assert str(error) == (
        f"{path}: column 'hs_prefix': 1 row with an invalid code (2 to 10 digits expected) "
        f"(row 4); 1 row with a duplicate hs_prefix (row 3). {SKIP}"
    )
    frame = load_commodities(path, skip_invalid=True).frame
    assert frame["hs_prefix"].tolist() == ["02", "0201"]


# ---------------------------------------------------------------------- records


def test_records_are_validated_like_files() -> None:
    record = {
        "declaration_id": "X1",
        "declared_at": "2024-01-01",
        "importer_id": "I1",
        "hs_code": 61091000,
        "declared_value": 10,
        "lab_result": "合格",
        "lab_accredited": True,
    }
    loaded = declarations_from_records(
        [record, {**record, "declaration_id": "X2", "hs_code": 610910.0}]
    )
    frame = loaded.frame
    assert frame["hs_code"].tolist() == ["61091000", "610910"]
    assert frame["lab_result"].tolist() == ["pass", "pass"]
    assert frame["lab_accredited"].tolist() == [1.0, 1.0]
    assert frame["declared_at"].dtype == "datetime64[ns]"

    # A field of mixed JSON types is rendered value by value, floats without ".0".
    mixed = [record, {**record, "declaration_id": "X2", "hs_code": 610910.0}]
    mixed[0] = {**record, "hs_code": "6109.1000", "declared_value": "10"}
    frame = declarations_from_records(mixed).frame
    assert frame["hs_code"].tolist() == ["61091000", "610910"]
    assert frame["declared_value"].tolist() == [10.0, 10.0]

    bad = [record, record, {**record, "declaration_id": "X3", "declared_value": -1}]
    error = error_of(declarations_from_records, bad)
    assert str(error) == (
        "request: field 'declaration_id': 1 record with a duplicate declaration_id (record 2). "
        "Other fields with problems: 'declared_value' (1 record)."
    )
    assert error.rows == [2]

    missing = {k: v for k, v in record.items() if k != "hs_code"}
    error = error_of(declarations_from_records, [missing])
    assert str(error) == "request: missing required field(s) 'hs_code'."
    nested = {**record, "importer_id": {"id": 1}}
    assert "field 'importer_id' of record 1" in str(error_of(declarations_from_records, [nested]))
    assert "non-empty list" in str(error_of(declarations_from_records, []))


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


def test_input_error_survives_pickling() -> None:
    error = InputError("f.csv: bad", file="f.csv", column="c", rows=[1, 2])
    back = pickle.loads(pickle.dumps(error))
    assert (str(back), back.file, back.column, back.rows) == ("f.csv: bad", "f.csv", "c", [1, 2])


def test_records_with_integers_beyond_64_bits_are_read_as_text() -> None:
    """JSON numbers may be any size; Arrow's int64 is not (found by the API fuzzer)."""
    big = -510593419026884509033636444864774144
    record = {
        "declaration_id": 207878,
        "declared_at": "2025-03-01",
        "importer_id": "IMP1",
        "hs_code": "610910",
        "declared_value": 10.0,
        "declarant_id": big,
    }
    frame = declarations_from_records([record]).frame
    assert frame["declarant_id"].iloc[0] == str(big)
    assert frame["declaration_id"].iloc[0] == "207878"
