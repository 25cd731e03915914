"""TreeSHAP: portsift's tables (``portsift.models.tree_shap``) against ``pred_contrib``.

Loads the bundle of ``--model-dir`` as the API does (:class:`DecisionService`, a fresh
SQLite audit store in a temporary directory), builds the risk feature matrix of the
latest ``--declarations`` declarations of ``--data-dir`` through the compiled pipeline,
and times, for one row and for batches of 100 and 2,000 rows (cycling through the
declarations), the compiled tables against LightGBM's ``predict(pred_contrib=True,
num_threads=1)`` on the risk booster. It prints the median and the 10th-90th percentile
wall time per call, the speed-up, the time to compile the tables, the load average, and
the largest absolute difference between the two on every declaration::

    .venv/bin/python benchmarks/tree_shap.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))

from benchmarks.serve import load_records  # noqa: E402
from portsift.features.online import columns_from_records  # noqa: E402
from portsift.models.risk_model import feature_matrix  # noqa: E402
from portsift.models.tree_shap import TreeShap  # noqa: E402
from portsift.serving.api_models import Declaration, declaration_record  # noqa: E402
from portsift.serving.app import DecisionService  # noqa: E402
from portsift.serving.auth import TokenVerifier  # noqa: E402


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` calls (after one untimed warm-up call)."""
    call()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def cpu(call: Callable[[], object], repeat: int) -> float:
    """Median CPU seconds of this thread per call (others' load disturbs it less)."""
    out = []
    for _ in range(repeat):
        start = time.thread_time()
        call()
        out.append(time.thread_time() - start)
    return statistics.median(out)


def summary(seconds: list[float]) -> tuple[float, float, float]:
    """Median, 10th and 90th percentile, in microseconds."""
    deciles = statistics.quantiles(seconds, n=10)
    return statistics.median(seconds) * 1e6, deciles[0] * 1e6, deciles[-1] * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    """Print both timings per batch size and the largest difference."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "demo" / "model")
    parser.add_argument("--data-dir", type=Path, default=REPO / "demo" / "data")
    parser.add_argument("--declarations", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per size (200)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    adapter: TypeAdapter[Declaration] = TypeAdapter(Declaration)
    records = [
        declaration_record(adapter.validate_python(r))
        for r in load_records(args.data_dir, args.declarations)
    ]
    with tempfile.TemporaryDirectory(prefix="portsift-tree-shap-") as tmp:
        service = DecisionService.load(
            args.model_dir,
            audit_url=f"sqlite:///{Path(tmp) / 'audit.db'}",
            verifier=TokenVerifier(),
        )
        assert service.online is not None, "the bundle's pipeline is not compiled"
        columns = columns_from_records([dict(r) for r in records])
        assert columns is not None, "the declarations are not clean JSON"
        model = service.bundle.model
        x = feature_matrix(service.online.transform(columns), model.risk_features)
        # Closed before timing: a live service's threads take the GIL between the
        # tables' numpy calls (one pred_contrib call releases it once) and skew the race.
        service.close()
    booster = model.classifier_
    start = time.perf_counter()
    explainer = TreeShap(booster)
    compile_ms = (time.perf_counter() - start) * 1e3
    ours = explainer.contributions(x)
    theirs = booster.predict(x, pred_contrib=True, num_threads=1)
    raw = booster.predict(x, raw_score=True, num_threads=1)
    print(
        f"booster: {booster.num_trees()} trees, {booster.num_feature()} features; "
        f"tables compiled: {explainer.compiled} in {compile_ms:.0f} ms; "
        f"{len(x)} declarations of {args.data_dir}"
    )
    print(
        f"max |ours - pred_contrib| = {np.abs(ours - theirs).max():.3g}; "
        f"max |base + sum - raw_score| = {np.abs(ours.sum(axis=1) - raw).max():.3g}"
    )
    print(f"load average before timing: {os.getloadavg()}")
    for size in (1, 100, 2000):
        repeat = max(20, args.repeat // max(1, size // 100))
        batches = [x[i : i + size] for i in range(0, len(x) - size + 1, max(size, 1))][:50]
        state = {"i": 0}

        def nxt(batches: list[np.ndarray] = batches, state: dict[str, int] = state) -> np.ndarray:
            state["i"] = (state["i"] + 1) % len(batches)
            return batches[state["i"]]

        ours_call = lambda: explainer.contributions(nxt())  # noqa: E731
        lgbm_call = lambda: booster.predict(nxt(), pred_contrib=True, num_threads=1)  # noqa: E731
        mine, lgbm = summary(timed(ours_call, repeat)), summary(timed(lgbm_call, repeat))
        mine_cpu, lgbm_cpu = cpu(ours_call, repeat) * 1e6, cpu(lgbm_call, repeat) * 1e6
        print(
            f"batch of {size:>4}: tables {mine[0]:7.0f} us wall"
            f" (p10-p90 {mine[1]:.0f}-{mine[2]:.0f}) {mine_cpu:7.0f} us cpu"
            f" | pred_contrib {lgbm[0]:7.0f} us wall"
            f" (p10-p90 {lgbm[1]:.0f}-{lgbm[2]:.0f}) {lgbm_cpu:7.0f} us cpu"
            f" | speed-up {lgbm[0] / mine[0]:4.1f}x wall, {lgbm_cpu / mine_cpu:4.1f}x cpu"
            f" | {repeat} calls"
        )
    print(f"load average after timing: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
