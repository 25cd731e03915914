"""Each server's Prometheus directory is its own and is removed when the server exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from portsift.serving.launch import PREFIX, remove_stale_directories
from tests.serving.conftest import TOKEN, Server, start_server


def _metrics_directory(server: Server) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR the server's workers were started with."""
    found = set()
    for process in server.processes()[1:]:
        try:
            value = process.environ().get("PROMETHEUS_MULTIPROC_DIR")
        except psutil.Error:
            continue
        if value:
            found.add(value)
    assert len(found) == 1, found
    return Path(found.pop())


def test_two_servers_keep_their_metrics_apart(
    server: Server, trained_model_dir: Path, tmp_path: Path
) -> None:
    # Both servers share BENTOML_HOME: with BentoML's default they would share (and the
    # second would empty) one prometheus_multiproc_dir.
    second = start_server(
        trained_model_dir, tmp_path, env={"BENTOML_HOME": server.env["BENTOML_HOME"]}
    )
    try:
        first_dir, second_dir = _metrics_directory(server), _metrics_directory(second)
        assert first_dir != second_dir
        assert second_dir.name.startswith(f"{PREFIX}{second.process.pid}-")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert second.post("/score", {}).status_code == 400
        metrics = httpx.get(second.url + "/metrics", headers=auth, timeout=10)
        assert metrics.status_code == 200
        assert any(second_dir.iterdir()), "the second server wrote no metrics files"
        assert first_dir.is_dir() and any(first_dir.iterdir()), "the first server's were wiped"
    finally:
        second.stop()
    assert not second_dir.exists(), "the metrics directory outlived its server"
    assert first_dir.is_dir()


def test_directories_of_dead_servers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f"{PREFIX}{int(dead.stdout)}-abc"
    live = tmp_path / f"{PREFIX}{os.getpid()}-def"
    other = tmp_path / "portsift-metrics-notapid"
    for path in (stale, live, other):
        path.mkdir()
        (path / "counter_1.db").write_bytes(b"x")
    if psutil.pid_exists(int(dead.stdout)):
        pytest.skip("the pid of the finished process was reused already")
    assert remove_stale_directories(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
