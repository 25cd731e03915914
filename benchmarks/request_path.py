"""What each stage of the API's request path costs, in process, per declaration.

Loads :class:`portsift.serving.app.DecisionService` with the bundle of ``--model-dir`` (a
fresh SQLite audit store in a temporary directory) and runs the stages of one decision
one after the other, as :meth:`DecisionService.score_requests` does, on the latest
declarations of ``--data-dir`` (through the API's pydantic ``Declaration`` model, as the
server gives them): the fast JSON reader, the compiled features, the two model
predictions, the real-time policy, TreeSHAP, the reasons, the decision objects, the
audit record (the input's hash), the audit commit and the answer's JSON; then the whole
:meth:`DecisionService.score`. Each stage is timed ``--repeat`` times for one
declaration and for batches of ``--batch-size``, cycling through the declarations.

It prints, per stage, the median wall time and the median CPU time of this thread (which
another process's load on the machine disturbs less), per declaration, and the CPU the
rest of the machine used meanwhile ("others' CPU", as ``benchmarks/serve.py`` reports
it). TreeSHAP and the audit commit release the GIL, and run in this thread all the same.
The server adds to this its HTTP stack, the pydantic validation of the body and the hop
to the batching thread (``benchmarks/serve.py`` measures those against a bare service).
``--profile N`` prints instead the ``N`` costliest functions of ``score`` under cProfile::

    .venv/bin/python benchmarks/request_path.py
    .venv/bin/python benchmarks/request_path.py --profile 40

``--measures`` serves with the data's ``disclosures.csv`` and ``rulings.csv`` (what
measures 22 and 12 add to a request).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
import pydantic_core
from pydantic import TypeAdapter

REPO = Path(__file__).resolve().parents[1]
# Appended, not prepended: run with PYTHONPATH pointing at another copy of the package,
# the script measures that copy (the before of a before/after).
sys.path.append(str(REPO))
# The editable install's finder answers before any path entry: when PYTHONPATH holds
# another copy of the package (laid out as installed, ``portsift/models``, ...), drop the
# finder so that the copy is the one imported.
if any(
    (Path(entry) / "portsift" / "__init__.py").exists()
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if entry
):
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]

from benchmarks.serve import load_records  # noqa: E402
from portsift.features.online import columns_from_records  # noqa: E402
from portsift.models import explain  # noqa: E402
from portsift.models.scoring import model_scores, policy_inputs, score_online  # noqa: E402
from portsift.serving.api_models import Declaration, declaration_record  # noqa: E402
from portsift.serving.app import DecisionService  # noqa: E402
from portsift.serving.auth import TokenVerifier  # noqa: E402
from portsift.store.audit_records import DecisionRecord  # noqa: E402


def _busy_s() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq)


def stages(service: DecisionService, records: list[dict[str, Any]]) -> dict[str, Callable]:
    """The stages of one call of the request path on ``records``, each a function."""
    bundle, online, model = service.bundle, service.online, service.bundle.model
    assert online is not None, "the bundle's pipeline is not compiled: no per-request path"
    weight, threads = service.revenue_weight, service.num_threads
    columns = columns_from_records([dict(r) for r in records])
    assert columns is not None, "the declarations are not clean JSON"
    features = online.transform(columns)
    scores = model_scores(model, features, revenue_weight=weight, num_threads=threads)
    inputs = policy_inputs(features, scores)
    contrib = model.contributions(scores.x, num_threads=threads)
    explanation = explain.explanation_from_contrib(contrib, model.risk_features)
    scored = score_online(
        bundle, online, columns, policy=service.policy, revenue_weight=weight, num_threads=threads
    )
    # The risk-feature matrix is handed on where this version of the code has it.
    matrix = getattr(scored, "risk_matrix", None)
    shown = (scored.decisions, scored.explanation, scored.features)
    parts = shown if matrix is None else (*shown, matrix)
    decisions = service._decisions(*parts)

    def audit_rows() -> list[DecisionRecord]:
        batch = uuid.uuid4().hex
        return [
            DecisionRecord.from_request(
                request_id=f"{batch}-{k}",
                declaration=record,
                decision={**decision, "request_id": f"{batch}-{k}"},
                model_version=decision["model_version"],
                policy_version=decision["policy_version"],
            )
            for k, (record, decision) in enumerate(zip(records, decisions, strict=True))
        ]

    return {
        "JSON records to columns": lambda: columns_from_records([dict(r) for r in records]),
        "features (compiled pipeline)": lambda: online.transform(columns),
        "risk + revenue predictions": lambda: model_scores(
            model, features, revenue_weight=weight, num_threads=threads
        ),
        "real-time policy": lambda: service.policy.decide_online_columns(inputs),
        "TreeSHAP (pred_contrib)": lambda: model.contributions(scores.x, num_threads=threads),
        "reasons": lambda: explain.reason_texts(features, explanation, count=3),
        "= score_online (all of the above but the reader)": lambda: score_online(
            bundle,
            online,
            columns,
            policy=service.policy,
            revenue_weight=weight,
            num_threads=threads,
        ),
        "decision objects": lambda: service._decisions(*parts),
        "audit records (input hash)": audit_rows,
        "audit records + commit (JSON, insert, fsync)": lambda: service.audit.record_decisions(
            audit_rows()
        ),
        "answer JSON": lambda: pydantic_core.to_json(decisions),
        # New declaration ids each call: the same declaration sent again is answered from
        # the audit store (a repeat), which is not the path a new declaration takes.
        "DecisionService.score, whole": lambda: service.score(_fresh(records)),
    }


def _fresh(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records under declaration ids never sent before (the id is not a feature)."""
    tag = uuid.uuid4().hex[:12]
    return [{**r, "declaration_id": f"{r['declaration_id']}-{tag}"} for r in records]


