"""The ``portsift`` command end to end: layouts, outputs, bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portsift.cli import main
from portsift.synthetic.generator import SyntheticData
from portsift.synthetic.layouts import to_bacuda
from tests.conftest import DataFiles, EvaluateRun

SCORE_COLUMNS = [
    "declaration_id",
    "risk_score",
    "expected_revenue",
    "selected",
    "lane",
    "selection_reason",
    "credit_tier",
    "reasons",
]


def _run(*args: str) -> int:
    return main([*args, "--quiet"])


def _train(declarations: Path, model_dir: Path, *extra: str) -> int:
    return _run(
        "train",
        "--declarations",
        str(declarations),
        "--model-dir",
        str(model_dir),
        "--no-mlflow",
        *extra,
    )


def _later_half(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["declared_at"] >= frame["declared_at"].quantile(0.85)]


# -- the happy paths --------------------------------------------------------------


def test_generate_writes_the_six_tables(tmp_path: Path) -> None:
    assert _run("generate", "--out", str(tmp_path / "g"), "--rows", "2000", "--seed", "3") == 0
    names = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert names == [
        "commodities.csv",
        "declarations.csv",
        "disclosures.csv",
        "enterprises.csv",
        "lab_results.csv",
        "rulings.csv",
    ]
    assert len(pd.read_csv(tmp_path / "g" / "declarations.csv")) == 2000


def test_score_writes_every_contract_column(
    trained_model_dir: Path, data_files: DataFiles, tmp_path: Path
) -> None:
    out = tmp_path / "scores.csv"
    status = _run(
        "score",
        "--model-dir",
        str(trained_model_dir),
        "--declarations",
        str(data_files.declarations),
        "--lab-results",
        str(data_files.lab_results),
        "--rate",
        "0.05",
        "--out",
        str(out),
    )
    assert status == 0
    scores = pd.read_csv(out, dtype={"declaration_id": str}, keep_default_na=False)
    # The contract's columns first (it says "at least"), then the policy's deadlines.
    assert list(scores.columns)[: len(SCORE_COLUMNS)] == SCORE_COLUMNS
    declarations = pd.read_csv(data_files.declarations, dtype={"declaration_id": str})
    assert scores["declaration_id"].tolist() == declarations["declaration_id"].tolist()
    assert scores["risk_score"].between(0, 1).all()
    assert (scores["expected_revenue"] >= 0).all()
    assert scores["selected"].sum() == round(0.05 * len(scores))
    assert set(scores["lane"]) <= {"green", "yellow", "red", "red_sampling", "red_remote"}
    assert set(scores["release_condition"]) <= {
        "",
        "conditional_early_release",
        "conditional_release",
    }
    assert (scores.loc[scores["selected"] == 1, "selection_reason"] != "").all()
    assert (scores.loc[scores["selected"] == 1, "reasons"].str.len() > 10).all()
    assert set(scores["credit_tier"]) <= {
        "advanced",
        "certified",
        "regular",
        "dishonest",
        "seriously_dishonest",
    }
    assert not out.with_name("scores.csv.rejected.csv").exists()


def test_score_in_chinese_gives_chinese_reasons(
    trained_model_dir: Path, data_files: DataFiles, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    assert (
        _run(
            "score",
            "--model-dir",
            str(trained_model_dir),
            "--declarations",
            str(data_files.declarations),
            "--out",
            str(out),
            "--lang",
            "zh",
            # Every row explained (the default explains the selected ones only).
            "--explain",
            "all",
        )
        == 0
    )
    reasons = pd.read_parquet(out)["reasons"]
    assert reasons.str.contains(r"[\u4e00-\u9fff]").mean() > 0.9


def test_evaluate_reproduces_the_training_hold_out(
    trained_model_dir: Path, evaluate_run: EvaluateRun
) -> None:
    assert evaluate_run.status == 0
    printed = evaluate_run.printed
    assert "date_gbdt" in printed and "hindsight" in printed and "by credit tier" in printed
    evaluation = evaluate_run.evaluation
    methods = evaluation["methods"]
    assert set(methods) >= {
        "model",
        "random",
        "price",
        "importer_history",
        "date_gbdt",
        "hindsight",
    }
    metadata = json.loads((trained_model_dir / "metadata.json").read_text("utf-8"))
    assert evaluation["facts"]["from"] >= metadata["holdout_start"]
    model = methods["model"]
    for name in ("precision_at_5", "revenue_at_5"):
        for baseline in ("random", "price", "importer_history", "date_gbdt"):
            assert model[name] > methods[baseline][name], (name, baseline)
        assert model[name] <= methods["hindsight"][name] + 1e-12


def test_bacuda_layout_trains_and_scores(synthetic: SyntheticData, tmp_path: Path) -> None:
    bacuda = to_bacuda(synthetic.declarations)
    path = tmp_path / "bacuda.csv"
    bacuda.to_csv(path, index=False)
    assert _train(path, tmp_path / "model") == 0
    out = tmp_path / "scores.csv"
    assert (
        _run(
            "score",
            "--model-dir",
            str(tmp_path / "model"),
            "--declarations",
            str(path),
            "--out",
            str(out),
        )
        == 0
    )
    scores = pd.read_csv(out, dtype={"declaration_id": str})
    assert scores["declaration_id"].tolist() == bacuda["sgd.id"].astype(str).tolist()
    assert (
        _run("evaluate", "--model-dir", str(tmp_path / "model"), "--declarations", str(path)) == 0
    )


def test_schema_file_layout_with_extra_features(synthetic: SyntheticData, tmp_path: Path) -> None:
    renamed = synthetic.declarations.rename(
        columns={
            "declaration_id": "Declaration ID",
            "declared_at": "Date",
            "importer_id": "Importer ID",
            "hs_code": "HS6 Code",
            "declared_value": "Item Price",
            "illicit": "Fraud",
            "revenue": "Revenue",
            "inspected": "Checked",
            "quantity": "Qty",
            "tax_rate": "Tax Rate",
        }
    )
    renamed["Courier ID"] = np.where(renamed["trade_mode"] == "1210", "EMS", "SF")
    renamed["Process Type"] = renamed["customs_office"]
    path = tmp_path / "custom.csv"
    renamed.to_csv(path, index=False)
    schema = tmp_path / "schema.toml"
    schema.write_text(
        '[columns]\ndeclaration_id = "Declaration ID"\ndeclared_at = "Date"\n'
        'importer_id = "Importer ID"\nhs_code = "HS6 Code"\ndeclared_value = "Item Price"\n'
        'illicit = "Fraud"\nrevenue = "Revenue"\ninspected = "Checked"\nquantity = "Qty"\n'
        '[features]\ncategorical = ["Process Type", "Courier ID"]\nnumeric = ["Tax Rate"]\n',
        "utf-8",
    )
    tomllib.loads(schema.read_text("utf-8"))
    assert _train(path, tmp_path / "model", "--schema", str(schema)) == 0
    features = json.loads((tmp_path / "model" / "features.json").read_text("utf-8"))
    assert "extra_courier_id_code" in features["feature_names"]
    assert "extra_tax_rate" in features["feature_names"]
    out = tmp_path / "scores.csv"
    assert (
        _run(
            "score",
            "--model-dir",
            str(tmp_path / "model"),
            "--declarations",
            str(path),
            "--schema",
            str(schema),
            "--out",
            str(out),
        )
        == 0
    )
    assert len(pd.read_csv(out)) == len(renamed)


def test_without_revenue_the_revenue_is_estimated(
    synthetic: SyntheticData, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "no_revenue.csv"
    synthetic.declarations.drop(columns=["revenue"]).to_csv(path, index=False)
    assert (
        main(
            [
                "train",
                "--declarations",
                str(path),
                "--model-dir",
                str(tmp_path / "m"),
                "--no-mlflow",
            ]
        )
        == 0
    )
    assert "estimated" in capsys.readouterr().err
    assert not (tmp_path / "m" / "revenue_model.txt").exists()
    out = tmp_path / "scores.csv"
    assert (
        main(
            [
                "score",
                "--model-dir",
                str(tmp_path / "m"),
                "--declarations",
                str(path),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "estimate" in capsys.readouterr().err
    scores = pd.read_csv(out)
    assert (scores["expected_revenue"] >= 0).all() and scores["expected_revenue"].max() > 0


def test_report_writes_html(trained_model_dir: Path, data_files: DataFiles, tmp_path: Path) -> None:
    declarations = pd.read_csv(data_files.declarations, dtype={"declaration_id": str})
    target = declarations["declaration_id"].iloc[-1]
    for lang, needle in (("zh", "查验决定说明报告"), ("en", "Inspection decision report")):
        out = tmp_path / f"report-{lang}.html"
        assert (
            _run(
                "report",
                "--model-dir",
                str(trained_model_dir),
                "--declarations",
                str(data_files.declarations),
                "--id",
                target,
                "--lang",
                lang,
                "--out",
                str(out),
            )
            == 0
        )
        html = out.read_text("utf-8")
        assert needle in html and target in html and 'id="contributions"' in html


# -- labels are optional when scoring, required when training ------------------------

NEW_LAYOUT = {
    "declaration_id": "Declaration ID",
    "declared_at": "Date",
    "importer_id": "Importer ID",
    "hs_code": "HS6 Code",
    "declared_value": "Item Price",
}
LABEL_SCHEMA = (
    "[columns]\n"
    + "".join(f'{field} = "{column}"\n' for field, column in NEW_LAYOUT.items())
    + 'illicit = "Fraud"\ninspected = "Checked"\nrevenue = "Revenue"\n'
)


def _unlabelled_with_schema(synthetic: SyntheticData, tmp_path: Path) -> tuple[Path, Path]:
    """New declarations in a schema layout that maps the labels, without the label columns."""
    frame = synthetic.declarations.tail(1000).drop(columns=["inspected", "illicit", "revenue"])
    path = tmp_path / "new_declarations.csv"
    frame.rename(columns=NEW_LAYOUT).to_csv(path, index=False)
    schema = tmp_path / "labels_schema.toml"
    schema.write_text(LABEL_SCHEMA, "utf-8")
    return path, schema


def test_score_with_a_schema_mapping_labels_on_a_file_without_them(
    synthetic: SyntheticData, trained_model_dir: Path, tmp_path: Path
) -> None:
    path, schema = _unlabelled_with_schema(synthetic, tmp_path)
    out = tmp_path / "scores.csv"
    command = ["score", "--model-dir", str(trained_model_dir), "--declarations", str(path)]
    assert _run(*command, "--schema", str(schema), "--out", str(out)) == 0
    scores = pd.read_csv(out, dtype={"declaration_id": str})
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == SCORE_COLUMNS
    expected = synthetic.declarations.tail(1000)["declaration_id"].astype(str).tolist()
    assert scores["declaration_id"].tolist() == expected
    assert scores["risk_score"].between(0, 1).all()


@pytest.mark.parametrize("with_schema", [True, False])
def test_train_without_labels_exits_2_and_writes_nothing(
    synthetic: SyntheticData, tmp_path: Path, capsys: pytest.CaptureFixture, with_schema: bool
) -> None:
    path, schema = _unlabelled_with_schema(synthetic, tmp_path)
    extra: list[str] = ["--schema", str(schema)]
    needles = ["labels_schema.toml", "illicit", "'Fraud'", "new_declarations.csv"]
    if not with_schema:  # the same declarations in the canonical layout
        path = tmp_path / "canonical.csv"
        synthetic.declarations.tail(1000).drop(columns=["inspected", "illicit", "revenue"]).to_csv(
            path, index=False
        )
        extra, needles = [], ["canonical.csv", "illicit"]
    model_dir = tmp_path / "model"
    assert _train(path, model_dir, *extra) == 2
    message = capsys.readouterr().err
    assert message.startswith("portsift train: error: ")
    for needle in needles:
        assert needle in message, message
    assert not model_dir.exists()


# -- bad input: exit 2, a message naming file, column and rows, nothing written ----------


def _bad_declarations(synthetic: SyntheticData, tmp_path: Path, edit: str) -> Path:
    frame = synthetic.declarations.head(400).copy()
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    if edit == "date":
        text.loc[text.index[3], "declared_at"] = "2025-13-45"
    elif edit == "negative":
        text.loc[text.index[[4, 9]], "declared_value"] = "-5"
    elif edit == "text":
        text.loc[text.index[2], "quantity"] = "many"
    elif edit == "duplicate":
        text.loc[text.index[7], "declaration_id"] = text.loc[text.index[1], "declaration_id"]
    elif edit == "missing":
        text = text.drop(columns=["hs_code"])
    path = tmp_path / "bad.csv"
    text.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        ("date", ["bad.csv", "declared_at", "row 4"]),
        ("negative", ["bad.csv", "declared_value", "rows 5, 10"]),
        ("text", ["bad.csv", "quantity", "row 3"]),
        ("duplicate", ["bad.csv", "declaration_id", "row 8"]),
        ("missing", ["bad.csv", "hs_code"]),
    ],
)
def test_bad_declarations_exit_2_and_write_nothing(
    synthetic: SyntheticData,
    trained_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    edit: str,
    needles: list[str],
) -> None:
    path = _bad_declarations(synthetic, tmp_path, edit)
    out = tmp_path / "out"
    out.mkdir()
    commands = [
        ["train", "--declarations", str(path), "--model-dir", str(out / "model"), "--no-mlflow"],
        [
            "score",
            "--model-dir",
            str(trained_model_dir),
            "--declarations",
            str(path),
            "--out",
            str(out / "scores.csv"),
        ],
        [
            "evaluate",
            "--model-dir",
            str(trained_model_dir),
            "--declarations",
            str(path),
            "--json",
            str(out / "e.json"),
        ],
    ]
    for command in commands:
        assert main(command) == 2, command
        message = capsys.readouterr().err
        for needle in needles:
            assert needle in message, (command[0], message)
        assert list(out.iterdir()) == [], command


def test_unknown_tier_is_rejected(data_files: DataFiles, tmp_path: Path, capsys) -> None:
    enterprises = pd.read_csv(data_files.enterprises, dtype=str)
    enterprises.loc[2, "credit_tier"] = "platinum"
    path = tmp_path / "enterprises.csv"
    enterprises.to_csv(path, index=False)
    status = main(
        [
            "train",
            "--declarations",
            str(data_files.declarations),
            "--enterprises",
            str(path),
            "--model-dir",
            str(tmp_path / "m"),
            "--no-mlflow",
        ]
    )
    assert status == 2
    message = capsys.readouterr().err
    assert "enterprises.csv" in message and "credit_tier" in message and "row 3" in message
    assert not (tmp_path / "m").exists()


def test_skip_invalid_sets_rows_aside(
    synthetic: SyntheticData, trained_model_dir: Path, tmp_path: Path
) -> None:
    path = _bad_declarations(synthetic, tmp_path, "negative")
    out = tmp_path / "scores.csv"
    assert (
        _run(
            "score",
            "--model-dir",
            str(trained_model_dir),
            "--declarations",
            str(path),
            "--out",
            str(out),
            "--skip-invalid",
        )
        == 0
    )
    assert len(pd.read_csv(out)) == 398
    rejected = pd.read_csv(tmp_path / "scores.csv.rejected.csv")
    assert len(rejected) == 2 and rejected["reason"].str.contains("negative").all()


def test_a_bad_schema_column_is_named(synthetic: SyntheticData, tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.csv"
    synthetic.declarations.head(200).to_csv(path, index=False)
    schema = tmp_path / "schema.toml"
    schema.write_text('[columns]\ndeclared_value = "Item Price"\n', "utf-8")
    assert (
        main(
            [
                "train",
                "--declarations",
                str(path),
                "--schema",
                str(schema),
                "--model-dir",
                str(tmp_path / "m"),
                "--no-mlflow",
            ]
        )
        == 2
    )
    message = capsys.readouterr().err
    assert "schema.toml" in message and "Item Price" in message
    assert not (tmp_path / "m").exists()


def test_a_damaged_bundle_is_refused(
    trained_model_dir: Path, data_files: DataFiles, tmp_path: Path, capsys
) -> None:
    import shutil

    damaged = tmp_path / "bundle"
    shutil.copytree(trained_model_dir, damaged)
    (damaged / "metadata.json").write_text("{}", "utf-8")
    out = tmp_path / "scores.csv"
    assert (
        main(
            [
                "score",
                "--model-dir",
                str(damaged),
                "--declarations",
                str(data_files.declarations),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "checksum" in capsys.readouterr().err
    assert not out.exists()


def test_evaluating_only_training_rows_is_refused(
    trained_model_dir: Path, synthetic: SyntheticData, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "early.csv"
    synthetic.declarations.head(1000).to_csv(path, index=False)
    assert (
        main(["evaluate", "--model-dir", str(trained_model_dir), "--declarations", str(path)]) == 2
    )
    assert "in-sample" in capsys.readouterr().err
