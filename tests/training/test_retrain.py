"""``portsift retrain``: challenger and champion on the same rows, promotion by the rule.

The champion of ``portsift-risk`` is the session's ``trained_model_dir`` (trained by the
CLI on the session data). A challenger trained on deliberately corrupted labels (the
outcomes shuffled among the inspected rows of the training window, the hold-out left
intact) must lose and leave the alias where it was; a weak champion trained on corrupted
labels under another registered name must be replaced by a challenger trained on the
clean data. Both runs check, from the ``comparison.json`` recorded in MLflow, that the two
models were measured on the same rows, and that those rows are exactly the labelled
declarations after both training windows (counted here from the file). Small models
(a settings override) keep the module to seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

from portsift.cli import main
from portsift.features import loading
from portsift.features.pipeline import Registers
from portsift.models.bundle import load_bundle
from portsift.settings import load_settings
from portsift.synthetic.generator import generate_synthetic_with_truth
from portsift.training.retrain import RetrainError, plan_retrain
from portsift.training.train import train
from tests.conftest import SESSION_ROWS, DataFiles

MODEL = "portsift-risk"
OTHER_MODEL = "portsift-risk-retrain-test"
FAST = """
[model]
n_estimators = 80
early_stopping_rounds = 20
learning_rate = 0.1

