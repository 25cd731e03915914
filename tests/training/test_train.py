"""Training records an MLflow run with the expected metrics, artefacts and alias decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from portsift.features.pipeline import Registers
from portsift.settings import load_settings
from portsift.store import tracking
from portsift.synthetic.generator import SyntheticData
from portsift.training.train import train

MODEL_NAME = "portsift-risk-alias-test"


def _settings(tmp_path: Path, name: str, weak: bool):
    config = tmp_path / f"{name}.toml"
    # A weak model trains its own shape: the shape search would replace it.
    model = (
        "[model]\nn_estimators = 3\nnum_leaves = 2\nmax_depth = 1\n[model_search]\nshapes = []\n"
        if weak
        else ""
    )
    config.write_text(f'{model}[training]\nregistered_model_name = "{MODEL_NAME}"\n', "utf-8")
    return load_settings(config)


@pytest.fixture(scope="module")
def runs(
    synthetic: SyntheticData, registers: Registers, tmp_path_factory: pytest.TempPathFactory
) -> list:
    tmp_path = tmp_path_factory.mktemp("alias")
    results = []
    for index, weak in enumerate((True, False, True)):
        settings = _settings(tmp_path, f"run{index}", weak)
        results.append(
            train(synthetic.declarations, registers, settings, tmp_path / f"model{index}")
        )
    return results


def test_run_records_metrics_params_and_artefacts(runs: list, mlflow_store: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store)
    run = client.get_run(runs[1].registration.run_id)
    for name in (
        "holdout_precision_at_5",
        "holdout_recall_at_5",
        "holdout_revenue_at_5",
        "holdout_precision_at_1",
        "holdout_auc",
        "holdout_calibration_error",
    ):
        assert name in run.data.metrics, name
    evaluation = runs[1].evaluation
    assert run.data.metrics["holdout_precision_at_5"] == pytest.approx(
        evaluation.table.loc["model", "precision_at_5"]
    )
    assert run.data.params["data.rows"] == str(30_000)
    assert run.data.params["model.num_leaves"] == str(load_settings().model.num_leaves)
    from portsift.models.bundle import load_bundle

    shape = load_bundle(runs[1].model_dir).metadata["model_shape"]
    assert len(shape["trials"]) == 1 + len(load_settings().model_search.shapes)
    assert run.data.params["model_search.chosen"] == shape["chosen"]["label"]
    assert run.data.params["model_search.chosen.num_leaves"] == str(shape["chosen"]["num_leaves"])
    assert run.data.metrics["shap_rows_per_second"] == pytest.approx(
        shape["chosen"]["shap_rows_per_second"]
    )
    assert any(note.startswith("model shape ") for note in runs[1].notes)
    artefacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    expected = {
        "feature_importance.csv",
        "shap_beeswarm.png",
        "shap_by_tier.csv",
        "evaluation.json",
    }
    assert expected | {"bundle"} <= artefacts


def test_alias_goes_to_the_better_model(runs: list, mlflow_store: str) -> None:
    weak, strong, weak_again = (r.registration for r in runs)
    assert weak.alias == "champion" and "no champion yet" in weak.reason
    assert strong.alias == "champion" and "beats champion" in strong.reason
    assert weak_again.alias == "challenger" and "does not beat" in weak_again.reason
    version, value = tracking.champion_metric(MODEL_NAME, "holdout_precision_at_5", mlflow_store)
    assert version == strong.version
    assert value == pytest.approx(runs[1].evaluation.table.loc["model", "precision_at_5"])


def test_registered_bundle_downloads_intact(runs: list, mlflow_store: str, tmp_path: Path) -> None:
    from portsift.models.bundle import load_bundle

    path = tracking.download_bundle(MODEL_NAME, "champion", tmp_path / "dl", mlflow_store)
    downloaded = load_bundle(path)
    assert downloaded.model_version == runs[1].model_version
