"""The Dask client's resident memory per stage of ``benchmarks/scale.py``'s Dask run.

Runs :func:`scale.run_dask` (train, then score the hold-out) on the parts that
``benchmarks/scale.py`` generated, with the stages of the Dask flow wrapped so that a
thread sampling this (the client's) process every 50 ms files each sample under the
stage running then. For each stage it prints the highest RSS seen while it ran and
the process's peak RSS when it began; run at two sizes, the difference per million rows
is what the client holds per row in that stage. A stage name ending in ``~`` is the code
of the enclosing stage between its wrapped calls.

Run from the repository root (the parts are ``benchmarks/scale.py``'s, made if missing)::

    .venv/bin/python benchmarks/scale_stages.py --rows 500000
    .venv/bin/python benchmarks/scale_stages.py --rows 1000000
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale as bench  # the benchmark beside this file

GIB = 1024**3


class StageMemory:
    """Highest RSS per stage of this process, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._lock = threading.Lock()
        self.current = "start"
        self.order: list[str] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.mark("start")
        threading.Thread(target=self._run, daemon=True).start()

    def mark(self, name: str) -> None:
        """Make ``name`` the running stage."""
        with self._lock:
            self.current = name
            if name not in self.stats:
                self.order.append(name)
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                self.stats[name] = {"max_rss": 0, "peak_before": peak}

    def _run(self) -> None:
        while True:
            rss = self._process.memory_info().rss
            with self._lock:
                stage = self.stats[self.current]
                stage["max_rss"] = max(stage["max_rss"], rss)
            time.sleep(self._interval)

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        """Replace ``owner.name`` by a wrapper that marks its stage while it runs."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            outer = self.current
            self.mark(label or name)
            try:
                return original(*args, **kwargs)
            finally:
                self.mark(outer if outer.endswith("~") else outer + "~")

        setattr(owner, name, wrapper)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--data", type=Path, default=Path("/tmp/portsift-scale-data"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    memory = StageMemory()
    import portsift.features.dask_loading as dask_loading
    import portsift.features.dask_pipeline as dask_pipeline
    import portsift.training.baselines as baselines
    import portsift.training.dask_boosting as dask_boosting
    import portsift.training.dask_runs as dask_runs
    import portsift.training.dask_scoring as dask_scoring
    import portsift.training.scale as scale

    for owner, name, label in (
        (dask_loading, "load_parts_dask", None),
        (scale, "train_dask", None),
        (scale, "holdout_start", None),
        (scale, "fit_transform_dask", None),
        (dask_pipeline, "_combine_states", None),
        (dask_pipeline, "_vocabulary", None),
        (scale, "fit_model_dask", None),
        (dask_boosting, "_in_training_slice", None),
        (dask_boosting, "_stopped", "_stopped (early stopping on the validation slice)"),
        (dask_boosting, "_fit_regressor", None),
        (baselines.DateGBDT, "fit", "DateGBDT.fit"),
        (scale, "build_reference", None),
        (scale, "fingerprint_dask", None),
        (scale, "unsearched", None),
        (scale, "evaluate_holdout_dask", None),
        (dask_runs, "score_dask", "hold-out: score_dask"),
        (dask_scoring, "decide_batch", None),
        (dask_runs, "evaluate_scored", "hold-out: evaluate_scored"),
        (dask_runs, "recent_state", "hold-out: recent_state"),
        (scale, "save_bundle", None),
        (scale, "score_dask", "benchmark: score_dask"),
    ):
        memory.wrap(owner, name, label)
    # The parts of benchmarks/scale.py at its default chunks and seed: reused when that
    # script (or an earlier run of this one) made them, generated otherwise.
    root = bench.generate_parts(args.rows, 250_000, 90, 0, args.data)
    result = bench.run_dask(root, args.data / "work" / f"stages-{args.rows}", args.workers, False)
    memory.mark("end")
    time.sleep(0.2)
    print(json.dumps({k: v for k, v in result.items() if k != "times"}))
    for name in memory.order:
        stage = memory.stats[name]
        # A stage shorter than one sampling interval has no sample of its own.
        seen = f"{stage['max_rss'] / GIB:6.3f} GiB" if stage["max_rss"] else "     - (no sample)"
        print(f"{name:50s} max RSS {seen}  peak before {stage['peak_before'] / GIB:6.3f} GiB")
    if args.out:
        figures = {"rows": args.rows, "order": memory.order, "stats": memory.stats}
        args.out.write_text(json.dumps({**figures, "result": result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
