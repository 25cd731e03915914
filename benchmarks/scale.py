"""Rows per second and peak memory of the pandas and Dask engines at 1M-30M rows.

For each size the data is generated in chunks of ``--chunk-rows`` declarations
(``generate_synthetic`` with seed ``seed + k``, chunk ``k`` covering the ``k``-th run of
``--chunk-days`` days; declaration ids are prefixed with the chunk so they stay unique)
and written as one Parquet part per chunk, so that no process ever builds the whole
table for the Dask path. The enterprise register and commodity catalogue are chunk 0's;
the lab reports are all chunks'.

Each engine runs in a fresh spawned process, one after the other:

* **pandas**: the parts are read and validated by the loader and concatenated
  (``portsift.features.parts.load_parts``, as ``--engine pandas`` reads a directory) and
  ``portsift.training.train.train`` runs (no MLflow);
  ``FeaturePipeline.fit_transform`` and ``RiskModel.fit`` are timed inside it. Then the
  hold-out (the latest 20%, as ``train`` holds it out) is scored with
  ``score_declarations(..., explain_rows="selected")``.
* **dask**: a ``LocalCluster`` (2 workers x 1 thread); the parts are read and validated
  on the workers (``portsift.features.dask_loading.load_parts_dask``, as ``--engine dask``
  reads a directory: every contract rule, ids unique across parts);
  ``portsift.training.scale.train_dask`` trains and ``score_dask`` scores the hold-out with
  ``explain_rows="selected"``.

``--raw-read`` reads the parts without the loader instead (``pd.read_parquet`` /
``dd.read_parquet``), as the benchmark did before partitioned input was validated.

Peak memory is the RSS of the engine's process tree (the process and all its children,
so the Dask scheduler's nanny and workers), sampled with psutil every 0.2 s. For Dask it
is also split into the client's own peak and each worker's (``getrusage`` in each
process, :func:`portsift.training.scale.peak_memory`). The load average of the machine is
recorded before and after each run (the machine is shared).

Run from the repository root::

    .venv/bin/python benchmarks/scale.py --rows 1000000 3000000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
GiB = 1024**3


class TreeRss:
    """Peak RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self._root = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        import psutil

        total = 0
        for process in [self._root, *self._root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        self.peak = max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def __enter__(self) -> TreeRss:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def generate_parts(rows: int, chunk_rows: int, chunk_days: int, seed: int, root: Path) -> Path:
    """Write ``rows`` declarations as Parquet parts (and the registers) under ``root``."""
    import pandas as pd

    from portsift.synthetic.generator import generate_synthetic

    target = root / f"rows-{rows}"
    done = target / "_done"
    if done.exists():
        return target
    (target / "declarations").mkdir(parents=True, exist_ok=True)
    labs = []
    start = pd.Timestamp("2015-01-01")
    for k, begin in enumerate(range(0, rows, chunk_rows)):
        n = min(chunk_rows, rows - begin)
        first = start + pd.Timedelta(days=k * chunk_days)
        data = generate_synthetic(n, seed=seed + k, start=str(first.date()), days=chunk_days)
        declarations = data.declarations
        declarations["declaration_id"] = f"c{k:03d}-" + declarations["declaration_id"]
        declarations.to_parquet(target / "declarations" / f"part-{k:05d}.parquet", index=False)
        lab = data.lab_results
        lab["declaration_id"] = f"c{k:03d}-" + lab["declaration_id"]
        labs.append(lab)
        if k == 0:
            data.enterprises.to_parquet(target / "enterprises.parquet", index=False)
            data.commodities.to_parquet(target / "commodities.parquet", index=False)
    pd.concat(labs, ignore_index=True).to_parquet(target / "lab_results.parquet", index=False)
    done.write_text("ok")
    return target


def _registers(root: Path) -> Any:
    import pandas as pd

    from portsift.features.pipeline import Registers

    return Registers(
        enterprises=pd.read_parquet(root / "enterprises.parquet"),
        lab_results=pd.read_parquet(root / "lab_results.parquet"),
        commodities=pd.read_parquet(root / "commodities.parquet"),
    )


def run_pandas(root: Path, work: Path, raw_read: bool) -> dict[str, Any]:
    import functools

    import pandas as pd

    from portsift.features.loading import UNIQUE_KEYS, load_declarations
    from portsift.features.parts import load_parts
    from portsift.features.pipeline import FeaturePipeline
    from portsift.models.bundle import load_bundle
    from portsift.models.policy import SelectionPolicy
    from portsift.models.risk_model import RiskModel
    from portsift.models.scoring import score_declarations
    from portsift.settings import load_settings
    from portsift.training.train import train

    times: dict[str, float] = {}

    def timed(owner: type, name: str, key: str) -> Any:
        original = getattr(owner, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                times[key] = times.get(key, 0.0) + time.perf_counter() - begin

        setattr(owner, name, wrapper)
        return original

    settings = load_settings()
    with TreeRss() as rss:
        begin = time.perf_counter()
        if raw_read:
            parts = sorted((root / "declarations").glob("*.parquet"))
            declarations = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        else:
            load = functools.partial(load_declarations, skip_invalid=False)
            declarations = load_parts(
                root / "declarations", load, UNIQUE_KEYS["declarations"], skip_invalid=False
            ).frame
        registers = _registers(root)
        times["read"] = time.perf_counter() - begin
        rows = len(declarations)
        fit_transform = timed(FeaturePipeline, "fit_transform", "features")
        fit = timed(RiskModel, "fit", "models")
        begin = time.perf_counter()
        result = train(declarations, registers, settings, work / "pandas-model", track=False)
        times["train_total"] = time.perf_counter() - begin
        FeaturePipeline.fit_transform, RiskModel.fit = fit_transform, fit
        train_peak = rss.peak
        start = pd.Timestamp(result.holdout_start)
        holdout = declarations[declarations["declared_at"] >= start].reset_index(drop=True)
        history_rows = rows - len(holdout)
        del declarations
        bundle = load_bundle(result.model_dir)
        begin = time.perf_counter()
        scored = score_declarations(
            bundle,
            holdout,
            registers,
            rate=settings.selection.default_rate,
            policy=SelectionPolicy(settings.selection),
            explain_rows="selected",
        )
        times["score"] = time.perf_counter() - begin
        explained = int(scored.decisions["selected"].sum())
    metrics = result.evaluation.model_metrics() if result.evaluation else {}
    return {
        "rows": rows,
        "history_rows": history_rows,
        "scored_rows": len(holdout),
        "explained_rows": explained,
        "times": times,
        "peak_rss_train_gib": train_peak / GiB,
        "peak_rss_gib": rss.peak / GiB,
        "holdout_auc": metrics.get("holdout_auc"),
        "holdout_precision_at_5": metrics.get("holdout_precision_at_5"),
    }


def run_dask(root: Path, work: Path, workers: int, raw_read: bool) -> dict[str, Any]:
    import dask.dataframe as dd
    import pandas as pd

    from portsift.features.dask_loading import load_parts_dask
    from portsift.features.loading import UNIQUE_KEYS, load_declarations
    from portsift.models.bundle import load_bundle
    from portsift.models.policy import SelectionPolicy
    from portsift.settings import load_settings
    from portsift.training.scale import (
        ClusterConfig,
        dask_client,
        peak_memory,
        score_dask,
        train_dask,
    )

    times: dict[str, float] = {}
    settings = load_settings()
    with TreeRss() as rss, dask_client(ClusterConfig(n_workers=workers)) as client:
        registers = _registers(root)
        begin = time.perf_counter()
        if raw_read:
            declarations = dd.read_parquet(str(root / "declarations"))
        else:
            declarations = load_parts_dask(
                root / "declarations",
                load_declarations,
                UNIQUE_KEYS["declarations"],
                client,
                skip_invalid=False,
            ).frame
        times["read"] = time.perf_counter() - begin
        begin = time.perf_counter()
        result = train_dask(declarations, registers, settings, work / "dask-model", client)
        times["train_total"] = time.perf_counter() - begin
        times.update(result.timings)
        train_peak = rss.peak
        start = pd.Timestamp(result.holdout_start)
        holdout = declarations[declarations["declared_at"] >= start]
        rows = int(declarations["declared_at"].count().compute())
        scored_rows = int(holdout["declared_at"].count().compute())
        bundle = load_bundle(result.model_dir)
        begin = time.perf_counter()
        scored = score_dask(
            bundle,
            holdout,
            registers,
            client,
            rate=settings.selection.default_rate,
            policy=SelectionPolicy(settings.selection),
            explain_rows="selected",
        )
        times["score"] = time.perf_counter() - begin
        explained = int(scored.decisions["selected"].sum())
        memory = peak_memory(client)
    metrics = result.evaluation.model_metrics() if result.evaluation else {}
    return {
        "rows": rows,
        "client_peak_rss_gib": memory.client_bytes / GiB,
        "worker_peak_rss_gib": [b / GiB for b in memory.worker_bytes.values()],
        "history_rows": rows - scored_rows,
        "scored_rows": scored_rows,
        "explained_rows": explained,
        "times": times,
        "peak_rss_train_gib": train_peak / GiB,
        "peak_rss_gib": rss.peak / GiB,
        "holdout_auc": metrics.get("holdout_auc"),
        "holdout_precision_at_5": metrics.get("holdout_precision_at_5"),
    }


def _child(queue: Any, engine: str, root: str, work: str, workers: int, raw_read: bool) -> None:
    sys.path.insert(0, str(REPO))
    try:
        if engine == "pandas":
            queue.put(run_pandas(Path(root), Path(work), raw_read))
        else:
            queue.put(run_dask(Path(root), Path(work), workers, raw_read))
    except BaseException as exc:  # reported, not raised: the parent carries on
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_isolated(
    engine: str, root: Path, work: Path, workers: int, raw_read: bool
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    arguments = (queue, engine, str(root), str(work), workers, raw_read)
    process = context.Process(target=_child, args=arguments)
    load_before = os.getloadavg()
    process.start()
    result = queue.get()
    process.join()
    result["engine"] = engine
    result["load_average_before"] = list(load_before)
    result["load_average_after"] = list(os.getloadavg())
    return result


def rates(r: dict[str, Any]) -> dict[str, float | None]:
    t = r["times"]
    return {
        "features_rows_s": r["history_rows"] / t["features"] if t.get("features") else None,
        "models_rows_s": r["history_rows"] / t["models"] if t.get("models") else None,
        "train_rows_s": r["rows"] / t["train_total"] if t.get("train_total") else None,
        "score_rows_s": r["scored_rows"] / t["score"] if t.get("score") else None,
    }


def format_table(results: list[dict[str, Any]]) -> str:
    header = (
        "| engine | rows | features s (rows/s) | models s (rows/s) | train total s (rows/s) | "
        "score hold-out s (rows/s) | peak RSS train GiB | peak RSS GiB | client peak GiB | "
        "workers peak GiB | AUC | P@5% |"
    )
    lines = [header, "|" + "---|" * 12]
    for r in results:
        if "error" in r or r.get("skipped"):
            why = r.get("error") or r.get("skipped")
            lines.append(f"| {r['engine']} | {r['rows']:,} | {why} |" + " |" * 9)
            continue
        t, q = r["times"], rates(r)

        def cell(seconds: float | None, rate: float | None) -> str:
            return "-" if seconds is None else f"{seconds:,.1f} ({rate:,.0f})"

        lines.append(
            f"| {r['engine']} | {r['rows']:,} | {cell(t.get('features'), q['features_rows_s'])} | "
            f"{cell(t.get('models'), q['models_rows_s'])} | "
            f"{cell(t.get('train_total'), q['train_rows_s'])} | "
            f"{cell(t.get('score'), q['score_rows_s'])} | {r['peak_rss_train_gib']:.2f} | "
            f"{r['peak_rss_gib']:.2f} | {_client(r)} | {_workers(r)} | {r['holdout_auc']:.4f} | "
            f"{r['holdout_precision_at_5']:.4f} |"
        )
    return "\n".join(lines)


def _client(result: dict[str, Any]) -> str:
    # pandas has no client apart: its one process is the whole tree.
    peak = result.get("client_peak_rss_gib")
    return "-" if peak is None else f"{peak:.2f}"


def _workers(result: dict[str, Any]) -> str:
    peaks = result.get("worker_peak_rss_gib")
    return "-" if not peaks else " + ".join(f"{p:.2f}" for p in peaks)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for engine, marker in (("pandas", "o"), ("dask", "s")):
        done = [r for r in results if r["engine"] == engine and "times" in r]
        if not done:
            continue
        rows = [r["rows"] / 1e6 for r in done]
        left.plot(
            rows, [r["times"]["train_total"] for r in done], marker=marker, label=f"{engine} train"
        )
        left.plot(
            rows,
            [r["times"]["score"] for r in done],
            marker=marker,
            linestyle="--",
            label=f"{engine} score hold-out",
        )
        right.plot(rows, [r["peak_rss_gib"] for r in done], marker=marker, label=f"{engine} tree")
        if engine == "dask":
            right.plot(
                rows,
                [r["client_peak_rss_gib"] for r in done],
                marker=marker,
                linestyle="--",
                label="dask client",
            )
            right.plot(
                rows,
                [sum(r["worker_peak_rss_gib"]) for r in done],
                marker=marker,
                linestyle=":",
                label="dask workers (sum of peaks)",
            )
    left.set(xlabel="declarations (millions)", ylabel="wall seconds", title="Time")
    right.set(
        xlabel="declarations (millions)", ylabel="peak RSS of process tree (GiB)", title="Memory"
    )
    # Issue 11's targets: pandas at 3M, the Dask client and process tree at 10M.
    for target, text in ((8, "pandas 3M target"), (2, "client target"), (12, "tree target")):
        right.axhline(target, color="grey", linewidth=0.8, linestyle=":")
        right.annotate(text, (0, target), xycoords=("axes fraction", "data"), fontsize=7)
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--engines", nargs="+", default=["pandas", "dask"])
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--chunk-days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="Dask local workers")
    parser.add_argument(
        "--pandas-max-rows",
        type=int,
        default=3_000_000,
        help="skip the pandas engine above this size (it holds everything in one process)",
    )
    parser.add_argument(
        "--raw-read",
        action="store_true",
        help="read the parts without the loader's validation (pd/dd.read_parquet)",
    )
    parser.add_argument("--data", type=Path, default=Path("/tmp/portsift-scale-data"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    json_path = args.out / "scale.json"
    for rows in args.rows:
        begin = time.perf_counter()
        root = generate_parts(rows, args.chunk_rows, args.chunk_days, args.seed, args.data)
        print(f"{rows:,} rows generated in {time.perf_counter() - begin:.0f}s: {root}", flush=True)
        for engine in args.engines:
            if engine == "pandas" and rows > args.pandas_max_rows:
                results.append({"engine": engine, "rows": rows, "skipped": "skipped (memory)"})
                continue
            work = args.data / "work" / f"{engine}-{rows}"
            result = run_isolated(engine, root, work, args.workers, args.raw_read)
            result.setdefault("rows", rows)
            results.append(result)
            print(json.dumps(result), flush=True)
            json_path.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
    table = format_table(results)
    command = "python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "scale.md").write_text(f"`{command}`\n\n{table}\n")
    plot(results, args.out / "scale.png")
    print(table)
    return 0


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "platform": platform.platform(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
