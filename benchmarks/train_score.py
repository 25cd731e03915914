"""Benchmark feature building, LightGBM training, scoring and SHAP against data size.

Why this file stays whole (just over 600 lines): one script run by path, whose measuring
helpers (RSS sampler, CPU spans, method timers) serve only its own stages. The machine
facts it records are not the ones ``serve.py`` and ``scale.py`` record (each result file
has its own fields, quoted by ``docs/figures.md``), so a shared helper module would change
what the result files hold.

For each size it generates synthetic declarations (``generate_synthetic``), sorts them
and holds out the latest share exactly as ``portsift train`` does (``split_by_time``
with the settings' ``holdout_fraction``), then measures, each timed on its own:

* features for training: ``FeaturePipeline.fit_transform`` on the history, timed by a
  wrapper around the method while ``portsift.training.train.fit`` runs;
* LightGBM training: ``RiskModel.fit`` (classifier with early stopping, calibration,
  revenue regressor) inside the same ``portsift.training.train.fit`` call, with the
  shipped settings (``load_settings()``); the classifier alone and the DATE baseline
  are reported beside it;
* the same ``RiskModel.fit`` once more with ``n_jobs=1`` (same arguments, captured from
  ``fit``), a check that holds up when another process takes one of the two cores;
* features for scoring: ``FeaturePipeline.transform`` on the hold-out;
* scoring: ``score_declarations(..., explain_rows=False)`` minus the ``transform`` it
  runs inside, and the booster ``predict`` plus calibration alone at 1 and 2 threads;
* SHAP: ``RiskModel.contributions`` on a sample of 5,000 hold-out rows, 1 and 2 threads;
* peak RSS of the process, sampled with psutil every 20 ms (and the kernel's
  ``ru_maxrss``).

Every stage shows its wall seconds, this process's CPU seconds (all threads) and the
CPU seconds the rest of the machine used during the same span: on the shared 2-core
machine, "others' CPU" near the wall time means one core was taken by someone else's
work, and the 2-thread stages (LightGBM's default) then run on one core or worse.

Each size runs in a fresh (spawned) process, one after the other, so that peak RSS is
per size. When feature building takes longer than LightGBM training at a size (than
the faster of the two ``RiskModel.fit`` runs), or with ``--profile always``,
``fit_transform`` is then profiled with cProfile (outside the timings) and the project
functions that dominate are printed with their share of the profiled time; the
profile is saved beside the JSON.

Run from the repository root::

    .venv/bin/python benchmarks/train_score.py --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import multiprocessing
import os
import platform
import pstats
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHAP_SAMPLE = 5_000
RSS_INTERVAL_S = 0.02


# -- measurement helpers --------------------------------------------------------------


class RssSampler:
    """Sample this process's RSS with psutil in a background thread."""

    def __init__(self, interval: float = RSS_INTERVAL_S) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak = self._process.memory_info().rss
        self._stage_peak = self.peak

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> int:
        rss = self._process.memory_info().rss
        self.peak = max(self.peak, rss)
        self._stage_peak = max(self._stage_peak, rss)
        return rss

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def stage_peak(self) -> int:
        """Return the peak since the previous call and start a new stage."""
        current = self.sample()
        peak, self._stage_peak = self._stage_peak, current
        return peak


def _snapshot() -> tuple[float, float, float]:
    """Wall clock, this process's CPU time, and the machine's busy CPU time."""
    import psutil

    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + t.irq + t.softirq
    return time.perf_counter(), time.process_time(), busy


def _add_span(times: dict[str, Any], key: str, begin: tuple[float, float, float]) -> None:
    """Add the span since ``begin`` to ``times``: wall, own CPU, other processes' CPU.

    ``key`` gets the wall seconds, ``key_cpu`` this process's CPU seconds (all threads;
    OpenMP threads spinning at a barrier count too) and ``key_others`` the CPU seconds
    that the rest of the machine used meanwhile (a measure of contention).
    """
    end = _snapshot()
    cpu = end[1] - begin[1]
    for suffix, value in (
        ("", end[0] - begin[0]),
        ("_cpu", cpu),
        ("_others", end[2] - begin[2] - cpu),
    ):
        times[key + suffix] = times.get(key + suffix, 0.0) + value


