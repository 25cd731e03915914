"""The shape search at training against training [model]'s shape alone, on the hold-out.

For every fraud mode (``default``; ``identity``, whose seller and courier columns are
passed as categorical inputs as ``DIR/schema.toml`` would) and seed, generates
``--rows`` declarations and runs ``portsift.training.train.train`` twice without MLflow: with
the shipped settings (``[model_search]``: the shapes tried and the explanation budget)
and with ``[model_search] shapes = []`` (``[model]``'s shape, no search). Prints, per
run, the chosen shape, each trial's validation precision and TreeSHAP rows/s, and the
hold-out Precision@5%, Revenue@5% and AUC of the ``model`` row (the selection's ranking)
and of ``model_risk_only`` for both.

Run from the repository root::

    .venv/bin/python benchmarks/model_search.py --rows 100000 --seeds 7 11 23
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run(mode: str, seed: int, rows: int) -> dict[str, Any]:
    """Train with and without the search on one generated data set."""
    from portsift.features.pipeline import Registers
    from portsift.models.bundle import load_bundle
    from portsift.settings import load_settings
    from portsift.synthetic.generator import generate_synthetic
    from portsift.synthetic.identities import IDENTITY_COLUMNS
    from portsift.training.train import train

    shipped = load_settings()
    unsearched = shipped.model_copy(
        update={"model_search": shipped.model_search.model_copy(update={"shapes": ()})}
    )
    data = generate_synthetic(rows=rows, seed=seed, fraud=mode)
    registers = Registers(data.enterprises, data.lab_results, data.commodities)
    extra = tuple(c for c in IDENTITY_COLUMNS if c in data.declarations)
    result: dict[str, Any] = {"mode": mode, "seed": seed, "rows": rows}
    with tempfile.TemporaryDirectory(prefix="portsift-search-") as scratch:
        for name, settings in (("search", shipped), ("default_shape", unsearched)):
            start = time.perf_counter()
            trained = train(
                data.declarations,
                registers,
                settings,
                Path(scratch) / name,
                extra_categorical=extra,
                track=False,
            )
            seconds = time.perf_counter() - start
            shape = load_bundle(trained.model_dir).metadata["model_shape"]
            assert trained.evaluation is not None
            table = trained.evaluation.table
            result[name] = {
                "train_s": seconds,
                "chosen": shape["chosen"]["label"],
                "trials": shape["trials"],
                "reason": shape["reason"],
                **{
                    f"{row}.{column}": float(table.loc[row, column])
                    for row in ("model", "model_risk_only")
                    for column in ("precision_at_5", "revenue_at_5", "auc")
                },
            }
    return result


def markdown(results: list[dict[str, Any]]) -> str:
    """One row per data set: chosen shape and hold-out figures with and without search."""
    lines = [
        "| data | seed | chosen shape | P@5% search / default shape | Rev@5% | AUC "
        "| risk-only P@5% | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s, d = r["search"], r["default_shape"]
        lines.append(
            f"| {r['mode']} | {r['seed']} | {s['chosen']} "
            f"| {s['model.precision_at_5']:.3f} / {d['model.precision_at_5']:.3f} "
            f"| {s['model.revenue_at_5']:.3f} / {d['model.revenue_at_5']:.3f} "
            f"| {s['model.auc']:.3f} / {d['model.auc']:.3f} "
            f"| {s['model_risk_only.precision_at_5']:.3f} / "
            f"{d['model_risk_only.precision_at_5']:.3f} "
            f"| {s['train_s']:.0f} / {d['train_s']:.0f} |"
        )
    return "\n".join(lines)


def trials_markdown(results: list[dict[str, Any]]) -> str:
    """Every trial of the searches: validation precision and TreeSHAP speed."""
    lines = [
        "| data | seed | shape | trees kept | validation P@5% | TreeSHAP rows/s | in budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for t in r["search"]["trials"]:
            precision = "-" if t["precision"] is None else f"{t['precision']:.3f}"
            lines.append(
                f"| {r['mode']} | {r['seed']} | {t['label']} | {t['trees_kept']} | {precision} "
                f"| {t['shap_rows_per_second']:,.0f} | {'yes' if t['eligible'] else 'no'} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every mode and seed, print markdown, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    parser.add_argument("--modes", nargs="+", default=["default", "identity"])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/model_search.json")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for mode in args.modes:
        for seed in args.seeds:
            print(f"  {mode}, seed {seed} ...", flush=True)
            results.append(run(mode, seed, args.rows))
    command = " ".join([Path(sys.executable).name, *sys.argv])
    args.out.write_text(
        json.dumps({"command": command, "results": results}, indent=2) + "\n", "utf-8"
    )
    print()
    print(markdown(results))
    print()
    print(trials_markdown(results))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
