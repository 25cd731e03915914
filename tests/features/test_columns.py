"""Parsing each column by its field's kind, and the verdict on rows (features/columns.py)."""

from __future__ import annotations

from pathlib import Path

from portsift.features.loading import (
    load_declarations,
)
from tests.features.input_files import HEADER, SKIP, declarations, error_of, good_rows

# ------------------------------------------------------------------ bad values


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