@contextlib.contextmanager
def timed_methods(targets: list[tuple[type, str, str]], times: dict[str, Any]) -> Iterator[None]:
    """Wrap ``owner.name`` for each ``(owner, name, key)``; add each call's span to ``key``."""
    originals = []
    for owner, name, key in targets:
        original = owner.__dict__[name]
        originals.append((owner, name, original))

        def wrapper(
            self: Any, *args: Any, _original: Callable = original, _key: str = key, **kwargs: Any
        ) -> Any:
            begin = _snapshot()
            try:
                return _original(self, *args, **kwargs)
            finally:
                _add_span(times, _key, begin)

        setattr(owner, name, wrapper)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


@contextlib.contextmanager
def capture_calls(owner: type, name: str, calls: list[tuple[tuple, dict]]) -> Iterator[None]:
    """Record the arguments of every call of ``owner.name`` while the block runs."""
    original = owner.__dict__[name]

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return original(self, *args, **kwargs)

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def clock(function: Callable[[], Any], result: dict[str, Any], key: str) -> Any:
    """Call ``function`` and store its span as ``key``, ``key_cpu`` and ``key_others``."""
    begin = _snapshot()
    value = function()
    _add_span(result, key, begin)
    return value


def source_state() -> dict[str, Any]:
    """The commit and a hash of the working-tree sources this run imported.

    Other engineers edit the same tree, so the commit alone does not say what ran.
    """
    import hashlib
    import subprocess

    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    digest = hashlib.sha256()
    for package in ("features", "models", "training", "portsift"):
        for path in sorted((REPO / package).glob("*.py")) + sorted((REPO / package).glob("*.toml")):
            digest.update(path.relative_to(REPO).as_posix().encode())
            digest.update(path.read_bytes())
    return {"commit": commit, "sources_sha256": digest.hexdigest()[:16]}


def machine_facts() -> dict[str, Any]:
    """CPU, cores and library versions of this run."""
    import lightgbm
    import numpy
    import pandas
    import psutil

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "source": source_state(),
        "nproc": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "lightgbm": lightgbm.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
    }


# -- one size (runs in its own process) ----------------------------------------------


