"""``portsift serve --model-uri``: a registered bundle resolved to a verified local copy.

The session's MLflow store (``mlflow_store``, a temporary SQLite file) holds the bundle
``trained_model_dir`` registered by ``portsift train``, so ``portsift-risk`` has a
champion. The tests compare what :func:`portsift.store.model_store.resolve_model_uri` returns
with what the registry says, and damage cached and registered copies to see them refused.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest

from portsift.cli import build_parser, main
from portsift.commands.serve_impl import serve_command
from portsift.features import contract
from portsift.models.bundle import load_bundle, save_bundle
from portsift.store import promotion, tracking
from portsift.store.model_store import ModelUriError, parse_model_uri, resolve_model_uri

CHAMPION_URI = "models:/portsift-risk@champion"
TOKEN = "test-token-0123456789abcdef"


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _champion(uri: str, name: str = "portsift-risk") -> tuple[str, str]:
    """The registry's champion version of ``name`` and the model version its run recorded."""
    client = _client(uri)
    version = client.get_registered_model(name).aliases[promotion.CHAMPION]
    run_id = client.get_model_version(name, str(version)).run_id
    return str(version), client.get_run(run_id).data.tags[tracking.MODEL_VERSION_TAG]


@pytest.fixture
def champion(trained_model_dir: Path, mlflow_store: str) -> tuple[str, str]:
    """The champion of ``portsift-risk`` (there is one: ``trained_model_dir`` registered it)."""
    return _champion(mlflow_store)


@pytest.fixture
def registered_copy(trained_model_dir: Path, mlflow_store: str, tmp_path: Path):
    """Register a copy of the trained bundle under a model name of its own.

    Returns a function ``(name, model_version_tag) -> artefact directory in the store``,
    so that a test can alter the registered files without touching ``portsift-risk``.
    """

    def register(name: str, model_version: str | None = None) -> Path:
        bundle = load_bundle(trained_model_dir)
        tracking.record_training_run(
            experiment_name="portsift-model-uri-tests",
            model_name=name,
            params={},
            fingerprint={"rows": 1},
            metrics={"holdout_precision_at_5": 0.5},
            artifacts={},
            bundle_dir=trained_model_dir,
            tags={tracking.MODEL_VERSION_TAG: model_version or bundle.model_version},
        )
        version, _ = _champion(mlflow_store, name)
        source = _client(mlflow_store).get_model_version_download_uri(name, version)
        return Path(unquote(urlparse(source).path))

    return register


def test_uri_forms() -> None:
    assert parse_model_uri("models:/portsift-risk@champion") == ("portsift-risk", "champion", None)
    assert parse_model_uri("models:/portsift-risk/3") == ("portsift-risk", None, "3")
    for bad in ("portsift-risk", "models:/portsift-risk", "runs:/abc/bundle", "models:/a@b/c"):
        with pytest.raises(ModelUriError, match="not a registered model URI"):
            parse_model_uri(bad)


def test_champion_resolves_to_a_verified_copy_of_the_champion(
    champion: tuple[str, str], tmp_path: Path
) -> None:
    version, model_version = champion
    resolved = resolve_model_uri(CHAMPION_URI, tmp_path / "cache")
    assert resolved.downloaded
    assert resolved.registry_version == version
    assert resolved.model_version == model_version
    assert resolved.path.is_relative_to(tmp_path / "cache")
    assert load_bundle(resolved.path).model_version == model_version
    # No staging directory is left beside the cached copy.
    assert [p.name for p in resolved.path.parent.iterdir()] == [resolved.path.name]

    again = resolve_model_uri(CHAMPION_URI, tmp_path / "cache")
    assert (again.path, again.downloaded) == (resolved.path, False)
    by_number = resolve_model_uri(f"models:/portsift-risk/{version}", tmp_path / "cache")
    assert (by_number.path, by_number.downloaded) == (resolved.path, False)


def test_a_damaged_cached_copy_is_fetched_again(champion: tuple[str, str], tmp_path: Path) -> None:
    resolved = resolve_model_uri(CHAMPION_URI, tmp_path / "cache")
    features = resolved.path / "features.json"
    features.write_text(features.read_text("utf-8").replace('"', "'", 1), "utf-8")
    again = resolve_model_uri(CHAMPION_URI, tmp_path / "cache")
    assert again.downloaded and again.path == resolved.path
    assert load_bundle(again.path).model_version == resolved.model_version


