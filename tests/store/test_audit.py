"""The audit store, run the same on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import sqlalchemy as sa

from portsift.store.audit import (
    DECISION_COLUMNS,
    FEEDBACK_COLUMNS,
    AuditError,
    AuditStore,
    DuplicateRequestError,
)
from portsift.store.audit_records import input_hash
from tests.store.audit_rows import record

if TYPE_CHECKING:
    from tests.store.conftest import Backend

REPO = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------ helpers


def check_row_intact(row: Any) -> None:
    """A stored row is whole: its JSON parses and agrees with the other columns."""
    decision = json.loads(row.decision)
    assert decision["request_id"] == row.request_id
    assert decision["declaration_id"] == row.declaration_id
    assert len(decision["contributions"]) == 40
    assert row.input_sha256 == input_hash(decision["declaration"])


def all_rows(backend: Backend, store: AuditStore) -> list[Any]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(sa.text(f"SELECT * FROM {backend.table_prefix}decisions ORDER BY id"))
        )


# Child process: opens the store, writes COUNT decisions in batches of BATCH and prints
# "ack <request_id>" for each one only after its batch has been committed. With GATE=wait
# it first reports "imported" and waits for a line on stdin, so that several children can
# be released together and race to create the tables and to write; PAUSE seconds between
# batches keep two writers side by side on a busy machine.
WRITER = textwrap.dedent(
    """
    import sys, time
    from tests.store.test_audit import record
    from portsift.store.audit import AuditStore

    url, schema, prefix, count, batch, gate, pause = sys.argv[1:8]
    count, batch, pause = int(count), int(batch), float(pause)
    if gate == "wait":
        print("imported", flush=True)
        sys.stdin.readline()
    store = AuditStore.from_url(url, schema=None if schema == "-" else schema)
    print("ready", flush=True)
    for first in range(0, count, batch):
        numbers = range(first, min(first + batch, count))
        rows = [record(f"{prefix}-{n:06d}", n) for n in numbers]
        store.record_decisions(rows)
        sys.stdout.write("".join(f"ack {row.request_id}\\n" for row in rows))
        sys.stdout.flush()
        time.sleep(pause)
    store.close()
    print("done", flush=True)
    """
)


class Writers:
    """Starts writer processes for a test and kills any still running when it ends."""

    def __init__(self, backend: Backend, tmp_path: Path) -> None:
        self.backend = backend
        self.script = tmp_path / "writer.py"
        self.script.write_text(WRITER, encoding="utf-8")
        self.cwd = tmp_path
        self.children: list[subprocess.Popen[bytes]] = []

    def start(
        self, prefix: str, *, count: int, batch: int, gate: bool = False, pause: float = 0.0
    ) -> subprocess.Popen[bytes]:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        arguments = [*self.backend.child_args(), prefix, str(count), str(batch)]
        arguments += ["wait" if gate else "go", str(pause)]
        child = subprocess.Popen(
            [sys.executable, str(self.script), *arguments],
            stdin=subprocess.PIPE if gate else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.cwd,
            env={**os.environ, "PYTHONPATH": path},
        )
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
            for stream in (child.stdin, child.stdout, child.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def writers(backend: Backend, tmp_path: Path) -> Iterator[Writers]:
    """Writer processes on the test's back end (stopped before its schema is dropped)."""
    started = Writers(backend, tmp_path)
    yield started
    started.stop_all()


