"""How long the officer console's queue takes to read, against the decisions on record.

Fills a fresh audit store (SQLite in a temporary directory, or ``--audit-url`` with
``--schema`` on PostgreSQL) with ``--decisions`` decisions of the API's shape, a share
``--selected`` of them selected (green channel, sampling and the rest mixed) and a tenth
of those with an outcome, then times, ``--repeat`` times each: one page of
``AuditStore.inspection_queue`` (first page, a page deep in the queue, a filter by lane
and office), ``queue_options`` (the filter menus), and the console's ``/queue`` and
``/supervisor`` pages in process (Starlette's TestClient, signed in). The tables are
``ANALYZE``d after filling, as autovacuum does on a live PostgreSQL store (without
statistics PostgreSQL plans the freshly filled tables badly, 2-7x slower; SQLite plans
the same either way). It prints the median and the worst wall time of each::

    .venv/bin/python benchmarks/console_queue.py --decisions 20000
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from starlette.testclient import TestClient

from portsift.serving.console.app import ConsoleBackend, create_console_app
from portsift.serving.console.officers import Officer, hash_password
from portsift.serving.console.sessions import LoginThrottle, SessionSigner
from portsift.settings import load_settings
from portsift.store.audit import AuditStore
from portsift.store.audit_queue import QueueFilter
from portsift.store.audit_records import DecisionRecord

OFFICES = ("HAIKOU_PORT", "YANGPU_BONDED", "MACUN_PORT", "HAIKOU_CBZ")
TIERS = ("advanced", "certified", "regular", "dishonest")


def _decision(number: int, rng: np.random.Generator, share: float) -> dict[str, Any]:
    selected = int(rng.random() < share)
    green = int(selected and rng.random() < 0.1)
    sampling = bool(selected and not green and rng.random() < 0.1)
    return {
        "declaration_id": f"B{number:07d}",
        "risk_score": float(rng.random()),
        "expected_revenue": float(rng.gamma(2.0, 500.0)),
        "selected": selected,
        "lane": ("red_sampling" if sampling else "red") if selected else "green",
        "selection_reason": str(rng.choice(["risk", "random", "tier_floor"])) if selected else "",
        "credit_tier": str(rng.choice(TIERS)),
        "reasons": "declared value per kg is below the reference",
        "lab_accepted": 0,
        "green_channel": green,
        "priority_lane": green,
        "inspection_deadline_hours": 4.0 if green else None,
        "sampling_deadline_days": 2.0 if sampling else None,
        "model_version": "m-bench",
        "policy_version": "policy-bench/gacc-order-282",
        "raw_score": -1.0,
        "base_value": -3.0,
        "contributions": [{"feature": "declared_value", "value": 1.0, "shap": 2.0}],
    }


def fill(store: AuditStore, count: int, share: float, seed: int = 7) -> int:
    """Record ``count`` decisions (in batches) and outcomes for a tenth of the selected."""
    rng = np.random.default_rng(seed)
    start = datetime.now(UTC) - timedelta(hours=3)
    selected: list[str] = []
    for first in range(0, count, 2000):
        rows = []
        for number in range(first, min(first + 2000, count)):
            body = _decision(number, rng, share)
            if body["selected"]:
                selected.append(body["declaration_id"])
            declaration = {
                "declaration_id": body["declaration_id"],
                "declared_value": 1000.0,
                "customs_office": OFFICES[number % len(OFFICES)],
                "importer_id": f"IMP{number % 500:04d}",
            }
            rows.append(
                DecisionRecord.from_request(
                    request_id=f"bench-{number}",
                    declaration=declaration,
                    decision=body,
                    model_version="m-bench",
                    policy_version=body["policy_version"],
                    recorded_at=start + timedelta(seconds=number % 10_000),
                )
            )
        store.record_decisions(rows)
    for declaration_id in selected[::10]:
        store.record_feedback(declaration_id, inspected=True, illicit=False, revenue=0.0)
    return len(selected)


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median and worst wall time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main(argv: list[str] | None = None) -> int:
    """Fill a store, time the queue and the console's pages, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--selected", type=float, default=0.1, help="share selected")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--audit-url", dest="audit_url", help="default: SQLite in a temp dir")
    parser.add_argument("--schema", help="PostgreSQL schema for the tables")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="portsift-console-bench-") as scratch:
        url = args.audit_url or f"sqlite:///{Path(scratch) / 'audit.db'}"
        store = AuditStore.from_url(url, schema=args.schema)
        started = time.perf_counter()
        waiting = fill(store, args.decisions, args.selected)
        print(
            f"{args.decisions:,} decisions, {waiting:,} selected, {len(range(0, waiting, 10)):,} "
            f"with an outcome, recorded in {time.perf_counter() - started:.1f} s ({store.dialect})"
        )
        prefix = f"{args.schema}." if args.schema else ""
        with store.engine.begin() as conn:
            for table in ("decisions", "feedback"):
                conn.execute(text(f"ANALYZE {prefix}{table}"))
        total = store.inspection_queue(QueueFilter(), limit=50).total
        settings = load_settings()
        officer = Officer("bench", "Bench", "supervisor", hash_password("benchmark-password"))
        backend = ConsoleBackend(
            audit=store,
            officers={"bench": officer},
            settings=settings,
            signer=SessionSigner.random(3600),
            throttle=LoginThrottle(5, 900),
        )
        client = TestClient(create_console_app(lambda: backend))
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get("/login").text)
        assert token is not None
        form = {"officer_id": "bench", "password": "benchmark-password", "csrf": token[1]}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303
        deep = max(0, total - 50)
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("queue page 1 (store)", lambda: store.inspection_queue(QueueFilter(), limit=50)),
            (
                f"queue at offset {deep:,} (store)",
                lambda: store.inspection_queue(QueueFilter(), limit=50, offset=deep),
            ),
            (
                "queue lane+office filter (store)",
                lambda: store.inspection_queue(
                    QueueFilter(lane="red", office="HAIKOU_PORT"), limit=50
                ),
            ),
            ("filter menus (store)", store.queue_options),
            ("GET /queue (page)", lambda: client.get("/queue")),
            ("GET /supervisor (page)", lambda: client.get("/supervisor")),
        ]
        print(f"{total:,} waiting in the queue; median and worst of {args.repeat} runs, ms")
        for name, call in cases:
            median, worst = timed(call, args.repeat)
            print(f"  {name:<36} {median:8.1f} {worst:8.1f}")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
