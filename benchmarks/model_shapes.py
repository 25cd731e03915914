"""Compare LightGBM shapes of the risk classifier: hold-out precision against SHAP cost.

Generates synthetic declarations (``generate_synthetic``), sorts them and holds out the
latest share as ``portsift train`` does (``split_by_time`` with the settings'
``holdout_fraction``), and runs ``portsift.training.train.fit`` once with the shipped settings:
that gives the one ``fit_transform`` of the history, the ``RiskModel`` arguments
``fit`` builds, and the ``TrainingData`` it trains on. The hold-out is transformed once.
Every shape then reuses those: a ``RiskModel`` with the same arguments except the
shape (``num_leaves``, ``max_depth``, ``learning_rate``, ``n_estimators``), so early
stopping, calibration and all other parameters stay those of ``portsift train``. The
revenue regressor is skipped (it does not affect the classifier).

Per shape: Precision@5% and Revenue@5% (``portsift.training.metrics.at_percent`` on the labelled
hold-out rows ranked by calibrated risk), AUC of the calibrated risk, the trees kept
after early stopping (``best_iteration``; what predictions and the saved bundle use),
their mean maximum depth, ``predict`` rows/s (one thread, the whole hold-out as one
numpy batch) and TreeSHAP rows/s (one thread, ``predict(pred_contrib=True)`` on 2,000
hold-out rows); timings are the median of ``--repeats`` runs.

Run from the repository root::

    .venv/bin/python benchmarks/model_shapes.py --rows 120000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHAP_ROWS = 2_000
PERCENT = 5.0


@dataclasses.dataclass(frozen=True)
class Shape:
    """One shape of the classifier."""

    trees: int
    leaves: int
    depth: int  # -1: free
    learning_rate: float

    @property
    def label(self) -> str:
        depth = "free depth" if self.depth < 0 else f"depth {self.depth}"
        return f"{self.trees}x{self.leaves}, {depth}, lr {self.learning_rate:g}"


SHAPES: tuple[Shape, ...] = (
    Shape(500, 63, -1, 0.05),
    Shape(600, 63, -1, 0.03),
    Shape(400, 31, 6, 0.05),
    Shape(400, 15, 4, 0.05),
    Shape(300, 15, 4, 0.05),
    Shape(200, 7, 3, 0.05),
)


def parse_shape(text: str) -> Shape:
    """Parse ``TREESxLEAVESxDEPTH[@LR]`` (depth -1 = free, learning rate 0.05 by default)."""
    spec, _, rate = text.partition("@")
    try:
        trees, leaves, depth = (int(part) for part in spec.split("x"))
        return Shape(trees, leaves, depth, float(rate) if rate else 0.05)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected TREESxLEAVESxDEPTH[@LR], got {text!r}") from exc


def median_seconds(function: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mean_max_depth(booster: Any, trees: int) -> float:
    """Mean over the first ``trees`` trees of each tree's maximum depth."""

    def depth(node: dict[str, Any]) -> int:
        if "left_child" not in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    info = booster.dump_model(num_iteration=trees)["tree_info"]
    return statistics.fmean(depth(tree["tree_structure"]) for tree in info)


