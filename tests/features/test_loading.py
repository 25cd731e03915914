"""Reading and validating the input tables (contract section 1)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from portsift.features import contract
from portsift.features.loading import (
    declarations_from_records,
    load_commodities,
    load_declarations,
    load_disclosures,
    load_enterprises,
    load_lab_results,
    load_rulings,
    read_table,
)
from portsift.features.validation import InputError
from tests.features.input_files import HEADER, SKIP, declarations, error_of, write

# ------------------------------------------------------------------ bad input


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


# ------------------------------------------- disclosures (22) and rulings (12)

DISCLOSURE_HEADER = "disclosure_id,enterprise_id,declaration_id,disclosed_at,kind,minor\n"
RULING_HEADER = "ruling_id,enterprise_id,hs_code,kind,valid_from,valid_to\n"


def test_disclosures_typed_and_the_declaration_optional(tmp_path: Path) -> None:
    rows = "X1,IMP1,D1,2024-01-02,valuation,1\nX2,IMP1,,2024-01-05,classification,no\n"
    loaded = load_disclosures(write(tmp_path, "disclosures.csv", DISCLOSURE_HEADER + rows))
    frame = loaded.frame
    assert loaded.layout == "disclosures"
    assert frame["declaration_id"].isna().tolist() == [False, True]
    assert frame["minor"].tolist() == [1.0, 0.0]
    assert frame["disclosed_at"].dtype == "datetime64[ns]"
    # Without the optional column the register is still read.
    header = "disclosure_id,enterprise_id,disclosed_at,kind,minor\n"
    short = load_disclosures(write(tmp_path, "d2.csv", header + "X1,IMP1,2024-01-02,origin,0\n"))
    assert "declaration_id" not in short.frame


def test_bad_disclosures_name_file_column_and_rows(tmp_path: Path) -> None:
    rows = (
        "X1,IMP1,D1,2024-01-02,valuation,1\n"
        "X2,IMP1,,2024-13-05,classification,0\n"
        "X3,IMP2,,2024-02-05,classification,maybe\n"
        "X1,IMP3,,2024-02-06,origin,1\n"
    )
    path = write(tmp_path, "disclosures.csv", DISCLOSURE_HEADER + rows)
    error = error_of(load_disclosures, path)
    assert str(error) == (
        f"{path}: column 'disclosure_id': 1 row with a duplicate disclosure_id (row 4). "
        "Other columns with problems: 'disclosed_at' (1 row), 'minor' (1 row). " + SKIP
    )
    assert (error.file, error.column, error.rows) == (str(path), "disclosure_id", [4])
    loaded = load_disclosures(path, skip_invalid=True)
    assert loaded.frame["disclosure_id"].tolist() == ["X1"]
    assert loaded.rejected["row"].tolist() == [2, 3, 4]
    missing = write(tmp_path, "d3.csv", "disclosure_id,enterprise_id,kind,minor\nX1,I,a,1\n")
    error = error_of(load_disclosures, missing)
    assert "missing required column(s) 'disclosed_at'" in str(error)
    assert error.column == "disclosed_at"


def test_rulings_kinds_in_english_and_chinese(tmp_path: Path) -> None:
    rows = (
        "R1,IMP1,6203419090,classification,2024-01-01,2025-12-31\n"
        "R2,IMP1,620341,归类,2024-01-01,2024-01-01\n"
        "R3,IMP2,62034190,Valuation,2024-01-01,2026-01-01\n"
        "R4,IMP2,6203419090,原产地,2024-01-01,2026-01-01\n"
    )
    loaded = load_rulings(write(tmp_path, "rulings.csv", RULING_HEADER + rows))
    assert loaded.layout == "rulings"
    assert loaded.frame["kind"].tolist() == ["classification"] * 2 + ["valuation", "origin"]
    assert loaded.frame["hs_code"].tolist() == ["6203419090", "620341", "62034190", "6203419090"]
    assert loaded.frame["valid_to"].dtype == "datetime64[ns]"


def test_bad_rulings_name_file_column_and_rows(tmp_path: Path) -> None:
    rows = (
        "R1,IMP1,6203419090,classification,2024-01-01,2025-12-31\n"
        "R2,IMP1,62034,classification,2024-01-01,2025-01-01\n"
        "R3,IMP2,6203419090,price,2024-01-01,2025-01-01\n"
        "R4,IMP2,6203419090,origin,2024-05-01,2024-04-30\n"
        "R5,IMP2,6203419090,origin,2024-05-01,\n"
    )
    path = write(tmp_path, "rulings.csv", RULING_HEADER + rows)
    error = error_of(load_rulings, path)
    assert str(error) == (
        f"{path}: column 'hs_code': 1 row with an invalid code (6 to 10 digits expected) "
        "(row 2). Other columns with problems: 'kind' (1 row), 'valid_to' (2 rows). " + SKIP
    )
    loaded = load_rulings(path, skip_invalid=True)
    assert loaded.frame["ruling_id"].tolist() == ["R1"]
    reasons = dict(zip(loaded.rejected["row"], loaded.rejected["reason"], strict=True))
    assert reasons[3] == "kind: a ruling kind other than classification, valuation or origin"
    assert reasons[4] == "valid_to: a valid_to before its valid_from"
    assert reasons[5].startswith("valid_to: ")
    only_period = write(
        tmp_path, "r2.csv", RULING_HEADER + "R1,I,6203419090,origin,2024-05-01,2024-04-30\n"
    )
    error = error_of(load_rulings, only_period)
    assert str(error) == (
        f"{only_period}: column 'valid_to': 1 row with a valid_to before its valid_from "
        "(row 1). " + SKIP
    )
    assert (error.column, error.rows) == ("valid_to", [1])


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
