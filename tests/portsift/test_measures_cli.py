"""``--disclosures`` and ``--rulings`` end to end: outputs, the bundle, bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from portsift.cli import main
from portsift.models.policy import MEASURE_COLUMNS
from portsift.models.scoring import POLICY_OUTPUT_COLUMNS, SCORE_COLUMNS
from portsift.synthetic.generator import SyntheticData
from tests.conftest import DataFiles


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _score(model_dir: Path, data_files: DataFiles, out: Path, *extra: str) -> int:
    return main(
        [
            "score",
            "--model-dir",
            str(model_dir),
            "--declarations",
            str(data_files.declarations),
            "--lab-results",
            str(data_files.lab_results),
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )


def test_score_writes_the_measure_columns_after_the_others_only_when_given(
    trained_model_dir: Path, data_files: DataFiles, tmp_path: Path
) -> None:
    plain, full = tmp_path / "plain.csv", tmp_path / "full.csv"
    assert _score(trained_model_dir, data_files, plain) == 0
    assert _score(trained_model_dir, data_files, full, *data_files.measure_args()) == 0
    before = [*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS]
    assert list(_read(plain).columns) == before
    scores = _read(full)
    assert list(scores.columns) == [*before, *MEASURE_COLUMNS]
    disclosed = scores[scores["selection_reason"] == "disclosure"]
    assert len(disclosed) > 0
    assert (disclosed["lane"] == "yellow").all() and (disclosed["disclosure_id"] != "").all()
    assert disclosed["reasons"].str.startswith("voluntary disclosure DS").all()
    assert set(scores["ruling_expiring"]) == {"0", "1"}
    ruled = scores[scores["ruling_ids"] != ""]
    assert ruled["reasons"].str.contains("covered by advance ruling YC").all()
    # A model trained without them scores every row as before; only the decisions move.
    assert (scores["risk_score"] == _read(plain)["risk_score"]).all()


def test_train_with_the_registers_keeps_them_in_the_bundle(
    synthetic: SyntheticData, data_files: DataFiles, tmp_path: Path, capsys
) -> None:
    declarations = tmp_path / "declarations.csv"
    synthetic.declarations.head(12_000).to_csv(declarations, index=False)
    model_dir = tmp_path / "model"
    status = main(
        [
            "train",
            "--declarations",
            str(declarations),
            *data_files.register_args(),
            *data_files.measure_args(),
            "--model-dir",
            str(model_dir),
            "--no-mlflow",
        ]
    )
    assert status == 0
    printed = capsys.readouterr()
    assert "voluntary disclosure history in the risk model: importer_disclosures" in (
        printed.err + printed.out
    )
    snapshot = json.loads((model_dir / "registers.json").read_text("utf-8"))
    assert {"disclosures", "rulings"} <= set(snapshot)
    features = json.loads((model_dir / "features.json").read_text("utf-8"))
    assert "importer_disclosures" in features["feature_names"]
    # Scoring without the files reads the snapshot, like the enterprise register.
    out = tmp_path / "scores.csv"
    later = tmp_path / "later.csv"
    synthetic.declarations.iloc[12_000:15_000].to_csv(later, index=False)
    scoring = ["score", "--model-dir", str(model_dir), "--declarations", str(later)]
    status = main([*scoring, "--out", str(out), "--quiet"])
    assert status == 0
    assert set(MEASURE_COLUMNS) <= set(_read(out).columns)


def test_a_bundle_without_the_registers_has_no_keys_for_them(trained_model_dir: Path) -> None:
    # Its registers.json is byte for byte what it was before these registers existed.
    snapshot = json.loads((trained_model_dir / "registers.json").read_text("utf-8"))
    assert set(snapshot) == {"enterprises", "commodities"}


def _bad_register(
    source: Path, tmp_path: Path, name: str, row: int, column: str, value: str
) -> Path:
    frame = _read(source)
    frame.loc[row - 1, column] = value
    path = tmp_path / f"bad_{name}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("register", "column", "value", "row"),
    [
        ("disclosures", "disclosed_at", "2025-02-30", 3),
        ("disclosures", "minor", "perhaps", 2),
        ("rulings", "kind", "tariff", 4),
        ("rulings", "valid_to", "2000-01-01", 5),
        ("rulings", "hs_code", "12AB", 1),
    ],
)
def test_bad_registers_exit_2_name_file_column_row_and_write_nothing(
    trained_model_dir: Path,
    data_files: DataFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    register: str,
    column: str,
    value: str,
    row: int,
) -> None:
    source = getattr(data_files, register)
    bad = _bad_register(source, tmp_path, register, row, column, value)
    out = tmp_path / "out"
    out.mkdir()
    given = [f"--{register}", str(bad)]
    declarations = ["--declarations", str(data_files.declarations)]
    model = ["--model-dir", str(trained_model_dir)]
    commands = [
        ["train", *declarations, *given, "--model-dir", str(out / "m"), "--no-mlflow"],
        ["score", *model, *declarations, *given, "--out", str(out / "s.csv")],
        ["evaluate", *model, *declarations, *given, "--json", str(out / "e.json")],
    ]
    for command in commands:
        assert main(command) == 2, command
        message = capsys.readouterr().err
        for needle in (bad.name, f"'{column}'", f"row {row}"):
            assert needle in message, (command[0], message)
        assert list(out.iterdir()) == [], command


def test_simulate_refuses_the_registers_with_synthetic(tmp_path: Path, capsys) -> None:
    status = main(
        ["simulate", "--synthetic", "2000", "--disclosures", "d.csv", "--out", str(tmp_path / "s")]
    )
    assert status == 2
    assert "--synthetic" in capsys.readouterr().err