def prepare(rows: int, seed: int) -> dict[str, Any]:
    """Generate, split and build features once; capture what ``fit`` gives the model."""
    from train_score import capture_calls

    from portsift.features.pipeline import Registers
    from portsift.models.risk_model import RiskModel
    from portsift.settings import load_settings
    from portsift.synthetic.generator import generate_synthetic
    from portsift.training import train as train_module

    shipped = load_settings()
    # One fit of [model]'s shape: this benchmark measures its own shapes, not the search's.
    settings = shipped.model_copy(
        update={"model_search": shipped.model_search.model_copy(update={"shapes": ()})}
    )
    data = generate_synthetic(rows=rows, seed=seed)
    registers = Registers(data.enterprises, data.lab_results, data.commodities)
    ordered = data.declarations.sort_values("declared_at", kind="stable")
    history, holdout, start = train_module.split_by_time(
        ordered, settings.training.holdout_fraction
    )
    inits: list[tuple[tuple, dict]] = []
    fits: list[tuple[tuple, dict]] = []
    with capture_calls(RiskModel, "__init__", inits), capture_calls(RiskModel, "fit", fits):
        fitted = train_module.fit(history, registers, settings)
    pipeline, default_model = fitted.pipeline, fitted.model
    (init_args, init_kwargs), ((training_data,), _) = inits[0], fits[0]
    assert not init_args, "training.train.fit is expected to build RiskModel with keywords"
    features = pipeline.transform(holdout, registers)
    labelled = (features["inspected"] == 1).to_numpy() & features["illicit"].notna().to_numpy()
    return {
        "settings": settings,
        "history_rows": len(history),
        "holdout_rows": len(holdout),
        "holdout_start": str(start.date()),
        "training_labelled": int(
            (training_data.inspected.eq(1) & training_data.illicit.notna()).sum()
        ),
        "model_kwargs": init_kwargs,
        "training_data": dataclasses.replace(training_data, revenue=None),
        "default_model": default_model,
        "x": features[default_model.risk_features].to_numpy(dtype="float64"),
        "labelled": labelled,
        "y": features.loc[labelled, "illicit"].to_numpy(dtype="float64"),
        "revenue": features.loc[labelled, "revenue"].fillna(0.0).to_numpy(dtype="float64"),
    }


def measure(shape: Shape, prepared: dict[str, Any], seed: int, repeats: int) -> dict[str, Any]:
    """Train one shape and measure its hold-out quality and its costs."""
    import numpy as np
    from train_score import _add_span, _snapshot

    from portsift.models.risk_model import RiskModel
    from portsift.training import metrics

    kwargs = dict(prepared["model_kwargs"])
    kwargs["classifier_params"] = {
        **kwargs["classifier_params"],
        "num_leaves": shape.leaves,
        "max_depth": shape.depth,
        "learning_rate": shape.learning_rate,
    }
    kwargs["n_estimators"] = shape.trees
    start = time.perf_counter()
    model = RiskModel(**kwargs).fit(prepared["training_data"])
    train_s = time.perf_counter() - start
    booster = model.classifier_
    kept = int(booster.best_iteration or booster.num_trees())

    x, labelled = prepared["x"], prepared["labelled"]
    y, revenue = prepared["y"], prepared["revenue"]
    raw = model.raw_score(x, num_threads=1)
    risk = model.calibrate(raw)[labelled]
    top = metrics.at_percent(risk, y, revenue, PERCENT)
    top_raw = metrics.at_percent(raw[labelled], y, revenue, PERCENT)

    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), size=min(SHAP_ROWS, len(x)), replace=False))]
    booster.predict(sample[:20], pred_contrib=True, num_threads=1)  # warm-up
    span: dict[str, float] = {}
    begin = _snapshot()
    predict_s = median_seconds(lambda: model.raw_score(x, num_threads=1), repeats)
    shap_s = median_seconds(
        lambda: booster.predict(sample, pred_contrib=True, num_threads=1), repeats
    )
    _add_span(span, "timing", begin)
    return {
        "shape": shape.label,
        "n_estimators": shape.trees,
        "num_leaves": shape.leaves,
        "max_depth": shape.depth,
        "learning_rate": shape.learning_rate,
        "trees_trained": int(booster.num_trees()),
        "trees_kept": kept,
        "mean_max_depth": mean_max_depth(booster, kept),
        "train_s": train_s,
        f"precision_at_{PERCENT:g}": top["precision"],
        f"revenue_at_{PERCENT:g}": top["revenue"],
        "auc": metrics.auc(risk, y),
        f"precision_at_{PERCENT:g}_raw_score": top_raw["precision"],
        "auc_raw_score": metrics.auc(raw[labelled], y),
        "calibration": model.metadata()["calibration"].get("method", "isotonic"),
        "distinct_calibrated_scores": len(np.unique(risk)),
        "predict_rows": len(x),
        "predict_rows_per_s": len(x) / predict_s,
        "shap_rows": len(sample),
        "shap_rows_per_s": len(sample) / shap_s,
        "shap_over_predict": (len(x) / predict_s) / (len(sample) / shap_s),
        # CPU cores' worth the rest of the machine used while predict and SHAP were timed.
        "others_cores_while_timing": span["timing_others"] / span["timing"],
    }


