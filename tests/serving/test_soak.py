"""Soak: clients keep scoring while the whole server is SIGKILLed and restarted.

Four client threads send real declarations (three to ``/score``, one batches of three to
``/score_batch``) for the whole test. Twice the server dies by SIGKILL and is started again
on the same port and SQLite audit store: first the ``portsift serve`` process group alone
(``kill -9 -PGID``, what an operator or the OOM killer does; BentoML's worker runs in a
session of its own and must not outlive it), then every process of the server at once
(a crash of the machine). A client treats a connection error or a 503 as "not
acknowledged" and sends the declaration again.

Afterwards every decision a client received with 200 must be in the audit store under
its ``request_id``, equal to what the client got, with the hash of what it sent; no
``request_id`` twice; no row cut short (each decision's JSON parses and names its own
row); no batch half written; the SQLite file passes ``PRAGMA integrity_check``; and the
last server answers ``/readyz`` and scores.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import sqlalchemy as sa

from portsift.store.audit import AuditStore
from portsift.store.audit_records import input_hash
from tests.serving.conftest import TOKEN, Server, declaration_records, start_server

CLIENTS = 4
BATCH = 3
#: Seconds of scoring before each kill and after the last restart.
PHASE_S = 3.0
#: Decisions acknowledged by a server before it may be killed (so that every run counts).
MIN_ACKS_PER_RUN = 10
#: How long an orphaned worker may take to notice its arbiter is gone.
ORPHAN_GRACE_S = 15.0
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_BATCH_ID = re.compile(r"([0-9a-f]{32})-(\d+)")


@dataclass
class Ack:
    """One 200 a client received: what it sent and the decisions it got."""

    run: int
    declarations: list[dict[str, Any]]
    decisions: list[dict[str, Any]]


@dataclass
class Soak:
    """What the clients saw, shared between their threads."""

    url: str
    records: list[dict[str, Any]]
    run: int = 0
    acks: list[Ack] = field(default_factory=list)
    unacknowledged: Counter[str] = field(default_factory=Counter)
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acks_in(self, run: int) -> int:
        """Decisions acknowledged by the ``run``-th server (0 = the first)."""
        with self.lock:
            return sum(len(a.decisions) for a in self.acks if a.run == run)

    def client(self, number: int) -> None:
        """Send declarations until told to stop; resend one that was not acknowledged."""
        batched = number == 0
        position = number
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=15) as http:
            while not self.stop.is_set():
                # Ids of their own: a declaration is decided once, and one sent again is
                # answered from the audit store (a retry of an unacknowledged request is,
                # with the same ids).
                picked = [
                    {
                        **self.records[(position + i) % len(self.records)],
                        "declaration_id": f"SOAK-{number}-{position}-{i}",
                    }
                    for i in range(BATCH if batched else 1)
                ]
                run = self.run  # the server this request goes to (a kill bumps it later)
                try:
                    if batched:
                        response = http.post("/score_batch", json={"declarations": picked})
                    else:
                        response = http.post("/score", json=picked[0])
                except httpx.TransportError as err:
                    # The server died under the request, or is not up yet: not acknowledged.
                    with self.lock:
                        self.unacknowledged[type(err).__name__] += 1
                    time.sleep(0.1)
                    continue
                if response.status_code == 503:  # the audit store did not commit: retry
                    with self.lock:
                        self.unacknowledged["503"] += 1
                    continue
                if response.status_code != 200:
                    with self.lock:
                        self.unexpected.append((response.status_code, response.text[:500]))
                    continue
                answer = response.json()
                decisions = answer if batched else [answer]
                with self.lock:
                    self.acks.append(Ack(run, picked, decisions))
                position += 1


def _wait_for_acks(soak: Soak, run: int, started: float) -> None:
    deadline = started + PHASE_S + 60
    while time.monotonic() < started + PHASE_S or soak.acks_in(run) < MIN_ACKS_PER_RUN:
        if time.monotonic() > deadline:
            pytest.fail(f"server run {run}: only {soak.acks_in(run)} decisions in 60 s")
        if soak.unexpected:
            pytest.fail(f"unexpected answers: {soak.unexpected[:3]}")
        time.sleep(0.1)


def _kill(server: Server, *, only_arbiter: bool) -> list[int]:
    """SIGKILL the server; wait until none of its processes is left; return their pids."""
    victims = server.kill(only_arbiter=only_arbiter)
    workers = victims[1:]
    assert workers, "the server had no worker process to kill"
    _, alive = psutil.wait_procs(victims, timeout=ORPHAN_GRACE_S)
    for survivor in alive:  # no orphan may outlive the test, whatever it finds
        with contextlib.suppress(psutil.NoSuchProcess):
            survivor.kill()
    assert not alive, (
        f"{[p.pid for p in alive]} outlived the SIGKILL of the server "
        f"({'arbiter only' if only_arbiter else 'all processes'}): an orphaned worker "
        "still serving on the port"
    )
    return [p.pid for p in victims]


@pytest.fixture(scope="module")
def records(data_files: Any) -> list[dict[str, Any]]:
    """Twelve declarations of the shared data set as JSON objects."""
    return declaration_records(data_files.declarations, 12, data_files.lab_results)


def test_acknowledged_decisions_survive_sigkill_of_the_whole_server(
    trained_model_dir: Path, tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    began = time.monotonic()
    server = start_server(trained_model_dir, tmp_path)
    soak = Soak(url=server.url, records=records)
    threads = [
        threading.Thread(target=soak.client, args=(n,), name=f"soak-client-{n}", daemon=True)
        for n in range(CLIENTS)
    ]
    killed: list[list[int]] = []
    try:
        for thread in threads:
            thread.start()
        run_started = time.monotonic()
        for only_arbiter in (True, False):
            _wait_for_acks(soak, soak.run, run_started)
            killed.append(_kill(server, only_arbiter=only_arbiter))
            server.restart()
            run_started = time.monotonic()
            soak.run += 1
        _wait_for_acks(soak, soak.run, run_started)
        soak.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not soak.unexpected, soak.unexpected[:3]
        assert server.ready(), "the restarted server is not ready"
        last = server.post("/score", records[0])
        assert last.status_code == 200, last.text
    finally:
        soak.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.stop()
    elapsed = time.monotonic() - began

    store = AuditStore.from_url(server.audit_url)
    try:
        _check_the_store(store, soak, last.json())
        rows = store.count_decisions()
        with store.engine.connect() as conn:
            (integrity,) = conn.execute(sa.text("PRAGMA integrity_check")).one()
    finally:
        store.close()
    assert integrity == "ok"
    acked = sum(len(a.decisions) for a in soak.acks)
    print(
        f"\nsoak: {len(killed)} SIGKILLs, {acked} decisions acknowledged "
        f"({[soak.acks_in(run) for run in range(soak.run + 1)]} per server run), "
        f"{sum(soak.unacknowledged.values())} requests not acknowledged "
        f"{dict(soak.unacknowledged)}, {rows} audit rows "
        f"({rows - acked - 1} committed but never acknowledged), {elapsed:.1f} s"
    )


def _check_the_store(store: AuditStore, soak: Soak, last: dict[str, Any]) -> None:
    # Every acknowledged decision, exactly as the client received it, with its input's hash.
    seen: set[str] = set()
    for ack in [*soak.acks, Ack(-1, [soak.records[0]], [last])]:
        for declaration, decision in zip(ack.declarations, ack.decisions, strict=True):
            request_id = decision["request_id"]
            assert request_id not in seen, f"request_id {request_id} acknowledged twice"
            seen.add(request_id)
            stored = store.get_decision(request_id)
            assert stored is not None, f"acknowledged {request_id} is not in the audit store"
            assert stored.decision == decision
            assert stored.declaration_id == declaration["declaration_id"]
            assert stored.input_sha256 == input_hash(declaration)
    # Every row whole: unique id, JSON that parses and names its own row, a valid hash.
    frame = store.decisions_frame()
    assert frame["request_id"].is_unique
    batches: Counter[str] = Counter()
    for row in frame.itertuples():
        decision = json.loads(row.decision)
        assert decision["request_id"] == row.request_id
        assert decision["declaration_id"] == row.declaration_id
        assert re.fullmatch(r"[0-9a-f]{64}", row.input_sha256)
        assert isinstance(decision["contributions"], list) and decision["contributions"]
        if match := _BATCH_ID.fullmatch(row.request_id):
            batches[match.group(1)] += 1
    # A batch is one transaction: all of it on record or none, acknowledged or not.
    assert set(batches.values()) <= {BATCH}, f"half-written batches: {batches}"