def profile_features(pipeline: Any, history: Any, registers: Any, out: Path) -> dict[str, Any]:
    """Profile ``fit_transform`` with cProfile; return the dominant functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    pipeline.fit_transform(history, registers)
    profiler.disable()
    profiler.dump_stats(str(out))
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = max(value[3] for key, value in raw.items() if key[2] == "fit_transform")

    def where(key: tuple[str, int, str]) -> str:
        file, line, name = key
        if "site-packages/" in file:
            return f"{file.split('site-packages/', 1)[1]}:{name}"
        with contextlib.suppress(ValueError):
            return f"{Path(file).relative_to(REPO)}:{name}"
        return f"{Path(file).name}:{line}:{name}"

    def in_project(key: tuple[str, int, str]) -> bool:
        return key[0].startswith(str(REPO)) and "/.venv/" not in key[0]

    # Own time of a project function: its cumulative time minus the time spent in the
    # project functions it calls, i.e. its own lines plus the library calls it makes.
    own = {key: value[3] for key, value in raw.items() if in_project(key)}
    for callee, value in raw.items():
        if in_project(callee):
            for caller, (_cc, _nc, _tt, cumulative) in value[4].items():
                if caller in own and caller != callee:
                    own[caller] -= cumulative
    by_cumulative = sorted(own, key=lambda key: raw[key][3], reverse=True)
    by_self = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)
    return {
        "profile_file": str(out),
        "profiled_seconds": total,
        "project_functions": [
            {
                "function": where(key),
                "calls": raw[key][1],
                "cumulative_s": raw[key][3],
                "cumulative_share": raw[key][3] / total,
                "own_s": own[key],
                "own_share": own[key] / total,
            }
            for key in by_cumulative[:20]
        ],
        "all_by_self_time": [
            {
                "function": where(key),
                "calls": value[1],
                "self_s": value[2],
                "share": value[2] / total,
            }
            for key, value in by_self[:12]
        ],
    }


def run_size(
    rows: int, seed: int, profile: str, out_dir: str, single_thread: bool
) -> dict[str, Any]:
    """Measure every stage for one data size."""
    import numpy as np

    from portsift.features.pipeline import FeaturePipeline, Registers
    from portsift.models.bundle import Bundle
    from portsift.models.risk_model import RiskModel
    from portsift.models.scoring import score_declarations
    from portsift.settings import load_settings
    from portsift.synthetic.generator import generate_synthetic
    from portsift.training import train as train_module
    from portsift.training.baselines import DateGBDT

    rss = RssSampler().start()
    result: dict[str, Any] = {"rows": rows, "seed": seed, "source": source_state()}
    peaks: dict[str, float] = {}
    mib = 2**20

    settings = load_settings()
    data = clock(lambda: generate_synthetic(rows=rows, seed=seed), result, "generate_s")
    registers = Registers(data.enterprises, data.lab_results, data.commodities)
    ordered = data.declarations.sort_values("declared_at", kind="stable")
    del data
    history, holdout, holdout_start = train_module.split_by_time(
        ordered, settings.training.holdout_fraction
    )
    result.update(
        history_rows=len(history),
        holdout_rows=len(holdout),
        holdout_start=str(holdout_start.date()),
        history_labelled=int(((history["inspected"] == 1) & history["illicit"].notna()).sum()),
    )
    peaks["generate"] = rss.stage_peak() / mib

    # (a) and (b): training.train.fit, with its feature and model steps timed from inside.
    targets = [
        (FeaturePipeline, "fit_transform", "features_fit_s"),
        (RiskModel, "fit", "risk_model_fit_s"),
        (RiskModel, "_fit_classifier", "classifier_s"),
        (RiskModel, "_fit_regressor", "regressor_s"),
        (DateGBDT, "fit", "date_baseline_s"),
    ]
    inits: list[tuple[tuple, dict]] = []
    fits: list[tuple[tuple, dict]] = []
    with (
        timed_methods(targets, result),
        capture_calls(RiskModel, "__init__", inits),
        capture_calls(RiskModel, "fit", fits),
    ):
        fitted = clock(
            lambda: train_module.fit(history, registers, settings), result, "train_fit_total_s"
        )
    pipeline, model = fitted.pipeline, fitted.model
    result["model_shape"] = fitted.shape.reason
    del fitted
    peaks["train.fit"] = rss.stage_peak() / mib

    # (b') the same RiskModel.fit on one thread: OpenMP's two threads stall when another
    # process holds a core, one thread only shares the core (a contention-robust check).
    if single_thread:
        # The last fit is the chosen shape's, with its revenue model (the shape search's
        # trials before it fit the classifier only).
        (init_args, init_kwargs), (fit_args, fit_kwargs) = inits[-1], fits[-1]
        single = RiskModel(*init_args, **{**init_kwargs, "n_jobs": 1})
        with timed_methods([(RiskModel, "_fit_classifier", "classifier_1t_s")], result):
            clock(lambda: single.fit(*fit_args, **fit_kwargs), result, "risk_model_fit_1t_s")
        result["trees_kept_1t"] = int(single.classifier_.best_iteration)
        del single, fit_args, fit_kwargs
        peaks["RiskModel.fit, 1 thread"] = rss.stage_peak() / mib
    inits.clear()
    fits.clear()  # it holds the training features
    result.setdefault("regressor_s", 0.0)
    result.update(
        trees_trained=int(model.classifier_.num_trees()),
        trees_kept=int(model.classifier_.best_iteration or model.classifier_.num_trees()),
        risk_features=len(model.risk_features),
        calibration=model.metadata()["calibration"].get("method", "isotonic"),
    )

    # (a) features for scoring.
    features = clock(lambda: pipeline.transform(holdout, registers), result, "features_transform_s")
    peaks["transform"] = rss.stage_peak() / mib

    # (c) scoring: score_declarations without explanations, minus its own transform.
    # Pass what ``portsift.training.train.evaluate_bundle_on`` passes from the selection settings.
    selection = settings.selection.model_dump()
    policy = {k: selection[k] for k in ("revenue_weight",) if k in selection}
    bundle = Bundle(
        path=Path("<in-memory>"),
        pipeline=pipeline,
        model=model,
        enterprises=registers.enterprises,
        commodities=registers.commodities,
        metadata={},
    )
    inner: dict[str, float] = {}
    with timed_methods([(FeaturePipeline, "transform", "transform")], inner):
        clock(
            lambda: score_declarations(
                bundle,
                holdout,
                registers,
                rate=settings.selection.default_rate,
                explain_rows=False,
                **policy,
            ),
            result,
            "score_declarations_s",
        )
    result.update(
        score_inner_transform_s=inner["transform"],
        score_minus_features_s=result["score_declarations_s"] - inner["transform"],
        score_minus_features_s_cpu=result["score_declarations_s_cpu"] - inner["transform_cpu"],
        score_minus_features_s_others=(
            result["score_declarations_s_others"] - inner["transform_others"]
        ),
    )
    x = features[model.risk_features].to_numpy(dtype="float64")
    for threads in (1, 2):
        clock(
            lambda t=threads: model.calibrate(model.raw_score(x, num_threads=t)),
            result,
            f"predict_calibrate_{threads}t_s",
        )
    peaks["score"] = rss.stage_peak() / mib

    # (d) SHAP on a sample of the hold-out.
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), size=min(SHAP_SAMPLE, len(x)), replace=False))]
    model.contributions(sample[:50], num_threads=1)  # warm-up
    result["shap_rows"] = len(sample)
    for threads in (1, 2):
        clock(
            lambda t=threads: model.contributions(sample, num_threads=t),
            result,
            f"shap_{threads}t_s",
        )
    peaks["shap"] = rss.stage_peak() / mib

    rss.stop()
    result["peak_rss_mib"] = rss.peak / mib
    result["ru_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["stage_peak_rss_mib"] = peaks

    # Contention only ever slows training down, so the faster of the two fits is the
    # fairer yardstick: profile when feature building is slower than either.
    training = min(result["risk_model_fit_s"], result.get("risk_model_fit_1t_s", float("inf")))
    slower = result["features_fit_s"] > training
    result["features_slower_than_training"] = slower
    if profile == "always" or (profile == "auto" and slower):
        del features, x, bundle
        path = Path(out_dir) / f"fit_transform_{rows}.prof"
        result["profile"] = profile_features(pipeline, history, registers, path)
    return result


def _child(queue: Any, *args: Any) -> None:
    try:
        queue.put(("ok", run_size(*args)))
    except BaseException as exc:  # report any failure to the parent
        import traceback

        queue.put(("error", f"{exc!r}\n{traceback.format_exc()}"))


def run_isolated(*args: Any) -> dict[str, Any]:
    """Run ``run_size(*args)`` in a fresh spawned process and return its measurements."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, *args))
    process.start()
    status, payload = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(f"run_size{args}: {payload}")
    return payload


