"""Fixtures of the serving tests: ``portsift serve`` as a real server in a subprocess, and
the audit store on SQLite and on a real PostgreSQL server (from ``tests/store``).

:func:`start_server` starts ``portsift serve`` on a loopback port and waits until it is
ready; the module-scoped ``server`` fixture is one such server with its own SQLite audit
store. :meth:`Server.kill` SIGKILLs every process of a server at once (a crash) and
:meth:`Server.restart` starts it again on the same port and audit store.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from portsift.serving.api_models import declaration_json

# The audit-store fixtures, shared with tests/store.
from tests.store.conftest import (  # noqa: F401
    Backend,
    backend,
    postgres_backend,
    postgres_url,
    sqlite_backend,
)

# ------------------------------------------------------------------- portsift serve

#: The bearer token of the credential ``tests`` (every scope) that test servers accept.
TOKEN = "test-token-0123456789abcdef"
#: Name of :data:`TOKEN`'s credential, recorded in the audit store.
TOKEN_NAME = "tests"
#: A token in the older form (no name, no scopes): it may only score.
SCORE_ONLY_TOKEN = "score-only-token-0123456789"
#: ``PORTSIFT_API_TOKENS`` of every test server.
API_TOKENS = f"{TOKEN_NAME} score+feedback+metrics {TOKEN}, {SCORE_ONLY_TOKEN}"
#: How long a server may take to answer ``/readyz`` (the machine may be busy).
READY_TIMEOUT_S = 180


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the server binds it: a killed server's connections in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Server:
    """A running ``portsift serve`` and what the tests need to talk to it.

    Attributes:
        url: Base URL (``http://127.0.0.1:PORT``).
        audit_url: The ``PORTSIFT_AUDIT_URL`` it writes to.
        process: The ``portsift serve`` process (BentoML's arbiter once it has exec'd).
        log: File collecting the output of every run of the server.
        model_dir: The bundle it serves.
        port: Its port (kept across restarts).
        directory: Its working directory (``BENTOML_HOME`` lives there).
        env: The environment it was started with.
        args: Further ``portsift serve`` arguments it was started with.
    """

    url: str
    audit_url: str
    process: subprocess.Popen[bytes]
    log: Path
    model_dir: Path
    port: int
    directory: Path
    env: dict[str, str]
    args: tuple[str, ...] = ()

    def post(self, path: str, body: Any = None, *, token: str | None = TOKEN, **kw: Any) -> Any:
        """POST JSON (or ``content=`` raw bytes) with the bearer token."""
        headers = dict(kw.pop("headers", {}))
        headers.setdefault("Content-Type", "application/json")
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if "content" not in kw:
            kw["content"] = json.dumps(body).encode("utf-8")
        kw.setdefault("timeout", 60)
        return httpx.post(self.url + path, headers=headers, **kw)

    def processes(self) -> list[psutil.Process]:
        """The arbiter and every process below it (BentoML workers run in sessions of their own)."""
        try:
            arbiter = psutil.Process(self.process.pid)
            return [arbiter, *arbiter.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self, *, only_arbiter: bool = False) -> list[psutil.Process]:
        """SIGKILL the server, as a crash would, and reap the arbiter.

        Args:
            only_arbiter: SIGKILL the arbiter's process group only (``kill -9 -PGID`` of
                ``portsift serve``), not the workers, which BentoML starts in sessions of
                their own; otherwise every process group of the server at once.

        Returns:
            The processes of the server as they were just before the kill.
        """
        victims = self.processes()
        groups = {self.process.pid}
        if not only_arbiter:
            for victim in victims:
                with contextlib.suppress(ProcessLookupError):
                    groups.add(os.getpgid(victim.pid))
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=30)
        return victims

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL what is left after 20 s); no process survives it."""
        victims = self.processes()
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        for victim in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.kill()
        psutil.wait_procs(victims, timeout=10)
        if self.process.poll() is None:
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Start the server again on the same port, audit store and environment; wait ready."""
        if self.process.poll() is None:
            raise RuntimeError("restart() of a server that still runs; kill() or stop() it")
        deadline = time.monotonic() + 30
        while not _port_is_free(self.port):
            if time.monotonic() > deadline:
                pytest.fail(f"port {self.port} still taken 30 s after the server died")
            time.sleep(0.2)
        self.process = _launch(
            self.model_dir, self.port, self.env, self.directory, self.log, self.args
        )
        _wait_ready(self)

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200."""
        try:
            return httpx.get(self.url + "/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


def _launch(
    model_dir: Path,
    port: int,
    env: Mapping[str, str],
    directory: Path,
    log: Path,
    args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "portsift.cli", "serve", "--model-dir", str(model_dir)]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), *args],
            env=dict(env),
            cwd=directory,
            stdout=out,
            stderr=subprocess.STDOUT,
            # A group of its own, so that a kill reaches the arbiter and not pytest.
            start_new_session=True,
        )


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not server.ready():
        if server.process.poll() is not None:
            server.stop()
            pytest.fail(f"portsift serve exited: {server.log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"server not ready in {READY_TIMEOUT_S}s: {server.log.read_text()}")
        time.sleep(0.3)


def start_server(
    model_dir: Path,
    directory: Path,
    *,
    audit_url: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> Server:
    """Start ``portsift serve`` on a loopback port and wait until ``/readyz`` answers 200.

    Args:
        model_dir: The bundle to serve.
        directory: Working directory (holds the log, ``BENTOML_HOME`` and by default the
            SQLite audit store).
        audit_url: ``PORTSIFT_AUDIT_URL`` (default: ``audit.db`` in ``directory``).
        port: The port (default: a free one).
        env: More environment variables.
        args: Further ``portsift serve`` arguments (``--disclosures F`` ...).

    Returns:
        The ready server; the caller stops it (:meth:`Server.stop`).
    """
    audit_url = audit_url or f"sqlite:///{directory / 'audit.db'}"
    port = port or free_port()
    full_env = {
        **os.environ,
        "PORTSIFT_API_TOKENS": API_TOKENS,
        "PORTSIFT_AUDIT_URL": audit_url,
        "BENTOML_HOME": str(directory / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        **(env or {}),
    }
    full_env.pop("PORTSIFT_INSECURE_DEV", None)
    log = directory / "server.log"
    server = Server(
        url=f"http://127.0.0.1:{port}",
        audit_url=audit_url,
        process=_launch(model_dir, port, full_env, directory, log, tuple(args)),
        log=log,
        model_dir=model_dir,
        port=port,
        directory=directory,
        env=full_env,
        args=tuple(args),
    )
    _wait_ready(server)
    return server


@pytest.fixture(scope="module")
def server(trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``portsift serve`` on a free port, ready, with its own SQLite audit store."""
    running = start_server(trained_model_dir, tmp_path_factory.mktemp("serve"))
    try:
        yield running
    finally:
        running.stop()


def declaration_records(path: Path, count: int, lab_results: Path) -> list[dict[str, Any]]:
    """``count`` declarations as the JSON a front-line system sends, some with a lab report."""
    with lab_results.open(encoding="utf-8") as handle:
        labs = {row["declaration_id"]: row for row in csv.DictReader(handle)}
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # Spread over the file, and take a few that carry a lab report.
    picked = rows[:: max(1, len(rows) // (count - 2))][: count - 2]
    taken = {r["declaration_id"] for r in picked}
    picked += [r for r in rows if r["declaration_id"] in labs and r["declaration_id"] not in taken][
        :2
    ]
    return [declaration_json(row, labs.get(row["declaration_id"])) for row in picked]