def test_serve_command_serves_the_resolved_directory(
    champion: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTSIFT_API_TOKENS", TOKEN)
    monkeypatch.setenv("PORTSIFT_MODEL_CACHE", str(tmp_path / "cache"))
    args = build_parser().parse_args(["serve", "--model-uri", CHAMPION_URI, "--quiet"])
    _, env = serve_command(args)
    served = Path(env["PORTSIFT_MODEL_DIR"])
    assert served.is_relative_to(tmp_path / "cache")
    assert load_bundle(served).model_version == champion[1]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/portsift-risk@no-such-alias", "has no alias 'no-such-alias'"),
        ("models:/portsift-risk/999999", "has no version 999999"),
        ("models:/no-such-model@champion", "no registered model 'no-such-model'"),
        ("portsift-risk@champion", "not a registered model URI"),
    ],
)
def test_a_uri_naming_nothing_exits_2(
    champion: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    uri: str,
    message: str,
) -> None:
    status = main(["serve", "--model-uri", uri, "--model-cache", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert status == 2
    assert "portsift serve: error:" in err and message in err
    assert not any((tmp_path / "cache").rglob("*.json"))  # nothing cached


def test_no_mlflow_store_exits_2_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "elsewhere" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    assert main(["serve", "--model-uri", CHAMPION_URI]) == 2
    assert "no MLflow store at" in capsys.readouterr().err
    assert not store.parent.exists()


def test_model_dir_and_model_uri_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    for argv in (["serve"], ["serve", "--model-dir", "m", "--model-uri", CHAMPION_URI]):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(argv)
        assert exit_info.value.code == 2
    assert "one of the arguments --model-dir --model-uri is required" in capsys.readouterr().err


def test_an_altered_registered_bundle_is_refused(
    registered_copy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = registered_copy("portsift-risk-altered")
    (stored / "registers.json").write_text(json.dumps({"enterprises": None}), "utf-8")
    cache = tmp_path / "cache"
    with pytest.raises(ModelUriError, match="fails verification"):
        resolve_model_uri("models:/portsift-risk-altered@champion", cache)
    argv = ["serve", "--model-uri", "models:/portsift-risk-altered@champion"]
    assert main([*argv, "--model-cache", str(cache)]) == 2
    assert "fails verification" in capsys.readouterr().err
    assert not any(cache.rglob("*.json"))  # neither a cached copy nor a staging leftover


def test_an_intact_bundle_of_another_run_is_refused(registered_copy, tmp_path: Path) -> None:
    # The files verify against their own manifest, but they are not what the run trained.
    registered_copy("portsift-risk-swapped", model_version="20200101T000000Z-00000000")
    with pytest.raises(ModelUriError, match="run recorded model 20200101T000000Z-00000000"):
        resolve_model_uri("models:/portsift-risk-swapped@champion", tmp_path / "cache")


def test_a_cached_copy_of_another_model_is_not_used(
    champion: tuple[str, str], tmp_path: Path
) -> None:
    resolved = resolve_model_uri(CHAMPION_URI, tmp_path / "cache")
    # Swap the cached copy for another intact bundle (the same model saved again, so a
    # new model_version): it verifies, but it is not the registered run's, so it is
    # fetched again.
    bundle = load_bundle(resolved.path)
    shutil.rmtree(resolved.path)
    other = save_bundle(
        resolved.path,
        pipeline=bundle.pipeline,
        model=bundle.model,
        enterprises=bundle.enterprises,
        commodities=bundle.commodities,
        metadata={k: v for k, v in bundle.metadata.items() if k != "model_version"},
    )
    assert other != resolved.model_version
    again = resolve_model_uri(CHAMPION_URI, tmp_path / "cache")
    assert again.downloaded and again.model_version == resolved.model_version
    assert load_bundle(again.path).model_version == resolved.model_version


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_server_serves_the_champion(
    data_files, champion: tuple[str, str], tmp_path: Path
) -> None:
    """``portsift serve --model-uri`` starts and decides with the champion's model."""
    _, model_version = champion
    port = _free_port()
    env = {
        **os.environ,
        "PORTSIFT_API_TOKENS": TOKEN,
        "PORTSIFT_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    env.pop("PORTSIFT_INSECURE_DEV", None)
    command = [sys.executable, "-m", "portsift.cli", "serve", "--model-uri", CHAMPION_URI]
    command += ["--model-cache", str(tmp_path / "cache"), "--port", str(port)]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"portsift serve exited: {log.read_text(errors='replace')}")
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in 120 s: {log.read_text(errors='replace')}")
            time.sleep(0.5)
        with data_files.declarations.open(encoding="utf-8") as handle:
            row = next(csv.DictReader(handle))
        numbers = {f.name for f in contract.DECLARATION_FIELDS if f.kind == "number"}
        record = {
            k: float(v) if k in numbers else v
            for k, v in row.items()
            if v != "" and k not in contract.LABEL_FIELDS
        }
        response = httpx.post(
            url + "/score",
            json=record,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == model_version
        assert "registry version" in log.read_text(errors="replace")
    finally:
        # The whole process group: BentoML's arbiter and its worker.
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