# -- report ---------------------------------------------------------------------------


def _row(label: str, rows: int | None, r: dict[str, Any], key: str) -> list[str]:
    seconds = r[key]
    cpu = [f"{r[key + s]:.2f}" if key + s in r else "" for s in ("_cpu", "_others")]
    count = f"{rows:,}" if rows else ""
    rate = f"{rows / seconds:,.0f}" if rows and seconds > 0 else ""
    return [label, count, f"{seconds:.2f}", *cpu, rate]


def _stage_rows(r: dict[str, Any]) -> list[list[str]]:
    h, o, s, lab = r["history_rows"], r["holdout_rows"], r["shap_rows"], r["history_labelled"]
    return [
        _row("generate_synthetic", r["rows"], r, "generate_s"),
        _row("features: fit_transform (history)", h, r, "features_fit_s"),
        _row("features: transform (hold-out)", o, r, "features_transform_s"),
        _row("LightGBM: RiskModel.fit (history)", h, r, "risk_model_fit_s"),
        _row("  of which classifier (labelled rows)", lab, r, "classifier_s"),
        _row("  of which revenue regressor", None, r, "regressor_s"),
        _row("DATE baseline (also in train.fit)", lab, r, "date_baseline_s"),
        *(
            [
                _row("check: RiskModel.fit, n_jobs=1", h, r, "risk_model_fit_1t_s"),
                _row("  of which classifier (labelled rows)", lab, r, "classifier_1t_s"),
            ]
            if "risk_model_fit_1t_s" in r
            else []
        ),
        _row("training.train.fit, total", h, r, "train_fit_total_s"),
        _row("scoring: score_declarations - features", o, r, "score_minus_features_s"),
        _row("scoring: predict + calibrate, 1 thread", o, r, "predict_calibrate_1t_s"),
        _row("scoring: predict + calibrate, 2 threads", o, r, "predict_calibrate_2t_s"),
        _row("SHAP contributions, 1 thread", s, r, "shap_1t_s"),
        _row("SHAP contributions, 2 threads", s, r, "shap_2t_s"),
        ["peak RSS, psutil (MiB)", "", f"{r['peak_rss_mib']:,.0f}", "", "", ""],
    ]