def markdown(results: list[dict[str, Any]], default: Shape) -> str:
    """Render the results as a markdown table."""
    p, rev = f"precision_at_{PERCENT:g}", f"revenue_at_{PERCENT:g}"
    header = (
        f"| shape | trees kept | mean depth | Precision@{PERCENT:g}% | Revenue@{PERCENT:g}% "
        "| AUC | predict rows/s | TreeSHAP rows/s | TreeSHAP / predict | train s "
        "| others' cores while timed |"
    )
    lines = [header, "|" + "---|" * 11]
    for r in results:
        mark = " (default)" if r["shape"] == default.label else ""
        lines.append(
            f"| {r['shape']}{mark} | {r['trees_kept']} | {r['mean_max_depth']:.1f} "
            f"| {r[p]:.3f} | {r[rev]:.3f} | {r['auc']:.3f} "
            f"| {r['predict_rows_per_s']:,.0f} "
            f"| {r['shap_rows_per_s']:,.0f} | {r['shap_over_predict']:.0f}x "
            f"| {r['train_s']:.1f} | {r['others_cores_while_timing']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train and measure every shape, print markdown, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timing runs (median)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/model_shapes.json")
    parser.add_argument(
        "--shape",
        type=parse_shape,
        action="append",
        default=[],
        metavar="TREESxLEAVESxDEPTH[@LR]",
        help="a further shape to measure after the standard six (repeatable)",
    )
    parser.add_argument(
        "--only", action="store_true", help="measure only the --shape shapes, not the six"
    )
    args = parser.parse_args(argv)
    if args.only and not args.shape:
        parser.error("--only needs at least one --shape")
    args.out.parent.mkdir(parents=True, exist_ok=True)

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling train_score
    from train_score import machine_facts

    facts = machine_facts()
    print(
        f"{facts['nproc']} cores ({facts['cpu_model']}), LightGBM {facts['lightgbm']}, "
        f"load average {facts['load_average_at_start']}; sources {facts['source']}"
    )
    prepared = prepare(args.rows, args.seed)
    settings = prepared["settings"]
    m = settings.model
    default = Shape(m.n_estimators, m.num_leaves, m.max_depth, m.learning_rate)
    print(
        f"{args.rows:,} rows: history {prepared['history_rows']:,} "
        f"({prepared['training_labelled']:,} labelled), hold-out {prepared['holdout_rows']:,} "
        f"from {prepared['holdout_start']} ({int(prepared['labelled'].sum()):,} labelled, "
        f"{int(prepared['y'].sum()):,} violations); {prepared['x'].shape[1]} risk features",
        flush=True,
    )
    results = []
    for shape in [*(() if args.only else SHAPES), *args.shape]:
        print(f"  {shape.label} ...", flush=True)
        results.append(measure(shape, prepared, args.seed, args.repeats))
    default_trees = prepared["default_model"].classifier_.best_iteration
    report = {
        "machine": facts,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rows": args.rows,
        "seed": args.seed,
        "repeats": args.repeats,
        "history_rows": prepared["history_rows"],
        "holdout_rows": prepared["holdout_rows"],
        "holdout_labelled": int(prepared["labelled"].sum()),
        "holdout_start": prepared["holdout_start"],
        "model_settings": m.model_dump(),
        "default_shape": default.label,
        "default_trees_kept_by_train_fit": default_trees,
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print(markdown(results, default))
    print(
        f"\nshared: min_child_samples {m.min_child_samples}, subsample {m.subsample}, "
        f"colsample_bytree {m.colsample_bytree}, reg_lambda {m.reg_lambda}, early stopping "
        f"{m.early_stopping_rounds} rounds (settings.toml); training.train.fit kept "
        f"{default_trees} trees for the default shape; calibration {results[0]['calibration']}"
    )
    print(
        "P@5% ranking by the raw score instead of the calibrated risk: "
        + ", ".join(f"{r['shape']} {r[f'precision_at_{PERCENT:g}_raw_score']:.3f}" for r in results)
    )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
