"""Training records an MLflow run with the expected metrics, artefacts and alias decision."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
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


def test_run_artefacts_describe_the_trained_model(
    runs: list, mlflow_store: str, tmp_path: Path
) -> None:
    """The recorded artefacts hold this model's numbers, not merely files of those names.

    Each file is downloaded from the run and checked against the bundle and the
    evaluation that ``train`` returned. Mutations tried in ``training/artefacts.py``
    (each made this test fail, then restored): ``feature_importance`` reading the
    ``"split"`` importance into ``gain`` (gains no longer the booster's); ``shap_by_tier``
    sorting ascending (largest factor no longer first); ``write_run_artefacts`` writing
    ``evaluation.json`` from an empty mapping (no ``methods``); ``beeswarm_plot`` saving
    an empty figure (a blank PNG of one colour).
    """
    from mlflow.artifacts import download_artifacts

    from portsift.models.bundle import load_bundle

    result = runs[1]
    run_id = result.registration.run_id
    folder = Path(
        download_artifacts(run_id=run_id, dst_path=str(tmp_path), tracking_uri=mlflow_store)
    )
    bundle = load_bundle(result.model_dir)
    booster = bundle.model.classifier_

    importance = pd.read_csv(folder / "feature_importance.csv")
    gains = dict(zip(booster.feature_name(), booster.feature_importance("gain"), strict=True))
    assert set(importance["feature"]) == set(gains)
    for feature, gain in zip(importance["feature"], importance["gain"], strict=True):
        assert gain == pytest.approx(gains[feature])
    assert importance["gain"].is_monotonic_decreasing
    assert importance["gain_share"].sum() == pytest.approx(1.0)
    assert importance["gain"].iloc[0] > 0  # a trained model has a feature that helps

    by_tier = pd.read_csv(folder / "shap_by_tier.csv")
    assert set(by_tier["feature"]) == set(bundle.model.risk_features)
    assert by_tier["all"].is_monotonic_decreasing and by_tier["all"].iloc[0] > 0
    tiers = [column for column in by_tier.columns if column not in ("feature", "all")]
    assert tiers and (by_tier[tiers] >= 0).all().all()

    recorded = json.loads((folder / "evaluation.json").read_text("utf-8"))
    for metric in ("precision_at_5", "recall_at_5", "auc"):
        assert recorded["methods"]["model"][metric] == pytest.approx(
            result.evaluation.table.loc["model", metric]
        )

    png = (folder / "shap_beeswarm.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from matplotlib.image import imread

    pixels = imread(folder / "shap_beeswarm.png")
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50  # a drawn plot


def test_alias_goes_to_the_better_model(runs: list, mlflow_store: str) -> None:
    weak, strong, weak_again = (r.registration for r in runs)
    assert weak.alias == "champion" and "no champion yet" in weak.reason
    assert strong.alias == "champion" and "beats champion" in strong.reason
    assert weak_again.alias == "challenger" and "does not beat" in weak_again.reason
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store)
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    version = str(champion.version)
    value = client.get_run(champion.run_id).data.metrics["holdout_precision_at_5"]
    assert version == strong.version
    assert value == pytest.approx(runs[1].evaluation.table.loc["model", "precision_at_5"])


def test_registered_bundle_downloads_intact(runs: list, mlflow_store: str, tmp_path: Path) -> None:
    from portsift.models.bundle import load_bundle

    registered = tracking.find_registered_bundle(MODEL_NAME, alias="champion", uri=mlflow_store)
    path = tracking.fetch_registered_bundle(registered, tmp_path / "dl", uri=mlflow_store)
    downloaded = load_bundle(path)
    assert downloaded.model_version == runs[1].model_version