def release_together(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every gated child has imported everything, then let them all go."""
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == b"imported\n", line + (child.stderr.read() if child.stderr else b"")
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.flush()  # communicate() closes it


def acknowledged(output: bytes) -> list[str]:
    """Request ids of complete "ack" lines (a line cut off by the kill is not an ack)."""
    lines = output.split(b"\n")[:-1]  # the part after the last newline is incomplete
    return [line.decode()[4:] for line in lines if line.startswith(b"ack ")]


# ------------------------------------------------------------------------------ opening


def test_default_url_is_sqlite_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORTSIFT_AUDIT_URL", raising=False)
    with AuditStore.from_url() as store:
        assert store.dialect == "sqlite"
        store.record_decisions([record("r-1", 1)])
    assert (tmp_path / "portsift-audit.db").is_file()

    monkeypatch.setenv("PORTSIFT_AUDIT_URL", f"sqlite:///{tmp_path / 'sub' / 'other.db'}")
    with AuditStore.from_url() as store:
        assert store.count_decisions() == 0
    assert (tmp_path / "sub" / "other.db").is_file()


def test_unusable_urls_are_refused(tmp_path: Path) -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ValueError, match="in-memory"):
            AuditStore.from_url(url)
    with pytest.raises(ValueError, match="unsupported"):
        AuditStore.from_url("mysql+pymysql://root@127.0.0.1/test")
    with pytest.raises(ValueError, match="only supported on PostgreSQL"):
        AuditStore.from_url(f"sqlite:///{tmp_path / 'a.db'}", schema="s")
    with pytest.raises(ValueError, match="identifier"):
        AuditStore.from_url("postgresql+psycopg://postgres@127.0.0.1/test", schema="x; DROP")
    with pytest.raises(AuditError, match="cannot open"):
        AuditStore.from_url("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_reopening_keeps_data_and_creates_nothing_twice(backend: Backend) -> None:
    first = backend.open()
    first.record_decisions([record("r-1", 1)])
    first.record_feedback("D000001", inspected=True, illicit=False, revenue=0.0)
    second = backend.open()
    assert second.count_decisions() == 1
    assert len(second.feedback_frame()) == 1
    assert second.get_decision("r-1") is not None


# --------------------------------------------------------------------------- decisions


def test_decisions_round_trip(backend: Backend) -> None:
    store = backend.open()
    before = datetime.now(UTC)
    rows = [record(f"r-{n}", n) for n in range(3)]
    store.record_decisions(rows)
    after = datetime.now(UTC)
    assert store.count_decisions() == 3

    for row in rows:
        stored = store.get_decision(row.request_id)
        assert stored is not None
        assert stored.request_id == row.request_id
        assert stored.declaration_id == row.declaration_id
        assert stored.input_sha256 == row.input_sha256
        assert stored.decision == row.decision
        assert stored.decision_json == row.decision_json()
        assert stored.model_version == "model-7"
        assert stored.policy_version == "policy-2"
        assert stored.recorded_at.tzinfo is not None
        assert stored.recorded_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= stored.recorded_at <= after + timedelta(seconds=1)
    assert store.get_decision("unknown") is None

    frame = store.decisions_frame()
    assert list(frame.columns) == list(DECISION_COLUMNS)
    assert frame["request_id"].tolist() == ["r-0", "r-1", "r-2"]
    assert frame["id"].is_monotonic_increasing
    assert str(frame["recorded_at"].dtype) == "datetime64[us, UTC]"
    assert json.loads(frame["decision"].iloc[1]) == rows[1].decision


def test_decision_text_is_stored_verbatim(backend: Backend) -> None:
    store = backend.open()
    body = '{"risk_score": 0.25,  "reasons": ["低风险"]}'
    store.record_decisions([record("r-text", 1, decision=body)])
    stored = store.get_decision("r-text")
    assert stored is not None
    assert stored.decision_json == body
    assert stored.decision == {"risk_score": 0.25, "reasons": ["低风险"]}


def test_decisions_frame_since(backend: Backend) -> None:
    store = backend.open()
    base = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    store.record_decisions(
        [record(f"r-{n}", n, recorded_at=base + timedelta(hours=n)) for n in range(4)]
    )
    # A different zone for the same instant selects the same rows.
    since = (base + timedelta(hours=2)).astimezone(timezone(timedelta(hours=8)))
    frame = store.decisions_frame(since=since)
    assert frame["request_id"].tolist() == ["r-2", "r-3"]
    assert frame["recorded_at"].iloc[0] == pd.Timestamp(base + timedelta(hours=2))
    assert store.decisions_frame(since=base + timedelta(days=1)).empty
    empty = store.decisions_frame(since=base + timedelta(days=1))
    assert list(empty.columns) == list(DECISION_COLUMNS)
    with pytest.raises(ValueError, match="time zone aware"):
        store.decisions_frame(since=datetime(2026, 5, 1))


def test_a_batch_is_one_transaction(backend: Backend) -> None:
    store = backend.open()
    store.record_decisions([record("r-a", 1)])

    # The third row repeats an id already on record: the first two must not be written.
    with pytest.raises(DuplicateRequestError, match="r-a") as caught:
        store.record_decisions([record("r-b", 2), record("r-c", 3), record("r-a", 4)])
    assert caught.value.request_ids == ("r-a",)
    assert store.count_decisions() == 1
    assert store.get_decision("r-b") is None
    assert store.get_decision("r-c") is None
    stored = store.get_decision("r-a")
    assert stored is not None
    assert stored.declaration_id == "D000001"  # the original, not the retried row

    # An id twice in one batch is refused as a whole as well.
    with pytest.raises(DuplicateRequestError, match="r-d") as caught:
        store.record_decisions([record("r-d", 5), record("r-e", 6), record("r-d", 7)])
    assert caught.value.request_ids == ("r-d",)
    assert store.count_decisions() == 1

    # A batch that fails to serialise part-way writes nothing either.
    with pytest.raises(ValueError):
        store.record_decisions([record("r-f", 8), record("r-g", 9, decision={"x": math.inf})])
    assert store.count_decisions() == 1

    store.record_decisions([])
    store.record_decisions([record("r-b", 2), record("r-c", 3)])
    assert store.count_decisions() == 3


def test_store_is_append_only(backend: Backend) -> None:
    public = {name for name in dir(AuditStore) if not name.startswith("_")}
    for word in ("update", "delete", "remove", "truncate", "clear", "drop"):
        assert not [name for name in public if word in name], word

    store = backend.open()
    store.record_decisions([record("r-1", 1)])
    store.record_feedback("D000001", inspected=True, illicit=True, revenue=10.0)
    prefix = backend.table_prefix
    statements = [
        f"UPDATE {prefix}decisions SET decision = '{{}}'",
        f"DELETE FROM {prefix}decisions",
        f"UPDATE {prefix}feedback SET illicit = NULL",
        f"DELETE FROM {prefix}feedback",
    ]
    if backend.name == "postgresql":
        statements += [f"TRUNCATE {prefix}decisions", f"TRUNCATE {prefix}feedback"]
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    stored = store.get_decision("r-1")
    assert stored is not None
    assert stored.decision == record("r-1", 1).decision
    assert store.feedback_frame()["illicit"].tolist() == [1.0]


# ---------------------------------------------------------------------------- feedback


def test_feedback_round_trip_latest_per_declaration(backend: Backend) -> None:
    store = backend.open()
    empty = store.feedback_frame()
    assert list(empty.columns) == list(FEEDBACK_COLUMNS)
    assert empty.empty

    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    store.record_feedback("D2", inspected=True, illicit=True, revenue=500.0, received_at=t0)
    # A correction: later outcome for D2 supersedes the first.
    store.record_feedback(
        "D2", inspected=True, illicit=False, revenue=0.0, received_at=t0 + timedelta(hours=1)
    )
    # Received out of order: an older outcome arriving last does not win.
    store.record_feedback(
        "D2", inspected=True, illicit=True, revenue=9.0, received_at=t0 - timedelta(days=1)
    )
    store.record_feedback("D1", inspected=False, source="officer-app")
    first_id = store.record_feedback("D3", inspected=True, illicit=True, revenue=12.5)
    second_id = store.record_feedback("D3", inspected=True, illicit=True, revenue=13.5)
    assert second_id.id > first_id.id
    assert (first_id.kind, second_id.kind, second_id.corrects) == ("new", "correction", first_id.id)

    frame = store.feedback_frame()
    assert list(frame.columns) == list(FEEDBACK_COLUMNS)
    assert frame["declaration_id"].tolist() == ["D1", "D2", "D3"]
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        "declaration_id": "str",
        "inspected": "float64",
        "illicit": "float64",
        "revenue": "float64",
    }
    by_id = frame.set_index("declaration_id")
    assert by_id.loc["D1", "inspected"] == 0.0
    assert math.isnan(by_id.loc["D1", "illicit"])
    assert math.isnan(by_id.loc["D1", "revenue"])
    assert by_id.loc["D2"].tolist() == [1.0, 0.0, 0.0]
    assert by_id.loc["D3"].tolist() == [1.0, 1.0, 13.5]

    # Every outcome stays on record.
    with store.engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT count(*) FROM {backend.table_prefix}feedback"))
        assert count.scalar_one() == 6


def test_feedback_is_validated(backend: Backend) -> None:
    store = backend.open()
    with pytest.raises(ValueError, match="revenue"):
        store.record_feedback("D1", inspected=True, illicit=True, revenue=-1.0)
    with pytest.raises(ValueError, match="revenue"):
        store.record_feedback("D1", inspected=True, illicit=True, revenue=math.nan)
    with pytest.raises(ValueError, match="uninspected"):
        store.record_feedback("D1", inspected=False, illicit=True)
    with pytest.raises(ValueError, match="uninspected"):
        store.record_feedback("D1", inspected=False, revenue=5.0)
    with pytest.raises(ValueError, match="declaration_id"):
        store.record_feedback("", inspected=True)
    with pytest.raises(ValueError, match="time zone aware"):
        store.record_feedback("D1", inspected=True, received_at=datetime(2026, 1, 1))
    assert store.feedback_frame().empty


# ------------------------------------------------------------------- processes, faults


@pytest.mark.parametrize("batch", [1, 4])
def test_acknowledged_decisions_survive_sigkill(
    backend: Backend, writers: Writers, batch: int
) -> None:
    """A writer killed mid-stream loses nothing it acknowledged, and tears no row."""
    backend.open().close()  # tables exist, so the kill lands among commits
    acked: dict[str, list[str]] = {}
    for round_number, kill_after in enumerate((23, 61, 97)):
        prefix = f"round{round_number}"
        child = writers.start(prefix, count=1_000_000, batch=batch)
        assert child.stdout is not None
        seen: list[str] = []
        watchdog = threading.Timer(60, child.kill)  # a stuck writer fails, not hangs, the test
        watchdog.start()
        try:
            while len(seen) < kill_after:
                line = child.stdout.readline()
                assert line, child.stderr.read().decode() if child.stderr else "writer ended"
                if line.startswith(b"ack "):
                    seen.append(line.decode().strip()[4:])
        finally:
            watchdog.cancel()
        time.sleep(0.0013 * round_number)  # vary where in a commit the kill lands
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # the buffered reader: communicate() would skip its buffer
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, "the writer must die mid-stream"
        acked[prefix] = seen + acknowledged(rest)

    store = backend.open()
    if backend.name == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    rows = all_rows(backend, store)
    ids = [row.request_id for row in rows]
    assert not [i for i, n in Counter(ids).items() if n > 1], "duplicated rows"
    for row in rows:
        check_row_intact(row)
    stored = set(ids)
    for prefix, ids_acked in acked.items():
        missing = [request_id for request_id in ids_acked if request_id not in stored]
        assert not missing, f"acknowledged but lost: {missing[:5]}"
        mine = sorted(i for i in ids if i.startswith(prefix + "-"))
        # Whole batches only, in order, and at most one committed batch not yet acknowledged.
        assert mine == [f"{prefix}-{n:06d}" for n in range(len(mine))]
        assert len(mine) % batch == 0
        assert len(ids_acked) <= len(mine) <= len(ids_acked) + batch
    assert store.count_decisions() == len(rows)


def test_two_processes_write_concurrently(backend: Backend, writers: Writers) -> None:
    count = 120
    children = [
        writers.start(prefix, count=count, batch=batch, gate=True, pause=0.005)
        for prefix, batch in (("left", 1), ("right", 3))
    ]
    release_together(children)  # both open (and create) the store at once, then write
    outputs = [child.communicate(timeout=180) for child in children]
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err.decode()
        assert out.decode().splitlines()[-1] == "done"

    store = backend.open()
    rows = all_rows(backend, store)
    assert len(rows) == 2 * count
    assert store.count_decisions() == 2 * count
    for prefix, (out, _) in zip(("left", "right"), outputs, strict=True):
        assert acknowledged(out) == [f"{prefix}-{n:06d}" for n in range(count)]
    for row in rows:
        check_row_intact(row)
    # Both writers made progress side by side, not one after the other.
    order = [row.request_id.split("-")[0] for row in rows]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches >= 2, f"writes did not interleave: {Counter(order)}, {switches} switch(es)"
    # And the two writers' rows form one intact hash chain.
    report = store.verify()
    assert report.ok, report.to_dict()
    assert report["decisions"].checked == 2 * count


def test_processes_starting_at_once_create_the_tables_once(
    backend: Backend, writers: Writers
) -> None:
    children = [writers.start(f"p{n}", count=2, batch=2, gate=True) for n in range(4)]
    release_together(children)
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    assert backend.open().count_decisions() == 8


# ---------------------------------------------------------------------- back-end setup


def test_sqlite_connections_use_wal_and_full_sync(sqlite_backend: Backend) -> None:
    store = sqlite_backend.open()
    store.record_decisions([record("r-1", 1)])

    def pragmas(conn: sa.Connection) -> tuple[str, int, int]:
        return (
            conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
            conn.exec_driver_sql("PRAGMA synchronous").scalar_one(),
            conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one(),
        )

    # Two connections checked out at once are two DBAPI connections; both are set up.
    with store.engine.connect() as first, store.engine.connect() as second:
        assert first.connection.dbapi_connection is not second.connection.dbapi_connection
        for conn in (first, second):
            assert pragmas(conn) == ("wal", 2, 30_000)  # 2 = FULL
    # So is a connection opened after the pool was emptied.
    store.engine.dispose()
    with store.engine.connect() as conn:
        assert pragmas(conn) == ("wal", 2, 30_000)

    database = Path(sa.make_url(sqlite_backend.url).database or "")
    assert Path(f"{database}-wal").exists()
    # WAL is recorded in the file itself: a plain sqlite3 connection sees it too.
    plain = sqlite3.connect(database)
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        plain.close()


def test_an_open_reader_does_not_block_a_writer(backend: Backend) -> None:
    reader_store = backend.open()
    reader_store.record_decisions([record("r-0", 0)])
    writer = AuditStore.from_url(backend.url, schema=backend.schema, busy_timeout_ms=2_000)
    backend.opened.append(writer)
    table = f"{backend.table_prefix}decisions"
    with reader_store.engine.connect() as reader, reader.begin():
        assert reader.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 1
        started = time.perf_counter()
        writer.record_decisions([record("r-1", 1)])  # would wait for the reader without WAL
        assert time.perf_counter() - started < 1.5
        if backend.name == "sqlite":  # the reader keeps its snapshot
            assert reader.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 1
    assert reader_store.count_decisions() == 2


def test_sqlite_write_transactions_begin_immediate(sqlite_backend: Backend) -> None:
    store = sqlite_backend.open()
    statements: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    store.record_decisions([record("r-1", 1)])
    store.count_decisions()
    sa.event.remove(store.engine, "before_cursor_execute", capture)
    # The write lock is taken before the transaction reads anything: the latest decision
    # of the declaration and the chain's last hash must still hold when it inserts.
    assert statements[0] == "BEGIN IMMEDIATE"
    read_back = statements.index("BEGIN")  # count_decisions: a plain read transaction
    writing = statements[1:read_back]
    assert [s for s in writing if s.startswith("INSERT")] == [writing[-1]]
    assert writing[-1].startswith("INSERT INTO decisions")
    assert all(s.startswith("SELECT") for s in writing[:-1]), writing
    assert "BEGIN IMMEDIATE" not in statements[read_back:]


def test_postgresql_sessions_commit_synchronously(
    postgres_backend: Backend, postgres_url: str
) -> None:
    # A role or URL that turns synchronous_commit off would acknowledge commits that a
    # crash could still lose; the store turns it back on for its own sessions.
    url = sa.make_url(postgres_url).update_query_dict({"options": "-c synchronous_commit=off"})
    store = AuditStore.from_url(url, schema=postgres_backend.schema)
    postgres_backend.opened.append(store)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
        version = conn.exec_driver_sql("SHOW server_version").scalar_one()
    print(f"PostgreSQL server version {version}")

    # A bare postgresql:// URL is given the installed psycopg 3 driver.
    bare = sa.make_url(postgres_url).set(drivername="postgresql")
    other = AuditStore.from_url(bare, schema=postgres_backend.schema)
    postgres_backend.opened.append(other)
    assert other.engine.dialect.driver == "psycopg"