[revenue_model]
n_estimators = 60
learning_rate = 0.1
"""
HOLDOUT_DAYS = 90
WINDOW_DAYS = 365


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _alias(uri: str, name: str, alias: str) -> str | None:
    aliases = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(name).aliases
    return None if aliases.get(alias) is None else str(aliases[alias])


def _recorded_comparison(uri: str, run_id: str, scratch: Path) -> dict:
    """The comparison.json artefact of the MLflow run, as stored there."""
    path = download_artifacts(
        run_id=run_id, artifact_path="comparison.json", dst_path=str(scratch), tracking_uri=uri
    )
    return json.loads(Path(path).read_text("utf-8"))


def _labelled_after(raw: pd.DataFrame, last_trained_day: pd.Timestamp) -> int:
    """Inspected declarations with an outcome lodged after ``last_trained_day``."""
    days = pd.to_datetime(raw["declared_at"]).dt.normalize()
    return int(((days > last_trained_day) & (raw["inspected"] == "1")).sum())


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Settings with few, quick trees."""
    path = tmp_path_factory.mktemp("retrain-config") / "fast.toml"
    path.write_text(FAST, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def raw(data_files: DataFiles) -> pd.DataFrame:
    """The session declarations as text, with the generator's random-inspection marker."""
    table = pd.read_csv(data_files.declarations, dtype=str, keep_default_na=False)
    _, truth = generate_synthetic_with_truth(rows=SESSION_ROWS, seed=11)
    assert (truth["declaration_id"].to_numpy() == table["declaration_id"].to_numpy()).all()
    table["random_inspection"] = truth["random_inspection"].astype(int).astype(str).to_numpy()
    return table


def _corrupted(raw: pd.DataFrame, before: pd.Timestamp, seed: int = 3) -> pd.DataFrame:
    """Shuffle the outcomes (illicit with its revenue) among inspected rows before a day."""
    table = raw.copy()
    days = pd.to_datetime(table["declared_at"]).dt.normalize()
    rows = np.flatnonzero(((days < before) & (table["inspected"] == "1")).to_numpy())
    shuffled = np.random.default_rng(seed).permutation(rows)
    for column in ("illicit", "revenue"):
        table.loc[table.index[rows], column] = table[column].to_numpy()[shuffled]
    return table


def _last_day(raw: pd.DataFrame) -> pd.Timestamp:
    return pd.to_datetime(raw["declared_at"]).max().normalize()


def test_plan_restricts_the_holdout_to_rows_after_the_champion() -> None:
    dates = pd.Series(pd.date_range("2024-01-01", "2024-04-09", freq="D"))  # 100 days
    plan = plan_retrain(dates, holdout_fraction=0.2, holdout_days=30, window_days=40)
    assert plan.holdout_start == pd.Timestamp("2024-03-11")
    assert plan.window_start == pd.Timestamp("2024-01-31")
    assert plan.shared_start == plan.holdout_start and not plan.restricted
    overlapping = plan_retrain(
        dates, holdout_fraction=0.2, holdout_days=30, champion_trained_to=pd.Timestamp("2024-03-20")
    )
    assert overlapping.shared_start == pd.Timestamp("2024-03-21") and overlapping.restricted
    assert "overlaps the hold-out" in overlapping.notes[0]
    with pytest.raises(RetrainError, match="no rows after both"):
        plan_retrain(dates, holdout_fraction=0.2, champion_trained_to=pd.Timestamp("2024-04-09"))
    with pytest.raises(RetrainError, match="covers the whole file"):
        plan_retrain(dates, holdout_fraction=0.2, holdout_days=100)


def test_a_challenger_trained_on_corrupted_labels_loses_and_the_champion_stays(
    trained_model_dir: Path,
    data_files: DataFiles,
    raw: pd.DataFrame,
    fast_config: Path,
    mlflow_store: str,
    tmp_path: Path,
) -> None:
    champion_before = _alias(mlflow_store, MODEL, "champion")
    assert champion_before is not None  # trained_model_dir registered one
    champion_to = pd.Timestamp(load_bundle(trained_model_dir).metadata["trained_to"])
    holdout_start = _last_day(raw) - pd.Timedelta(days=HOLDOUT_DAYS - 1)
    assert champion_to < holdout_start  # a later hold-out: nothing to restrict
    path = tmp_path / "corrupted.csv"
    _corrupted(raw, holdout_start).to_csv(path, index=False)
    model_dir = tmp_path / "challenger"
    status, printed, err = _run(
        [
            "retrain",
            "--declarations",
            str(path),
            *data_files.register_args(),
            "--config",
            str(fast_config),
            "--holdout-days",
            str(HOLDOUT_DAYS),
            "--window-days",
            str(WINDOW_DAYS),
            "--model-dir",
            str(model_dir),
            "--json",
            str(tmp_path / "comparison.json"),
        ]
    )
    assert status == 0, err
    local = json.loads((tmp_path / "comparison.json").read_text("utf-8"))
    decision = local["decision"]
    recorded = _recorded_comparison(mlflow_store, decision["run_id"], tmp_path / "artefact")
    assert recorded == local
    models = recorded["models"]
    champion, challenger = models["champion"], models["challenger"]
    assert champion["registry_version"] == champion_before
    # Identical rows for both, and exactly the labelled rows of the last 90 days.
    for key in ("rows", "labelled_rows", "violations", "ids_sha256", "from", "to"):
        assert champion["holdout"][key] == challenger["holdout"][key], key
    assert challenger["holdout"]["labelled_rows"] == _labelled_after(
        raw, holdout_start - pd.Timedelta(days=1)
    )
    assert challenger["holdout"]["from"] == str(holdout_start.date())
    assert not recorded["holdout"]["restricted_to_after_champion_window"]
    assert challenger["trained_to"] == str((holdout_start - pd.Timedelta(days=1)).date())
    # Noise labels cannot rank: the challenger loses and the alias stays.
    p5 = "precision_at_5"
    assert challenger["holdout"]["metrics"][p5] < champion["holdout"]["metrics"][p5]
    assert decision["alias"] == "challenger" and not decision["promoted"]
    assert _alias(mlflow_store, MODEL, "champion") == champion_before
    assert _alias(mlflow_store, MODEL, "challenger") == decision["registry_version"]
    assert "not promoted" in printed and f"champion stays v{champion_before}" in printed
    # The run holds both models' figures; the bundle is written anyway.
    run = MlflowClient(tracking_uri=mlflow_store).get_run(decision["run_id"])
    for role in ("champion", "challenger"):
        assert run.data.metrics[f"shared_{role}_{p5}"] == pytest.approx(
            models[role]["holdout"]["metrics"][p5]
        )
    assert run.data.tags["portsift.retrain.champion_version"] == champion_before
    assert run.data.tags["portsift.registration.alias"] == "challenger"
    assert load_bundle(model_dir).model_version == challenger["model_version"]


def test_a_clean_challenger_replaces_a_weak_champion_on_the_rows_after_it(
    data_files: DataFiles,
    registers: Registers,
    raw: pd.DataFrame,
    fast_config: Path,
    mlflow_store: str,
    tmp_path: Path,
) -> None:
    config = tmp_path / "other.toml"
    config.write_text(
        fast_config.read_text("utf-8") + f'\n[training]\nregistered_model_name = "{OTHER_MODEL}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    # The weak champion: trained by the library on shuffled labels (its default 80%).
    corrupted = tmp_path / "corrupted.csv"
    _corrupted(raw, _last_day(raw) + pd.Timedelta(days=1)).to_csv(corrupted, index=False)
    weak = train(loading.load_declarations(corrupted).frame, registers, settings, tmp_path / "weak")
    assert weak.registration.alias == "champion"
    weak_to = pd.Timestamp(load_bundle(tmp_path / "weak").metadata["trained_to"])
    clean = tmp_path / "clean.csv"
    raw.to_csv(clean, index=False)  # the session data, with its random-inspection marker
    model_dir = tmp_path / "challenger"
    # A 200-day hold-out starts before the weak champion's window ends: restricted.
    status, printed, err = _run(
        [
            "retrain",
            "--declarations",
            str(clean),
            *data_files.register_args(),
            "--config",
            str(config),
            "--holdout-days",
            "200",
            "--window-days",
            str(WINDOW_DAYS),
            "--model-dir",
            str(model_dir),
            "--json",
            str(tmp_path / "comparison.json"),
        ]
    )
    assert status == 0, err
    assert "overlaps the hold-out" in err
    local = json.loads((tmp_path / "comparison.json").read_text("utf-8"))
    recorded = _recorded_comparison(mlflow_store, local["decision"]["run_id"], tmp_path / "a")
    assert recorded == local
    assert recorded["holdout"]["restricted_to_after_champion_window"]
    shared_from = weak_to + pd.Timedelta(days=1)
    assert recorded["holdout"]["shared_from"] == str(shared_from.date())
    champion, challenger = recorded["models"]["champion"], recorded["models"]["challenger"]
    assert champion["registry_version"] == weak.registration.version
    for rows in ("holdout", "random_sample"):
        for key in ("rows", "labelled_rows", "violations", "ids_sha256"):
            assert champion[rows][key] == challenger[rows][key], (rows, key)
    # The champion is never scored on rows it trained on.
    assert challenger["holdout"]["labelled_rows"] == _labelled_after(raw, weak_to)
    assert challenger["holdout"]["from"] == str(shared_from.date())
    marked = (raw["random_inspection"] == "1") & (raw["inspected"] == "1")
    after = pd.to_datetime(raw["declared_at"]).dt.normalize() > weak_to
    assert challenger["random_sample"]["labelled_rows"] == int((marked & after).sum()) > 0
    p5 = "precision_at_5"
    assert challenger["holdout"]["metrics"][p5] > champion["holdout"]["metrics"][p5]
    decision = recorded["decision"]
    assert decision["promoted"] and decision["alias"] == "champion"
    assert _alias(mlflow_store, OTHER_MODEL, "champion") == decision["registry_version"]
    assert "promoted:" in printed and "random inspections of the shared hold-out" in printed


@pytest.mark.parametrize(
    ("break_input", "message"),
    [
        ("drop_hs_code", "hs_code"),
        ("holdout_covers_file", "covers the whole file"),
        ("window_days_zero", "--window-days must be at least 1"),
    ],
)
def test_bad_input_exits_2_and_leaves_no_model_dir(
    trained_model_dir: Path,
    data_files: DataFiles,
    raw: pd.DataFrame,
    fast_config: Path,
    tmp_path: Path,
    break_input: str,
    message: str,
) -> None:
    path, extra = tmp_path / "declarations.csv", []
    table = raw.drop(columns=["random_inspection"])
    if break_input == "drop_hs_code":
        table = table.drop(columns=["hs_code"])
    elif break_input == "holdout_covers_file":
        extra = ["--holdout-days", "5000"]
    else:
        extra = ["--window-days", "0"]
    table.to_csv(path, index=False)
    model_dir = tmp_path / "out" / "model"
    status, _, err = _run(
        [
            "retrain",
            "--declarations",
            str(path),
            *data_files.register_args(),
            "--config",
            str(fast_config),
            *extra,
            "--model-dir",
            str(model_dir),
        ]
    )
    assert status == 2
    assert "portsift retrain: error:" in err and message in err
    assert not model_dir.exists()
    assert not (model_dir.parent.exists() and any(model_dir.parent.iterdir()))