def measure(
    service: DecisionService, pool: list[dict[str, Any]], size: int, repeat: int
) -> dict[str, tuple[float, float]]:
    """Median wall and thread-CPU microseconds per declaration of every stage.

    The bodies cycle through ``pool`` (windows of ``size``); every stage runs once on
    each body before the clock, then ``repeat`` times, the stages interleaved so that a
    change of the machine's load touches all of them alike.
    """
    bodies = [[pool[(k * 37 + i) % len(pool)] for i in range(size)] for k in range(8)]
    calls = [stages(service, body) for body in bodies]
    for staged in calls:
        for run in staged.values():
            run()
    wall: dict[str, list[float]] = {name: [] for name in calls[0]}
    cpu: dict[str, list[float]] = {name: [] for name in calls[0]}
    for k in range(repeat):
        for name, run in calls[k % len(calls)].items():
            w, c = time.perf_counter(), time.thread_time()
            run()
            cpu[name].append(time.thread_time() - c)
            wall[name].append(time.perf_counter() - w)
    per = 1e6 / size
    return {
        name: (per * statistics.median(wall[name]), per * statistics.median(cpu[name]))
        for name in wall
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the cost of every stage (or a profile of ``score``)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "demo" / "model")
    parser.add_argument("--data-dir", type=Path, default=REPO / "demo" / "data")
    parser.add_argument("--declarations", type=int, default=300, help="distinct ones (300)")
    parser.add_argument("--batch-size", type=int, default=100, help="declarations a batch (100)")
    parser.add_argument("--repeat", type=int, default=400, help="timed calls per stage (400)")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile: the N costliest")
    parser.add_argument(
        "--measures",
        action="store_true",
        help="serve with --data-dir's disclosures.csv and rulings.csv (measures 22 and 12)",
    )
    args = parser.parse_args(argv)
    registers = (
        {
            "disclosures": str(args.data_dir / "disclosures.csv"),
            "rulings": str(args.data_dir / "rulings.csv"),
        }
        if args.measures
        else {}
    )
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as portsift serve runs LightGBM
    adapter: TypeAdapter[Any] = TypeAdapter(Declaration)
    pool = [
        declaration_record(adapter.validate_python(r))
        for r in load_records(args.data_dir, args.declarations)
    ]
    with tempfile.TemporaryDirectory(prefix="portsift-request-path-") as tmp:
        service = DecisionService.load(
            args.model_dir,
            audit_url=f"sqlite:///{Path(tmp) / 'audit.db'}",
            verifier=TokenVerifier(),
            **registers,
        )
        try:
            if args.profile:
                for record in pool:
                    service.score([record])
                profile = cProfile.Profile()
                profile.enable()
                for k in range(args.repeat):
                    service.score(_fresh([pool[k % len(pool)]]))
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
                return 0
            load = os.getloadavg()[0]
            busy, own, start = _busy_s(), time.process_time(), time.perf_counter()
            one = measure(service, pool, 1, args.repeat)
            many = measure(service, pool, args.batch_size, max(8, args.repeat // 10))
            wall = time.perf_counter() - start
            others = max(0.0, _busy_s() - busy - (time.process_time() - own)) / wall
        finally:
            service.close()
    print(
        f"package {Path(explain.__file__).parents[1]}; "
        f"{len(os.sched_getaffinity(0))} cores, load average {load:.2f} at start; others' CPU "
        f"{others:.2f} cores during the run; {args.repeat} calls a stage for one declaration, "
        f"{max(8, args.repeat // 10)} for batches of {args.batch_size}"
    )
    print()
    print(
        f"| stage | 1 declaration: wall µs | CPU µs | batch of {args.batch_size}: wall µs "
        "a declaration | CPU µs |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, (w1, c1) in one.items():
        wb, cb = many[name]
        print(f"| {name} | {w1:,.0f} | {c1:,.0f} | {wb:,.1f} | {cb:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
