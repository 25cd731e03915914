"""Tests of training.tracking against a real, temporary SQLite MLflow store."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from portsift.store import tracking
from portsift.store.promotion import CHALLENGER, CHAMPION
from portsift.store.tracking import (
    REASON_TAG,
    record_training_run,
)

PRIMARY = "holdout_precision_at_5"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module: creating its tables costs seconds."""
    db_dir = tmp_path_factory.mktemp("mlflow-store") / "db"
    db_dir.mkdir()
    return f"sqlite:///{db_dir / 'mlflow.db'}"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle") / "risk-bundle"
    (root / "models").mkdir(parents=True)
    (root / "models" / "risk.txt").write_text("tree\nversion=v4\n", encoding="utf-8")
    (root / "meta.json").write_text(json.dumps({"features": ["a", "b"]}), encoding="utf-8")
    (root / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (root / "MANIFEST.sha256").write_text("deadbeef  meta.json\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("extra")
    (root / "fi.csv").write_text("feature,gain\na,1.0\n", encoding="utf-8")
    (root / "beeswarm.png").write_bytes(b"\x89PNG\r\n\x1a\nnot-really")
    (root / "eval.json").write_text('{"rows": []}', encoding="utf-8")
    return {
        "feature_importance.csv": root / "fi.csv",
        "plots/shap_beeswarm.png": root / "beeswarm.png",
        "evaluation.json": root / "eval.json",
    }


FINGERPRINT = {
    "rows": 1234,
    "date_min": "2024-01-01",
    "date_max": "2024-06-30",
    "label_rate": 0.071,
    "sha256": "ab" * 32,
}


def _record(
    uri: str | None,
    model: str,
    value: float,
    bundle: Path,
    extra: dict[str, Path],
    experiment: str = "portsift-tests",
    **kwargs: object,
) -> tracking.Registration:
    return record_training_run(
        experiment_name=experiment,
        model_name=model,
        params={"num_leaves": 15, "learning_rate": 0.05, "percents": [1, 2, 5, 10]},
        fingerprint=FINGERPRINT,
        metrics={PRIMARY: value, "holdout_revenue_at_5": 1.5e6, "holdout_auc": 0.81},
        artifacts=extra,
        bundle_dir=bundle,
        uri=uri,
        **kwargs,
    )


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _champion(uri: str, model: str) -> tuple[str, float] | None:
    """The champion's version and its metric, read straight from the registry."""
    client = _client(uri)
    try:
        version = client.get_model_version_by_alias(model, CHAMPION)
        value = client.get_run(version.run_id).data.metrics.get(PRIMARY)
    except Exception:  # no such model, no champion, or its run is gone
        return None
    return None if value is None else (str(version.version), value)


def _download(model: str, alias: str, dst: Path, uri: str | None = None) -> Path:
    """The bundle of ``models:/<model>@<alias>``, as ``serve --model-uri`` fetches it."""
    registered = tracking.find_registered_bundle(model, alias=alias, uri=uri)
    return tracking.fetch_registered_bundle(registered, dst, uri=uri)


def test_tracking_uri_default_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == "sqlite:///mlflow.db" == tracking.DEFAULT_TRACKING_URI
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////somewhere/else.db")
    assert tracking.tracking_uri() == "sqlite:////somewhere/else.db"


def test_import_does_not_import_mlflow() -> None:
    code = "import sys, portsift.store.tracking; sys.exit('mlflow' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_param_limit_matches_mlflow() -> None:
    from mlflow.utils import validation

    assert validation.MAX_PARAM_VAL_LENGTH == tracking._MAX_PARAM_VALUE
    assert validation.MAX_TAG_VAL_LENGTH == tracking._MAX_TAG_VALUE


def test_run_records_params_metrics_fingerprint_and_artifacts(
    store: str, bundle: Path, extra: dict[str, Path], tmp_path: Path
) -> None:
    reg = record_training_run(
        experiment_name="portsift-tests",
        model_name="m-record",
        params={"num_leaves": 15, "percents": [1, 2, 5, 10], "long": "x" * 7000},
        fingerprint=FINGERPRINT,
        metrics={PRIMARY: 0.5, "holdout_revenue_at_5": 1.5e6, "holdout_auc": 0.81},
        artifacts=extra,
        bundle_dir=bundle,
        tags={"git_sha": "abc123"},
        uri=store,
    )
    client = _client(store)
    run = client.get_run(reg.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["num_leaves"] == "15"
    assert params["percents"] == "[1, 2, 5, 10]"
    assert len(params["long"]) == 6000 and params["long"].endswith("[truncated]")
    assert params["data.rows"] == "1234"
    assert params["data.label_rate"] == "0.071"
    assert params["data.sha256"] == "ab" * 32
    assert run.data.metrics == {PRIMARY: 0.5, "holdout_revenue_at_5": 1.5e6, "holdout_auc": 0.81}
    assert run.data.tags["git_sha"] == "abc123"
    assert run.data.tags["portsift.registration.alias"] == CHAMPION
    assert run.data.tags["portsift.registration.version"] == reg.version

    local = Path(client.download_artifacts(reg.run_id, "", str(tmp_path)))
    files = _digests(local)
    assert json.loads((local / "data_fingerprint.json").read_text()) == FINGERPRINT
    for dest, src in extra.items():
        assert files[dest] == hashlib.sha256(src.read_bytes()).hexdigest()
    for name, digest in _digests(bundle).items():
        assert files[f"bundle/{name}"] == digest


def test_champion_challenger_sequence(store: str, bundle: Path, extra: dict[str, Path]) -> None:
    model = "m-sequence"
    assert _champion(store, model) is None

    first = _record(store, model, 0.55, bundle, extra)
    assert (first.alias, first.version, first.champion_version_before) == (CHAMPION, "1", None)
    assert "no champion" in first.reason
    assert _champion(store, model) == ("1", 0.55)

    worse = _record(store, model, 0.512, bundle, extra)
    assert worse.alias == CHALLENGER
    assert worse.reason == f"{PRIMARY} 0.512 does not beat champion v1 (0.550)"
    assert (worse.champion_version_before, worse.champion_metric_before) == ("1", 0.55)
    client = _client(store)
    assert client.get_run(worse.run_id).data.tags[REASON_TAG] == worse.reason
    assert client.get_model_version(model, "2").description == worse.reason

    tie = _record(store, model, 0.55, bundle, extra)
    assert tie.alias == CHALLENGER, "an equal score must not take the champion alias"

    better = _record(store, model, 0.6, bundle, extra)
    assert better.alias == CHAMPION
    assert better.reason == f"{PRIMARY} 0.600 beats champion v1 (0.550)"
    assert _champion(store, model) == ("4", 0.6)
    assert client.get_registered_model(model).aliases == {CHAMPION: 4, CHALLENGER: 3}
    assert client.get_model_version(model, "1").aliases == []  # kept, but alias gone


def test_champion_without_the_metric_is_not_comparable(
    store: str, bundle: Path, extra: dict[str, Path]
) -> None:
    model = "m-no-metric"
    client = _client(store)
    run = client.create_run(tracking._experiment_id(client, "portsift-tests", store))
    client.set_terminated(run.info.run_id)
    client.create_registered_model(model)
    client.create_model_version(model, "file:///nowhere", run_id=run.info.run_id)
    client.set_registered_model_alias(model, CHAMPION, "1")
    assert _champion(store, model) is None

    reg = _record(store, model, 0.3, bundle, extra)
    assert reg.alias == CHAMPION
    assert (reg.champion_version_before, reg.champion_metric_before) == ("1", None)
    assert f"champion v1 has no {PRIMARY}" in reg.reason
    assert _champion(store, model) == ("2", 0.3)


def test_download_bundle_returns_identical_files(
    store: str, bundle: Path, extra: dict[str, Path], tmp_path: Path
) -> None:
    model = "m-download"
    _record(store, model, 0.4, bundle, extra)
    got = _download(model, CHAMPION, tmp_path / "dl", uri=store)
    assert got == tmp_path / "dl" / "bundle"
    assert _digests(got) == _digests(bundle)
    with pytest.raises(FileExistsError):
        _download(model, CHAMPION, tmp_path / "dl", uri=store)
    with pytest.raises(LookupError):
        _download(model, "nonexistent", tmp_path / "other", uri=store)
    with pytest.raises(LookupError):
        _download("no-such-model", CHAMPION, tmp_path / "other", uri=store)


def test_rejects_bad_input_before_creating_a_run(
    store: str, bundle: Path, extra: dict[str, Path]
) -> None:
    with pytest.raises(ValueError, match="primary metric"):
        _record(store, "m-bad", 0.1, bundle, extra, primary_metric="holdout_missing")
    with pytest.raises(ValueError, match="reserved"):
        _record(store, "m-bad", 0.1, bundle, {"bundle/x.txt": extra["evaluation.json"]})
    assert _champion(store, "m-bad") is None


def test_env_uri_quiet_and_no_stray_files_in_cwd(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    bundle: Path,
    extra: dict[str, Path],
) -> None:
    """A fresh store named only by MLFLOW_TRACKING_URI, created while cwd is empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    db = tmp_path / "state" / "fresh.db"
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    caplog.set_level(logging.INFO)
    capfd.readouterr()

    reg = _record(None, "m-env", 0.5, bundle, extra, experiment="fresh")
    got = _download("m-env", CHAMPION, tmp_path / "dl")

    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert not [r for r in caplog.records if r.name.startswith(("mlflow", "alembic"))]
    assert list(cwd.iterdir()) == [], "nothing (mlruns/, mlflow.db) may land in the cwd"
    assert db.is_file()
    run = _client(uri).get_run(reg.run_id)
    assert run.info.artifact_uri.startswith((db.parent / "mlartifacts").as_uri())
    assert _digests(got) == _digests(bundle)