def _render(header: list[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def one(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells)
        )

    return [one(header), one(["-" * w for w in widths]), *(one(line) for line in lines)]


def format_results(results: list[dict[str, Any]]) -> str:
    """Render the measurements as fixed-width tables plus the verdict lines."""
    out: list[str] = []
    for r in results:
        out += [
            f"{r['rows']:,} rows: history {r['history_rows']:,} ({r['history_labelled']:,} "
            f"labelled), hold-out {r['holdout_rows']:,} from {r['holdout_start']}",
            *_render(
                ["stage", "rows", "wall s", "CPU s", "others' CPU s", "rows/s"], _stage_rows(r)
            ),
            "",
        ]
    for r in results:
        f, m = r["features_fit_s"], r["risk_model_fit_s"]
        verdict = "SLOWER than" if f > m else "not slower than"
        out.append(
            f"{r['rows']:,} rows: feature building {f:.1f} s is {verdict} LightGBM training "
            f"(RiskModel.fit, shipped settings) {m:.1f} s, ratio {f / m:.2f}; "
            f"{r['trees_kept']} trees kept, {r['risk_features']} risk features, "
            f"{r['calibration']} calibration"
        )
        if "risk_model_fit_1t_s" in r:
            one = r["risk_model_fit_1t_s"]
            verdict = "SLOWER than" if f > one else "not slower than"
            out.append(
                f"{r['rows']:,} rows: feature building {f:.1f} s is {verdict} RiskModel.fit on one "
                f"thread {one:.1f} s, ratio {f / one:.2f} ({r['trees_kept_1t']} trees kept)"
            )
    for r in results:
        if "profile" not in r:
            continue
        p = r["profile"]
        out += [
            "",
            f"cProfile of fit_transform at {r['rows']:,} rows: {p['profiled_seconds']:.1f} s "
            f"under the profiler ({p['profile_file']})",
            "  project functions: share of fit_transform, cumulative and own (own = its lines"
            " and library calls, without the project functions it calls), calls",
        ]
        out += [
            f"    {e['cumulative_share']:6.1%} {e['cumulative_s']:6.2f} s   own "
            f"{e['own_share']:6.1%} {e['own_s']:6.2f} s  {e['calls']:>4}  {e['function']}"
            for e in p["project_functions"]
        ]
        out.append("  all functions by self time:")
        out += [
            f"    {e['share']:6.1%} {e['self_s']:6.2f} s  {e['calls']:>7}  {e['function']}"
            for e in p["all_by_self_time"]
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every size in turn, print the table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/train_score.json")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="cProfile fit_transform after the timings: when it is slower than "
        "RiskModel.fit (auto), always, or never",
    )
    parser.add_argument(
        "--no-single-thread",
        dest="single_thread",
        action="store_false",
        help="skip the second RiskModel.fit with n_jobs=1",
    )
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    print(
        f"{facts['nproc']} cores ({facts['cpu_model']}), {facts['memory_gb']} GB, "
        f"Python {facts['python']}, LightGBM {facts['lightgbm']}, pandas {facts['pandas']}, "
        f"load average {facts['load_average_at_start']}; sources {facts['source']}",
        flush=True,
    )
    results = []
    for rows in args.rows:
        print(f"measuring {rows:,} rows ...", flush=True)
        results.append(
            run_isolated(rows, args.seed, args.profile, str(args.out.parent), args.single_thread)
        )
    from portsift.settings import load_settings

    report = {
        "machine": facts,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model_settings": load_settings().model.model_dump(),
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_results(results))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
