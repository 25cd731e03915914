"""Benchmark the real-time API (``portsift serve``) against a bare BentoML floor.

Starts two servers as subprocesses on free loopback ports, side by side, with the same
BentoML settings and the same bearer-token middleware:

* ``portsift serve --model-dir DIR`` (a fresh SQLite audit store in a temporary
  directory): ``/score`` and ``/score_batch``, the product's full request path
  (validation, features, scoring, selection, TreeSHAP, an audit commit per decision);
* ``bentoml serve benchmarks.bare_service:Bare``: ``/predict`` (the same pydantic
  validation, then one ``Booster.predict`` of the same risk booster on a numpy row, no
  feature pipeline) and ``/noop`` (validation only).

Then, in one run, with real declarations of ``--data-dir`` (the latest ``--declarations``
of ``declarations.csv``, as a front-line system would send them, lab reports inline)
cycled through so that no two consecutive requests are the same:

1. **Latency, one client.** ``--requests`` requests per endpoint, sequential on one
   keep-alive connection per server, the three endpoints interleaved (score, predict,
   noop, score, ...) so that a change of the machine's load hits all three alike:
   p50 / p90 / p99 / mean.
2. **Throughput, ``--clients`` clients** (16). One thread per client, each with its own
   keep-alive ``httpx.Client`` (connected before the clock starts), all released at once
   and sending back to back for ``--duration`` seconds per endpoint: requests/s
   (answered requests / time to the last answer), p50 / p99 and the peak number of
   requests in flight (the check that the concurrency was real).
3. **Batches.** ``/score_batch`` with ``--batch-size`` declarations a request, one
   client and ``--batch-clients`` (4) clients, ``--duration`` seconds each:
   declarations/s. Then, with both servers idle, the **model alone in this process**:
   the bundle's risk booster, the feature matrix of the same declarations built once,
   ``predict`` and ``predict(pred_contrib=True)`` (TreeSHAP) on the same batches, one
   LightGBM thread in each of as many threads as the server has workers (as the server
   runs it), for ``--duration`` seconds: the declarations/s that ``/score_batch`` is
   read against.
4. **Soak.** ``--soak`` seconds (600; 10 with ``--quick``; 0 skips it) of
   ``--clients`` clients on ``/score``. The request id of every 200 answer is kept; the
   server's resident memory (all its processes) is sampled every ``--soak-interval``
   seconds; after the servers have stopped, the audit store (SQLite, in the run's
   temporary directory) is read: every acknowledged request id must be in it, and the
   rows it gained during the soak are counted.

For every phase it also records the CPU seconds of each server (all its processes), of
this client process and of the rest of the machine, from ``psutil``: the client runs on
the same machine, and "others' CPU" near one core means someone else's work took a core
during that phase. The ratios it reports against the design targets:

* ``/score`` p99 / ``/predict`` p99, one client (target <= 1.5): what portsift's request
  path adds to a bare model call;
* ``/score`` requests/s / ``/noop`` requests/s at 16 clients (target >= 0.5): how much of
  the serving capacity the request path takes;
* ``/score_batch`` declarations/s (target >= 2000), and over the model's own predict +
  TreeSHAP declarations/s in this process (target >= 0.8): how close the bulk path comes
  to the cost of the model it cannot avoid;
* the soak: no error, every acknowledged decision in the audit store, and the server's
  memory growing less than 10% from the end of the soak's first tenth to its end.

Why this file stays whole (about 1,500 lines): it is one script, run by path, and no
other benchmark uses its server, client or report code, which all change with this
benchmark's result file (``docs/figures.md`` quotes it); split, each part would have one
user. Its sections (settings, requests, servers, CPU accounting, clients, report, main)
are marked below and read in order.

Any answer but 200 is counted per endpoint and status and reported (with the first
answer body of each kind), never retried; the script then exits with status 1, as it
does when an acknowledged decision of the soak is missing from the audit store. Both
servers are stopped at the end, also on an error or Ctrl-C, and their logs are copied
beside the JSON. A Markdown table goes to stdout, everything to
``benchmarks/out/serve.json``.

Run from the repository root (``--quick`` for a smoke run of a few seconds a phase)::

    .venv/bin/python benchmarks/serve.py
    .venv/bin/python benchmarks/serve.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import itertools
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import numpy as np
import psutil

from portsift.serving.api_models import declaration_json

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "benchmarks" / "out"
OUT_FILE = OUT_DIR / "serve.json"

#: How long a server may take to answer ``/readyz`` (a busy shared machine is slow).
READY_TIMEOUT_S = 240.0
#: Timeout of one request; a batch of SHAP on a loaded machine can take seconds.
REQUEST_TIMEOUT_S = 120.0
#: The design targets the ratios are read against (issue 15 for the p99, batch and soak).
TARGET_P99_RATIO = 1.5
TARGET_RPS_RATIO = 0.5
TARGET_BATCH_DECL_S = 2000.0
TARGET_BATCH_MODEL_RATIO = 0.8
TARGET_SOAK_GROWTH_PCT = 10.0
#: Share of the soak counted as its warm-up: memory growth is measured from its end.
SOAK_WARMUP_SHARE = 0.1
#: Characters of an error answer kept in the report, per endpoint and status.
ERROR_SAMPLE_CHARS = 600
#: The SQLite file of ``portsift serve``'s audit store, in the run's temporary directory.
AUDIT_FILE = "audit.db"


# ------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    """What to run: sizes, durations and concurrency of every phase."""

    requests: int
    duration_s: float
    clients: int
    batch_size: int
    batch_clients: int
    declarations: int
    warmup: int
    soak_s: float
    soak_interval_s: float


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, Settings]:
    """Read the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The parsed namespace (paths) and the run's settings; ``--quick`` replaces the
        sizes and durations that were not given explicitly by small ones.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "demo" / "model")
    parser.add_argument("--data-dir", type=Path, default=REPO / "demo" / "data")
    parser.add_argument("--requests", type=int, help="sequential requests per endpoint (500)")
    parser.add_argument("--duration", type=float, help="seconds of each timed phase (10)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--batch-size", type=int, default=100, help="declarations a batch (100)")
    parser.add_argument("--batch-clients", type=int, default=4, help="clients of batches (4)")
    parser.add_argument(
        "--declarations", type=int, default=300, help="distinct declarations cycled (300)"
    )
    parser.add_argument("--warmup", type=int, help="warm-up requests per endpoint (30)")
    parser.add_argument("--soak", type=float, help="seconds of the soak phase (600; 0 skips it)")
    parser.add_argument(
        "--soak-interval", type=float, help="seconds between memory samples of the soak (5)"
    )
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="JSON output file")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 40 requests, 2 s phases, 5 warm-up, a 10 s soak",
    )
    args = parser.parse_args(argv)
    quick = {"requests": 40, "duration": 2.0, "warmup": 5, "soak": 10.0, "soak_interval": 1.0}
    full = {"requests": 500, "duration": 10.0, "warmup": 30, "soak": 600.0, "soak_interval": 5.0}
    chosen = quick if args.quick else full
    settings = Settings(
        requests=args.requests if args.requests is not None else int(chosen["requests"]),
        duration_s=args.duration if args.duration is not None else float(chosen["duration"]),
        clients=args.clients,
        batch_size=args.batch_size,
        batch_clients=args.batch_clients,
        declarations=max(args.declarations, args.batch_size),
        warmup=args.warmup if args.warmup is not None else int(chosen["warmup"]),
        soak_s=args.soak if args.soak is not None else float(chosen["soak"]),
        soak_interval_s=(
            args.soak_interval if args.soak_interval is not None else chosen["soak_interval"]
        ),
    )
    for name in ("requests", "clients", "batch_size", "batch_clients", "declarations"):
        if getattr(settings, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if settings.duration_s <= 0:
        parser.error("--duration must be positive")
    if settings.soak_s < 0 or settings.soak_interval_s <= 0:
        parser.error("--soak must be >= 0 and --soak-interval positive")
    return args, settings


# ---------------------------------------------------------------------- the requests


def load_records(data_dir: Path, count: int) -> list[dict[str, Any]]:
    """The latest ``count`` declarations of ``data_dir`` as the JSON the API takes.

    As ``tests/serving/conftest.py`` (``declaration_records``) builds them: empty values
    and the label fields dropped, numbers as floats, the declaration's lab report (if
    ``lab_results.csv`` has one) inline. The latest ones, because live traffic is
    declarations lodged after the model's history.

    Args:
        data_dir: Directory with ``declarations.csv`` and optionally ``lab_results.csv``.
        count: How many declarations.

    Returns:
        The request bodies, oldest first.
    """
    labs: dict[str, dict[str, str]] = {}
    lab_file = data_dir / "lab_results.csv"
    if lab_file.exists():
        with lab_file.open(encoding="utf-8") as handle:
            labs = {row["declaration_id"]: row for row in csv.DictReader(handle)}
    with (data_dir / "declarations.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows.sort(key=lambda row: row["declared_at"])  # stable: file order within a day
    records = [declaration_json(row, labs.get(row["declaration_id"])) for row in rows[-count:]]
    if not records:
        raise SystemExit(f"{data_dir / 'declarations.csv'}: no declarations")
    return records


def encode(body: Any) -> bytes:
    """A request body as JSON bytes, encoded once up front (not on the clock)."""
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def batch_windows(n: int, size: int, count: int) -> list[list[int]]:
    """``count`` different windows of ``size`` positions over a pool of ``n`` declarations.

    Windows (wrapping round) that start at a stride prime to the pool size, so that the
    batches overlap but are not the same three over and over.
    """
    stride = max(1, size // 3)
    while np.gcd(stride, n) != 1:
        stride += 1
    return [[(k * stride + i) % n for i in range(size)] for k in range(count)]


def batch_bodies(records: list[dict[str, Any]], size: int, count: int) -> list[bytes]:
    """``count`` different ``/score_batch`` bodies of ``size`` declarations each."""
    return [
        encode({"declarations": [records[i] for i in window]})
        for window in batch_windows(len(records), size, count)
    ]


# ------------------------------------------------------------------------- servers


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One server subprocess in a process group of its own, and its log."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    known: list[psutil.Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process (does not wait for it to be ready)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                # A group of its own, so that stopping it cannot reach this script.
                start_new_session=True,
            )

    def processes(self) -> list[psutil.Process]:
        """The arbiter and every process below it (BentoML's workers have own sessions)."""
        if self.process is None:
            return []
        try:
            arbiter = psutil.Process(self.process.pid)
            found = [arbiter, *arbiter.children(recursive=True)]
        except psutil.NoSuchProcess:
            return list(self.known)
        # Remember them: the workers must be stopped even if the arbiter dies first.
        pids = {p.pid for p in self.known}
        self.known.extend(p for p in found if p.pid not in pids)
        return found

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by the server's live processes."""
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200."""
        try:
            return httpx.get(self.url + "/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def exited(self) -> int | None:
        """The exit status if the process has ended, else ``None``."""
        return None if self.process is None else self.process.poll()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL whatever of the server is left; reap it."""
        if self.process is None:
            return
        victims = self.processes()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        for victim in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.kill()
        psutil.wait_procs(victims, timeout=10)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(timeout=10)


def server_env(base: Path, token: str, model_dir: Path, audit_url: str) -> dict[str, str]:
    """The environment both servers run with: the token, the bundle, a private BentoML home.

    Variables that would change what is served (another token source, insecure mode, a
    model from the BentoML store) are removed, so both servers check the same token.
    """
    env = dict(os.environ)
    for name in ("PORTSIFT_API_TOKEN_FILE", "PORTSIFT_INSECURE_DEV", "PORTSIFT_MODEL_TAG"):
        env.pop(name, None)
    env.update(
        PORTSIFT_API_TOKENS=token,
        PORTSIFT_AUDIT_URL=audit_url,
        PORTSIFT_MODEL_DIR=str(model_dir.resolve()),
        BENTOML_HOME=str(base / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
    )
    # What ``portsift serve`` sets for its own server (portsift/commands/serve_impl.py).
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def make_servers(base: Path, token: str, model_dir: Path) -> tuple[ServerProcess, ServerProcess]:
    """The two servers to start: ``portsift serve`` and the bare service."""
    audit_url = f"sqlite:///{base / AUDIT_FILE}"
    env = server_env(base, token, model_dir, audit_url)
    port = free_port()
    portsift = ServerProcess(
        name="portsift",
        command=[
            sys.executable,
            *("-m", "portsift.cli", "serve", "--model-dir", str(model_dir.resolve())),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        env=env,
        cwd=base,
        log=base / "portsift.log",
        port=port,
    )
    port = free_port()
    while port == portsift.port:
        port = free_port()
    bare = ServerProcess(
        name="bare",
        command=[
            sys.executable,
            *("-m", "bentoml", "serve", "benchmarks.bare_service:Bare"),
            *("--host", "127.0.0.1", "--port", str(port), "--working-dir", str(REPO)),
        ],
        env=env,
        cwd=base,
        log=base / "bare.log",
        port=port,
    )
    return portsift, bare


class BenchmarkError(Exception):
    """The benchmark cannot go on (a server did not start or answers wrongly)."""


def wait_ready(servers: Sequence[ServerProcess]) -> float:
    """Wait until every server answers ``/readyz``; the seconds that took.

    Raises:
        BenchmarkError: A server exited or was not ready in time (with its log's end).
    """
    start = time.monotonic()
    waiting = list(servers)
    while waiting:
        for server in list(waiting):
            if server.ready():
                waiting.remove(server)
                continue
            status = server.exited()
            if status is not None:
                raise BenchmarkError(
                    f"{server.name} server exited with status {status}:\n{server.log_tail()}"
                )
        if time.monotonic() - start > READY_TIMEOUT_S:
            names = ", ".join(s.name for s in waiting)
            tails = "\n".join(f"--- {s.name}\n{s.log_tail()}" for s in waiting)
            raise BenchmarkError(f"not ready in {READY_TIMEOUT_S:.0f} s: {names}\n{tails}")
        if waiting:
            time.sleep(0.3)
    return time.monotonic() - start


# ------------------------------------------------------------------ CPU accounting


def _machine_busy_s() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq)


def _steal_s() -> float:
    # Time the hypervisor gave this VM's virtual CPUs to another guest: load that no
    # process list here shows (Linux only; 0 elsewhere).
    return float(getattr(psutil.cpu_times(), "steal", 0.0))


class CpuSpan:
    """CPU seconds of the servers, this client and everybody else over one phase."""

    def __init__(self, servers: Sequence[ServerProcess]) -> None:
        self.servers = servers
        self.begin = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float, list[float], float]:
        return (
            time.perf_counter(),
            _machine_busy_s(),
            time.process_time(),
            [s.cpu_seconds() for s in self.servers],
            _steal_s(),
        )

    def end(self) -> dict[str, float]:
        """The span since construction: wall, and CPU seconds per party.

        ``others_cpu_s`` is the machine's busy time minus the servers' and this client's:
        the load other people put on the machine meanwhile (``others_cores`` is that per
        wall second, 1.0 = a whole core). ``steal_cores`` is the CPU time the hypervisor
        took from this virtual machine for other guests, per wall second.
        """
        wall1, busy1, own1, servers1, steal1 = self._snapshot()
        wall0, busy0, own0, servers0, steal0 = self.begin
        wall = wall1 - wall0
        client = own1 - own0
        out = {"wall_s": wall, "client_cpu_s": client}
        server_total = 0.0
        for server, a, b in zip(self.servers, servers0, servers1, strict=True):
            out[f"{server.name}_cpu_s"] = b - a
            server_total += b - a
        others = max(0.0, (busy1 - busy0) - client - server_total)
        out["others_cpu_s"] = others
        out["others_cores"] = others / wall if wall > 0 else 0.0
        out["steal_cores"] = (steal1 - steal0) / wall if wall > 0 else 0.0
        return out


# ------------------------------------------------------------------------ clients


@dataclass
class Endpoint:
    """One endpoint to load: where it is and the bodies to cycle through."""

    name: str
    url: str
    bodies: list[bytes]
    server: str
    declarations_per_request: int = 1


#: The request id in a decision's JSON (``/score`` answers one decision).
REQUEST_ID = re.compile(rb'"request_id":"([^"]+)"')


@dataclass
class Tally:
    """What one endpoint answered in one phase: latencies of the 200s, the rest counted.

    ``request_ids`` (when not None) collects the request id of every 200 answer, for the
    soak's comparison with the audit store.
    """

    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    last_answer: float = 0.0
    request_ids: list[str] | None = None

    def record(self, status: str, seconds: float, text: str | None) -> None:
        """Count one answer (``status`` is the HTTP code or the transport error's name)."""
        self.statuses[status] += 1
        if status == "200":
            self.latencies_s.append(seconds)
        elif status not in self.samples:
            self.samples[status] = (text or "")[:ERROR_SAMPLE_CHARS]

    def merge(self, other: Tally) -> None:
        """Add another client's tally of the same endpoint and phase."""
        self.latencies_s.extend(other.latencies_s)
        self.statuses.update(other.statuses)
        if other.request_ids is not None:
            self.request_ids = [*(self.request_ids or []), *other.request_ids]
        for status, text in other.samples.items():
            self.samples.setdefault(status, text)
        self.last_answer = max(self.last_answer, other.last_answer)

    @property
    def errors(self) -> int:
        """Answers that were not 200 (including transport errors)."""
        return sum(n for status, n in self.statuses.items() if status != "200")


#: Numbers the requests, so that each one's declaration ids are its own.
_SENT = itertools.count()
_ID_FIELD = b'"declaration_id":"'


def post(client: httpx.Client, endpoint: Endpoint, body: bytes, tally: Tally) -> None:
    """Send one request on the client's keep-alive connection and tally the answer.

    Every request's declaration ids get a prefix of their own (``<n>-``), on every
    endpoint alike: the pool of declarations is cycled, and a declaration sent again is
    answered from the audit store (``serving/retries.py``), which live traffic, one
    declaration decided once, never asks for.
    """
    body = body.replace(_ID_FIELD, _ID_FIELD + b"%d-" % next(_SENT))
    start = time.perf_counter()
    try:
        response = client.post(endpoint.url, content=body)
        # ``post`` has read the whole body (not streamed), so this is the full round trip.
        seconds = time.perf_counter() - start
        status = str(response.status_code)
        tally.record(status, seconds, None if status == "200" else response.text)
        if status == "200" and tally.request_ids is not None:
            found = REQUEST_ID.search(response.content)
            # An answer without one is acknowledged but cannot be looked up: counted apart.
            tally.request_ids.append(found.group(1).decode() if found else "")
    except httpx.HTTPError as err:
        tally.record(type(err).__name__, time.perf_counter() - start, str(err))
    tally.last_answer = time.perf_counter()


@contextlib.contextmanager
def http_client(token: str) -> Iterator[httpx.Client]:
    """A keep-alive client that sends the bearer token and JSON."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        yield client


def latency_stats(latencies_s: Sequence[float]) -> dict[str, float | None]:
    """p50 / p90 / p99 / mean / max in milliseconds (``None`` without any answer)."""
    if not latencies_s:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": None, "max_ms": None}
    ms = np.asarray(latencies_s) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
    }


def tally_summary(tally: Tally) -> dict[str, Any]:
    """A tally as JSON: counts, latency statistics and the error answers seen."""
    return {
        "ok": len(tally.latencies_s),
        "errors": tally.errors,
        "statuses": dict(tally.statuses),
        "error_samples": tally.samples,
        **latency_stats(tally.latencies_s),
    }


def warm_up(endpoints: Sequence[Endpoint], token: str, count: int) -> dict[str, Any]:
    """Send ``count`` untimed requests to each endpoint (imports, caches, connections).

    Returns:
        The tally of each endpoint (a warm-up error is reported like any other).
    """
    tallies = {e.name: Tally() for e in endpoints}
    with http_client(token) as client:
        for i in range(count):
            for endpoint in endpoints:
                post(
                    client,
                    endpoint,
                    endpoint.bodies[i % len(endpoint.bodies)],
                    tallies[endpoint.name],
                )
    return {name: tally_summary(t) for name, t in tallies.items()}


def check_answers(endpoints: Sequence[Endpoint], token: str) -> None:
    """One request per endpoint, its answer checked for the shape it must have.

    Raises:
        BenchmarkError: An endpoint answered an error or the wrong shape; measuring it
            would measure error handling.
    """
    expected = {
        "score": "contributions",
        "score_batch": "contributions",
        "predict": "score",
        "noop": "ok",
    }
    with http_client(token) as client:
        for endpoint in endpoints:
            response = client.post(endpoint.url, content=endpoint.bodies[0])
            if response.status_code != 200:
                raise BenchmarkError(
                    f"{endpoint.name}: HTTP {response.status_code}: "
                    f"{response.text[:ERROR_SAMPLE_CHARS]}"
                )
            answer = response.json()
            first = answer[0] if isinstance(answer, list) and answer else answer
            key = expected.get(endpoint.name)
            if key is not None and (not isinstance(first, dict) or key not in first):
                raise BenchmarkError(
                    f"{endpoint.name}: answer without {key!r}: {response.text[:ERROR_SAMPLE_CHARS]}"
                )


def sequential(
    endpoints: Sequence[Endpoint], token: str, requests: int, servers: Sequence[ServerProcess]
) -> dict[str, Any]:
    """Phase 1: one client, ``requests`` per endpoint, the endpoints interleaved.

    Returns:
        Per endpoint its tally summary, and the CPU span of the whole phase.
    """
    tallies = {e.name: Tally() for e in endpoints}
    span = CpuSpan(servers)
    with http_client(token) as client:
        for i in range(requests):
            for endpoint in endpoints:
                body = endpoint.bodies[i % len(endpoint.bodies)]
                post(client, endpoint, body, tallies[endpoint.name])
    cpu = span.end()
    return {
        "requests_per_endpoint": requests,
        "endpoints": {name: tally_summary(t) for name, t in tallies.items()},
        "cpu": cpu,
    }


class InFlight:
    """Counts the requests in flight across client threads and keeps the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        """A request is about to be sent."""
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        """A request was answered."""
        with self.lock:
            self.now -= 1


def concurrent(
    endpoint: Endpoint,
    token: str,
    clients: int,
    duration_s: float,
    servers: Sequence[ServerProcess],
    *,
    on_start: Callable[[], None] | None = None,
    keep_ids: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """Load one endpoint with ``clients`` threads, back to back, for ``duration_s``.

    Each thread has its own keep-alive connection, opened by an untimed first request
    before the start; a barrier releases all threads together. A request sent before the
    deadline is waited for and counted, so the rate is answers / time to the last answer.

    Args:
        endpoint: What to load.
        token: The bearer token.
        clients: Client threads.
        duration_s: Seconds of sending.
        servers: The servers whose CPU is accounted.
        on_start: Called once every client has connected, just before the clock starts.
        keep_ids: Keep the request id of every 200 answer.

    Returns:
        Rate (requests and declarations per second), latency statistics, the peak
        number of requests in flight, the CPU span and the server CPU per request; and
        the request ids of the 200 answers (empty unless ``keep_ids``).
    """
    clock: dict[str, float] = {}
    span = CpuSpan(servers)
    start = 0.0

    def release() -> None:
        # Run by the barrier once every client has connected: start the clock then.
        nonlocal span, start
        if on_start is not None:
            on_start()
        span = CpuSpan(servers)
        start = time.perf_counter()
        clock["deadline"] = start + duration_s

    barrier = threading.Barrier(clients + 1, action=release)
    inflight = InFlight()
    tallies = [Tally(request_ids=[] if keep_ids else None) for _ in range(clients)]

    def run(k: int) -> None:
        tally = tallies[k]
        with http_client(token) as client:
            post(client, endpoint, endpoint.bodies[k % len(endpoint.bodies)], Tally())
            barrier.wait()
            deadline = clock["deadline"]
            # Threads start at different points of the body list: no two in step.
            i = k * 7
            while time.perf_counter() < deadline:
                inflight.enter()
                post(client, endpoint, endpoint.bodies[i % len(endpoint.bodies)], tally)
                inflight.leave()
                i += 1

    threads = [
        threading.Thread(target=run, args=(k,), name=f"client-{k}", daemon=True)
        for k in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        # Every thread connects first; the clock starts when all of them wait here.
        barrier.wait(timeout=REQUEST_TIMEOUT_S * 2)
    except threading.BrokenBarrierError as err:
        raise BenchmarkError(f"{endpoint.name}: client threads did not connect") from err
    for thread in threads:
        thread.join()
    cpu = span.end()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    elapsed = max(total.last_answer - start, 1e-9)
    answered = len(total.latencies_s)
    server_cpu = cpu.get(f"{endpoint.server}_cpu_s", 0.0)
    summary = {
        "clients": clients,
        "duration_s": duration_s,
        "elapsed_s": elapsed,
        "requests_per_s": answered / elapsed,
        "declarations_per_s": answered * endpoint.declarations_per_request / elapsed,
        "peak_in_flight": inflight.peak,
        "server_cpu_ms_per_request": 1000.0 * server_cpu / answered if answered else None,
        **tally_summary(total),
        "cpu": cpu,
    }
    return summary, total.request_ids or []


# ------------------------------------------------------------- the model alone


def server_workers() -> int:
    """Worker processes of ``portsift serve`` (and of the bare service): its default."""
    # As serving/service.py reads it; each worker runs LightGBM on one thread.
    return max(1, int(os.environ.get("PORTSIFT_WORKERS", "1") or 1))


def model_batches(
    model_dir: Path, records: list[dict[str, Any]], size: int, count: int
) -> tuple[Any, list[np.ndarray]]:
    """The bundle's risk booster and feature matrices of the ``/score_batch`` batches.

    The features of the declarations are built once, by the same compiled pipeline the
    server runs (:func:`portsift.features.online.compile_online` against the bundle's
    registers), and cut into the same ``count`` windows of ``size`` as
    :func:`batch_bodies`.

    Raises:
        BenchmarkError: The declarations are not clean JSON the fast reader takes.
    """
    from portsift.features.online import columns_from_records, compile_online
    from portsift.features.pipeline import Registers
    from portsift.models.bundle import load_bundle
    from portsift.models.risk_model import feature_matrix
    from portsift.models.scoring import registers_for

    bundle = load_bundle(model_dir)
    columns = columns_from_records([dict(r) for r in records])
    if columns is None:
        raise BenchmarkError("the declarations are not clean JSON: no feature matrix")
    online = compile_online(bundle.pipeline, registers_for(bundle, Registers()))
    x = feature_matrix(online.transform(columns), bundle.model.risk_features)
    windows = batch_windows(len(records), size, count)
    return bundle.model.classifier_, [np.ascontiguousarray(x[w]) for w in windows]


def model_alone(
    booster: Any,
    batches: list[np.ndarray],
    threads: int,
    duration_s: float,
    servers: Sequence[ServerProcess],
) -> dict[str, Any]:
    """The model's own speed in this process: predict + TreeSHAP on the same batches.

    ``threads`` Python threads (one per server worker), each calling
    ``booster.predict(raw_score=True)`` and ``booster.predict(pred_contrib=True)`` with
    one LightGBM thread on batch after batch for ``duration_s`` (LightGBM releases the
    GIL, so the threads run on separate cores as the workers do).

    Returns:
        Declarations/s, the mean milliseconds of each call per batch, the CPU span.
    """
    for x in batches[:1]:  # untimed: first-call set-up
        booster.predict(x, raw_score=True, num_threads=1)
        booster.predict(x, pred_contrib=True, num_threads=1)
    deadline = 0.0
    rows = [0] * threads
    times: list[list[float]] = [[0.0, 0.0] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def run(k: int) -> None:
        barrier.wait()
        i = k
        while time.perf_counter() < deadline:
            x = batches[i % len(batches)]
            t0 = time.perf_counter()
            booster.predict(x, raw_score=True, num_threads=1)
            t1 = time.perf_counter()
            booster.predict(x, pred_contrib=True, num_threads=1)
            times[k][0] += t1 - t0
            times[k][1] += time.perf_counter() - t1
            rows[k] += len(x)
            i += threads

    workers = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for worker in workers:
        worker.start()
    span = CpuSpan(servers)
    start = time.perf_counter()
    deadline = start + duration_s
    barrier.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    cpu = span.end()
    total = sum(rows)
    calls = max(1, round(total / len(batches[0])))
    return {
        "threads": threads,
        "lightgbm_threads_per_call": 1,
        "batch_size": len(batches[0]),
        "elapsed_s": elapsed,
        "declarations": total,
        "declarations_per_s": total / elapsed,
        "predict_ms_per_batch": 1000.0 * sum(t[0] for t in times) / calls,
        "pred_contrib_ms_per_batch": 1000.0 * sum(t[1] for t in times) / calls,
        "cpu": cpu,
    }


# ------------------------------------------------------------------------- soak


class MemorySampler:
    """Samples a server's resident memory (all its processes) every few seconds."""

    def __init__(self, server: ServerProcess, interval_s: float) -> None:
        self.server = server
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._start = 0.0

    def _run(self) -> None:
        while True:
            self.samples.append((time.perf_counter() - self._start, server_memory_mb(self.server)))
            if self._stop.wait(self.interval_s):
                break

    def start(self) -> None:
        """Take the first sample now and go on in a thread."""
        self._start = time.perf_counter()
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter() - self._start, server_memory_mb(self.server)))


def memory_summary(samples: list[tuple[float, float]], soak_s: float) -> dict[str, Any]:
    """Start, peak and end of the soak's memory, and its growth after the warm-up.

    The warm-up is the first :data:`SOAK_WARMUP_SHARE` of the soak (caches, the audit
    store's pages, allocator pools); growth is from the last sample in it to the end.
    """
    if not samples:
        return {"samples": 0}
    warm_until = SOAK_WARMUP_SHARE * soak_s
    warm = [mb for t, mb in samples if t <= warm_until][-1:] or [samples[0][1]]
    after = [mb for t, mb in samples if t >= warm_until] or [samples[-1][1]]
    end = samples[-1][1]
    return {
        "samples": len(samples),
        "start_mb": samples[0][1],
        "after_warmup_mb": warm[0],
        "peak_mb": max(mb for _, mb in samples),
        "peak_after_warmup_mb": max(after),
        "end_mb": end,
        "growth_pct": 100.0 * (end - warm[0]) / warm[0] if warm[0] else None,
        "peak_growth_pct": 100.0 * (max(after) - warm[0]) / warm[0] if warm[0] else None,
        "series": [[round(t, 1), round(mb, 1)] for t, mb in samples],
    }


def audit_rows(database: Path) -> int:
    """Rows of the audit store's ``decisions`` table (read-only, beside the writer)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])


def audited_ids(database: Path) -> set[str]:
    """Every request id in the audit store's ``decisions`` table."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return {row[0] for row in conn.execute("SELECT request_id FROM decisions")}


def audit_check(database: Path, acknowledged: list[str], rows_before: int) -> dict[str, Any]:
    """Whether every acknowledged decision of the soak is in the audit store.

    Args:
        database: The SQLite file of the server's audit store.
        acknowledged: The request id of every 200 answer of the soak.
        rows_before: Rows in the store when the soak's clock started.
    """
    stored = audited_ids(database)
    missing = [i for i in acknowledged if i not in stored]
    return {
        "acknowledged": len(acknowledged),
        "distinct_request_ids": len(set(acknowledged)),
        "audited": len(acknowledged) - len(missing),
        "missing": len(missing),
        "missing_sample": missing[:5],
        "rows_added_during_soak": len(stored) - rows_before,
        "rows_total": len(stored),
    }


# ------------------------------------------------------------------ machine and run


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def machine_info() -> dict[str, Any]:
    """Static facts of the machine and of the code measured."""
    import bentoml
    import lightgbm

    status = _git("status", "--porcelain", "--", "serving", "features", "models")
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "bentoml": bentoml.__version__,
        "lightgbm": lightgbm.__version__,
        "httpx": httpx.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        # The request path may be measured with uncommitted changes: say which files.
        "uncommitted_in_request_path": status.splitlines() if status else [],
    }


def load_average() -> dict[str, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return {"1m": one, "5m": five, "15m": fifteen}


def server_memory_mb(server: ServerProcess) -> float:
    """Resident memory of all the server's processes, in MB."""
    total = 0
    for proc in server.processes():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total / 2**20


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _row(
    metric: str, value: float | None, limit: float, higher_is_better: bool, digits: int
) -> dict[str, Any]:
    sign = ">=" if higher_is_better else "<="
    met = None if value is None else (value >= limit if higher_is_better else value <= limit)
    return {
        "metric": metric,
        "value": value,
        "shown": _f(value, digits),
        "target": f"{sign} {limit:g}",
        "limit": limit,
        "higher_is_better": higher_is_better,
        "met": met,
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The ratios and checks against the design targets."""
    seq = result["sequential"]["endpoints"]
    conc = result["concurrent"]
    batch = result["batch"]
    alone = result["model_alone"]["declarations_per_s"]
    rows = [
        _row(
            "score p99 / predict p99 (1 client)",
            _ratio(seq["score"]["p99_ms"], seq["predict"]["p99_ms"]),
            TARGET_P99_RATIO,
            False,
            2,
        ),
        _row(
            f"score rps / noop rps ({result['settings']['clients']} clients)",
            _ratio(conc["score"]["requests_per_s"], conc["noop"]["requests_per_s"]),
            TARGET_RPS_RATIO,
            True,
            2,
        ),
    ]
    for run in batch.values():
        name = "1 client" if run["clients"] == 1 else f"{run['clients']} clients"
        value = run["declarations_per_s"] if run["ok"] else None
        rows.append(
            _row(f"score_batch declarations/s ({name})", value, TARGET_BATCH_DECL_S, True, 0)
        )
    for run in batch.values():
        name = "1 client" if run["clients"] == 1 else f"{run['clients']} clients"
        value = run["declarations_per_s"] if run["ok"] else None
        rows.append(
            _row(
                f"score_batch declarations/s / model alone ({name})",
                _ratio(value, alone),
                TARGET_BATCH_MODEL_RATIO,
                True,
                2,
            )
        )
    soak = result["soak"]
    if soak is not None:
        audit = soak["audit"]
        errors = _row("soak: answers that were not 200", soak["errors"], 0, False, 0)
        missing = _row(
            "soak: acknowledged decisions not in the audit store", audit["missing"], 0, False, 0
        )
        missing["shown"] = (
            f"{audit['missing']:,} ({audit['audited']:,} of {audit['acknowledged']:,} audited)"
        )
        for row in (errors, missing):
            row["target"] = "0"
        growth_pct = soak["memory"].get("growth_pct")
        growth = _row(
            "soak: server memory growth after warm-up, %",
            growth_pct,
            TARGET_SOAK_GROWTH_PCT,
            False,
            1,
        )
        # Strictly below, as the target is stated.
        growth["target"] = f"< {TARGET_SOAK_GROWTH_PCT:g}"
        growth["met"] = None if growth_pct is None else growth_pct < TARGET_SOAK_GROWTH_PCT
        rows += [errors, missing, growth]
    return rows


# ------------------------------------------------------------------------- report


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _cores(phase: dict[str, Any], party: str) -> float | None:
    # CPU seconds per wall second: 1.0 is one whole core of the machine.
    wall = phase["cpu"]["wall_s"]
    return phase["cpu"][f"{party}_cpu_s"] / wall if wall > 0 else None


def markdown(result: dict[str, Any]) -> str:
    """The result as Markdown tables."""
    s = result["settings"]
    m = result["machine"]
    lines = [
        f"## portsift serve benchmark ({'quick smoke run' if s['quick'] else 'full run'})",
        "",
        f"{result['started_at']}, {m['nproc']} cores ({m['cpu_model']}), load average "
        f"{result['load_average_start']['1m']:.2f} at start / "
        f"{result['load_average_end']['1m']:.2f} at end; BentoML {m['bentoml']}, "
        f"LightGBM {m['lightgbm']}; {s['declarations']} distinct declarations.",
    ]
    lines += [f"\n**{w}**" for w in result["warnings"]]
    seq = result["sequential"]
    lines += [
        "",
        f"### 1. Latency, one client, {seq['requests_per_endpoint']} requests per endpoint "
        "(interleaved)",
        "",
        "| endpoint | ok | errors | p50 ms | p90 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in seq["endpoints"].items():
        lines.append(
            f"| /{name} | {r['ok']} | {r['errors']} | {_f(r['p50_ms'], 2)} | "
            f"{_f(r['p90_ms'], 2)} | {_f(r['p99_ms'], 2)} | {_f(r['mean_ms'], 2)} |"
        )
    lines += [
        "",
        f"Others' CPU during this phase: {_f(seq['cpu']['others_cores'], 2)} cores; "
        f"client CPU {_f(_cores(seq, 'client'), 2)} cores; "
        f"stolen by the hypervisor {_f(seq['cpu']['steal_cores'], 2)} cores.",
    ]
    lines += [
        "",
        f"### 2. Throughput, {s['clients']} concurrent clients, {s['duration_s']:g} s each",
        "",
        "| endpoint | requests/s | ok | errors | p50 ms | p99 ms | peak in flight "
        "| server CPU ms/request | client CPU (cores) | others' CPU (cores) | stolen (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["concurrent"].items():
        lines.append(
            f"| /{name} | {_f(r['requests_per_s'])} | {r['ok']} | {r['errors']} | "
            f"{_f(r['p50_ms'])} | {_f(r['p99_ms'])} | {r['peak_in_flight']} | "
            f"{_f(r['server_cpu_ms_per_request'], 2)} | {_f(_cores(r, 'client'), 2)} | "
            f"{_f(r['cpu']['others_cores'], 2)} | {_f(r['cpu']['steal_cores'], 2)} |"
        )
    lines += [
        "",
        f"### 3. /score_batch, {s['batch_size']} declarations a request, "
        f"{s['duration_s']:g} s each",
        "",
        "| clients | declarations/s | batches ok | errors | p50 ms a batch | p99 ms a batch "
        "| server CPU ms/declaration | others' CPU (cores) | stolen (cores) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["batch"].values():
        per_decl = r["server_cpu_ms_per_request"]
        per_decl = None if per_decl is None else per_decl / s["batch_size"]
        lines.append(
            f"| {r['clients']} | {_f(r['declarations_per_s'])} | {r['ok']} | {r['errors']} | "
            f"{_f(r['p50_ms'])} | {_f(r['p99_ms'])} | {_f(per_decl, 2)} | "
            f"{_f(r['cpu']['others_cores'], 2)} | {_f(r['cpu']['steal_cores'], 2)} |"
        )
    alone = result["model_alone"]
    lines += [
        "",
        f"The model alone in this process, the same batches (servers idle): "
        f"**{_f(alone['declarations_per_s'])} declarations/s** with {alone['threads']} "
        f"thread(s) of one LightGBM thread each ({_f(alone['predict_ms_per_batch'], 2)} ms "
        f"predict + {_f(alone['pred_contrib_ms_per_batch'], 2)} ms TreeSHAP a batch); "
        f"others' CPU {_f(alone['cpu']['others_cores'], 2)} cores, stolen "
        f"{_f(alone['cpu']['steal_cores'], 2)}.",
    ]
    soak = result["soak"]
    if soak is not None:
        memory, audit = soak["memory"], soak["audit"]
        lines += [
            "",
            f"### 4. Soak, {soak['clients']} clients on /score, {soak['duration_s']:g} s",
            "",
            "| requests/s | ok | errors | p50 ms | p99 ms | max ms | others' CPU (cores) "
            "| stolen (cores) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {_f(soak['requests_per_s'])} | {soak['ok']:,} | {soak['errors']} | "
            f"{_f(soak['p50_ms'])} | {_f(soak['p99_ms'])} | {_f(soak['max_ms'])} | "
            f"{_f(soak['cpu']['others_cores'], 2)} | {_f(soak['cpu']['steal_cores'], 2)} |",
            "",
            f"Audit store after the servers stopped: {audit['audited']:,} of "
            f"{audit['acknowledged']:,} acknowledged decisions found by request id "
            f"({audit['missing']:,} missing); it gained {audit['rows_added_during_soak']:,} "
            f"rows during the soak ({audit['rows_total']:,} in all).",
            "",
            f"Server memory (RSS of all its processes, {memory.get('samples', 0)} samples): "
            f"start {_f(memory.get('start_mb'))} MiB, after the warm-up (first "
            f"{SOAK_WARMUP_SHARE:.0%}) {_f(memory.get('after_warmup_mb'))} MiB, peak "
            f"{_f(memory.get('peak_mb'))} MiB, end {_f(memory.get('end_mb'))} MiB: growth "
            f"after the warm-up {_f(memory.get('growth_pct'))}% at the end, "
            f"{_f(memory.get('peak_growth_pct'))}% at the peak.",
        ]
    lines += [
        "",
        "### Targets",
        "",
        "| ratio | value | target | met |",
        "|---|---:|---:|:---:|",
    ]
    for row in result["targets"]:
        met = {True: "yes", False: "**no**", None: "–"}[row["met"]]
        lines.append(f"| {row['metric']} | {row['shown']} | {row['target']} | {met} |")
    errors = result["errors"]
    if errors:
        lines += ["", "### Errors answered (not retried, not in the latencies)", ""]
        for where, statuses in errors.items():
            lines.append(f"- {where}: {statuses}")
    return "\n".join(lines)


def collect_errors(result: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Every non-200 answer of the run, by phase and endpoint."""
    found: dict[str, dict[str, int]] = {}

    def add(where: str, summary: dict[str, Any]) -> None:
        bad = {k: v for k, v in summary["statuses"].items() if k != "200"}
        if bad:
            found[where] = bad

    for name, summary in result["warmup"].items():
        add(f"warm-up /{name}", summary)
    for name, summary in result["sequential"]["endpoints"].items():
        add(f"sequential /{name}", summary)
    for name, summary in result["concurrent"].items():
        add(f"{summary['clients']} clients /{name}", summary)
    for summary in result["batch"].values():
        add(f"{summary['clients']} clients /score_batch", summary)
    if result["soak"] is not None:
        add(f"soak, {result['soak']['clients']} clients /score", result["soak"])
    return found


# --------------------------------------------------------------------------- main


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM becomes an exception, so that the ``finally`` stopping the servers runs.
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace, settings: Settings, base: Path) -> dict[str, Any]:
    """Start both servers, run every phase, stop the servers; the result as JSON.

    Raises:
        BenchmarkError: A server did not start or answered the check request wrongly.
    """
    load_start = load_average()
    records = load_records(args.data_dir, settings.declarations)
    token = secrets.token_urlsafe(24)
    portsift, bare = make_servers(base, token, args.model_dir)
    audit_db = base / AUDIT_FILE
    servers = (portsift, bare)
    print(f"starting portsift serve on :{portsift.port} and the bare service on :{bare.port}")
    try:
        for server in servers:
            server.start()
        ready_s = wait_ready(servers)
        print(f"both ready in {ready_s:.1f} s")
        singles = [encode(r) for r in records]
        # Twice as many batch bodies as 4 clients need to differ from each other.
        batch_count = max(8, 2 * settings.batch_clients)
        batches = batch_bodies(records, settings.batch_size, batch_count)
        score = Endpoint("score", portsift.url + "/score", singles, "portsift")
        predict = Endpoint("predict", bare.url + "/predict", singles, "bare")
        noop = Endpoint("noop", bare.url + "/noop", singles, "bare")
        score_batch = Endpoint(
            "score_batch", portsift.url + "/score_batch", batches, "portsift", settings.batch_size
        )
        singles_endpoints = (score, predict, noop)
        check_answers([*singles_endpoints, score_batch], token)
        print(f"warming up ({settings.warmup} requests per endpoint)")
        warmup = warm_up(singles_endpoints, token, settings.warmup)
        warmup.update(warm_up([score_batch], token, max(1, settings.warmup // 10)))

        print(f"1. sequential: {settings.requests} requests per endpoint")
        seq = sequential(singles_endpoints, token, settings.requests, servers)
        conc: dict[str, Any] = {}
        for endpoint in singles_endpoints:
            print(f"2. {settings.clients} clients, {settings.duration_s:g} s: /{endpoint.name}")
            conc[endpoint.name], _ = concurrent(
                endpoint, token, settings.clients, settings.duration_s, servers
            )
        batch: dict[str, Any] = {}
        for key, clients in (("sequential", 1), ("concurrent", settings.batch_clients)):
            print(f"3. /score_batch x {settings.batch_size}, {clients} client(s)")
            batch[key], _ = concurrent(score_batch, token, clients, settings.duration_s, servers)
        threads = server_workers()
        print(f"3. the model alone in this process: {threads} thread(s), predict + TreeSHAP")
        booster, matrices = model_batches(args.model_dir, records, settings.batch_size, batch_count)
        alone = model_alone(booster, matrices, threads, settings.duration_s, servers)
        memory = {s.name: server_memory_mb(s) for s in servers}
        soaked: dict[str, Any] | None = None
        acknowledged: list[str] = []
        rows_before = [0]
        if settings.soak_s > 0:
            print(f"4. soak: {settings.clients} clients on /score for {settings.soak_s:g} s")
            sampler = MemorySampler(portsift, settings.soak_interval_s)

            def begin() -> None:
                # Once the clients have connected (their first answers are audited too).
                rows_before[0] = audit_rows(audit_db)
                sampler.start()

            try:
                soaked, acknowledged = concurrent(
                    score,
                    token,
                    settings.clients,
                    settings.soak_s,
                    servers,
                    on_start=begin,
                    keep_ids=True,
                )
            finally:
                if sampler.samples:
                    sampler.stop()
            soaked["memory"] = memory_summary(sampler.samples, settings.soak_s)
    finally:
        for server in servers:
            server.stop()
        # Kept beside the JSON: the temporary directory goes, the logs explain errors.
        for server in servers:
            with contextlib.suppress(OSError):
                shutil.copyfile(server.log, args.out.parent / f"serve-{server.name}.log")
    if soaked is not None:
        # After the servers have stopped: what is in the store now was committed.
        soaked["audit"] = audit_check(audit_db, acknowledged, rows_before[0])
    load_end = load_average()
    return {
        "load_average_start": load_start,
        "load_average_end": load_end,
        "ready_s": ready_s,
        "server_rss_mb": memory,
        "warmup": warmup,
        "sequential": seq,
        "concurrent": conc,
        "batch": batch,
        "model_alone": alone,
        "soak": soaked,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 0, 1 if a server answered errors, 2 if it could not run."""
    args, settings = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = machine_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="portsift-serve-bench-") as tmp:
        try:
            measured = run(args, settings, Path(tmp))
        except BenchmarkError as err:
            print(f"serve benchmark: {err}", file=sys.stderr)
            print(f"server logs: {args.out.parent}/serve-*.log", file=sys.stderr)
            return 2
    result: dict[str, Any] = {
        "started_at": started,
        "settings": {
            **{k: getattr(settings, k) for k in settings.__dataclass_fields__},
            "quick": args.quick,
            "model_dir": str(args.model_dir.resolve()),
            "data_dir": str(args.data_dir.resolve()),
        },
        "machine": machine,
        **measured,
    }
    nproc = machine["nproc"]
    warnings = []
    # The start figure is other people's load alone: nothing of this run was running yet.
    if result["load_average_start"]["1m"] >= 0.5 * nproc:
        warnings.append(
            f"the machine was busy before the run: load average "
            f"{result['load_average_start']['1m']:.2f} on {nproc} cores; the absolute "
            "figures are pessimistic, read the ratios (and the others' CPU column)"
        )
    timed = [
        result["sequential"],
        *result["concurrent"].values(),
        *result["batch"].values(),
        result["model_alone"],
    ]
    if result["soak"] is not None:
        timed.append(result["soak"])
    busiest = max(phase["cpu"]["others_cores"] for phase in timed)
    if busiest >= 0.5:
        warnings.append(f"other processes used up to {busiest:.2f} cores during a timed phase")
    stolen = max(phase["cpu"]["steal_cores"] for phase in timed)
    if stolen >= 0.2:
        warnings.append(
            f"the hypervisor took up to {stolen:.2f} cores from this machine during a timed "
            "phase (steal time: other guests' load, invisible to the others' CPU column)"
        )
    if machine["uncommitted_in_request_path"]:
        warnings.append(
            "measured with uncommitted changes in serving/, features/ or models/ "
            "(listed in the JSON)"
        )
    result["warnings"] = warnings
    result["targets"] = targets(result)
    result["errors"] = collect_errors(result)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print()
    print(markdown(result))
    print(f"\nwrote {args.out}")
    status = 0
    if result["errors"]:
        print(
            "serve benchmark: the servers answered errors (above; the first answer of each "
            "kind is in the JSON, the server logs beside it)",
            file=sys.stderr,
        )
        status = 1
    if result["soak"] is not None and result["soak"]["audit"]["missing"]:
        print(
            "serve benchmark: acknowledged decisions are missing from the audit store "
            "(soak; a sample of their request ids is in the JSON)",
            file=sys.stderr,
        )
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
